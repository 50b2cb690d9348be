//! Request and response bodies of the trace routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::entity::event;

/// Actions of each stage (reference data of R-ARCH-1; (stage, action, zh-CN)).
pub const ACTIONS: &[(&str, &str, &str)] = &[
    ("primary_production", "plant", "种植"),
    ("primary_production", "breed", "养殖"),
    ("primary_production", "harvest", "采收"),
    ("primary_production", "slaughter", "屠宰"),
    ("primary_production", "catch", "捕捞"),
    ("processing", "process", "加工"),
    ("processing", "package", "分装"),
    ("transport", "ship", "发货"),
    ("transport", "arrive", "到货"),
    ("testing", "inspect", "检测"),
    ("sale", "receive", "进货"),
    ("sale", "sell", "销售"),
    ("sale", "use", "使用"),
];

/// Most records per request.
pub const MAX_BATCH: usize = 10_000;

/// A batch consumed by a processing step.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// Batch number of the input.
    #[schema(min_length = 1, max_length = 64)]
    pub batch_no: String,
    /// Product filing code of the input, if filed.
    pub product_code: Option<String>,
    /// Quantity used.
    #[schema(exclusive_minimum = 0)]
    pub quantity: Option<f64>,
    /// Its unit (a code of `GET /api/v1/trace/units`); without it the flow shows the quantity
    /// with no unit.
    #[schema(example = "kg")]
    pub unit: Option<String>,
}

/// The result of a test.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inspection {
    /// What was tested, e.g. 农药残留.
    #[schema(min_length = 1, max_length = 64)]
    pub item: String,
    /// `pass` or `fail`.
    #[schema(value_type = crate::openapi::InspectionResult)]
    pub result: String,
    /// Report number.
    #[schema(min_length = 1, max_length = 64)]
    pub report_no: String,
}

/// One trace record as a connected system sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceEventRequest {
    /// The sender's own id of the record: a retried request with the same id creates nothing
    /// new.
    #[schema(example = "sg-2026-11-27-000123", min_length = 1, max_length = 64)]
    pub client_event_id: String,
    /// `primary_production`, `processing`, `transport`, `testing` or `sale`.
    #[schema(value_type = crate::openapi::Stage)]
    pub stage: String,
    /// An action of the stage (see `ACTIONS`: plant, harvest, process, ship, inspect, sell, …).
    #[schema(value_type = crate::openapi::Action)]
    pub action: String,
    /// Code of the reporting subject: an approved enterprise or merchant filing of the caller's
    /// tenant or below.
    #[schema(example = "E3707830000013")]
    pub subject_code: String,
    /// Code of the product filing, if the product is filed (its name and category are taken
    /// from it).
    pub product_code: Option<String>,
    /// Product name (required without `product_code`).
    #[schema(max_length = 100)]
    pub product_name: Option<String>,
    /// Batch number.
    #[schema(example = "SG20261127-01", min_length = 1, max_length = 64)]
    pub batch_no: String,
    /// Trace codes of the items or the batch (at most 1 000, each at most 128 characters).
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub trace_codes: Vec<String>,
    /// Quantity (> 0).
    #[schema(exclusive_minimum = 0)]
    pub quantity: f64,
    /// Unit of the quantity: a code of the unit list (`GET /api/v1/trace/units`: kg, t, 件,
    /// 箱, 头 …), or its zh-CN name or another listed spelling (stored as the code). Required;
    /// an unknown unit is refused (422 naming `events[i].unit`).
    #[schema(example = "kg")]
    pub unit: String,
    /// Unit price (sale stages).
    #[schema(minimum = 0)]
    pub price: Option<f64>,
    /// Amount.
    #[schema(minimum = 0)]
    pub amount: Option<f64>,
    /// When it happened, RFC 3339 with its zone.
    #[schema(example = "2026-11-27T08:30:00+08:00", format = DateTime)]
    pub event_time: String,
    /// Where: division code.
    #[schema(example = "370783", pattern = r"^[0-9]{6}$")]
    pub division_code: String,
    /// Longitude (both or neither; inside China, 73–136).
    #[schema(minimum = 73, maximum = 136)]
    pub longitude: Option<f64>,
    /// Latitude (inside China, 3–54).
    #[schema(minimum = 3, maximum = 54)]
    pub latitude: Option<f64>,
    /// The counterpart (an approved filing anywhere): the buyer of a `ship` or `sell`, the
    /// seller of a `receive` or `arrive` — required for `ship` and `receive`, refused for the
    /// actions that move nothing between subjects. The record links the seller's batch to the
    /// buyer's batch of the same number.
    pub counterpart_code: Option<String>,
    /// The batches a processing step consumed (required for `processing`, refused elsewhere).
    #[serde(default)]
    pub inputs: Vec<BatchInput>,
    /// The result of a test (required for `testing`, refused elsewhere).
    pub inspection: Option<Inspection>,
    /// Further key data elements (an object, at most 4 KiB as JSON).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /api/v1/trace/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest<'a> {
    /// 1 to 10 000 records. Each is read on its own (kept as the raw JSON of the request until
    /// then), so every bad record is named by its index, its field and its line in the request.
    #[serde(borrow)]
    #[schema(value_type = Vec<TraceEventRequest>, min_items = 1, max_items = 10000)]
    pub events: Vec<&'a serde_json::value::RawValue>,
}

/// What happened to one record.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestedEvent {
    /// The sender's id.
    pub client_event_id: String,
    /// The platform's id.
    pub id: Uuid,
    /// True when it had been received before (nothing new was written).
    pub duplicate: bool,
}

/// The answer to an ingest.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// Records written now.
    pub accepted: usize,
    /// Records received before.
    pub duplicates: usize,
    /// Each record, in the request's order.
    pub events: Vec<IngestedEvent>,
}

/// A trace record.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceEventResponse {
    /// Id.
    pub id: Uuid,
    /// The reporting tenant.
    pub tenant_id: Uuid,
    /// The sender's id.
    pub client_event_id: String,
    /// Stage.
    #[schema(value_type = crate::openapi::Stage)]
    pub stage: String,
    /// Action.
    #[schema(value_type = crate::openapi::Action)]
    pub action: String,
    /// Reporting subject.
    pub subject_code: String,
    /// Its name.
    pub subject_name: String,
    /// Product filing code.
    pub product_code: Option<String>,
    /// Product name.
    pub product_name: String,
    /// Catalogue code.
    pub category_code: Option<String>,
    /// Batch.
    pub batch_no: String,
    /// Trace codes.
    pub trace_codes: Vec<String>,
    /// Quantity.
    pub quantity: f64,
    /// Unit.
    pub unit: String,
    /// Unit price.
    pub price: Option<f64>,
    /// Amount.
    pub amount: Option<f64>,
    /// When it happened (UTC).
    pub event_time: DateTime<Utc>,
    /// Its zone, minutes east of UTC.
    pub event_offset_minutes: i32,
    /// When the platform received it.
    pub recorded_at: DateTime<Utc>,
    /// Where.
    pub division_code: String,
    /// The division's name from the GB/T 2260 table, province first (`370112` →
    /// 山东省济南市历城区); null for a code a later edition of the table retired.
    #[schema(example = "山东省济南市历城区")]
    pub division_name: Option<String>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Counterpart's code.
    pub counterpart_code: Option<String>,
    /// Counterpart's name.
    pub counterpart_name: Option<String>,
    /// Inputs of a processing step.
    pub inputs: Vec<BatchInput>,
    /// Result of a test.
    pub inspection: Option<Inspection>,
    /// Further key data elements.
    pub extra: Option<serde_json::Value>,
}

impl From<event::Model> for TraceEventResponse {
    fn from(e: event::Model) -> Self {
        Self {
            id: e.id,
            tenant_id: e.tenant_id,
            client_event_id: e.client_event_id,
            stage: e.stage,
            action: e.action,
            subject_code: e.subject_code,
            subject_name: e.subject_name,
            product_code: e.product_code,
            product_name: e.product_name,
            category_code: e.category_code,
            batch_no: e.batch_no,
            trace_codes: serde_json::from_str(&e.trace_codes).unwrap_or_default(),
            quantity: e.quantity,
            unit: e.unit,
            price: e.price,
            amount: e.amount,
            event_time: e.event_time,
            event_offset_minutes: e.event_offset_minutes,
            recorded_at: e.recorded_at,
            division_name: suyuan_tenancy::division::full_name_of(&e.division_code),
            division_code: e.division_code,
            longitude: e.longitude,
            latitude: e.latitude,
            counterpart_code: e.counterpart_code,
            counterpart_name: e.counterpart_name,
            inputs: serde_json::from_str(&e.inputs).unwrap_or_default(),
            inspection: e.inspection.as_deref().and_then(|i| serde_json::from_str(i).ok()),
            extra: e.extra.as_deref().and_then(|x| serde_json::from_str(x).ok()),
        }
    }
}

/// Search of trace records (R-SUBJ-5): every filter optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TraceEventQuery {
    /// Stage.
    #[param(value_type = Option<crate::openapi::Stage>)]
    pub stage: Option<String>,
    /// Product: a product filing code, or part of the product name.
    pub product: Option<String>,
    /// Region (division code): records that happened in it or below it.
    pub region: Option<String>,
    /// Reporting subject's code.
    pub subject: Option<String>,
    /// Batch number.
    pub batch_no: Option<String>,
    /// A trace code.
    pub trace_code: Option<String>,
    /// Happened from this time (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Happened before this time.
    pub to: Option<DateTime<Utc>>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u64>,
}

/// A page of trace records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceEventPage {
    /// Records.
    pub items: Vec<TraceEventResponse>,
    /// Page.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Records matching.
    pub total: u64,
}

/// `GET /api/v1/trace/chain`: where to start and how far to go.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChainQuery {
    /// Start from a batch number (or give `code`).
    #[param(example = "SG20261127-01")]
    pub batch: Option<String>,
    /// With `batch`: only that subject's batch of that number.
    pub subject: Option<String>,
    /// Start from the records carrying this trace code.
    pub code: Option<String>,
    /// `up` (where it came from), `down` (where it went) or `both` (default).
    #[param(value_type = Option<crate::openapi::ChainDirection>)]
    pub direction: Option<String>,
    /// Steps to walk in each direction, 1–50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    pub depth: Option<u32>,
    /// Nodes at most, 1–200 000 (default 5 000). More than 5 000 is a recall over a market and
    /// needs the `trace_chain:recall` permission (managers).
    #[param(minimum = 1, maximum = 200_000)]
    pub max_nodes: Option<usize>,
    /// `json` (default: the graph), `csv` or `xlsx` (the flow table, 流量流向表), or `geojson`
    /// (nodes as points and flows as lines, for the flow map).
    #[param(value_type = Option<crate::openapi::ChainFormat>)]
    pub format: Option<String>,
}

/// A node's id, `subject_code|batch_no`: written as that string without being built as one (a
/// recall writes hundreds of thousands). Ordered as that string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId<'a>(pub &'a str, pub &'a str);

impl std::fmt::Display for NodeId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}|{}", self.0, self.1)
    }
}

impl Serialize for NodeId<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Ord for NodeId<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Subject codes hold no `|`: two ids with different subjects are ordered by `subject|`.
        if self.0 == other.0 {
            self.1.cmp(other.1)
        } else {
            let bar = std::iter::once(b'|');
            self.0.bytes().chain(bar.clone()).cmp(other.0.bytes().chain(bar))
        }
    }
}

impl PartialOrd for NodeId<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

// The chain's DTOs borrow from the chain they were built from (`trace::chain::Chain`), so a
// recall's answer is written without copying its strings.

/// A node of a chain: one subject's batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainNode<'a> {
    /// `subject_code|batch_no`.
    #[schema(value_type = String)]
    pub id: NodeId<'a>,
    /// Subject code.
    pub subject_code: &'a str,
    /// Subject name.
    pub subject_name: &'a str,
    /// Enterprise type, or `merchant`.
    pub subject_type: &'a str,
    /// Batch number.
    pub batch_no: &'a str,
    /// Steps from the start: negative upstream, positive downstream, 0 the start.
    pub depth: i32,
    /// Region of the subject.
    pub division_code: &'a str,
    /// Its name from the GB/T 2260 table, province first (`370112` → 山东省济南市历城区).
    pub division_name: Option<String>,
    /// Longitude of the subject.
    pub longitude: Option<f64>,
    /// Latitude of the subject.
    pub latitude: Option<f64>,
    /// The tenant responsible for the subject.
    pub tenant_code: &'a str,
    /// Its name.
    pub tenant_name: &'a str,
    /// Inside the caller's subtree: contact details are shown.
    pub in_reach: bool,
    /// Contact person (inside the caller's subtree only).
    pub contact_name: Option<&'a str>,
    /// Contact phone (inside the caller's subtree only).
    pub contact_phone: Option<&'a str>,
}

/// A movement between two nodes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainFlow<'a> {
    /// From node id.
    #[schema(value_type = String)]
    pub from: NodeId<'a>,
    /// To node id.
    #[schema(value_type = String)]
    pub to: NodeId<'a>,
    /// `process` (an input batch into a product batch) or `ship` (seller to buyer).
    pub kind: &'a str,
    /// Product.
    pub product_name: &'a str,
    /// The batch at the receiving end.
    pub batch_no: &'a str,
    /// Quantity (only when reported inside the caller's subtree).
    pub quantity: Option<f64>,
    /// Its unit code (`kg`, `箱` …); none when the report named none (an input without a unit).
    pub unit: Option<&'a str>,
    /// When (the earliest report).
    pub time: DateTime<Utc>,
    /// How many records report it (a shipment reported by both sides: 2).
    pub reports: u32,
}

/// A trace chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainResponse<'a> {
    /// The start nodes.
    #[schema(value_type = Vec<String>)]
    pub start: Vec<NodeId<'a>>,
    /// True when a depth or size bound stopped the walk.
    pub truncated: bool,
    /// Why, in Chinese.
    pub message: Option<&'a str>,
    /// Nodes, upstream first.
    pub nodes: Vec<ChainNode<'a>>,
    /// Flows, oldest first.
    pub flows: Vec<ChainFlow<'a>>,
}

/// One stage as the public sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicStage {
    /// Stage, in Chinese.
    pub stage: String,
    /// Action, in Chinese.
    pub action: String,
    /// Date (in the zone it happened in).
    pub date: String,
    /// Region (division code).
    pub division_code: String,
    /// What was tested (testing stages).
    pub test_item: Option<String>,
    /// Passed (testing stages).
    pub test_passed: Option<bool>,
}

/// The public answer for a trace code: public fields only.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTrace {
    /// The code.
    pub code: String,
    /// Product.
    pub product_name: String,
    /// Catalogue code.
    pub category_code: Option<String>,
    /// Origin: the producer.
    pub origin_name: String,
    /// Origin's region.
    pub origin_division_code: String,
    /// The stages, oldest first.
    pub stages: Vec<PublicStage>,
    /// Queries of this code so far, this one included.
    pub queries: i64,
    /// The first query.
    pub first_queried_at: Option<DateTime<Utc>>,
    /// A warning when a single item's code is queried suspiciously often.
    pub warning: Option<String>,
}

/// `POST /api/v1/trace/codes`: a run of platform trace codes for a subject.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCodesRequest {
    /// The subject's filing code (an approved enterprise or merchant of the caller's tenant or
    /// below); the codes start with it.
    #[schema(example = "E370783000001504")]
    pub subject_code: String,
    /// `item` (一物一码: one code per item) or `batch` (一批一码: one code for a batch).
    #[schema(example = "item", value_type = crate::openapi::CodeKind)]
    pub kind: String,
    /// How many codes: 1–10 000 for `item`, 1 for `batch` (default 1).
    #[schema(minimum = 1, maximum = 10000)]
    pub count: Option<u32>,
    /// The product filing the codes are for (optional).
    pub product_code: Option<String>,
    /// The batch (required for `batch`).
    pub batch_no: Option<String>,
}

/// The codes issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueCodesResponse {
    /// The issue.
    pub id: Uuid,
    /// The subject.
    pub subject_code: String,
    /// `item` or `batch`.
    pub kind: String,
    /// The product filing.
    pub product_code: Option<String>,
    /// The batch.
    pub batch_no: Option<String>,
    /// How many.
    pub count: u32,
    /// When.
    pub issued_at: DateTime<Utc>,
    /// The codes, in serial order: subject code + 10-digit serial + check character.
    pub codes: Vec<String>,
}

/// `GET /api/v1/resolve`: the identifier to resolve.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// A platform trace code, a GS1 Digital Link URI, a GS1 element string
    /// (`(01)…(10)…(21)…`), a GTIN, a filing code (E/M/P…), or a code carried by records.
    pub id: String,
}

/// What an identifier identifies (public fields only).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Resolved {
    /// The identifier as given.
    pub id: String,
    /// Its form: `platform_code`, `gs1_digital_link`, `gs1_element_string`, `gtin`,
    /// `filing_code` or `trace_code`.
    pub form: String,
    /// What it identifies: `item`, `batch`, `product`, `enterprise`, `merchant` or `records`.
    pub identifies: String,
    /// The code to look up publicly (`/t/{code}`), when it is one.
    pub trace_code: Option<String>,
    /// GTIN-14.
    pub gtin: Option<String>,
    /// Batch / lot.
    pub batch_no: Option<String>,
    /// Serial (GS1 AI 21).
    pub serial: Option<String>,
    /// The subject's filing code.
    pub subject_code: Option<String>,
    /// Its name.
    pub subject_name: Option<String>,
    /// The product filing code.
    pub product_code: Option<String>,
    /// Its name.
    pub product_name: Option<String>,
    /// Trace records that carry it.
    pub records: u64,
    /// The public trace page, when records carry it.
    pub public_url: Option<String>,
}

/// `GET /api/v1/trace/queries/statistics`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueryStatisticsQuery {
    /// Region (division code) where the products reached consumers: the caller's own by default,
    /// or one inside it.
    pub region: Option<String>,
    /// The last this many days, 1–366 (default 30).
    pub days: Option<u32>,
}

/// The public's trace-code queries (R-ANA-3): totals and charts.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryStatistics {
    /// The region counted.
    pub region: String,
    /// The window, in days.
    pub days: u32,
    /// Totals: `queries`, `found`, `codes`.
    pub figures: Vec<crate::modules::dashboard::dto::Figure>,
    /// Charts: `by_day` (China time), `by_region` (the next level down), `by_category`,
    /// `by_subject_type`.
    pub charts: Vec<crate::modules::dashboard::dto::Chart>,
}
