//! Request and response bodies of the filing routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::entity::enterprise;

/// Enterprise types (R-SUBJ-1).
pub const ENTERPRISE_TYPES: &[(&str, &str)] = &[
    ("producer", "生产企业"),
    ("processor", "加工企业"),
    ("wholesaler", "批发企业"),
    ("market", "批发市场"),
    ("retailer", "零售企业"),
    ("catering", "餐饮企业"),
    ("logistics", "物流企业"),
    ("laboratory", "检测机构"),
    ("other", "其他"),
];

/// Trace stages of the standard (Annex A).
pub const STAGES: &[(&str, &str)] = &[
    ("primary_production", "初级生产"),
    ("processing", "生产加工"),
    ("transport", "产品运输"),
    ("testing", "产品检测"),
    ("sale", "流通销售"),
];

/// `POST /api/v1/enterprises` and `PUT /api/v1/enterprises/{id}`: an enterprise filing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseRequest {
    /// Name.
    #[schema(example = "寿光市蔬菜产业集团有限公司")]
    pub name: String,
    /// Unified social credit code (GB 32100, check character verified).
    #[schema(example = "91350100M000100Y43")]
    pub uscc: String,
    /// One of `producer`, `processor`, `wholesaler`, `market`, `retailer`, `catering`,
    /// `logistics`, `laboratory`, `other`.
    pub enterprise_type: String,
    /// Catalogue codes of its business categories (visible to the tenant).
    #[schema(example = json!(["0101"]))]
    pub categories: Vec<String>,
    /// Trace stages it operates in: `primary_production`, `processing`, `transport`,
    /// `testing`, `sale`.
    pub stages: Vec<String>,
    /// Production/operation licence number.
    pub licence_no: Option<String>,
    /// Address.
    pub address: String,
    /// Division code of the address (inside the filing tenant's region).
    #[schema(example = "370783")]
    pub division_code: String,
    /// Longitude (both or neither).
    pub longitude: Option<f64>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Contact e-mail.
    pub contact_email: Option<String>,
    /// Submit for review at once (otherwise it stays a draft).
    #[serde(default)]
    pub submit: bool,
}

/// An enterprise filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseResponse {
    /// Id.
    pub id: Uuid,
    /// The filing tenant.
    pub tenant_id: Uuid,
    /// Platform-issued code, unique nationwide (`E` + division code + serial + check).
    #[schema(example = "E3707830000013")]
    pub code: String,
    /// Name.
    pub name: String,
    /// Unified social credit code.
    pub uscc: String,
    /// Type.
    pub enterprise_type: String,
    /// Catalogue codes.
    pub categories: Vec<String>,
    /// Trace stages.
    pub stages: Vec<String>,
    /// Licence number.
    pub licence_no: Option<String>,
    /// Address.
    pub address: String,
    /// Division code.
    pub division_code: String,
    /// The division's name from the GB/T 2260 table, province first (`370112` →
    /// 山东省济南市历城区); null for a code a later edition of the table retired.
    #[schema(example = "山东省济南市历城区")]
    pub division_name: Option<String>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Contact e-mail.
    pub contact_email: Option<String>,
    /// `draft`, `submitted`, `approved`, `rejected` or `changed` (an approved filing edited
    /// since, waiting to be submitted again).
    pub status: String,
    /// The last approved version (0: never approved).
    pub version: i32,
    /// Reason of the last rejection.
    pub reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<enterprise::Model> for EnterpriseResponse {
    fn from(e: enterprise::Model) -> Self {
        Self {
            id: e.id,
            tenant_id: e.tenant_id,
            code: e.code,
            name: e.name,
            uscc: e.uscc,
            enterprise_type: e.enterprise_type,
            categories: serde_json::from_str(&e.categories).unwrap_or_default(),
            stages: e.stages.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            licence_no: e.licence_no,
            address: e.address,
            division_name: suyuan_tenancy::division::full_name_of(&e.division_code),
            division_code: e.division_code,
            longitude: e.longitude,
            latitude: e.latitude,
            contact_name: e.contact_name,
            contact_phone: e.contact_phone,
            contact_email: e.contact_email,
            status: e.status,
            version: e.version,
            reason: e.reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Search of filings (R-SUBJ-5): every filter optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseQuery {
    /// Status: `draft`, `submitted`, `approved`, `rejected`, `changed`.
    pub status: Option<String>,
    /// Region: a division code; the filings of it and every region below it.
    #[param(example = "370700")]
    pub region: Option<String>,
    /// Enterprise type.
    pub enterprise_type: Option<String>,
    /// A catalogue code among the business categories.
    pub category: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    /// Start of the enterprise code.
    pub code: Option<String>,
    /// Filed from this time (inclusive).
    pub filed_from: Option<DateTime<Utc>>,
    /// Filed before this time.
    pub filed_to: Option<DateTime<Utc>>,
    /// `code` (default), `name` or `created_at`; `-` in front for descending.
    pub sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u64>,
    /// Export only: `csv` (default) or `xlsx`.
    #[param(value_type = Option<crate::openapi::TableFormat>)]
    pub format: Option<String>,
}

/// A page of filings.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterprisePage {
    /// The filings.
    pub items: Vec<EnterpriseResponse>,
    /// Page, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Filings matching the filters.
    pub total: u64,
}

/// An approved version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    /// 1, 2, …
    pub version: i32,
    /// When it was approved.
    pub approved_at: DateTime<Utc>,
    /// By whom.
    pub approved_by: String,
    /// The filing as approved.
    pub data: serde_json::Value,
    /// Fields that changed from the previous version (`[]` for the first).
    pub changed_fields: Vec<String>,
}

/// `POST /api/v1/enterprises/{id}/reject`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectFilingRequest {
    /// Why, told to the filer.
    pub reason: String,
}

// ---- change control ----

/// The change control of one field (R-SUBJ-4).
#[derive(Debug, Serialize, ToSchema)]
pub struct FilingRuleResponse {
    /// Field name, as in the request body.
    pub field: String,
    /// zh-CN name.
    pub label: String,
    /// Who may change it once the filing is approved: `operator` (经办人员) or `manager`
    /// (审核人员: roles that may approve filings of the kind).
    pub editable_by: String,
    /// A change sends the approved filing back to review; otherwise it takes effect at once
    /// as a new version.
    pub needs_review: bool,
    /// Set by the tenant (otherwise the built-in rule).
    pub customised: bool,
}

/// One field's rule to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilingRuleRequest {
    /// Field name.
    pub field: String,
    /// `operator` or `manager`.
    pub editable_by: String,
    /// A change needs review again.
    pub needs_review: bool,
}

/// `PUT /api/v1/filing-rules/{kind}`: the rules to set (fields not named keep theirs).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilingRulesRequest {
    /// Rules.
    pub rules: Vec<FilingRuleRequest>,
}

// ---- merchants ----

/// Merchant types (个体经营户类型).
pub const MERCHANT_TYPES: &[(&str, &str)] = &[
    ("stall", "摊位经营户"),
    ("shop", "门店经营户"),
    ("farmer", "农户/家庭农场"),
    ("vendor", "流动商贩"),
    ("online", "网店经营户"),
    ("other", "其他"),
];

/// Enterprise types a merchant's node may have (markets and the traders that host stalls).
pub const NODE_TYPES: &[&str] = &["market", "wholesaler", "retailer"];

/// `POST /api/v1/merchants` and `PUT /api/v1/merchants/{id}`: an individual merchant filing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantRequest {
    /// Name (the stall's or the owner's).
    #[schema(example = "王记蔬菜")]
    pub name: String,
    /// One of `stall`, `shop`, `farmer`, `vendor`, `online`, `other`.
    pub merchant_type: String,
    /// Credit code of a registered individual business (GB 32100), if it has one.
    pub uscc: Option<String>,
    /// Catalogue codes of its business categories.
    #[schema(example = json!(["0101"]))]
    pub categories: Vec<String>,
    /// Code of the node enterprise (the market) it trades in: an approved filing of type
    /// `market`, `wholesaler` or `retailer`, in the caller's tenant or below. Its name and
    /// region are taken from that filing.
    #[schema(example = "E3701000000019")]
    pub node_code: String,
    /// Stall number.
    pub stall_no: Option<String>,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Submit for review at once.
    #[serde(default)]
    pub submit: bool,
}

/// An individual merchant filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantResponse {
    /// Id.
    pub id: Uuid,
    /// The filing tenant.
    pub tenant_id: Uuid,
    /// Platform-issued code, unique nationwide (`M` + division code + serial + check).
    pub code: String,
    /// Name.
    pub name: String,
    /// Type.
    pub merchant_type: String,
    /// Credit code.
    pub uscc: Option<String>,
    /// Catalogue codes.
    pub categories: Vec<String>,
    /// The node enterprise's code.
    pub node_code: String,
    /// The node enterprise's name.
    pub node_name: String,
    /// Stall number.
    pub stall_no: Option<String>,
    /// Division code (the node's).
    pub division_code: String,
    /// The division's name from the GB/T 2260 table, province first (`370112` →
    /// 山东省济南市历城区); null for a code a later edition of the table retired.
    #[schema(example = "山东省济南市历城区")]
    pub division_name: Option<String>,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Review status.
    pub status: String,
    /// The last approved version (0: never approved).
    pub version: i32,
    /// Reason of the last rejection.
    pub reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<super::entity::merchant::Model> for MerchantResponse {
    fn from(m: super::entity::merchant::Model) -> Self {
        Self {
            id: m.id,
            tenant_id: m.tenant_id,
            code: m.code,
            name: m.name,
            merchant_type: m.merchant_type,
            uscc: m.uscc,
            categories: serde_json::from_str(&m.categories).unwrap_or_default(),
            node_code: m.node_code,
            node_name: m.node_name,
            stall_no: m.stall_no,
            division_name: suyuan_tenancy::division::full_name_of(&m.division_code),
            division_code: m.division_code,
            contact_name: m.contact_name,
            contact_phone: m.contact_phone,
            status: m.status,
            version: m.version,
            reason: m.reason,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Search of merchant filings (R-SUBJ-5): every filter optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MerchantQuery {
    /// Status.
    pub status: Option<String>,
    /// Region: a division code; the filings of it and every region below it.
    pub region: Option<String>,
    /// Merchant type.
    pub merchant_type: Option<String>,
    /// The node enterprise: its code, or part of its name.
    pub node: Option<String>,
    /// A catalogue code among the business categories.
    pub category: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    /// Start of the merchant code.
    pub code: Option<String>,
    /// Filed from this time (inclusive).
    pub filed_from: Option<DateTime<Utc>>,
    /// Filed before this time.
    pub filed_to: Option<DateTime<Utc>>,
    /// `code` (default), `name` or `created_at`; `-` in front for descending.
    pub sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u64>,
    /// Export only: `csv` (default) or `xlsx`.
    #[param(value_type = Option<crate::openapi::TableFormat>)]
    pub format: Option<String>,
}

/// A page of merchant filings.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantPage {
    /// The filings.
    pub items: Vec<MerchantResponse>,
    /// Page, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Filings matching the filters.
    pub total: u64,
}

// ---- products ----

/// `POST /api/v1/products` and `PUT /api/v1/products/{id}`: a product filing (R-PROD-2).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Name.
    #[schema(example = "寿光番茄")]
    pub name: String,
    /// Catalogue code.
    #[schema(example = "0101")]
    pub category_code: String,
    /// Brand.
    pub brand: Option<String>,
    /// Specification.
    #[schema(example = "5kg/箱")]
    pub specification: Option<String>,
    /// Unit of quantity.
    #[schema(example = "箱")]
    pub unit: String,
    /// Shelf life in days.
    pub shelf_life_days: Option<i32>,
    /// GS1 GTIN (8, 12, 13 or 14 digits, check digit verified), if it has one.
    #[schema(example = "06901234567892")]
    pub gtin: Option<String>,
    /// Code of the producing enterprise: an approved filing in the caller's tenant or below.
    pub enterprise_code: String,
    /// Submit for review at once.
    #[serde(default)]
    pub submit: bool,
}

/// A product filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    /// Id.
    pub id: Uuid,
    /// The filing tenant.
    pub tenant_id: Uuid,
    /// Platform-issued code (`P` + division code + serial + check).
    pub code: String,
    /// Name.
    pub name: String,
    /// Catalogue code.
    pub category_code: String,
    /// Brand.
    pub brand: Option<String>,
    /// Specification.
    pub specification: Option<String>,
    /// Unit.
    pub unit: String,
    /// Shelf life in days.
    pub shelf_life_days: Option<i32>,
    /// GTIN, 14 digits.
    pub gtin: Option<String>,
    /// The producing enterprise's code.
    pub enterprise_code: String,
    /// Its name.
    pub enterprise_name: String,
    /// Division code (the enterprise's).
    pub division_code: String,
    /// The division's name from the GB/T 2260 table, province first (`370112` →
    /// 山东省济南市历城区); null for a code a later edition of the table retired.
    #[schema(example = "山东省济南市历城区")]
    pub division_name: Option<String>,
    /// Review status.
    pub status: String,
    /// The last approved version (0: never approved).
    pub version: i32,
    /// Reason of the last rejection.
    pub reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<super::entity::product::Model> for ProductResponse {
    fn from(p: super::entity::product::Model) -> Self {
        Self {
            id: p.id,
            tenant_id: p.tenant_id,
            code: p.code,
            name: p.name,
            category_code: p.category_code,
            brand: p.brand,
            specification: p.specification,
            unit: p.unit,
            shelf_life_days: p.shelf_life_days,
            gtin: p.gtin,
            enterprise_code: p.enterprise_code,
            enterprise_name: p.enterprise_name,
            division_name: suyuan_tenancy::division::full_name_of(&p.division_code),
            division_code: p.division_code,
            status: p.status,
            version: p.version,
            reason: p.reason,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Search of product filings: every filter optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    /// Status.
    pub status: Option<String>,
    /// Region: a division code; the filings of it and every region below it.
    pub region: Option<String>,
    /// A catalogue code: products in it or below it.
    pub category: Option<String>,
    /// The producing enterprise: its code, or part of its name.
    pub enterprise: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    /// Start of the product code.
    pub code: Option<String>,
    /// GTIN.
    pub gtin: Option<String>,
    /// Filed from this time (inclusive).
    pub filed_from: Option<DateTime<Utc>>,
    /// Filed before this time.
    pub filed_to: Option<DateTime<Utc>>,
    /// `code` (default), `name` or `created_at`; `-` in front for descending.
    pub sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u64>,
    /// Export only: `csv` (default) or `xlsx`.
    #[param(value_type = Option<crate::openapi::TableFormat>)]
    pub format: Option<String>,
}

/// A page of product filings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    /// The filings.
    pub items: Vec<ProductResponse>,
    /// Page, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Filings matching the filters.
    pub total: u64,
}

/// The review state of a filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilingStateResponse {
    /// Id.
    pub id: Uuid,
    /// Issued code.
    pub code: String,
    /// Review status.
    pub status: String,
    /// The last approved version.
    pub version: i32,
    /// Reason of the last rejection.
    pub reason: Option<String>,
}

// ---- import ----

/// `POST /api/v1/imports`: what to import and how; the body is the file.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `enterprise`, `merchant` or `product`.
    #[param(value_type = crate::openapi::ImportKind)]
    pub kind: String,
    /// `dry_run` (default: check only, write nothing), `all_or_nothing` (write every row, or
    /// none when any row is bad) or `good_rows` (write the good rows, report the bad ones).
    #[param(value_type = Option<crate::openapi::ImportMode>)]
    pub mode: Option<String>,
    /// Write the rows as submitted for review (otherwise drafts).
    #[serde(default)]
    pub submit: bool,
    /// `csv` or `xlsx`; by default from the `Content-Type`.
    #[param(value_type = Option<crate::openapi::TableFormat>)]
    pub format: Option<String>,
    /// The file's name, for the record.
    pub file_name: Option<String>,
}

/// A bad row's problem.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportError {
    /// Row in the spreadsheet (the header is row 1).
    pub row: u64,
    /// Column heading.
    pub column: String,
    /// Field, as in the API (`categories[1]`).
    pub field: String,
    /// Rule broken.
    pub rule: String,
    /// zh-CN message.
    pub message: String,
}

/// An import and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJobResponse {
    /// Id.
    pub id: Uuid,
    /// Kind of filing.
    pub kind: String,
    /// File name.
    pub file_name: String,
    /// `dry_run`, `all_or_nothing` or `good_rows`.
    pub mode: String,
    /// `checking`, `writing`, `done` or `failed`.
    pub status: String,
    /// Data rows in the file.
    pub total_rows: i64,
    /// Rows checked so far.
    pub processed_rows: i64,
    /// Rows without problems.
    pub good_rows: i64,
    /// Rows with problems.
    pub bad_rows: i64,
    /// Rows written (0 for a dry run, or when a bad row stopped an all-or-nothing import).
    pub imported_rows: i64,
    /// The problems (the first 1 000; `bad_rows` counts them all).
    pub errors: Vec<ImportError>,
    /// Who.
    pub created_by: String,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<super::entity::import_job::Model> for ImportJobResponse {
    fn from(j: super::entity::import_job::Model) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            file_name: j.file_name,
            mode: j.mode,
            status: j.status,
            total_rows: j.total_rows,
            processed_rows: j.processed_rows,
            good_rows: j.good_rows,
            bad_rows: j.bad_rows,
            imported_rows: j.imported_rows,
            errors: serde_json::from_str(&j.errors).unwrap_or_default(),
            created_by: j.created_by,
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

// ---- map and statistics ----

/// Filters of the filings map and statistics (as the search's).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FilingMapQuery {
    /// Region (division code) to draw and count, inside the caller's; default the caller's.
    #[param(example = "370000")]
    pub region: Option<String>,
    /// `all` (default), `enterprise` or `merchant` (the map; statistics count both).
    pub kind: Option<String>,
    /// Enterprise type.
    pub enterprise_type: Option<String>,
    /// A catalogue code among the business categories.
    pub category: Option<String>,
    /// Status; default `approved`, `all` for every status.
    pub status: Option<String>,
    /// Filed from this time (inclusive).
    pub filed_from: Option<DateTime<Utc>>,
    /// Filed before this time.
    pub filed_to: Option<DateTime<Utc>>,
}

/// Filing statistics of a region.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilingStatistics {
    /// The region counted.
    pub region: String,
    /// Totals.
    pub figures: Vec<crate::modules::dashboard::dto::Figure>,
    /// Charts: `by_child`, `by_type`, `by_stage`, `by_kind`, `merchant_types`, `trend`.
    pub charts: Vec<crate::modules::dashboard::dto::Chart>,
}

crate::page_type!(
    /// A page of imports.
    ImportJobPage,
    ImportJobResponse
);
