//! Bulk import of filings from CSV and XLSX (R-IF-3). The columns are the export's (zh-CN
//! headings, or the field names). Every row is checked with the rules of the API; a dry run
//! reports every bad row (row, column, rule) and writes nothing; a real import writes nothing
//! when any row is bad, unless the user asked for the good rows. The work runs in the
//! background and records its progress in the job row, which pages and clients poll.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use actix_web::web;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::dto::{
    ENTERPRISE_TYPES, EnterpriseRequest, ImportError, ImportJobResponse, MERCHANT_TYPES, MerchantRequest,
    ProductRequest, STAGES,
};
use super::entity::{enterprise, import_job, merchant, product};
use super::export::columns;
use super::workflow::{Kind, Refs};
use super::{merchants, products, service};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::handlers::Caller;
use crate::modules::admin::service::Ctx;

/// The largest file accepted (bytes).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// The most data rows one file holds.
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// The most columns a file may have.
pub const MAX_COLUMNS: usize = 64;
/// The most text a file's cells may hold in all (bytes): an XLSX cell naming a shared string
/// is a copy of it, so a small sheet naming one long string many times would otherwise hold
/// far more than the file. A CSV holds at most its own size.
pub const MAX_TABLE_TEXT_BYTES: usize = MAX_IMPORT_BYTES;

/// The most parts (files inside the archive) an XLSX may have; a workbook has a dozen or so.
pub const MAX_XLSX_ENTRIES: usize = 1_000;
/// The largest unpacked size of a part read whole (shared strings, styles, the workbook):
/// no larger than the largest CSV accepted.
pub const MAX_XLSX_PART_BYTES: u64 = 64 * 1024 * 1024;
/// The largest unpacked size of a worksheet (read cell by cell, never whole): room for the
/// most rows an import takes.
pub const MAX_XLSX_SHEET_BYTES: u64 = 256 * 1024 * 1024;
/// The largest unpacked size of all parts together.
pub const MAX_XLSX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;
/// The largest unpacked-to-packed ratio of a part above [`RATIO_FROM_BYTES`]: spreadsheets
/// pack 5–30 times, a zip bomb hundreds to a thousand times.
pub const MAX_XLSX_RATIO: u64 = 100;
/// Parts this small are never refused for their ratio (an empty sheet packs very well).
const RATIO_FROM_BYTES: u64 = 1024 * 1024;

/// The problems kept in the job (the count is always complete).
const MAX_REPORTED: usize = 1_000;
/// Rows checked between two progress updates.
const CHUNK: usize = 5_000;
/// Rows per INSERT statement (under SQLite's 32 766 parameters at 22 columns).
const INSERT_BATCH: usize = 1_000;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Check only.
    DryRun,
    /// Write every row, or none when any is bad.
    AllOrNothing,
    /// Write the good rows, report the bad ones.
    GoodRows,
}

impl Mode {
    /// From the query string.
    ///
    /// # Errors
    /// 422 naming `mode`.
    pub fn parse(s: Option<&str>) -> ApiResult<Self> {
        match s.unwrap_or("dry_run") {
            "dry_run" => Ok(Self::DryRun),
            "all_or_nothing" => Ok(Self::AllOrNothing),
            "good_rows" => Ok(Self::GoodRows),
            _ => Err(ApiError::invalid_field("mode", "unknown", "mode 只能是 dry_run、all_or_nothing 或 good_rows")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::DryRun => "dry_run",
            Self::AllOrNothing => "all_or_nothing",
            Self::GoodRows => "good_rows",
        }
    }
}

/// A parsed file: for each data row its spreadsheet row number and its cells by field.
pub struct Sheet {
    /// (row number in the file, cells by field key).
    pub rows: Vec<(usize, HashMap<&'static str, String>)>,
}

/// Reads a CSV (UTF-8, with or without BOM) or XLSX file of filings of `kind`.
fn parse(kind: Kind, bytes: &[u8], xlsx: bool) -> ApiResult<Sheet> {
    read_table(columns(kind), required(kind), bytes, xlsx, MAX_IMPORT_ROWS)
}

/// Reads a CSV (UTF-8, with or without BOM) or XLSX file whose header row names columns of
/// `cols` (by key or by heading), at most `max_rows` data rows; the `required` columns must be
/// there.
///
/// # Errors
/// 422 naming `file`: not a readable table, too many rows or columns, missing columns.
pub fn read_table(
    cols: &'static [(&'static str, &'static str)],
    required: &[&str],
    bytes: &[u8],
    xlsx: bool,
    max_rows: usize,
) -> ApiResult<Sheet> {
    let too_many = || ApiError::invalid_field("file", "too_many", format!("一次最多导入 {max_rows} 行，请拆分文件"));
    let too_wide = || ApiError::invalid_field("file", "too_wide", format!("文件最多 {MAX_COLUMNS} 列"));
    let table: Vec<Vec<String>> = if xlsx {
        use calamine::Reader;
        // The archive's directory first: a part that unpacks beyond the limits is refused
        // before any of it is unpacked.
        check_archive(bytes)?;
        let mut text = 0usize;
        let mut book = calamine::Xlsx::new(Cursor::new(bytes))
            .map_err(|e| ApiError::invalid_field("file", "xlsx", format!("不是有效的 Excel（xlsx）文件：{e}")))?;
        let first = book
            .sheet_names()
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::invalid_field("file", "empty", "Excel 文件中没有工作表"))?;
        // Cell by cell, never the sheet's whole grid: a file naming cell A1 and A4000000000 must
        // not make the server allocate four billion cells.
        let mut cells = book
            .worksheet_cells_reader(&first)
            .map_err(|e| ApiError::invalid_field("file", "xlsx", format!("无法读取第一个工作表：{e}")))?;
        let mut rows: Vec<Vec<String>> = Vec::new();
        while let Some(cell) =
            cells.next_cell().map_err(|e| ApiError::invalid_field("file", "xlsx", format!("无法读取单元格：{e}")))?
        {
            let (row, col) = cell.get_position();
            let (row, col) = (usize::try_from(row).unwrap_or(usize::MAX), usize::try_from(col).unwrap_or(usize::MAX));
            if row > max_rows {
                return Err(too_many());
            }
            if col >= MAX_COLUMNS {
                return Err(too_wide());
            }
            if rows.len() <= row {
                rows.resize_with(row + 1, Vec::new);
            }
            let line = &mut rows[row];
            if line.len() <= col {
                line.resize(col + 1, String::new());
            }
            let value = match calamine::Data::from(cell.get_value().clone()) {
                // A date typed in Excel is a day count underneath: as text, the date and time.
                calamine::Data::DateTime(d) => {
                    d.as_datetime().map_or_else(|| d.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                }
                other => other.to_string(),
            };
            text = text.saturating_add(value.len());
            if text > MAX_TABLE_TEXT_BYTES {
                return Err(ApiError::invalid_field(
                    "file",
                    "table_text_bytes",
                    format!("单元格文字合计超过上限 {} MiB（table_text_bytes）", MAX_TABLE_TEXT_BYTES / 1024 / 1024),
                ));
            }
            line[col] = value;
        }
        rows
    } else {
        let text = std::str::from_utf8(bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes)).map_err(|_| {
            ApiError::invalid_field("file", "encoding", "CSV 文件应为 UTF-8 编码（Excel 中另存为“CSV UTF-8”）")
        })?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut out = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let rec =
                rec.map_err(|e| ApiError::invalid_field("file", "csv", format!("第 {} 行不是有效的 CSV：{e}", i + 1)))?;
            if i > max_rows {
                return Err(too_many());
            }
            if rec.len() > MAX_COLUMNS {
                return Err(too_wide());
            }
            out.push(rec.iter().map(str::to_owned).collect());
        }
        out
    };
    let mut lines = table.into_iter();
    let header = lines.next().ok_or_else(|| ApiError::invalid_field("file", "empty", "文件是空的"))?;
    let mut at: Vec<Option<&'static str>> = Vec::new();
    for h in &header {
        let h = h.trim();
        at.push(cols.iter().find(|(k, l)| *k == h || *l == h).map(|(k, _)| *k));
    }
    let missing: Vec<&str> =
        required.iter().filter(|f| !at.contains(&Some(**f))).map(|f| super::export::label(cols, f)).collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid_field(
            "file",
            "columns",
            format!("缺少列：{}（可先导出一份作为模板）", missing.join("、")),
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cells: HashMap<&'static str, String> =
            at.iter().zip(line).filter_map(|(k, v)| k.map(|k| (k, v.trim().to_owned()))).collect();
        rows.push((i + 2, cells));
    }
    if rows.len() > max_rows {
        return Err(too_many());
    }
    Ok(Sheet { rows })
}

/// Checks an XLSX archive against the `MAX_XLSX_*` limits from its central directory alone (count
/// of parts, each part's declared unpacked size and packing ratio, their total), unpacking
/// nothing. The declared sizes bind the actual reads: the zip reader (zip 9, the one calamine
/// uses) fails a part once it yields more than its directory entry declares, so a part that lies
/// about its size ends in a 422 `xlsx` after at most its declared — checked — size
/// (`a_part_larger_than_it_declares_is_refused…` keeps that property tested).
///
/// # Errors
/// 422 naming `file`, with the limit as the rule: `xlsx_entries`, `xlsx_part_bytes`,
/// `xlsx_unpacked_bytes`, `xlsx_ratio`; `xlsx` for a broken archive.
fn check_archive(bytes: &[u8]) -> ApiResult<()> {
    fn broken(e: impl std::fmt::Display) -> ApiError {
        ApiError::invalid_field("file", "xlsx", format!("不是有效的 Excel（xlsx）文件：{e}"))
    }
    let refuse = |rule: &str, message: String| ApiError::invalid_field("file", rule, message);
    let mib = |n: u64| n / 1024 / 1024;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(broken)?;
    if archive.len() > MAX_XLSX_ENTRIES {
        return Err(refuse(
            "xlsx_entries",
            format!("Excel 文件最多包含 {MAX_XLSX_ENTRIES} 个部件（xlsx_entries），此文件有 {} 个", archive.len()),
        ));
    }
    let mut total = 0u64;
    for i in 0..archive.len() {
        let part = archive.by_index_raw(i).map_err(broken)?;
        let (declared, packed) = (part.size(), part.compressed_size());
        let name = part.name().map_err(broken)?;
        let cap = if name.starts_with("xl/worksheets/") { MAX_XLSX_SHEET_BYTES } else { MAX_XLSX_PART_BYTES };
        if declared > cap {
            return Err(refuse(
                "xlsx_part_bytes",
                format!("Excel 文件中的 {name} 解压后超过上限 {} MiB（xlsx_part_bytes）", mib(cap)),
            ));
        }
        total = total.saturating_add(declared);
        if total > MAX_XLSX_UNPACKED_BYTES {
            return Err(refuse(
                "xlsx_unpacked_bytes",
                format!("Excel 文件解压后合计超过上限 {} MiB（xlsx_unpacked_bytes）", mib(MAX_XLSX_UNPACKED_BYTES)),
            ));
        }
        if declared > RATIO_FROM_BYTES && declared / packed.max(1) > MAX_XLSX_RATIO {
            return Err(refuse(
                "xlsx_ratio",
                format!("Excel 文件中的 {name} 压缩比超过上限 {MAX_XLSX_RATIO} 倍（xlsx_ratio），疑似压缩炸弹"),
            ));
        }
    }
    Ok(())
}

fn required(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Enterprise => &[
            "name",
            "uscc",
            "enterprise_type",
            "categories",
            "stages",
            "address",
            "division_code",
            "contact_name",
            "contact_phone",
        ],
        Kind::Merchant => &["name", "merchant_type", "categories", "node_code", "contact_name", "contact_phone"],
        Kind::Product => &["name", "category_code", "unit", "enterprise_code"],
    }
}

fn cell(row: &HashMap<&'static str, String>, field: &str) -> String {
    row.get(field).cloned().unwrap_or_default()
}

fn opt(row: &HashMap<&'static str, String>, field: &str) -> Option<String> {
    row.get(field).filter(|v| !v.is_empty()).cloned()
}

fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | ';' | '；' | '、'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A key from a key or its zh-CN label.
fn key_of(table: &[(&str, &str)], v: &str) -> String {
    table.iter().find(|(k, l)| *k == v || *l == v).map_or(v, |(k, _)| *k).to_owned()
}

fn number<T: std::str::FromStr>(
    row: &HashMap<&'static str, String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let v = opt(row, field)?;
    v.parse().map_err(|_| errors.push(FieldError::new(field, "number", format!("“{v}”不是数字")))).ok()
}

/// The checked row, ready to write.
enum Good {
    Enterprise(service::Checked, String),
    Merchant(merchants::Checked),
    Product(products::Checked),
}

/// Checks one row with the API's rules; the problems name the field.
fn check_row(kind: Kind, refs: &Refs, row: &HashMap<&'static str, String>) -> Result<Good, Vec<FieldError>> {
    let mut errors = Vec::new();
    let out = match kind {
        Kind::Enterprise => {
            let longitude = number(row, "longitude", &mut errors);
            let latitude = number(row, "latitude", &mut errors);
            let req = EnterpriseRequest {
                name: cell(row, "name"),
                uscc: cell(row, "uscc"),
                enterprise_type: key_of(ENTERPRISE_TYPES, &cell(row, "enterprise_type")),
                categories: split_list(&cell(row, "categories")),
                // The sale stage's former label (产品消费或使用) is still read as `sale`.
                stages: split_list(&cell(row, "stages"))
                    .iter()
                    .map(|s| if s == "产品消费或使用" { "sale".to_owned() } else { key_of(STAGES, s) })
                    .collect(),
                licence_no: opt(row, "licence_no"),
                address: cell(row, "address"),
                division_code: cell(row, "division_code"),
                longitude,
                latitude,
                contact_name: cell(row, "contact_name"),
                contact_phone: cell(row, "contact_phone"),
                contact_email: opt(row, "contact_email"),
                submit: false,
            };
            service::check_with(refs, &req).map(|c| Good::Enterprise(c, req.uscc.trim().to_ascii_uppercase()))
        }
        Kind::Merchant => {
            let req = MerchantRequest {
                name: cell(row, "name"),
                merchant_type: key_of(MERCHANT_TYPES, &cell(row, "merchant_type")),
                uscc: opt(row, "uscc"),
                categories: split_list(&cell(row, "categories")),
                node_code: cell(row, "node_code"),
                stall_no: opt(row, "stall_no"),
                contact_name: cell(row, "contact_name"),
                contact_phone: cell(row, "contact_phone"),
                submit: false,
            };
            merchants::check_with(refs, &req).map(Good::Merchant)
        }
        Kind::Product => {
            let shelf_life_days = number(row, "shelf_life_days", &mut errors);
            let req = ProductRequest {
                name: cell(row, "name"),
                category_code: cell(row, "category_code"),
                brand: opt(row, "brand"),
                specification: opt(row, "specification"),
                unit: cell(row, "unit"),
                shelf_life_days,
                gtin: opt(row, "gtin"),
                enterprise_code: cell(row, "enterprise_code"),
                submit: false,
            };
            products::check_with(refs, &req).map(Good::Product)
        }
    };
    match out {
        Ok(good) if errors.is_empty() => Ok(good),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            Err(errors)
        }
    }
}

/// A request to import.
pub struct Upload {
    /// Kind of filing.
    pub kind: Kind,
    /// What to do.
    pub mode: Mode,
    /// Write the rows as submitted for review (otherwise drafts).
    pub submit: bool,
    /// The file's name, for the record.
    pub file_name: String,
    /// XLSX (otherwise CSV).
    pub xlsx: bool,
    /// The file.
    pub bytes: web::Bytes,
}

/// Whether an uploaded file is XLSX (else CSV), from `format` or the content type. Only the two
/// spreadsheet types are taken: a type a plain HTML form cannot send, so another site's page
/// cannot start an import with a visitor's session.
///
/// # Errors
/// 415 for another content type; 422 for an unknown `format`.
pub fn is_xlsx(req: &actix_web::HttpRequest, format: Option<&str>) -> ApiResult<bool> {
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let sheet_type = content_type.starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    if !sheet_type && !content_type.starts_with("text/csv") {
        return Err(ApiError::unsupported_media_type(
            "text/csv 或 application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ));
    }
    match format {
        Some("xlsx") => Ok(true),
        Some("csv") => Ok(false),
        Some(_) => Err(ApiError::invalid_field("format", "unknown", "format 只能是 csv 或 xlsx")),
        None => Ok(sheet_type),
    }
}

/// Checks the caller and the file's shape, records the job and starts it in the background.
///
/// # Errors
/// 422 for a file that is not a readable table or lacks columns; 403.
pub async fn start(caller: Caller, upload: Upload) -> ApiResult<import_job::Model> {
    let ctx = caller.ctx();
    let scope = ctx.own_scope("import", "create").await?;
    ctx.require_own(upload.kind.as_str(), "create").await?;
    if upload.submit {
        ctx.require_own(upload.kind.as_str(), "submit").await?;
    }
    let kind = upload.kind;
    let bytes = upload.bytes.clone();
    let xlsx = upload.xlsx;
    let sheet = web::block(move || parse(kind, &bytes, xlsx)).await.map_err(ApiError::internal)??;
    let referenced: Vec<String> = match kind {
        Kind::Enterprise => Vec::new(),
        Kind::Merchant => referenced(&sheet, "node_code"),
        Kind::Product => referenced(&sheet, "enterprise_code"),
    };
    let refs = Refs::load(&ctx, &referenced).await?;
    let job = import_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        kind: Set(kind.as_str().to_owned()),
        file_name: Set(upload.file_name.chars().take(200).collect()),
        mode: Set(upload.mode.as_str().to_owned()),
        status: Set("checking".to_owned()),
        total_rows: Set(i64::try_from(sheet.rows.len()).unwrap_or(i64::MAX)),
        processed_rows: Set(0),
        good_rows: Set(0),
        bad_rows: Set(0),
        imported_rows: Set(0),
        errors: Set("[]".to_owned()),
        created_by: Set(ctx.who.actor().name),
        created_at: Set(Utc::now()),
        finished_at: Set(None),
    }
    .insert(ctx.db)
    .await?;
    let id = job.id;
    let (mode, submit) = (upload.mode, upload.submit);
    actix_web::rt::spawn(async move {
        let ctx = caller.ctx();
        if let Err(e) = run(&ctx, id, kind, mode, submit, sheet, refs).await {
            tracing::error!(job = %id, error = %e, "import failed");
            // Say why: a credit code filed meanwhile by someone else, or the server's trouble.
            let why = if e.http_status().is_client_error() {
                e.to_problem(None).detail.unwrap_or_default()
            } else if e.to_string().to_lowercase().contains("unique") {
                "写入时发现重复的编码或统一社会信用代码（可能刚被他人登记），未写入任何数据；请重新检查后再导入"
                    .to_owned()
            } else {
                "服务器处理失败，未写入任何数据；请稍后重试".to_owned()
            };
            let reason =
                serde_json::json!([{"row": 0, "column": "", "field": "file", "rule": "failed", "message": why}]);
            let _ = import_job::Entity::update_many()
                .col_expr(import_job::Column::Errors, Expr::value(reason.to_string()))
                .col_expr(import_job::Column::Status, Expr::value("failed"))
                .col_expr(import_job::Column::FinishedAt, Expr::value(Some(Utc::now())))
                .filter(import_job::Column::Id.eq(id))
                .exec(ctx.db)
                .await;
        }
    });
    Ok(job)
}

fn referenced(sheet: &Sheet, field: &str) -> Vec<String> {
    let set: HashSet<String> = sheet.rows.iter().map(|(_, r)| cell(r, field).to_ascii_uppercase()).collect();
    set.into_iter().filter(|c| !c.is_empty()).collect()
}

fn label_of(kind: Kind, field: &str) -> String {
    // `categories[0]` is the column `categories`.
    let base = field.split('[').next().unwrap_or(field);
    let l = super::export::label(columns(kind), base);
    if l.is_empty() { base.to_owned() } else { l.to_owned() }
}

async fn progress(
    db: &DatabaseConnection,
    id: Uuid,
    status: &str,
    done: usize,
    good: usize,
    bad: usize,
) -> ApiResult<()> {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    import_job::Entity::update_many()
        .col_expr(import_job::Column::Status, Expr::value(status))
        .col_expr(import_job::Column::ProcessedRows, Expr::value(n(done)))
        .col_expr(import_job::Column::GoodRows, Expr::value(n(good)))
        .col_expr(import_job::Column::BadRows, Expr::value(n(bad)))
        .filter(import_job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

async fn run(ctx: &Ctx<'_>, id: Uuid, kind: Kind, mode: Mode, submit: bool, sheet: Sheet, refs: Refs) -> ApiResult<()> {
    let refs = Arc::new(refs);
    let total = sheet.rows.len();
    let mut good: Vec<Good> = Vec::new();
    let mut problems: Vec<ImportError> = Vec::new();
    let mut bad = 0usize;
    // Credit codes: one filing each, in the file and in the registry.
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = sheet.rows.into_iter();
    let mut done = 0usize;
    loop {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        done += chunk.len();
        let r = Arc::clone(&refs);
        let checked =
            web::block(move || chunk.into_iter().map(|(n, row)| (n, check_row(kind, &r, &row))).collect::<Vec<_>>())
                .await
                .map_err(ApiError::internal)?;
        let usccs: Vec<String> = checked
            .iter()
            .filter_map(|(_, c)| match c {
                Ok(Good::Enterprise(_, u)) => Some(u.clone()),
                _ => None,
            })
            .collect();
        let taken: HashSet<String> = if usccs.is_empty() {
            HashSet::new()
        } else {
            enterprise::Entity::find()
                .select_only()
                .column(enterprise::Column::Uscc)
                .filter(enterprise::Column::Uscc.is_in(usccs))
                .into_tuple::<String>()
                .all(ctx.db)
                .await?
                .into_iter()
                .collect()
        };
        for (n, c) in checked {
            let errors = match c {
                Ok(Good::Enterprise(_, ref u)) if taken.contains(u) || !seen.insert(u.clone()) => {
                    let why = if taken.contains(u) { "已备案" } else { "在文件中重复" };
                    vec![FieldError::new("uscc", "duplicate", format!("统一社会信用代码 {u} {why}"))]
                }
                Ok(g) => {
                    good.push(g);
                    continue;
                }
                Err(e) => e,
            };
            bad += 1;
            for e in errors {
                if problems.len() < MAX_REPORTED {
                    problems.push(ImportError {
                        row: u64::try_from(n).unwrap_or(u64::MAX),
                        column: label_of(kind, &e.field),
                        field: e.field,
                        rule: e.rule,
                        message: e.message,
                    });
                }
            }
        }
        progress(ctx.db, id, "checking", done, good.len(), bad).await?;
    }
    let errors = serde_json::to_string(&problems).map_err(ApiError::internal)?;
    let write = match mode {
        Mode::DryRun => false,
        Mode::AllOrNothing => bad == 0,
        Mode::GoodRows => true,
    };
    if write && !good.is_empty() {
        progress(ctx.db, id, "writing", total, good.len(), bad).await?;
        // The job's end is written in the rows' transaction: both land, or neither.
        let txn = ctx.db.begin().await?;
        let imported = write_rows(ctx, &txn, kind, submit, good, id).await?;
        finish(&txn, id, errors, bad, imported).await?;
        txn.commit().await?;
    } else {
        finish(ctx.db, id, errors, bad, 0).await?;
    }
    Ok(())
}

async fn finish(
    db: &impl sea_orm::ConnectionTrait,
    id: Uuid,
    errors: String,
    bad: usize,
    imported: usize,
) -> ApiResult<()> {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    import_job::Entity::update_many()
        .col_expr(import_job::Column::Status, Expr::value("done"))
        .col_expr(import_job::Column::Errors, Expr::value(errors))
        .col_expr(import_job::Column::BadRows, Expr::value(n(bad)))
        .col_expr(import_job::Column::ImportedRows, Expr::value(n(imported)))
        .col_expr(import_job::Column::FinishedAt, Expr::value(Some(Utc::now())))
        .filter(import_job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Writes the good rows in one transaction with their issued codes, and one audit record.
async fn write_rows(
    ctx: &Ctx<'_>,
    txn: &sea_orm::DatabaseTransaction,
    kind: Kind,
    submit: bool,
    good: Vec<Good>,
    job: Uuid,
) -> ApiResult<usize> {
    let tenant_id = ctx.who.tenant.id;
    let division = ctx.who.tenant.code.clone();
    let status = if submit { "submitted" } else { "draft" };
    let count = good.len();
    audit::lock_chain(txn, tenant_id).await?;
    let mut serial = super::workflow::next_serial(txn, kind, tenant_id).await?;
    let mut code = || {
        let c = super::workflow::issue_code(kind, &division, serial);
        serial += 1;
        c
    };
    let mut batch_e = Vec::new();
    let mut batch_m = Vec::new();
    let mut batch_p = Vec::new();
    let mut rows = good.into_iter().peekable();
    while rows.peek().is_some() {
        for g in rows.by_ref().take(INSERT_BATCH) {
            match g {
                Good::Enterprise(c, _) => {
                    let mut am = service::new_row(tenant_id, code(), status);
                    service::apply(&mut am, c);
                    batch_e.push(am);
                }
                Good::Merchant(c) => {
                    let mut am = merchants::new_row(tenant_id, code(), status);
                    merchants::apply(&mut am, c);
                    batch_m.push(am);
                }
                Good::Product(c) => {
                    let mut am = products::new_row(tenant_id, code(), status);
                    products::apply(&mut am, c);
                    batch_p.push(am);
                }
            }
        }
        if !batch_e.is_empty() {
            enterprise::Entity::insert_many(std::mem::take(&mut batch_e)).exec(txn).await?;
        }
        if !batch_m.is_empty() {
            merchant::Entity::insert_many(std::mem::take(&mut batch_m)).exec(txn).await?;
        }
        if !batch_p.is_empty() {
            product::Entity::insert_many(std::mem::take(&mut batch_p)).exec(txn).await?;
        }
    }
    let detail = serde_json::json!({"job": job, "rows": count, "status": status});
    let action = format!("{}.import", kind.as_str());
    audit::record(txn, ctx.entry(&action, kind.as_str(), job.to_string(), detail)).await?;
    Ok(count)
}

/// One import of the caller's tenant.
///
/// # Errors
/// 404, 403 (another tenant's).
pub async fn get(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<ImportJobResponse> {
    let job =
        import_job::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("没有这次导入"))?;
    let owner = suyuan_tenancy::entity::tenant::Entity::find_by_id(job.tenant_id)
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("import without tenant")))?;
    ctx.require(&owner, "import", "read").await?;
    Ok(abandoned(job).into())
}

/// The caller's tenant's last 50 imports, newest first.
///
/// # Errors
/// 403.
pub async fn list(ctx: &Ctx<'_>, paging: crate::paging::Paging) -> ApiResult<(Vec<ImportJobResponse>, u64)> {
    use sea_orm::PaginatorTrait as _;
    let scope = ctx.own_scope("import", "read").await?;
    let pages = import_job::Entity::find()
        .filter(scope.condition(import_job::Column::TenantId))
        .order_by_desc(import_job::Column::CreatedAt)
        .order_by_desc(import_job::Column::Id)
        .paginate(ctx.db, paging.page_size);
    let total = pages.num_items().await?;
    let rows = pages.fetch_page(paging.page - 1).await?.into_iter().map(|j| abandoned(j).into()).collect();
    Ok((rows, total))
}

/// How long an import may run before it counts as abandoned (its server stopped mid-way: the
/// rows are written in one transaction, so nothing of it landed).
const ABANDONED_AFTER_MINUTES: i64 = 30;

/// A job still running long after it started is shown as failed.
fn abandoned(mut job: import_job::Model) -> import_job::Model {
    let old = Utc::now() - chrono::Duration::minutes(ABANDONED_AFTER_MINUTES);
    if matches!(job.status.as_str(), "checking" | "writing") && job.created_at < old {
        job.status = "failed".to_owned();
        job.errors = serde_json::json!([{"row": 0, "column": "", "field": "file", "rule": "abandoned",
            "message": "导入中断（服务重启），未写入任何数据；请重新导入"}])
        .to_string();
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[(&str, &str)] = &[("name", "企业名称"), ("note", "备注")];

    /// A workbook whose shared strings take about 2 MiB (64 long cells), of text that packs
    /// like real text (`varied`) or like a bomb (one character repeated).
    fn big_workbook(varied: bool) -> Vec<u8> {
        let mut seed = 7u32;
        let mut text = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    if varied { char::from_u32(0x4e00 + (seed >> 16) % 0x5000).unwrap() } else { '长' }
                })
                .collect()
        };
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "企业名称").unwrap();
        sheet.write_string(0, 1, "备注").unwrap();
        for row in 1..=64u32 {
            sheet.write_string(row, 0, format!("企业{row}")).unwrap();
            sheet.write_string(row, 1, format!("{row}{}", text(10_000))).unwrap();
        }
        book.save_to_buffer().unwrap()
    }

    /// Rewrites the uncompressed size the central directory declares for `name`.
    fn declare_size(zip: &mut [u8], name: &str, size: u32) {
        let mut at = 0;
        let mut patched = false;
        while let Some(i) = zip[at..].windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]) {
            let h = at + i;
            let name_len = usize::from(u16::from_le_bytes([zip[h + 28], zip[h + 29]]));
            if &zip[h + 46..h + 46 + name_len] == name.as_bytes() {
                zip[h + 24..h + 28].copy_from_slice(&size.to_le_bytes());
                patched = true;
            }
            at = h + 4;
        }
        assert!(patched, "{name} is in the archive");
    }

    #[test]
    fn a_workbook_reads_as_a_table() {
        let sheet = read_table(COLS, &["name"], &big_workbook(true), true, 100).unwrap();
        assert_eq!(sheet.rows.len(), 64);
        assert!(sheet.rows[63].1["note"].starts_with("64"));
        assert_eq!(sheet.rows[63].1["note"].chars().count(), 10_002);
    }

    #[test]
    fn a_part_packed_like_a_bomb_is_refused_by_its_ratio_before_parsing() {
        let err = read_table(COLS, &["name"], &big_workbook(false), true, 100).err().expect("refused");
        let e = &err.field_errors()[0];
        assert_eq!((e.field.as_str(), e.rule.as_str()), ("file", "xlsx_ratio"), "{e:?}");
        assert!(e.message.contains("xl/sharedStrings.xml") && e.message.contains("100"), "{e:?}");
    }

    #[test]
    fn a_part_larger_than_it_declares_is_refused_without_reading_past_the_declaration() {
        let mut bytes = big_workbook(true);
        declare_size(&mut bytes, "xl/sharedStrings.xml", 4096);
        let err = read_table(COLS, &["name"], &bytes, true, 100).err().expect("refused");
        let e = &err.field_errors()[0];
        // The zip reader stops at the declared size: the lie costs no more than the truth would.
        assert_eq!((e.field.as_str(), e.rule.as_str()), ("file", "xlsx"), "{e:?}");
        assert!(e.message.contains("declared"), "{e:?}");
    }
}
