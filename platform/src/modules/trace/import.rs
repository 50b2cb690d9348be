//! Trace records from a CSV or XLSX file (R-IF-3, issue 6): each row becomes a record of the
//! ingest API and goes through the same checks in the same way — the whole file checked first,
//! every bad row named (`rows[5].quantity`, the file's row number), nothing written unless
//! every row is good, a re-sent file writing nothing twice. At most 10 000 rows (one ingest
//! batch); larger files are split, as connected systems split their batches.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::dto::{ACTIONS, IngestResponse, MAX_BATCH};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::subjects::dto::STAGES;
use crate::modules::subjects::import::read_table;

/// The file's columns: (field, heading). Headings or field names are both accepted.
pub const COLUMNS: &[(&str, &str)] = &[
    ("client_event_id", "记录编号"),
    ("stage", "环节"),
    ("action", "动作"),
    ("subject_code", "主体编码"),
    ("product_code", "产品备案编码"),
    ("product_name", "产品名称"),
    ("batch_no", "批次号"),
    ("trace_codes", "追溯码"),
    ("quantity", "数量"),
    ("unit", "单位"),
    ("price", "单价"),
    ("amount", "金额"),
    ("event_time", "发生时间"),
    ("division_code", "地区代码"),
    ("longitude", "经度"),
    ("latitude", "纬度"),
    ("counterpart_code", "交易对方编码"),
    ("inputs", "投入批次"),
    ("inspection_item", "检测项目"),
    ("inspection_result", "检测结果"),
    ("report_no", "检测报告编号"),
];

const REQUIRED: &[&str] = &[
    "client_event_id",
    "stage",
    "action",
    "subject_code",
    "batch_no",
    "quantity",
    "unit",
    "event_time",
    "division_code",
];

/// A list cell: values separated by `;`, `,`, `、` or line breaks.
fn list(v: &str) -> Vec<String> {
    v.split([';', ',', '、', '；', '，', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A number cell as JSON: a number when it reads as one, else the text (the check then names
/// the field).
fn number(v: &str) -> Value {
    v.replace(',', "").trim().parse::<f64>().map_or_else(|_| Value::String(v.to_owned()), |n| json!(n))
}

/// A time cell: RFC 3339 as it is; `YYYY-MM-DD HH:MM[:SS]` without a zone is China time (+08:00).
fn time(v: &str) -> String {
    let v = v.trim();
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, format) {
            return format!("{}+08:00", t.format("%Y-%m-%dT%H:%M:%S"));
        }
    }
    v.to_owned()
}

/// One row as an ingest record.
fn record(row: &HashMap<&'static str, String>) -> Value {
    let cell = |k: &str| row.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let mut r = Map::new();
    for k in [
        "client_event_id",
        "subject_code",
        "product_code",
        "product_name",
        "batch_no",
        "unit",
        "division_code",
        "counterpart_code",
    ] {
        if let Some(v) = cell(k) {
            r.insert(k.to_owned(), json!(v));
        }
    }
    // Stage and action by key or by their Chinese names.
    // The sale stage's former label (产品消费或使用) is still read as `sale`.
    let stage = cell("stage").map(|s| if s == "产品消费或使用" { "sale" } else { s });
    let stage = stage.map(|s| STAGES.iter().find(|(k, l)| *k == s || *l == s).map_or(s, |(k, _)| *k));
    if let Some(stage) = stage {
        r.insert("stage".to_owned(), json!(stage));
        if let Some(a) = cell("action") {
            let key = ACTIONS.iter().find(|(st, k, l)| *st == stage && (*k == a || *l == a)).map_or(a, |(_, k, _)| *k);
            r.insert("action".to_owned(), json!(key));
        }
    }
    r.insert("trace_codes".to_owned(), json!(cell("trace_codes").map(list).unwrap_or_default()));
    for k in ["quantity", "price", "amount", "longitude", "latitude"] {
        if let Some(v) = cell(k) {
            r.insert(k.to_owned(), number(v));
        }
    }
    if let Some(t) = cell("event_time") {
        r.insert("event_time".to_owned(), json!(time(t)));
    }
    // Inputs: `batch` or `batch:quantity`, separated like any list.
    let inputs: Vec<Value> = cell("inputs")
        .map(list)
        .unwrap_or_default()
        .iter()
        .map(|i| match i.split_once([':', '：']) {
            // `批次:数量` or `批次:数量:单位`.
            Some((b, rest)) => match rest.split_once([':', '：']) {
                Some((q, u)) => json!({"batch_no": b.trim(), "quantity": number(q), "unit": u.trim()}),
                None => json!({"batch_no": b.trim(), "quantity": number(rest)}),
            },
            None => json!({"batch_no": i}),
        })
        .collect();
    r.insert("inputs".to_owned(), json!(inputs));
    if cell("inspection_item").is_some() || cell("inspection_result").is_some() {
        let result = match cell("inspection_result").unwrap_or_default() {
            "合格" | "pass" => "pass",
            "不合格" | "fail" => "fail",
            other => other,
        };
        r.insert(
            "inspection".to_owned(),
            json!({"item": cell("inspection_item").unwrap_or_default(), "result": result,
                   "report_no": cell("report_no").unwrap_or_default()}),
        );
    }
    Value::Object(r)
}

/// Reads a CSV or XLSX file of trace records: each data row's number in the file, and the row
/// as an ingest record (not yet checked).
///
/// # Errors
/// 422 naming `file`: not a table, missing columns, too many rows, no data row.
pub fn records_from_file(bytes: &[u8], xlsx: bool) -> ApiResult<(Vec<usize>, Vec<Value>)> {
    let sheet = read_table(COLUMNS, REQUIRED, bytes, xlsx, MAX_BATCH)?;
    if sheet.rows.is_empty() {
        return Err(ApiError::invalid_field("file", "empty", "文件中没有数据行"));
    }
    Ok(sheet.rows.iter().map(|(n, row)| (*n, record(row))).unzip())
}

/// Reads the file and ingests its rows as one batch; the answer, and the trace codes the new
/// records carry (as [`super::service::ingest`]).
///
/// # Errors
/// 422 naming `file` (not a table, missing columns, too many rows) or every bad row's field as
/// `rows[N].field` with N the file's row number, writing nothing; 403.
pub async fn import(
    ctx: &Ctx<'_>,
    bytes: actix_web::web::Bytes,
    xlsx: bool,
) -> ApiResult<(IngestResponse, super::public::Written)> {
    let (lines, records) =
        actix_web::web::block(move || records_from_file(&bytes, xlsx)).await.map_err(ApiError::internal)??;
    super::service::ingest(ctx, records).await.map_err(|e| {
        if e.field_errors().is_empty() {
            return e;
        }
        // `events[i].field` → `rows[N].field`, N the row in the file.
        let errors = e
            .field_errors()
            .iter()
            .map(|f| {
                let field = f
                    .field
                    .strip_prefix("events[")
                    .and_then(|rest| rest.split_once(']'))
                    .and_then(|(i, tail)| Some(format!("rows[{}]{tail}", lines.get(i.parse::<usize>().ok()?)?)))
                    .unwrap_or_else(|| f.field.clone());
                FieldError::new(field, f.rule.clone(), f.message.clone())
            })
            .collect();
        // The same problem (422, or 409 for a reused record id), its fields by row.
        e.with_errors(errors)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_records_with_keys_lists_numbers_and_china_time() {
        let row: HashMap<&'static str, String> = [
            ("stage", "生产加工"),
            ("action", "process"),
            ("trace_codes", "A-1；A-2, A-3"),
            ("quantity", "1,200"),
            ("event_time", "2026-11-20 06:30"),
            ("inputs", "B1:600;B0;B2:3:箱"),
            ("inspection_result", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
        let r = record(&row);
        assert_eq!(r["stage"], "processing");
        assert_eq!(r["trace_codes"], json!(["A-1", "A-2", "A-3"]));
        assert_eq!(r["quantity"], json!(1200.0));
        assert_eq!(r["event_time"], "2026-11-20T06:30:00+08:00");
        assert_eq!(
            r["inputs"],
            json!([{"batch_no": "B1", "quantity": 600.0}, {"batch_no": "B0"},
                   {"batch_no": "B2", "quantity": 3.0, "unit": "箱"}])
        );
        assert!(r.get("inspection").is_none());
    }
}
