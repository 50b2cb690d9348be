//! Trace codes issued by the platform, and the resolution of any identifier a label may carry
//! (R-ARCH-3 object identification): a platform code, a GS1 Digital Link URI, a GS1 element
//! string, a bare GTIN, a filing code, or an external code some record carries.
//!
//! A platform code is the subject's filing code, a 10-digit serial and a check character
//! (`E370783000000150000000042K`): the prefix tells whose it is without a lookup, the check
//! character catches a mistyped code before any query. Codes are issued in runs (one code per
//! item, or one for a batch) kept as ranges, so a million labels are one row.
//!
//! GS1 parsing is ours: the only crate for it needs a newer compiler than this project's and
//! covers Digital Link only; what we need (AIs 01, 10, 21 in a URI path or an element string)
//! is a few dozen lines.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};
use uuid::Uuid;

use super::dto::{IssueCodesRequest, IssueCodesResponse, Resolved};
use super::entity::{code_index, code_issue, event};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::subjects::entity::{enterprise, merchant, product};
use crate::modules::subjects::products::gtin as check_gtin;
use crate::modules::subjects::workflow::{Kind, code_check, code_valid};

/// Codes in one issue, at most.
pub const MAX_ISSUE: u32 = 10_000;
/// Digits of a platform code's serial.
const SERIAL_DIGITS: usize = 10;
/// The largest serial.
const MAX_SERIAL: i64 = 9_999_999_999;

/// The platform code of a subject's serial.
#[must_use]
pub fn platform_code(subject: &str, serial: i64) -> String {
    let body = format!("{subject}{serial:0SERIAL_DIGITS$}");
    let check = code_check(&body);
    format!("{body}{check}")
}

/// The subject and serial of a well-formed platform code (its check character right).
#[must_use]
pub fn parse_platform_code(code: &str) -> Option<(String, i64)> {
    if !code.is_ascii() || code.len() != 15 + SERIAL_DIGITS + 1 {
        return None;
    }
    let subject = &code[..15];
    if !(code_valid(Kind::Enterprise, subject) || code_valid(Kind::Merchant, subject)) {
        return None;
    }
    let body = &code[..15 + SERIAL_DIGITS];
    let serial = &body[15..];
    if !serial.bytes().all(|b| b.is_ascii_digit()) || !code.ends_with(code_check(body)) {
        return None;
    }
    Some((subject.to_owned(), serial.parse().ok()?))
}

/// A GS1 identifier: the GTIN (14 digits) and, when given, the batch/lot (AI 10) and serial
/// (AI 21).
#[derive(Debug, PartialEq, Eq)]
pub struct Gs1 {
    /// `gs1_digital_link`, `gs1_element_string` or `gtin`.
    pub form: &'static str,
    /// GTIN-14.
    pub gtin: String,
    /// AI 10.
    pub lot: Option<String>,
    /// AI 21.
    pub serial: Option<String>,
}

/// Parses a GS1 Digital Link URI (`https://host/01/{gtin}/10/{lot}/21/{serial}`), an element
/// string (`(01)…(10)…(21)…`) or a bare GTIN. `Err` says what is wrong with something that is
/// GS1-shaped; `Ok(None)` is not GS1 at all.
///
/// # Errors
/// A GS1-shaped identifier with a bad GTIN or a missing value.
pub fn parse_gs1(id: &str) -> Result<Option<Gs1>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let form;
    if id.starts_with("http://") || id.starts_with("https://") {
        let Ok(url) = url::Url::parse(id) else { return Ok(None) };
        let Some(segments) = url.path_segments() else { return Ok(None) };
        let mut segments: Vec<String> =
            segments.map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
        if segments.last().is_some_and(String::is_empty) {
            segments.pop();
        }
        // The primary key may follow a path prefix: find `01`, then read (AI, value) pairs.
        let Some(start) = segments.iter().position(|s| s == "01") else { return Ok(None) };
        let rest = &segments[start..];
        if !rest.len().is_multiple_of(2) {
            return Err("GS1 数字链接的路径应为成对的“应用标识符/值”".to_owned());
        }
        pairs.extend(rest.chunks(2).map(|p| (p[0].clone(), p[1].clone())));
        form = "gs1_digital_link";
    } else if let Some(body) = id.strip_prefix('(') {
        for part in body.split('(') {
            let Some((ai, value)) = part.split_once(')') else {
                return Err("GS1 元素串应为 (应用标识符)值 的形式，如 (01)06901234567892(10)A123".to_owned());
            };
            pairs.push((ai.to_owned(), value.to_owned()));
        }
        form = "gs1_element_string";
    } else if matches!(id.len(), 8 | 12 | 13 | 14) && id.bytes().all(|b| b.is_ascii_digit()) {
        pairs.push(("01".to_owned(), id.to_owned()));
        form = "gtin";
    } else {
        return Ok(None);
    }
    let mut out = Gs1 { form, gtin: String::new(), lot: None, serial: None };
    for (ai, value) in pairs {
        if value.is_empty() || value.chars().count() > 20 {
            return Err(format!("应用标识符 ({ai}) 的值应为 1–20 个字符"));
        }
        match ai.as_str() {
            "01" => out.gtin = check_gtin(&value)?,
            "10" => out.lot = Some(value),
            "21" => out.serial = Some(value),
            // Other qualifiers (a variant, 22; expiry dates in a query) do not change what is
            // identified here.
            _ => {}
        }
    }
    if out.gtin.is_empty() {
        return Err("GS1 标识缺少 GTIN (01)".to_owned());
    }
    Ok(Some(out))
}

/// An approved enterprise or merchant filing the caller may read: (name, tenant).
async fn subject(ctx: &Ctx<'_>, code: &str) -> ApiResult<Option<(String, Uuid)>> {
    let e_scope = ctx.read_scope("enterprise", "read").await?;
    if let Some(e) = enterprise::Entity::find()
        .filter(enterprise::Column::Code.eq(code))
        .filter(enterprise::Column::Version.gt(0))
        .filter(e_scope.condition(enterprise::Column::TenantId))
        .one(ctx.db)
        .await?
    {
        return Ok(Some((e.name, e.tenant_id)));
    }
    let m_scope = ctx.read_scope("merchant", "read").await?;
    Ok(merchant::Entity::find()
        .filter(merchant::Column::Code.eq(code))
        .filter(merchant::Column::Version.gt(0))
        .filter(m_scope.condition(merchant::Column::TenantId))
        .one(ctx.db)
        .await?
        .map(|m| (m.name, m.tenant_id)))
}

/// Issues a run of codes for a subject: `count` item codes, or one batch code.
///
/// # Errors
/// 422 naming the field; 403.
pub async fn issue(ctx: &Ctx<'_>, req: IssueCodesRequest) -> ApiResult<IssueCodesResponse> {
    let scope = ctx.own_scope("trace_event", "create").await?;
    let mut errors = Vec::new();
    let subject_code = req.subject_code.trim().to_ascii_uppercase();
    let count = req.count.unwrap_or(1);
    let batch_no = req.batch_no.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    match req.kind.as_str() {
        "item" if !(1..=MAX_ISSUE).contains(&count) => {
            errors.push(FieldError::new("count", "range", format!("一次申领 1–{MAX_ISSUE} 个追溯码")));
        }
        "batch" if count != 1 => errors.push(FieldError::new("count", "range", "一批一码：count 只能是 1")),
        "batch" if batch_no.is_none() => errors.push(FieldError::new("batch_no", "required", "一批一码须填写批次号")),
        "item" | "batch" => {}
        _ => errors.push(FieldError::new("kind", "unknown", "kind 应为 item（一物一码）或 batch（一批一码）")),
    }
    if batch_no.as_ref().is_some_and(|b| b.chars().count() > 64) {
        errors.push(FieldError::new("batch_no", "too_long", "批次号不能超过 64 个字符"));
    }
    let found = subject(ctx, &subject_code).await?;
    if found.is_none() {
        errors.push(FieldError::new(
            "subject_code",
            "unknown",
            format!("{subject_code} 不是本单位或下级单位已审核通过的企业或个体经营户"),
        ));
    }
    let product_code = req.product_code.as_deref().map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty());
    // Only the producer codes its products: another company's product under this subject's
    // codes would be a forged label.
    if let Some(p) = &product_code
        && product::Entity::find()
            .filter(product::Column::Code.eq(p.as_str()))
            .filter(product::Column::Version.gt(0))
            .filter(product::Column::EnterpriseCode.eq(subject_code.as_str()))
            .count(ctx.db)
            .await?
            == 0
    {
        errors.push(FieldError::new(
            "product_code",
            "unknown",
            format!("{p} 不是 {subject_code} 生产的已审核通过的产品备案"),
        ));
    }
    let (Some((_, subject_tenant)), true) = (found, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let txn = ctx.db.begin().await?;
    // Serials of one subject: its tenant's lock makes concurrent issues take turns.
    audit::lock_chain(&txn, subject_tenant).await?;
    let next: Option<i64> = code_issue::Entity::find()
        .select_only()
        .expr(Func::max(Expr::col(code_issue::Column::FirstSerial).add(Expr::col(code_issue::Column::Count))))
        .filter(code_issue::Column::SubjectCode.eq(subject_code.as_str()))
        .into_tuple::<Option<i64>>()
        .one(&txn)
        .await?
        .flatten();
    let first = next.unwrap_or(1);
    if first + i64::from(count) - 1 > MAX_SERIAL {
        return Err(ApiError::invalid_field("count", "exhausted", "该主体的追溯码序号已用完"));
    }
    let now = Utc::now();
    let id = Uuid::now_v7();
    code_issue::Entity::insert(code_issue::ActiveModel {
        id: Set(id),
        tenant_id: Set(scope.tenant_id()),
        subject_code: Set(subject_code.clone()),
        kind: Set(req.kind.clone()),
        product_code: Set(product_code.clone()),
        batch_no: Set(batch_no.clone()),
        first_serial: Set(first),
        count: Set(i32::try_from(count).map_err(ApiError::internal)?),
        issued_at: Set(now),
        issued_by: Set(ctx.who.actor().name),
    })
    .exec_without_returning(&txn)
    .await?;
    let detail =
        serde_json::json!({ "subject_code": subject_code, "kind": req.kind, "first_serial": first, "count": count });
    audit::record(&txn, ctx.entry("trace_code.issue", "trace_code_issue", id.to_string(), detail)).await?;
    txn.commit().await?;
    let codes: Vec<String> = (first..first + i64::from(count)).map(|s| platform_code(&subject_code, s)).collect();
    Ok(IssueCodesResponse { id, subject_code, kind: req.kind, product_code, batch_no, count, issued_at: now, codes })
}

/// How many records carry one of `codes`.
async fn records_with(db: &sea_orm::DatabaseConnection, codes: &[String]) -> ApiResult<(u64, Option<String>)> {
    for c in codes {
        let n = code_index::Entity::find().filter(code_index::Column::Code.eq(c.as_str())).count(db).await?;
        if n > 0 {
            return Ok((n, Some(c.clone())));
        }
    }
    Ok((0, None))
}

/// What an identifier identifies. Public: it answers what a label shows anyway — names of the
/// product and its subject, the batch — and never a record's details.
///
/// # Errors
/// 422 for a malformed GS1 identifier or platform code; 404 when nothing is known by it.
pub async fn resolve(db: &sea_orm::DatabaseConnection, base_url: &str, raw: &str) -> ApiResult<Resolved> {
    let id = raw.trim();
    if id.is_empty() || id.chars().count() > 512 {
        return Err(ApiError::invalid_field("id", "range", "id 应为 1–512 个字符"));
    }
    let mut out = Resolved { id: id.to_owned(), ..Resolved::default() };
    let public_url = |code: &str| {
        let path: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
        format!("{base_url}/t/{path}")
    };
    let subject_name = |code: String| async move {
        // Approved filings only: drafts and rejected filings are nobody's business.
        let e = enterprise::Entity::find()
            .filter(enterprise::Column::Code.eq(code.as_str()))
            .filter(enterprise::Column::Version.gt(0))
            .one(db)
            .await?;
        let name = match e {
            Some(e) => Some(e.name),
            None => merchant::Entity::find()
                .filter(merchant::Column::Code.eq(code.as_str()))
                .filter(merchant::Column::Version.gt(0))
                .one(db)
                .await?
                .map(|m| m.name),
        };
        Ok::<_, ApiError>(name)
    };
    let product_by = |col: product::Column, v: String| async move {
        Ok::<_, ApiError>(
            product::Entity::find().filter(col.eq(v)).filter(product::Column::Version.gt(0)).one(db).await?,
        )
    };

    // 1. GS1: a Digital Link, an element string, a bare GTIN.
    match parse_gs1(id) {
        // Not a well-formed GS1 identifier: maybe a code some record carries (a numeric code
        // that only looks like a GTIN); else the GS1 problem is the answer.
        Err(e) => {
            return carried(db, id, out, &public_url).await?.ok_or_else(|| ApiError::invalid_field("id", "gs1", e));
        }
        Ok(Some(g)) => {
            out.form = g.form.to_owned();
            let p = product_by(product::Column::Gtin, g.gtin.clone()).await?;
            if let Some(p) = &p {
                out.product_code = Some(p.code.clone());
                out.product_name = Some(p.name.clone());
                out.subject_name = Some(p.enterprise_name.clone());
                out.subject_code = Some(p.enterprise_code.clone());
            }
            out.gtin = Some(g.gtin.clone());
            let mut found = None;
            if let Some(serial) = &g.serial {
                out.identifies = "item".to_owned();
                out.serial = Some(serial.clone());
                let element = format!("(01){}(21){serial}", g.gtin);
                let (n, code) =
                    records_with(db, &[id.to_owned(), element.clone(), format!("01{}21{serial}", g.gtin)]).await?;
                out.records = n;
                found.clone_from(&code);
                out.trace_code = Some(code.unwrap_or(element));
            } else if let Some(lot) = &g.lot {
                out.identifies = "batch".to_owned();
                out.batch_no = Some(lot.clone());
                let element = format!("(01){}(10){lot}", g.gtin);
                let (mut n, code) = records_with(db, &[id.to_owned(), element.clone()]).await?;
                if let (0, Some(p)) = (n, &p) {
                    // No record carries the code itself: the product's records of that batch.
                    n = event::Entity::find()
                        .filter(event::Column::ProductCode.eq(p.code.as_str()))
                        .filter(event::Column::BatchNo.eq(lot.as_str()))
                        .count(db)
                        .await?;
                }
                out.records = n;
                found.clone_from(&code);
                out.trace_code = code.or(Some(element));
            } else {
                out.identifies = "product".to_owned();
            }
            if p.is_none() && out.records == 0 {
                return Err(ApiError::not_found(format!(
                    "没有 GTIN 为 {} 的产品备案，也没有带此标识的追溯记录",
                    g.gtin
                )));
            }
            // The public page only for a code records carry (not for a product's batch found
            // through its records: that page would not know the element string).
            out.public_url = found.as_deref().map(public_url);
            return Ok(out);
        }
        Ok(None) => {}
    }

    let upper = id.to_ascii_uppercase();
    // 2. A platform code: the issue holding its serial.
    if let Some((subject, serial)) = parse_platform_code(&upper) {
        let issued = code_issue::Entity::find()
            .filter(code_issue::Column::SubjectCode.eq(subject.as_str()))
            .filter(code_issue::Column::FirstSerial.lte(serial))
            .order_by_desc(code_issue::Column::FirstSerial)
            .one(db)
            .await?
            .filter(|i| serial < i.first_serial + i64::from(i.count));
        let records = records_with(db, std::slice::from_ref(&upper)).await?.0;
        // A code no record carries yet answers like one never issued: the public learns
        // nothing of how many codes a subject was given, nor of its batches.
        let (Some(issued), true) = (issued, records > 0) else {
            return Err(ApiError::not_found("没有追溯记录使用这个追溯码"));
        };
        out.form = "platform_code".to_owned();
        out.identifies = issued.kind.clone();
        out.batch_no = issued.batch_no.clone();
        out.subject_name = subject_name(subject.clone()).await?;
        out.subject_code = Some(subject);
        if let Some(code) = &issued.product_code
            && let Some(p) = product_by(product::Column::Code, code.clone()).await?
        {
            out.product_code = Some(p.code);
            out.product_name = Some(p.name);
            out.gtin = p.gtin;
        }
        out.records = records;
        out.public_url = Some(public_url(&upper));
        out.trace_code = Some(upper);
        return Ok(out);
    }

    // 3. A filing code.
    for (kind, identifies) in
        [(Kind::Enterprise, "enterprise"), (Kind::Merchant, "merchant"), (Kind::Product, "product")]
    {
        if !code_valid(kind, &upper) {
            continue;
        }
        out.form = "filing_code".to_owned();
        out.identifies = identifies.to_owned();
        if kind == Kind::Product {
            let Some(p) = product_by(product::Column::Code, upper.clone()).await? else {
                return Err(ApiError::not_found("没有这个产品备案"));
            };
            out.product_code = Some(p.code);
            out.product_name = Some(p.name);
            out.gtin = p.gtin;
        } else {
            let Some(name) = subject_name(upper.clone()).await? else {
                return Err(ApiError::not_found("没有这个主体备案"));
            };
            out.subject_name = Some(name);
            out.subject_code = Some(upper);
        }
        return Ok(out);
    }

    // 4. An external code some record carries.
    carried(db, id, out, &public_url).await?.ok_or_else(|| {
        ApiError::not_found("平台不认识这个标识：不是平台追溯码、GS1 标识或备案编码，也没有追溯记录使用它")
    })
}

/// `id` as a code records carry, when some do.
async fn carried(
    db: &sea_orm::DatabaseConnection,
    id: &str,
    mut out: Resolved,
    public_url: &impl Fn(&str) -> String,
) -> ApiResult<Option<Resolved>> {
    let (n, code) = records_with(db, &[id.to_owned()]).await?;
    let Some(code) = code else { return Ok(None) };
    out.form = "trace_code".to_owned();
    out.identifies = "records".to_owned();
    out.records = n;
    out.public_url = Some(public_url(&code));
    out.trace_code = Some(code);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_codes_round_trip_and_catch_typos() {
        let subject = crate::modules::subjects::workflow::issue_code(Kind::Enterprise, "370783", 15);
        let code = platform_code(&subject, 42);
        assert_eq!(code.len(), 26);
        assert_eq!(parse_platform_code(&code), Some((subject.clone(), 42)));
        let mut typo = code.clone().into_bytes();
        typo[20] = if typo[20] == b'9' { b'8' } else { b'9' };
        assert_eq!(parse_platform_code(&String::from_utf8(typo).unwrap_or_default()), None, "one digit changed");
        assert_eq!(parse_platform_code(&code[..25]), None, "check character missing");
    }

    #[test]
    fn gs1_forms_parse_to_the_same_identifier() {
        let dl = parse_gs1("https://id.example.cn/01/06901234567892/10/LOT%2F7/21/SN001?17=271231");
        assert_eq!(
            dl,
            Ok(Some(Gs1 {
                form: "gs1_digital_link",
                gtin: "06901234567892".to_owned(),
                lot: Some("LOT/7".to_owned()),
                serial: Some("SN001".to_owned()),
            }))
        );
        let es = parse_gs1("(01)06901234567892(10)LOT/7(21)SN001");
        assert_eq!(
            es.map(|g| g.map(|g| (g.gtin, g.lot, g.serial))),
            Ok(Some(("06901234567892".to_owned(), Some("LOT/7".to_owned()), Some("SN001".to_owned()))))
        );
        assert_eq!(parse_gs1("6901234567892").map(|g| g.map(|g| g.form)), Ok(Some("gtin")));
        assert!(parse_gs1("(01)06901234567893").is_err(), "wrong check digit");
        assert!(parse_gs1("https://id.example.cn/01/06901234567892/21").is_err(), "AI without a value");
        assert_eq!(parse_gs1("https://example.cn/t/ABC"), Ok(None), "not GS1");
        assert_eq!(parse_gs1("SG-TOMATO-0001"), Ok(None));
    }
}
