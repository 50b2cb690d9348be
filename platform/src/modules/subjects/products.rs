//! Product filings (R-PROD-2): a product of the catalogue made by an approved enterprise, with
//! its GTIN where it has one (check digit verified), a platform-issued product code and the
//! shared review workflow.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait, TryIntoModel,
};
use uuid::Uuid;

use super::dto::{ProductQuery, ProductRequest, ProductResponse};
use super::entity::product;
use super::workflow::{self, Kind, Refs, text};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;

/// The checked values of a product filing.
pub struct Checked {
    name: String,
    category_code: String,
    brand: Option<String>,
    specification: Option<String>,
    unit: String,
    shelf_life_days: Option<i32>,
    gtin: Option<String>,
    enterprise: workflow::EnterpriseRef,
}

/// A GS1 GTIN-8, -12, -13 or -14 with its check digit verified, as 14 digits.
///
/// # Errors
/// A zh-CN message.
pub fn gtin(v: &str) -> Result<String, String> {
    let v = v.trim();
    if !matches!(v.len(), 8 | 12 | 13 | 14) || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("GTIN 应为 8、12、13 或 14 位数字".to_owned());
    }
    let padded = format!("{v:0>14}");
    let digits: Vec<u32> = padded.bytes().map(|b| u32::from(b - b'0')).collect();
    // From the right, leaving out the check digit, weights 3, 1, 3, …
    let sum: u32 = digits[..13].iter().rev().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
    let check = (10 - sum % 10) % 10;
    if digits[13] == check { Ok(padded) } else { Err(format!("GTIN 校验位错误，应为 {check}")) }
}

/// Checks a product filing against what the database holds; every problem is named.
///
/// # Errors
/// Every bad field.
pub fn check_with(refs: &Refs, req: &ProductRequest) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", &req.name, 100, &mut errors);
    let category_code = refs.category("category_code", &req.category_code, &mut errors);
    let brand = workflow::optional("brand", req.brand.as_deref(), 100, &mut errors);
    let specification = workflow::optional("specification", req.specification.as_deref(), 100, &mut errors);
    let unit = text("unit", &req.unit, 16, &mut errors);
    if req.shelf_life_days.is_some_and(|d| !(1..=36_500).contains(&d)) {
        errors.push(FieldError::new("shelf_life_days", "range", "保质期应为 1–36500 天"));
    }
    let gtin = match req.gtin.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(g) => match gtin(g) {
            Ok(g) => Some(g),
            Err(e) => {
                errors.push(FieldError::new("gtin", "gs1", e));
                None
            }
        },
    };
    let enterprise = refs.enterprise("enterprise_code", &req.enterprise_code, &[], &mut errors);
    match enterprise {
        Some(enterprise) if errors.is_empty() => Ok(Checked {
            name,
            category_code,
            brand,
            specification,
            unit,
            shelf_life_days: req.shelf_life_days,
            gtin,
            enterprise,
        }),
        _ => Err(errors),
    }
}

async fn check(ctx: &Ctx<'_>, req: &ProductRequest) -> ApiResult<Checked> {
    let refs = Refs::load(ctx, &[req.enterprise_code.trim().to_ascii_uppercase()]).await?;
    check_with(&refs, req).map_err(ApiError::validation)
}

/// Writes checked values into a row.
pub fn apply(am: &mut product::ActiveModel, c: Checked) {
    am.name = Set(c.name);
    am.category_code = Set(c.category_code);
    am.brand = Set(c.brand);
    am.specification = Set(c.specification);
    am.unit = Set(c.unit);
    am.shelf_life_days = Set(c.shelf_life_days);
    am.gtin = Set(c.gtin);
    am.enterprise_id = Set(c.enterprise.id);
    am.enterprise_code = Set(c.enterprise.code);
    am.enterprise_name = Set(c.enterprise.name);
    am.division_code = Set(c.enterprise.division_code);
}

fn json(m: &product::Model) -> ApiResult<serde_json::Value> {
    serde_json::to_value(ProductResponse::from(m.clone())).map_err(ApiError::internal)
}

/// A new row of the caller's tenant with its issued code (call under the tenant's chain lock).
#[must_use]
pub fn new_row(tenant_id: Uuid, code: String, status: &str) -> product::ActiveModel {
    let now = Utc::now();
    product::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        code: Set(code),
        status: Set(status.to_owned()),
        version: Set(0),
        reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Files a product in the caller's tenant (a draft, or submitted at once), issuing its code.
///
/// # Errors
/// 422 naming every bad field; 403.
pub async fn create(ctx: &Ctx<'_>, req: &ProductRequest) -> ApiResult<product::Model> {
    let scope = ctx.own_scope("product", "create").await?;
    if req.submit {
        ctx.require_own("product", "submit").await?;
    }
    let checked = check(ctx, req).await?;
    let txn = ctx.db.begin().await?;
    audit::lock_chain(&txn, scope.tenant_id()).await?;
    let serial = workflow::next_serial(&txn, Kind::Product, scope.tenant_id()).await?;
    let code = workflow::issue_code(Kind::Product, &ctx.who.tenant.code, serial);
    let mut am = new_row(scope.tenant_id(), code, if req.submit { "submitted" } else { "draft" });
    apply(&mut am, checked);
    let row = am.insert(&txn).await?;
    let detail = serde_json::json!({"code": row.code, "name": row.name, "status": row.status});
    audit::record(&txn, ctx.entry("product.create", "product", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(row)
}

/// The search's filters on the filings of `scope` (no order); bad filters go to `errors`.
pub fn filters(
    scope: &suyuan_tenancy::TenantScope,
    q: &ProductQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<product::Entity> {
    let mut query = product::Entity::find().filter(scope.condition(product::Column::TenantId));
    if let Some(r) = q.region.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(prefix) = workflow::region_prefix(r, errors)
    {
        query = query.filter(workflow::starts_with(product::Column::DivisionCode, &prefix));
    }
    if let Some(n) = q.enterprise.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(
            Condition::any()
                .add(product::Column::EnterpriseCode.eq(n.to_ascii_uppercase()))
                .add(product::Column::EnterpriseName.contains(n)),
        );
    }
    if let Some(c) = q.category.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(c) = workflow::category_filter(c, errors)
    {
        // Codes extend their parent's: a category and everything below it.
        query = query.filter(workflow::starts_with(product::Column::CategoryCode, &c));
    }
    if let Some(g) = q.gtin.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(product::Column::Gtin.eq(format!("{g:0>14}")));
    }
    if let Some(n) = q.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(product::Column::Name.contains(n));
    }
    if let Some(c) = q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(workflow::starts_with(product::Column::Code, &c.to_ascii_uppercase()));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(product::Column::Status.eq(s));
    }
    if let Some(f) = q.filed_from {
        query = query.filter(product::Column::CreatedAt.gte(f));
    }
    if let Some(t) = q.filed_to {
        query = query.filter(product::Column::CreatedAt.lt(t));
    }
    query
}

/// [`filters`] and the search's order.
fn filtered(
    scope: &suyuan_tenancy::TenantScope,
    q: &ProductQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<product::Entity> {
    let query = filters(scope, q, errors);
    let (key, desc) = workflow::sort_key(q.sort.as_deref(), errors);
    let column = match key {
        "name" => product::Column::Name,
        "created_at" => product::Column::CreatedAt,
        _ => product::Column::Code,
    };
    if desc { query.order_by_desc(column) } else { query.order_by_asc(column) }
}

/// Searches the product filings the caller may read (R-SUBJ-5), with paging and sorting.
///
/// # Errors
/// 422 naming a bad filter; 403.
pub async fn search(ctx: &Ctx<'_>, q: &ProductQuery) -> ApiResult<(Vec<product::Model>, u64, u64, u64)> {
    let scope = ctx.read_scope("product", "read").await?;
    let mut errors = Vec::new();
    let (page, page_size) = workflow::paging(q.page, q.page_size, &mut errors);
    let sorted = filtered(&scope, q, &mut errors).order_by_asc(product::Column::Id);
    // The same filters without the order, for the count (their problems are reported above).
    let base = filters(&scope, q, &mut Vec::new());
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (items, total) = workflow::page_of(ctx.db, base, sorted, product::Column::Id, page, page_size).await?;
    Ok((items, page, page_size, total))
}

/// Every product filing matching the filters (paging ignored), for an export; audited.
///
/// # Errors
/// 422 for a bad filter or too many rows; 403.
pub async fn export(ctx: &Ctx<'_>, q: &ProductQuery) -> ApiResult<Vec<product::Model>> {
    let scope = ctx.read_scope("product", "read").await?;
    let mut errors = Vec::new();
    let sorted = filtered(&scope, q, &mut errors).order_by_asc(product::Column::Id);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    workflow::export_rows(ctx, Kind::Product, scope.tenant_id(), sorted).await
}

async fn load(ctx: &Ctx<'_>, id: Uuid, action: &str) -> ApiResult<(product::Model, workflow::Head)> {
    let m = product::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    workflow::authorize(ctx, Kind::Product, m.tenant_id, action).await?;
    let h = workflow::head_of(m.id, m.tenant_id, &m.code, &m.status, m.version);
    Ok((m, h))
}

/// One product filing.
///
/// # Errors
/// 404, 403.
pub async fn get(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<product::Model> {
    Ok(load(ctx, id, "read").await?.0)
}

/// Changes a product filing under the tenant's change control ([`workflow::control`]).
///
/// # Errors
/// 422, 409 (under review), 404, 403 (another tenant's, a protected field).
pub async fn update(ctx: &Ctx<'_>, id: Uuid, req: &ProductRequest) -> ApiResult<product::Model> {
    let (m, h) = load(ctx, id, "update").await?;
    if req.submit {
        ctx.require_own("product", "submit").await?;
    }
    let checked = check(ctx, req).await?;
    let before = json(&m)?;
    let mut am = m.into_active_model();
    apply(&mut am, checked);
    let after = am.clone().try_into_model()?;
    let change = workflow::control(ctx, Kind::Product, &h, &before, &json(&after)?, req.submit).await?;
    workflow::save_change::<product::Entity, _>(ctx, Kind::Product, &h, am, &change, req.submit, json).await
}

/// Approves a submitted product filing: a new version and its outbox row.
///
/// # Errors
/// 409 when not submitted; 404, 403.
pub async fn approve(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<product::Model> {
    let (txn, h) = workflow::begin_approval(ctx, Kind::Product, id).await?;
    let row = product::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    workflow::finish_approval(ctx, txn, Kind::Product, &h, json(&row)?).await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::gtin;

    #[test]
    fn gtins_are_checked_and_widened_to_14_digits() {
        assert_eq!(gtin("4006381333931").as_deref(), Ok("04006381333931"));
        assert_eq!(gtin("96385074").as_deref(), Ok("00000096385074"), "GTIN-8");
        assert_eq!(gtin("036000291452").as_deref(), Ok("00036000291452"), "GTIN-12 (UPC-A)");
        assert!(gtin("4006381333932").is_err_and(|e| e.contains("应为 1")));
        assert!(gtin("400638133393").is_err(), "a GTIN-12 with the wrong check digit");
        assert!(gtin("12345").is_err() && gtin("40063813339X1").is_err());
    }
}
