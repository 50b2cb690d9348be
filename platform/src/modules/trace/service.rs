//! Trace record rules: checking a whole batch before writing, idempotency on the client's
//! event id, the lineage edges, and the search.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, Offset, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::dto::{ACTIONS, IngestResponse, IngestedEvent, MAX_BATCH, TraceEventQuery, TraceEventRequest};
use super::entity::{code_index, event, lineage, stats_daily};
use super::reference::Reference;
use super::write::IngestTxn;
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::subjects::dto::STAGES;
use crate::modules::subjects::entity::{enterprise, merchant, product};
use crate::modules::subjects::workflow;
use crate::pg_txn::PgTxn;

/// An approved subject filing: (code, name).
pub(super) type Subjects = HashMap<String, String>;

/// Approved enterprise and merchant filings among `codes`: with `own`, only those the caller
/// may read (the reporting subjects); without, any (the counterparts, anywhere in the country).
pub(super) async fn subjects(ctx: &Ctx<'_>, codes: &[String], own: bool) -> ApiResult<Subjects> {
    let mut out = HashMap::new();
    let e_scope = if own { Some(ctx.read_scope("enterprise", "read").await?) } else { None };
    let m_scope = if own { Some(ctx.read_scope("merchant", "read").await?) } else { None };
    for chunk in codes.chunks(500) {
        let mut q = enterprise::Entity::find()
            .select_only()
            .column(enterprise::Column::Code)
            .column(enterprise::Column::Name)
            .filter(enterprise::Column::Code.is_in(chunk.iter().cloned()))
            .filter(enterprise::Column::Version.gt(0));
        if let Some(s) = &e_scope {
            q = q.filter(s.condition(enterprise::Column::TenantId));
        }
        out.extend(q.into_tuple::<(String, String)>().all(ctx.db).await?);
        let mut q = merchant::Entity::find()
            .select_only()
            .column(merchant::Column::Code)
            .column(merchant::Column::Name)
            .filter(merchant::Column::Code.is_in(chunk.iter().cloned()))
            .filter(merchant::Column::Version.gt(0));
        if let Some(s) = &m_scope {
            q = q.filter(s.condition(merchant::Column::TenantId));
        }
        out.extend(q.into_tuple::<(String, String)>().all(ctx.db).await?);
    }
    Ok(out)
}

/// Approved product filings among `codes`: code → (name, category).
pub(super) async fn products(ctx: &Ctx<'_>, codes: &[String]) -> ApiResult<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    for chunk in codes.chunks(500) {
        let rows: Vec<(String, String, String)> = product::Entity::find()
            .select_only()
            .column(product::Column::Code)
            .column(product::Column::Name)
            .column(product::Column::CategoryCode)
            .filter(product::Column::Code.is_in(chunk.iter().cloned()))
            .filter(product::Column::Version.gt(0))
            .into_tuple()
            .all(ctx.db)
            .await?;
        out.extend(rows.into_iter().map(|(c, n, k)| (c, (n, k))));
    }
    Ok(out)
}

fn upper(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

fn len_ok(field: String, v: &str, max: usize, errors: &mut Vec<FieldError>) {
    let n = v.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new(field, "required", "不能为空"));
    } else if n > max {
        errors.push(FieldError::new(field, "too_long", format!("不能超过 {max} 个字符")));
    }
}

/// A unit: a code of the list (or its name or another listed spelling).
fn unit_ok(field: String, v: &str, units: &Reference, errors: &mut Vec<FieldError>) {
    if v.trim().is_empty() {
        errors.push(FieldError::new(field, "required", "须填写计量单位"));
    } else if units.unit(v).is_none() {
        let known = units.codes();
        errors.push(FieldError::new(field, "unknown", format!("没有计量单位 {}；应为: {known}", v.trim())));
    }
}

fn non_negative(field: String, v: Option<f64>, errors: &mut Vec<FieldError>) {
    if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
        errors.push(FieldError::new(field, "range", "不能为负数"));
    }
}

/// Which side of a movement between subjects a record's reporter is, by its action: the seller
/// (`true`: `ship`, `sell`) or the buyer (`false`: `receive`, `arrive`), the counterpart being
/// the other; `None` for actions that move nothing between subjects (they take no counterpart).
#[must_use]
pub fn seller_side(action: &str) -> Option<bool> {
    match action {
        "ship" | "sell" => Some(true),
        "receive" | "arrive" => Some(false),
        _ => None,
    }
}

/// What the check found for the database: the lookups it needs.
struct Lookups {
    reporters: Subjects,
    counterparts: Subjects,
    products: HashMap<String, (String, String)>,
    /// The units of the code list.
    units: std::sync::Arc<Reference>,
}

/// What the check derives from a good record: its time, the product name and category, the
/// counterpart's name.
type Checked = (DateTime<FixedOffset>, String, Option<String>, Option<String>);

/// Checks one record; the fields are named `events[i].field`.
fn check(
    i: usize,
    r: &TraceEventRequest,
    l: &Lookups,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Checked> {
    let f = |name: &str| format!("events[{i}].{name}");
    let before = errors.len();
    len_ok(f("client_event_id"), &r.client_event_id, 64, errors);
    if !STAGES.iter().any(|(k, _)| *k == r.stage) {
        errors.push(FieldError::new(f("stage"), "unknown", format!("没有追溯环节 {}", r.stage)));
    } else if !ACTIONS.iter().any(|(s, a, _)| *s == r.stage && *a == r.action) {
        let allowed: Vec<&str> = ACTIONS.iter().filter(|(s, ..)| *s == r.stage).map(|(_, a, _)| *a).collect();
        errors.push(FieldError::new(f("action"), "unknown", format!("该环节的动作应为: {}", allowed.join(", "))));
    }
    if !l.reporters.contains_key(&upper(&r.subject_code)) {
        errors.push(FieldError::new(
            f("subject_code"),
            "unknown",
            format!("{} 不是本单位或下级单位已审核通过的企业或个体经营户", r.subject_code.trim()),
        ));
    }
    let mut product_name = r.product_name.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let mut category = None;
    match r.product_code.as_deref().map(upper).filter(|s| !s.is_empty()) {
        Some(code) => match l.products.get(&code) {
            Some((name, cat)) => {
                product_name = Some(name.clone());
                category = Some(cat.clone());
            }
            None => {
                errors.push(FieldError::new(f("product_code"), "unknown", format!("没有已审核通过的产品备案 {code}")));
            }
        },
        None => match &product_name {
            Some(n) => len_ok(f("product_name"), n, 100, errors),
            None => errors.push(FieldError::new(f("product_name"), "required", "未填写产品备案编码时须填写产品名称")),
        },
    }
    len_ok(f("batch_no"), &r.batch_no, 64, errors);
    if r.trace_codes.len() > 1_000 {
        errors.push(FieldError::new(f("trace_codes"), "too_many", "一条记录最多 1000 个追溯码"));
    }
    for (j, c) in r.trace_codes.iter().enumerate() {
        len_ok(format!("events[{i}].trace_codes[{j}]"), c, 128, errors);
    }
    if !r.quantity.is_finite() || r.quantity <= 0.0 {
        errors.push(FieldError::new(f("quantity"), "range", "数量应大于 0"));
    }
    unit_ok(f("unit"), &r.unit, &l.units, errors);
    non_negative(f("price"), r.price, errors);
    non_negative(f("amount"), r.amount, errors);
    let time = match DateTime::parse_from_rfc3339(r.event_time.trim()) {
        Ok(t) if t.with_timezone(&Utc) > now + chrono::Duration::minutes(10) => {
            errors.push(FieldError::new(f("event_time"), "future", "发生时间不能晚于现在"));
            None
        }
        Ok(t) if t.year() < 2000 => {
            errors.push(FieldError::new(f("event_time"), "range", "发生时间不能早于 2000 年"));
            None
        }
        Ok(t) => Some(t),
        Err(_) => {
            errors.push(FieldError::new(
                f("event_time"),
                "format",
                "应为带时区的 RFC 3339 时间，如 2026-11-27T08:30:00+08:00",
            ));
            None
        }
    };
    if let Err(e) = suyuan_tenancy::DivisionCode::parse(r.division_code.trim()) {
        errors.push(FieldError::new(f("division_code"), e.rule(), e.to_string()));
    }
    let mut coords = Vec::new();
    crate::validate::coordinates(r.longitude, r.latitude, &mut coords);
    errors.extend(coords.into_iter().map(|e| FieldError::new(f(&e.field), e.rule, e.message)));
    let counterpart = r.counterpart_code.as_deref().map(upper).filter(|s| !s.is_empty());
    let counterpart_name = match &counterpart {
        Some(_) if seller_side(&r.action).is_none() => {
            errors.push(FieldError::new(
                f("counterpart_code"),
                "not_allowed",
                "只有发货、到货、销售、进货记录有交易对方（其他记录不在主体之间移动产品）",
            ));
            None
        }
        Some(c) => match l.counterparts.get(c) {
            Some(n) => Some(n.clone()),
            None => {
                errors.push(FieldError::new(f("counterpart_code"), "unknown", format!("没有已审核通过的主体备案 {c}")));
                None
            }
        },
        None if matches!(r.action.as_str(), "ship" | "receive") => {
            errors.push(FieldError::new(f("counterpart_code"), "required", "发货须填写收货方，进货须填写供货方"));
            None
        }
        None => None,
    };
    if r.stage == "processing" && r.inputs.is_empty() {
        errors.push(FieldError::new(f("inputs"), "required", "加工记录须列出投入的原料批次"));
    }
    if r.stage != "processing" && !r.inputs.is_empty() {
        errors.push(FieldError::new(f("inputs"), "not_allowed", "只有加工记录有原料批次"));
    }
    for (j, input) in r.inputs.iter().enumerate() {
        len_ok(format!("events[{i}].inputs[{j}].batch_no"), &input.batch_no, 64, errors);
        if input.quantity.is_some_and(|q| !q.is_finite() || q <= 0.0) {
            errors.push(FieldError::new(format!("events[{i}].inputs[{j}].quantity"), "range", "数量应大于 0"));
        }
        if let Some(u) = &input.unit {
            unit_ok(format!("events[{i}].inputs[{j}].unit"), u, &l.units, errors);
        }
    }
    match (&r.inspection, r.stage.as_str()) {
        (None, "testing") => {
            errors.push(FieldError::new(f("inspection"), "required", "检测记录须填写检测项目、结果和报告编号"));
        }
        (Some(_), s) if s != "testing" => {
            errors.push(FieldError::new(f("inspection"), "not_allowed", "只有检测记录有检测结果"));
        }
        (Some(ins), _) => {
            len_ok(f("inspection.item"), &ins.item, 64, errors);
            len_ok(f("inspection.report_no"), &ins.report_no, 64, errors);
            if !matches!(ins.result.as_str(), "pass" | "fail") {
                errors.push(FieldError::new(
                    f("inspection.result"),
                    "unknown",
                    "检测结果应为 pass（合格）或 fail（不合格）",
                ));
            }
        }
        (None, _) => {}
    }
    if r.extra.as_ref().is_some_and(|x| serde_json::to_string(x).map_or(0, |s| s.len()) > 4096) {
        errors.push(FieldError::new(f("extra"), "too_long", "其他关键数据不能超过 4 KiB"));
    }
    if errors.len() > before {
        return None;
    }
    time.map(|t| (t, product_name.unwrap_or_default(), category, counterpart_name))
}

/// The checks of one record that need no database, as if no subject, product or counterpart
/// were filed (those are then refused as unknown), against the units read at start (none
/// before: every unit is then unknown): for the parsers' fuzz targets.
#[must_use]
pub fn check_alone(r: &TraceEventRequest, now: DateTime<Utc>) -> Vec<FieldError> {
    let lookups = Lookups {
        reporters: HashMap::new(),
        counterparts: HashMap::new(),
        products: HashMap::new(),
        units: super::reference::current(),
    };
    let mut errors = Vec::new();
    check(0, r, &lookups, now, &mut errors);
    errors
}

/// One record as it arrived: raw JSON from the ingest API, or a value built from a file's row.
pub trait RecordSource {
    /// The record, or why it cannot be one: the field (its JSON path inside the record, empty
    /// for the record itself), the rule and the message.
    ///
    /// # Errors
    /// What serde found wrong (a missing or mistyped field, a number out of range, nesting too
    /// deep).
    fn read(self) -> Result<TraceEventRequest, FieldError>;
}

/// The lines of a request body, to name where in it a record went wrong (counted once, at the
/// first problem).
pub struct Lines<'a> {
    text: &'a [u8],
    /// Where each line break is.
    breaks: std::sync::OnceLock<Vec<usize>>,
}

impl<'a> Lines<'a> {
    /// The lines of `text`.
    #[must_use]
    pub fn new(text: &'a [u8]) -> Self {
        Self { text, breaks: std::sync::OnceLock::new() }
    }

    /// Line and column (from 1, bytes as serde_json counts them) of `part`'s start, a slice of
    /// the text; `None` when it is not one.
    fn start_of(&self, part: &str) -> Option<(usize, usize)> {
        let offset = part.as_ptr().addr().checked_sub(self.text.as_ptr().addr())?;
        if offset + part.len() > self.text.len() {
            return None;
        }
        let breaks = self
            .breaks
            .get_or_init(|| self.text.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect());
        let line = breaks.partition_point(|&b| b < offset);
        let start = if line == 0 { 0 } else { breaks[line - 1] + 1 };
        Some((line + 1, offset - start + 1))
    }
}

/// A record of an ingest request, as raw JSON where it stands in the request's body.
pub struct InBody<'a> {
    /// The record's JSON.
    pub raw: &'a serde_json::value::RawValue,
    /// The body's lines.
    pub lines: &'a Lines<'a>,
}

/// `e` as a field error of the record, its message led by where it stopped: counted from
/// `start` (the record's line and column in the request) when known.
fn unreadable(e: &serde_path_to_error::Error<serde_json::Error>, start: Option<(usize, usize)>) -> FieldError {
    let mut fe = crate::error::json_field_error(e);
    if let Some((line, column)) = start {
        let (l, c) = (e.inner().line(), e.inner().column());
        let (line, column) = if l <= 1 { (line, column + c.saturating_sub(1)) } else { (line + l - 1, c) };
        fe.message = format!("第 {line} 行第 {column} 列: {}", fe.message);
    }
    fe
}

impl RecordSource for InBody<'_> {
    fn read(self) -> Result<TraceEventRequest, FieldError> {
        let text = self.raw.get();
        // Read plainly (the usual case); only a refused record is read again for its path.
        serde_json::from_str(text).map_err(|_| {
            let mut de = serde_json::Deserializer::from_str(text);
            match serde_path_to_error::deserialize::<_, TraceEventRequest>(&mut de) {
                Err(e) => unreadable(&e, self.lines.start_of(text)),
                Ok(_) => FieldError::new("", "format", "无法读取这条记录"),
            }
        })
    }
}

impl RecordSource for serde_json::Value {
    fn read(self) -> Result<TraceEventRequest, FieldError> {
        // A value built from a file's row: no lines to count; the path names the column.
        serde_path_to_error::deserialize(self).map_err(|e| crate::error::json_field_error(&e))
    }
}

/// Records checked and built per piece; on PostgreSQL each piece is sent into the `COPY` as
/// soon as it is built, while the next one is checked.
const PIECE: usize = 200;

/// What a checked batch writes.
#[derive(Default)]
struct Batch {
    rows: Vec<event::Model>,
    edges: Vec<lineage::Model>,
    codes: Vec<code_index::Model>,
    answer: Vec<IngestedEvent>,
    /// On PostgreSQL, once every record went into the `COPY`: the lineage edges' and code-index
    /// rows' `COPY` data, encoded while PostgreSQL still writes the records.
    encoded: Option<super::write::Encoded>,
}

/// Checks every record (errors into `errors`) and builds the rows of the good ones. With `sink`
/// (PostgreSQL), each piece of rows is sent on as `COPY` data while no error has been found;
/// `true` when every row was sent.
async fn build(
    records: &[Option<TraceEventRequest>],
    lookups: &Lookups,
    tenant: Uuid,
    errors: &mut Vec<FieldError>,
    batch: &mut Batch,
    mut sink: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
) -> ApiResult<bool> {
    let now = Utc::now();
    let mut seen = HashSet::with_capacity(records.len());
    let mut sent = 0;
    for (start, piece) in (0..).step_by(PIECE).zip(records.chunks(PIECE)) {
        for (i, r) in (start..).zip(piece) {
            let Some(r) = r else { continue };
            if !seen.insert(r.client_event_id.trim()) {
                errors.push(FieldError::new(
                    format!("events[{i}].client_event_id"),
                    "duplicate_in_batch",
                    "同一次提交中记录编号重复",
                ));
            }
            if let Some(c) = check(i, r, lookups, now, errors) {
                batch.push(tenant, r, c, lookups, now)?;
            }
        }
        let Some(to) = &sink else { continue };
        let mut data = Vec::with_capacity(32 + (batch.rows.len() - sent) * 300);
        if start == 0 {
            data.extend_from_slice(super::write::COPY_HEADER);
        }
        if !errors.is_empty() || !super::write::copy_rows::<event::Entity>(&batch.rows[sent..], &mut data) {
            // The copy is left unfinished: it is rolled back.
            sink = None;
            continue;
        }
        let last = start + PIECE >= records.len();
        if last {
            data.extend_from_slice(super::write::COPY_TRAILER);
        }
        sent = batch.rows.len();
        // A refused send means the copy failed: it reports why.
        if to.send(data).await.is_err() {
            sink = None;
            continue;
        }
        if last {
            // The copy ends as soon as its sender is gone; while PostgreSQL writes the last
            // records, the edges and codes are encoded for theirs.
            drop(sink);
            tokio::task::yield_now().await;
            batch.encoded = Some(super::write::Encoded::new(&batch.edges, &batch.codes));
            return Ok(errors.is_empty());
        }
        // Lets the copy send this piece before the next is built.
        tokio::task::yield_now().await;
    }
    Ok(sink.is_some() && errors.is_empty())
}

impl Batch {
    /// Adds the rows of good record `r`, checked as `c`.
    fn push(
        &mut self,
        tenant: Uuid,
        r: &TraceEventRequest,
        c: Checked,
        lookups: &Lookups,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let (time, product_name, category, counterpart) = c;
        let client_id = r.client_event_id.trim().to_owned();
        let id = Uuid::now_v7();
        let subject = upper(&r.subject_code);
        let batch = r.batch_no.trim().to_owned();
        let at = time.with_timezone(&Utc);
        let counterpart_code = r.counterpart_code.as_deref().map(upper).filter(|s| !s.is_empty());
        let edges = &mut self.edges;
        // The unit of a quantity as the code list spells it (a record's is checked; an input's
        // is optional: without it the flow shows none).
        let unit_of =
            |given: &str| lookups.units.unit(given).map_or_else(|| given.trim().to_owned(), |u| u.code.clone());
        let unit = unit_of(&r.unit);
        let mut edge =
            |kind: &str, from: (&str, &str), to: (&str, &str), quantity: Option<f64>, unit: Option<String>| {
                edges.push(lineage::Model {
                    id: Uuid::now_v7(),
                    tenant_id: tenant,
                    event_id: id,
                    kind: kind.to_owned(),
                    from_subject_code: from.0.to_owned(),
                    from_batch: from.1.to_owned(),
                    to_subject_code: to.0.to_owned(),
                    to_batch: to.1.to_owned(),
                    quantity,
                    event_time: at,
                    product_name: product_name.clone(),
                    unit,
                });
            };
        for input in &r.inputs {
            let input_unit = input.unit.as_deref().map(unit_of);
            edge("process", (&subject, input.batch_no.trim()), (&subject, &batch), input.quantity, input_unit);
        }
        // Seller → buyer, whichever side reports (both sides' reports are one flow in a chain).
        match (seller_side(&r.action), &counterpart_code) {
            (Some(true), Some(to)) => {
                edge("ship", (&subject, &batch), (to, &batch), Some(r.quantity), Some(unit.clone()));
            }
            (Some(false), Some(from)) => {
                edge("ship", (from, &batch), (&subject, &batch), Some(r.quantity), Some(unit.clone()));
            }
            _ => {}
        }
        let mut own_codes: Vec<&str> = r.trace_codes.iter().map(|c| c.trim()).collect();
        own_codes.sort_unstable();
        own_codes.dedup();
        self.codes.extend(own_codes.into_iter().map(|c| code_index::Model {
            code: c.to_owned(),
            event_id: id,
            tenant_id: tenant,
        }));
        self.rows.push(event::Model {
            id,
            tenant_id: tenant,
            client_event_id: client_id.clone(),
            stage: r.stage.clone(),
            action: r.action.clone(),
            subject_code: subject.clone(),
            subject_name: lookups.reporters.get(&subject).cloned().unwrap_or_default(),
            product_code: r.product_code.as_deref().map(upper).filter(|s| !s.is_empty()),
            product_name,
            category_code: category,
            batch_no: batch,
            trace_codes: serde_json::to_string(&r.trace_codes).map_err(ApiError::internal)?,
            quantity: r.quantity,
            unit,
            price: r.price,
            amount: r.amount,
            event_time: at,
            event_offset_minutes: time.offset().local_minus_utc() / 60,
            recorded_at: now,
            division_code: r.division_code.trim().to_owned(),
            longitude: r.longitude,
            latitude: r.latitude,
            counterpart_code,
            counterpart_name: counterpart,
            inputs: serde_json::to_string(&r.inputs).map_err(ApiError::internal)?,
            inspection: r.inspection.as_ref().map(serde_json::to_string).transpose().map_err(ApiError::internal)?,
            extra: r.extra.as_ref().map(serde_json::to_string).transpose().map_err(ApiError::internal)?,
        });
        self.answer.push(IngestedEvent { client_event_id: client_id, id, duplicate: false });
        Ok(())
    }
}

/// Checks a whole batch, then writes the new records and their lineage edges in one
/// transaction; records received before are reported as duplicates and not written again.
/// Also answers the trace codes the new records carry and the lineage nodes they wrote: the
/// cached public answers that read them are stale.
///
/// On PostgreSQL the transaction is opened after the lookups, and the records are copied
/// in while they are checked (see [`build`]); a batch with a bad record rolls that back.
///
/// The audit entry is queued, not chained: the caller calls [`audit::pending::after_ingest`]
/// once the answer is known (it chains on SQLite and wakes the writer on PostgreSQL).
///
/// # Errors
/// 422 naming every bad record's field (`events[3].quantity`), a record that cannot be read
/// by its path and position, writing nothing; 409 (`idempotency_conflict`) when a record's
/// client event id was received before with other content, writing nothing; 403.
pub async fn ingest<R: RecordSource>(
    ctx: &Ctx<'_>,
    raw: Vec<R>,
) -> ApiResult<(IngestResponse, super::public::Written)> {
    let scope = ctx.own_scope("trace_event", "create").await?;
    if raw.is_empty() || raw.len() > MAX_BATCH {
        return Err(ApiError::invalid_field("events", "range", format!("每次提交 1–{MAX_BATCH} 条记录")));
    }
    let tenant = scope.tenant_id();
    let started = std::time::Instant::now();
    let mut errors = Vec::new();
    let mut records = Vec::with_capacity(raw.len());
    for (i, v) in raw.into_iter().enumerate() {
        match v.read() {
            Ok(r) => records.push(Some(r)),
            Err(mut fe) => {
                // Every record that cannot be read is named: the batch is refused whole.
                fe.field = match fe.field.as_str() {
                    "" => format!("events[{i}]"),
                    f if f.starts_with('[') => format!("events[{i}]{f}"),
                    f => format!("events[{i}].{f}"),
                };
                errors.push(fe);
                records.push(None);
            }
        }
    }
    let parsed: Vec<&TraceEventRequest> = records.iter().flatten().collect();
    let codes = |f: &dyn Fn(&TraceEventRequest) -> Option<String>| -> Vec<String> {
        let set: HashSet<String> = parsed.iter().filter_map(|r| f(r)).filter(|s| !s.is_empty()).collect();
        set.into_iter().collect()
    };
    let parsed_at = started.elapsed();
    // The three lookups at once, on three pooled connections.
    let (own, others, filed) = (
        codes(&|r| Some(upper(&r.subject_code))),
        codes(&|r| r.counterpart_code.as_deref().map(upper)),
        codes(&|r| r.product_code.as_deref().map(upper)),
    );
    let lookups = async {
        let (reporters, counterparts, products) =
            tokio::try_join!(subjects(ctx, &own, true), subjects(ctx, &others, false), products(ctx, &filed))?;
        let units = super::reference::ensure(ctx.db).await?;
        Ok::<_, ApiError>(Lookups { reporters, counterparts, products, units })
    };
    let mut batch = Batch::default();
    let (looked_up, built, (accepted, written, answer)) = match ctx.db.get_database_backend() {
        DbBackend::Postgres => {
            let open = async {
                let txn = PgTxn::begin(ctx.db.get_postgres_connection_pool()).await?;
                txn.execute_unprepared(&format!("SAVEPOINT {}", super::write::COPY_SAVEPOINT)).await?;
                Ok::<_, ApiError>(txn)
            };
            // The lookups first, then the transaction: a request holding its transaction's
            // connection while it waits for more could exhaust the pool when a tenant's ingests
            // run side by side (they no longer queue on the audit chain). The key of
            // PostgreSQL's records holds the time (monthly partitions): which ids were stored
            // before under any time is read with the lookups, so that the same id sent with
            // another time is found a conflict rather than written twice.
            let ids: Vec<String> = parsed.iter().map(|r| r.client_event_id.trim().to_owned()).collect();
            let (lookups, prior) = tokio::try_join!(lookups, prior_ids(ctx.db, tenant, ids))?;
            let txn = open.await?;
            let looked_up = started.elapsed();
            let (sink, pieces) = tokio::sync::mpsc::channel(4);
            let statement = super::write::copy_statement::<event::Entity>();
            let (copied, whole) = tokio::join!(
                txn.copy_in_from(&statement, pieces),
                build(&records, &lookups, tenant, &mut errors, &mut batch, Some(sink))
            );
            let whole = whole?;
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
            let built = started.elapsed();
            let inserted = super::write::copied_events(&txn, &batch.rows, copied, whole).await?;
            let out = store(&txn, ctx, tenant, batch, inserted, &prior).await?;
            txn.commit().await?;
            (looked_up, built, out)
        }
        _ => {
            let lookups = lookups.await?;
            let looked_up = started.elapsed();
            build(&records, &lookups, tenant, &mut errors, &mut batch, None).await?;
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
            let built = started.elapsed();
            let txn = ctx.db.begin().await?;
            let inserted = super::write::events(&txn, &batch.rows).await?;
            // SQLite's key is the id alone: a record stored before is refused, whatever its time.
            let out = store(&txn, ctx, tenant, batch, inserted, &HashSet::new()).await?;
            txn.commit().await?;
            (looked_up, built, out)
        }
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    tracing::debug!(
        records = records.len(),
        accepted,
        parse_ms = ms(parsed_at),
        lookups_ms = ms(looked_up - parsed_at),
        // On PostgreSQL the records' copy runs meanwhile.
        check_build_ms = ms(built - looked_up),
        write_ms = ms(started.elapsed() - built),
        "trace records ingested"
    );
    Ok((IngestResponse { accepted, duplicates: records.len() - accepted, events: answer }, written))
}

/// PostgreSQL: which of `ids` the tenant's stored records carry (under any time).
async fn prior_ids(db: &sea_orm::DatabaseConnection, tenant: Uuid, ids: Vec<String>) -> ApiResult<HashSet<String>> {
    use sea_orm::Value;
    let ids = Value::Array(
        sea_orm::sea_query::ArrayType::String,
        Some(Box::new(ids.into_iter().map(|s| Value::String(Some(s))).collect())),
    );
    let stmt = sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT client_event_id FROM trace_events WHERE tenant_id = $1 AND client_event_id = ANY($2)",
        [tenant.into(), ids],
    );
    let mut out = HashSet::new();
    for row in db.query_all_raw(stmt).await? {
        out.insert(row.try_get::<String>("", "client_event_id")?);
    }
    Ok(out)
}

/// Times as stored: PostgreSQL keeps microseconds.
fn same_time(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    a.timestamp_micros() == b.timestamp_micros()
}

/// Whether `new` (a record built from a request) says what `stored` says: every field the
/// sender gives, as the platform keeps it (trimmed, codes in capitals, the time in UTC with its
/// zone). The names taken from filings are left out (a filing renamed since is no new content),
/// as are the ids and the time received.
fn same_content(new: &event::Model, stored: &event::Model) -> bool {
    // Numbers as stored: bit for bit (both databases keep a double as it was sent).
    let bits = |v: Option<f64>| v.map(f64::to_bits);
    new.client_event_id == stored.client_event_id
        && new.stage == stored.stage
        && new.action == stored.action
        && new.subject_code == stored.subject_code
        && new.product_code == stored.product_code
        && (new.product_code.is_some() || new.product_name == stored.product_name)
        && new.batch_no == stored.batch_no
        && new.trace_codes == stored.trace_codes
        && new.quantity.to_bits() == stored.quantity.to_bits()
        && new.unit == stored.unit
        && bits(new.price) == bits(stored.price)
        && bits(new.amount) == bits(stored.amount)
        && same_time(new.event_time, stored.event_time)
        && new.event_offset_minutes == stored.event_offset_minutes
        && new.division_code == stored.division_code
        && bits(new.longitude) == bits(stored.longitude)
        && bits(new.latitude) == bits(stored.latitude)
        && new.counterpart_code == stored.counterpart_code
        && new.inputs == stored.inputs
        && new.inspection == stored.inspection
        && new.extra == stored.extra
}

/// Writes the rest of a checked batch in `txn`, once its records are offered (`inserted`: the
/// ids of the new ones; `prior`: on PostgreSQL, the client ids stored before under any time):
/// records received before with the same content, by a retry or a concurrent request, are
/// answered with their stored ids; one with other content refuses the batch (409). Then the new
/// records' lineage edges and code index rows, the audit record, the statistics deltas and
/// their outbox row. Answers how many were new, the trace codes they carry, and the answer for
/// every record.
///
/// # Errors
/// 409 (`idempotency_conflict`) naming every record whose id was used for other content; the
/// caller drops the transaction, so nothing is written.
async fn store(
    txn: &impl IngestTxn,
    ctx: &Ctx<'_>,
    tenant: Uuid,
    batch: Batch,
    inserted: Vec<Uuid>,
    prior: &HashSet<String>,
) -> ApiResult<(usize, super::public::Written, Vec<IngestedEvent>)> {
    let Batch { rows, mut edges, mut codes, mut answer, encoded } = batch;
    let inserted: HashSet<Uuid> = inserted.into_iter().collect();
    // The records received before (refused by the unique key), and on PostgreSQL those whose
    // id was stored before under another time (the key there holds the time: they went in).
    let repeated: Vec<String> = answer
        .iter()
        .filter(|a| !inserted.contains(&a.id) || prior.contains(&a.client_event_id))
        .map(|a| a.client_event_id.clone())
        .collect();
    let mut known: HashMap<String, Vec<event::Model>> = HashMap::new();
    for chunk in repeated.chunks(100) {
        let found = event::Entity::find()
            .filter(event::Column::TenantId.eq(tenant))
            .filter(event::Column::ClientEventId.is_in(chunk.iter().cloned()))
            .all(txn)
            .await?;
        for m in found.into_iter().filter(|m| !inserted.contains(&m.id)) {
            known.entry(m.client_event_id.clone()).or_default().push(m);
        }
    }
    // The same id and the same content is a retry; the same id with other content is a
    // conflict: the batch is refused whole (the idempotency-key rule).
    let (mut conflicts, mut ids) = (Vec::new(), Vec::new());
    for (i, (a, row)) in answer.iter_mut().zip(&rows).enumerate() {
        let stored = known.get(&a.client_event_id).map(Vec::as_slice).unwrap_or_default();
        if stored.is_empty() {
            // Refused by the key yet not found (the row that refused it is committed before the
            // refusal, so this does not happen): answered as received before, as ever.
            if !inserted.contains(&a.id) {
                a.duplicate = true;
            }
            continue;
        }
        match stored.iter().find(|m| same_time(m.event_time, row.event_time)) {
            Some(m) if same_content(row, m) && !inserted.contains(&a.id) => {
                a.duplicate = true;
                a.id = m.id;
            }
            _ => {
                ids.push(a.client_event_id.clone());
                conflicts.push(FieldError::new(
                    format!("events[{i}].client_event_id"),
                    "conflict",
                    format!(
                        "记录编号 {} 已收到过内容不同的记录：同一编号只能重发同一内容，新内容请用新编号",
                        a.client_event_id
                    ),
                ));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(ApiError::conflict(format!("记录编号 {} 已用于内容不同的记录，本批未写入", ids.join("、")))
            .with_code("idempotency_conflict")
            .with_errors(conflicts));
    }
    // Every record new (the usual case): the edges and codes encoded beforehand are all theirs.
    let encoded = encoded.filter(|_| inserted.len() == answer.len());
    if encoded.is_none() {
        edges.retain(|e| inserted.contains(&e.event_id));
        codes.retain(|c| inserted.contains(&c.event_id));
    }
    // What cached public answers may have read: the codes, and the nodes of the new records
    // and edges (an answer reads the lineage upstream of its code).
    let mut written = super::public::Written {
        codes: codes.iter().map(|c| c.code.clone()).collect(),
        nodes: rows
            .iter()
            .filter(|r| inserted.contains(&r.id))
            .map(|r| (r.subject_code.clone(), r.batch_no.clone()))
            .chain(edges.iter().flat_map(|e| {
                [(e.from_subject_code.clone(), e.from_batch.clone()), (e.to_subject_code.clone(), e.to_batch.clone())]
            }))
            .collect(),
    };
    written.codes.sort_unstable();
    written.codes.dedup();
    written.nodes.sort_unstable();
    written.nodes.dedup();
    super::write::edges_and_codes(txn, edges, codes, encoded).await?;
    // Statistics deltas of the new records, summed into the daily figures here, and sent up to
    // the parent in the outbox.
    let units = super::reference::current();
    let deltas = daily_deltas(tenant, rows.iter().filter(|r| inserted.contains(&r.id)), &units);
    let accepted = inserted.len();
    if accepted > 0 {
        // The audit entry is queued in this transaction without the tenant's chain lock (which
        // would serialise the tenant's ingests until each commits); the audit writer chains it
        // and then, under the lock, numbers the outbox row and adds the daily figures. The
        // count of records accepted lets `audit verify` account for every record (audit::pending).
        let detail = serde_json::json!({"accepted": accepted, "duplicates": answer.len() - accepted});
        let followup = audit::pending::Followup {
            outbox: vec![("statistics.delta".to_owned(), serde_json::json!({ "deltas": deltas }))],
            stats: deltas,
        };
        let entry = ctx.entry(audit::pending::INGEST_ACTION, "trace_event", tenant.to_string(), detail);
        audit::pending::queue(txn, entry, &followup).await?;
    }
    Ok((accepted, written, answer))
}

/// The statistics deltas of `rows` (records of `tenant_id`): records and quantity by day (in
/// the record's own zone, where it happened), stage, category, region and unit. Quantities of
/// different stages or units are never added: a convertible unit is counted in its base (t and
/// g as kg, mL as L), any other in itself, and a unit not in the list as `""` (not stated).
#[must_use]
pub fn daily_deltas<'a>(
    tenant_id: Uuid,
    rows: impl IntoIterator<Item = &'a event::Model>,
    units: &'a Reference,
) -> Vec<stats_daily::Model> {
    // Keyed by borrowed text and the date itself: a batch's thousand records make a few keys,
    // whose text is written once each.
    // (day, stage, category, region, unit).
    type Key<'k> = (chrono::NaiveDate, &'k str, &'k str, &'k str, &'k str);
    let mut deltas: BTreeMap<Key<'_>, (i64, f64)> = BTreeMap::new();
    for r in rows {
        let offset = FixedOffset::east_opt(r.event_offset_minutes * 60).unwrap_or(Utc.fix());
        let day = r.event_time.with_timezone(&offset).date_naive();
        let (unit, factor) = units.statistics_unit(&r.unit);
        let key =
            (day, r.stage.as_str(), r.category_code.as_deref().unwrap_or_default(), r.division_code.as_str(), unit);
        let d = deltas.entry(key).or_insert((0, 0.0));
        d.0 += 1;
        d.1 += r.quantity * factor;
    }
    deltas
        .into_iter()
        .map(|((day, stage, category_code, division_code, unit), (records, quantity))| stats_daily::Model {
            tenant_id,
            day: day.format("%Y-%m-%d").to_string(),
            stage: stage.to_owned(),
            category_code: category_code.to_owned(),
            division_code: division_code.to_owned(),
            unit: unit.to_owned(),
            records,
            quantity,
        })
        .collect()
}

/// Searches the records the caller may read, newest first.
///
/// # Errors
/// 422 naming a bad filter; 403.
pub async fn search(ctx: &Ctx<'_>, q: &TraceEventQuery) -> ApiResult<(Vec<event::Model>, u64, u64, u64)> {
    let scope = ctx.read_scope("trace_event", "read").await?;
    let mut errors = Vec::new();
    let (page, page_size) = workflow::paging(q.page, q.page_size, &mut errors);
    let mut query = event::Entity::find().filter(scope.condition(event::Column::TenantId));
    if let Some(s) = q.stage.as_deref().filter(|s| !s.is_empty()) {
        if STAGES.iter().any(|(k, _)| *k == s) {
            query = query.filter(event::Column::Stage.eq(s));
        } else {
            errors.push(FieldError::new("stage", "unknown", "没有这个追溯环节"));
        }
    }
    if let Some(p) = q.product.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(
            sea_orm::Condition::any()
                .add(event::Column::ProductCode.eq(p.to_ascii_uppercase()))
                .add(event::Column::ProductName.contains(p)),
        );
    }
    if let Some(r) = q.region.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(prefix) = workflow::region_prefix(r, &mut errors)
    {
        query = query.filter(workflow::starts_with(event::Column::DivisionCode, &prefix));
    }
    if let Some(s) = q.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(event::Column::SubjectCode.eq(s.to_ascii_uppercase()));
    }
    if let Some(b) = q.batch_no.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(event::Column::BatchNo.eq(b));
    }
    if let Some(c) = q.trace_code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(code_index::carried_by(c));
    }
    if let Some(f) = q.from {
        query = query.filter(event::Column::EventTime.gte(f));
    }
    if let Some(t) = q.to {
        query = query.filter(event::Column::EventTime.lt(t));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let sorted = query.clone().order_by_desc(event::Column::EventTime).order_by_desc(event::Column::Id);
    let (items, total) = workflow::page_of(ctx.db, query, sorted, event::Column::Id, page, page_size).await?;
    Ok((items, page, page_size, total))
}

/// One record the caller may read.
///
/// # Errors
/// 404, 403.
pub async fn get(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<event::Model> {
    let e = event::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("没有这条追溯记录"))?;
    let owner = suyuan_tenancy::entity::tenant::Entity::find_by_id(e.tenant_id)
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("record without tenant")))?;
    ctx.require(&owner, "trace_event", "read").await?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_alone_is_checked_without_lookups() {
        let r: TraceEventRequest = serde_json::from_value(serde_json::json!({
            "client_event_id": "R-1", "stage": "primary_production", "action": "harvest",
            "subject_code": "E370783000000150", "product_name": "番茄", "batch_no": "B-1",
            "quantity": -1, "unit": "kg", "event_time": "2026-11-20T06:30:00+08:00", "division_code": "370783",
        }))
        .unwrap();
        let errors = check_alone(&r, Utc::now());
        let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.rule.as_str())).collect();
        // No unit list was read here: the unit is unknown too.
        assert_eq!(
            fields,
            [("events[0].subject_code", "unknown"), ("events[0].quantity", "range"), ("events[0].unit", "unknown")]
        );
    }

    fn record(time: &str, stage: &str, category: Option<&str>, quantity: f64) -> event::Model {
        record_in(time, stage, category, quantity, "kg")
    }

    fn record_in(time: &str, stage: &str, category: Option<&str>, quantity: f64, unit: &str) -> event::Model {
        let at = DateTime::parse_from_rfc3339(time).unwrap();
        event::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            client_event_id: String::new(),
            stage: stage.to_owned(),
            action: String::new(),
            subject_code: String::new(),
            subject_name: String::new(),
            product_code: None,
            product_name: String::new(),
            category_code: category.map(str::to_owned),
            batch_no: String::new(),
            trace_codes: "[]".to_owned(),
            quantity,
            unit: unit.to_owned(),
            price: None,
            amount: None,
            event_time: at.to_utc(),
            event_offset_minutes: at.offset().local_minus_utc() / 60,
            recorded_at: Utc::now(),
            division_code: "370783".to_owned(),
            longitude: None,
            latitude: None,
            counterpart_code: None,
            counterpart_name: None,
            inputs: "[]".to_owned(),
            inspection: None,
            extra: None,
        }
    }

    fn units() -> Reference {
        let unit = |code: &str, name: &str, base: Option<(&str, f64)>| super::super::reference::Unit {
            code: code.to_owned(),
            name: name.to_owned(),
            dimension: if base.is_some() { "mass" } else { "count" }.to_owned(),
            base_code: base.map(|b| b.0.to_owned()),
            factor: base.map(|b| b.1),
            aliases: vec!["公斤".to_owned()].into_iter().filter(|_| code == "kg").collect(),
        };
        Reference::new(
            vec![unit("kg", "千克", Some(("kg", 1.0))), unit("t", "吨", Some(("kg", 1000.0))), unit("箱", "箱", None)],
            HashMap::new(),
        )
    }

    #[test]
    fn daily_deltas_sum_by_the_records_own_day_stage_category_region_and_unit() {
        let rows = [
            // 2026-11-20 in China, 2026-11-19 in UTC: counted on the 20th.
            record("2026-11-20T06:30:00+08:00", "sale", Some("VEG"), 2.0),
            record("2026-11-20T23:59:00+08:00", "sale", Some("VEG"), 3.5),
            record("2026-11-20T10:00:00+08:00", "sale", None, 1.0),
            record("2026-11-21T00:00:00+08:00", "transport", Some("VEG"), 4.0),
            // A ton is counted as 1 000 kg; boxes on their own; a unit from before the list as
            // not stated.
            record_in("2026-11-20T08:00:00+08:00", "sale", Some("VEG"), 0.5, "t"),
            record_in("2026-11-20T08:00:00+08:00", "sale", Some("VEG"), 7.0, "箱"),
            record_in("2026-11-20T08:00:00+08:00", "sale", Some("VEG"), 9.0, "筐"),
        ];
        let tenant = Uuid::now_v7();
        let units = units();
        let got: Vec<(String, String, String, String, i64, f64)> = daily_deltas(tenant, &rows, &units)
            .into_iter()
            .inspect(|d| assert_eq!((d.tenant_id, d.division_code.as_str()), (tenant, "370783")))
            .map(|d| (d.day, d.stage, d.category_code, d.unit, d.records, d.quantity))
            .collect();
        let row = |day: &str, stage: &str, category: &str, unit: &str, records, quantity| {
            (day.to_owned(), stage.to_owned(), category.to_owned(), unit.to_owned(), records, quantity)
        };
        assert_eq!(
            got,
            [
                row("2026-11-20", "sale", "", "kg", 1, 1.0),
                row("2026-11-20", "sale", "VEG", "", 1, 9.0),
                row("2026-11-20", "sale", "VEG", "kg", 3, 505.5),
                row("2026-11-20", "sale", "VEG", "箱", 1, 7.0),
                row("2026-11-21", "transport", "VEG", "kg", 1, 4.0),
            ]
        );
    }

    #[test]
    fn a_unit_is_found_by_code_name_or_spelling_and_counted_in_its_base() {
        let units = units();
        for given in ["kg", "KG", "千克", "公斤", " kg "] {
            assert_eq!(units.unit(given).map(|u| u.code.as_str()), Some("kg"), "{given}");
        }
        assert!(units.unit("筐").is_none());
        assert_eq!(units.statistics_unit("t"), ("kg", 1000.0));
        assert_eq!(units.statistics_unit("箱"), ("箱", 1.0));
        assert_eq!(units.statistics_unit("筐"), ("", 1.0));
        assert_eq!(units.unit_name(""), "未注明单位");
    }
}
