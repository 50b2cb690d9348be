//! Filings as CSV (UTF-8 with BOM, for spreadsheet programs) and XLSX (R-IF-3, export).

use rust_xlsxwriter::Workbook;

use super::dto::{ENTERPRISE_TYPES, EnterpriseResponse, STAGES};
use super::entity::enterprise;
use crate::error::{ApiError, ApiResult};
use crate::modules::admin::service::csv_safe;

const HEADER: [&str; 17] = [
    "企业编码",
    "企业名称",
    "统一社会信用代码",
    "企业类型",
    "经营品类",
    "追溯环节",
    "许可证编号",
    "地址",
    "地区代码",
    "经度",
    "纬度",
    "联系人",
    "联系电话",
    "电子邮箱",
    "状态",
    "备案版本",
    "登记时间",
];

fn label<'a>(table: &'a [(&'a str, &'a str)], key: &str) -> &'a str {
    table.iter().find(|(k, _)| *k == key).map_or("", |(_, l)| *l)
}

fn cells(e: enterprise::Model) -> [String; 17] {
    let status = crate::web::filing_status_label(&e.status).to_owned();
    let r = EnterpriseResponse::from(e);
    [
        r.code,
        r.name,
        r.uscc,
        label(ENTERPRISE_TYPES, &r.enterprise_type).to_owned(),
        r.categories.join(" "),
        r.stages.iter().map(|s| label(STAGES, s)).collect::<Vec<_>>().join(" "),
        r.licence_no.unwrap_or_default(),
        r.address,
        r.division_code,
        r.longitude.map(|v| v.to_string()).unwrap_or_default(),
        r.latitude.map(|v| v.to_string()).unwrap_or_default(),
        r.contact_name,
        r.contact_phone,
        r.contact_email.unwrap_or_default(),
        status,
        r.version.to_string(),
        crate::web::when(&r.created_at),
    ]
}

/// CSV: a header row and one row per filing; no cell becomes a spreadsheet formula.
///
/// # Errors
/// Writing failures (internal).
pub fn to_csv(rows: Vec<enterprise::Model>) -> ApiResult<Vec<u8>> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(HEADER).map_err(ApiError::internal)?;
        for e in rows {
            w.write_record(cells(e).map(csv_safe)).map_err(ApiError::internal)?;
        }
        w.flush().map_err(ApiError::internal)?;
    }
    Ok(out)
}

/// XLSX: one sheet 企业备案, text cells (codes keep their leading zeros).
///
/// # Errors
/// Writing failures (internal).
pub fn to_xlsx(rows: Vec<enterprise::Model>) -> ApiResult<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("企业备案").map_err(ApiError::internal)?;
    for (col, h) in (0u16..).zip(HEADER) {
        sheet.write_string(0, col, h).map_err(ApiError::internal)?;
    }
    for (row, e) in (1u32..).zip(rows) {
        for (col, v) in (0u16..).zip(cells(e)) {
            sheet.write_string(row, col, v).map_err(ApiError::internal)?;
        }
    }
    book.save_to_buffer().map_err(ApiError::internal)
}
