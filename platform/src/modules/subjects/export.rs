//! Filings as CSV (UTF-8 with BOM, for spreadsheet programs) and XLSX (R-IF-3, export). The
//! columns are the import's too ([`super::import`]): an export can be edited and imported.

use actix_web::HttpResponse;
use rust_xlsxwriter::Workbook;

use super::dto::{ENTERPRISE_TYPES, EnterpriseResponse, MERCHANT_TYPES, MerchantResponse, ProductResponse, STAGES};
use super::entity::{enterprise, merchant, product};
use super::workflow::Kind;
use crate::error::{ApiError, ApiResult};

/// What every time column of a CSV or XLSX export says after its heading: the times are China
/// time (UTC+8), written without an offset as spreadsheet programs expect. JSON answers carry
/// RFC 3339 times in UTC (`…Z`) instead; docs/api-design.md states the rule.
pub const CHINA_TIME: &str = "（北京时间 UTC+8）";

/// The columns of each kind: (field, zh-CN heading). The import reads either.
#[must_use]
pub fn columns(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Enterprise => &[
            ("code", "企业编码"),
            ("name", "企业名称"),
            ("uscc", "统一社会信用代码"),
            ("enterprise_type", "企业类型"),
            ("categories", "经营品类"),
            ("stages", "追溯环节"),
            ("licence_no", "许可证编号"),
            ("address", "地址"),
            ("division_code", "地区代码"),
            ("division_name", "地区名称"),
            ("longitude", "经度"),
            ("latitude", "纬度"),
            ("contact_name", "联系人"),
            ("contact_phone", "联系电话"),
            ("contact_email", "电子邮箱"),
            ("status", "状态"),
            ("version", "备案版本"),
            ("created_at", "登记时间（北京时间 UTC+8）"),
        ],
        Kind::Merchant => &[
            ("code", "经营户编码"),
            ("name", "经营户名称"),
            ("merchant_type", "经营户类型"),
            ("uscc", "统一社会信用代码"),
            ("categories", "经营品类"),
            ("node_code", "节点企业编码"),
            ("node_name", "节点企业名称"),
            ("stall_no", "摊位号"),
            ("division_code", "地区代码"),
            ("division_name", "地区名称"),
            ("contact_name", "联系人"),
            ("contact_phone", "联系电话"),
            ("status", "状态"),
            ("version", "备案版本"),
            ("created_at", "登记时间（北京时间 UTC+8）"),
        ],
        Kind::Product => &[
            ("code", "产品编码"),
            ("name", "产品名称"),
            ("category_code", "产品分类"),
            ("brand", "品牌"),
            ("specification", "规格"),
            ("unit", "计量单位"),
            ("shelf_life_days", "保质期（天）"),
            ("gtin", "商品条码"),
            ("enterprise_code", "生产企业编码"),
            ("enterprise_name", "生产企业名称"),
            ("division_code", "地区代码"),
            ("division_name", "地区名称"),
            ("status", "状态"),
            ("version", "备案版本"),
            ("created_at", "登记时间（北京时间 UTC+8）"),
        ],
    }
}

/// The zh-CN label of a key in a (key, label) table.
#[must_use]
pub fn label<'a>(table: &'a [(&'a str, &'a str)], key: &str) -> &'a str {
    table.iter().find(|(k, _)| *k == key).map_or("", |(_, l)| *l)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One enterprise filing's cells, in [`columns`] order.
#[must_use]
pub fn enterprise_cells(e: enterprise::Model) -> Vec<String> {
    let status = super::workflow::status_label(&e.status).to_owned();
    let r = EnterpriseResponse::from(e);
    vec![
        r.code,
        r.name,
        r.uscc,
        label(ENTERPRISE_TYPES, &r.enterprise_type).to_owned(),
        r.categories.join(" "),
        r.stages.iter().map(|s| label(STAGES, s)).collect::<Vec<_>>().join(" "),
        opt(r.licence_no),
        r.address,
        r.division_code,
        opt(r.division_name),
        opt(r.longitude),
        opt(r.latitude),
        r.contact_name,
        r.contact_phone,
        opt(r.contact_email),
        status,
        r.version.to_string(),
        crate::web::when(&r.created_at),
    ]
}

/// One merchant filing's cells.
#[must_use]
pub fn merchant_cells(m: merchant::Model) -> Vec<String> {
    let status = super::workflow::status_label(&m.status).to_owned();
    let r = MerchantResponse::from(m);
    vec![
        r.code,
        r.name,
        label(MERCHANT_TYPES, &r.merchant_type).to_owned(),
        opt(r.uscc),
        r.categories.join(" "),
        r.node_code,
        r.node_name,
        opt(r.stall_no),
        r.division_code,
        opt(r.division_name),
        r.contact_name,
        r.contact_phone,
        status,
        r.version.to_string(),
        crate::web::when(&r.created_at),
    ]
}

/// One product filing's cells.
#[must_use]
pub fn product_cells(p: product::Model) -> Vec<String> {
    let status = super::workflow::status_label(&p.status).to_owned();
    let r = ProductResponse::from(p);
    vec![
        r.code,
        r.name,
        r.category_code,
        opt(r.brand),
        opt(r.specification),
        r.unit,
        opt(r.shelf_life_days),
        opt(r.gtin),
        r.enterprise_code,
        r.enterprise_name,
        r.division_code,
        opt(r.division_name),
        status,
        r.version.to_string(),
        crate::web::when(&r.created_at),
    ]
}

/// A cell a spreadsheet program will not run as a formula (the OWASP CSV-injection rule): text
/// starting with `= + - @`, a tab or a carriage return gets a leading apostrophe. Every text
/// cell of every CSV and XLSX export goes through here ([`csv_of`], [`xlsx_of`]): names typed at
/// a failed login, request ids and application texts all end up in exports.
#[must_use]
pub fn formula_safe(v: String) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v }
}

/// CSV: a header row and one row per filing; no cell becomes a spreadsheet formula.
///
/// # Errors
/// Writing failures (internal).
pub fn to_csv(kind: Kind, rows: impl IntoIterator<Item = Vec<String>>) -> ApiResult<Vec<u8>> {
    csv_of(columns(kind).iter().map(|(_, h)| *h), rows)
}

/// A CSV file (UTF-8 with BOM, for spreadsheet programs) of a header and rows; no cell becomes a
/// spreadsheet formula.
///
/// # Errors
/// Writing failures (internal).
pub fn csv_of<'a>(
    header: impl IntoIterator<Item = &'a str>,
    rows: impl IntoIterator<Item = Vec<String>>,
) -> ApiResult<Vec<u8>> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(header.into_iter().map(|h| formula_safe(h.to_owned()))).map_err(ApiError::internal)?;
        for cells in rows {
            w.write_record(cells.into_iter().map(formula_safe)).map_err(ApiError::internal)?;
        }
        w.flush().map_err(ApiError::internal)?;
    }
    Ok(out)
}

/// XLSX: one sheet named after the kind, text cells (codes keep their leading zeros).
///
/// # Errors
/// Writing failures (internal).
pub fn to_xlsx(kind: Kind, rows: impl IntoIterator<Item = Vec<String>>) -> ApiResult<Vec<u8>> {
    xlsx_of(&format!("{}备案", kind.label()), columns(kind).iter().map(|(_, h)| *h), rows)
}

/// One sheet named `name`: a header row, then the rows, every cell as text that no spreadsheet
/// program runs as a formula.
///
/// # Errors
/// 500 when the workbook cannot be written.
pub fn xlsx_of<'a>(
    name: &str,
    header: impl IntoIterator<Item = &'a str>,
    rows: impl IntoIterator<Item = Vec<String>>,
) -> ApiResult<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(name).map_err(ApiError::internal)?;
    for (col, h) in (0u16..).zip(header) {
        sheet.write_string(0, col, formula_safe(h.to_owned())).map_err(ApiError::internal)?;
    }
    for (row, cells) in (1u32..).zip(rows) {
        for (col, v) in (0u16..).zip(cells) {
            sheet.write_string(row, col, formula_safe(v)).map_err(ApiError::internal)?;
        }
    }
    book.save_to_buffer().map_err(ApiError::internal)
}

/// The export's answer: the file in `format` (`csv` or `xlsx`, checked first by
/// [`check_format`]), named after the kind.
///
/// # Errors
/// Writing failures (internal).
pub fn respond(kind: Kind, format: &str, rows: impl IntoIterator<Item = Vec<String>>) -> ApiResult<HttpResponse> {
    let name = format!("{}s", kind.as_str());
    Ok(if format == "xlsx" {
        HttpResponse::Ok()
            .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}.xlsx\"")))
            .body(to_xlsx(kind, rows)?)
    } else {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}.csv\"")))
            .body(to_csv(kind, rows)?)
    })
}

/// `csv` (the default) or `xlsx`.
///
/// # Errors
/// 422 naming `format`.
pub fn check_format(format: Option<&str>) -> ApiResult<&str> {
    match format.unwrap_or("csv") {
        f @ ("csv" | "xlsx") => Ok(f),
        _ => Err(ApiError::invalid_field("format", "unknown", "导出格式只能是 csv 或 xlsx")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RISKY: [&str; 6] = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"];

    #[test]
    fn csv_and_xlsx_cells_never_start_a_formula() {
        let rows = || vec![RISKY.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()];
        let csv = csv_of(["a", "b", "c", "d", "e", "f"], rows()).unwrap();
        let mut reader = csv::ReaderBuilder::new().from_reader(&csv[3..]);
        let record = reader.records().next().unwrap().unwrap();
        for (cell, raw) in record.iter().zip(RISKY) {
            assert_eq!(cell, format!("'{raw}"));
        }

        use calamine::Reader;
        let xlsx = xlsx_of("表", ["=a", "b", "c", "d", "e", "f"], rows()).unwrap();
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
        let range = book.worksheet_range("表").unwrap();
        assert_eq!(range.get((0, 0)).unwrap().to_string(), "'=a", "headings too");
        for (col, raw) in RISKY.iter().enumerate() {
            assert_eq!(range.get((1, col)).unwrap().to_string(), format!("'{raw}"), "column {col}");
        }
    }
}
