//! Individual merchant filings (个体经营户, R-SUBJ-1): the stall holders and shops of a market,
//! each tied to the approved filing of its node enterprise, with a platform-issued merchant
//! code and the shared review workflow.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait, TryIntoModel,
};
use uuid::Uuid;

use super::dto::{MERCHANT_TYPES, MerchantQuery, MerchantRequest, MerchantResponse, NODE_TYPES};
use super::entity::merchant;
use super::uscc;
use super::workflow::{self, Kind, Refs, text};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;

/// The checked values of a merchant filing.
pub struct Checked {
    name: String,
    merchant_type: String,
    uscc: Option<String>,
    categories: Vec<String>,
    node: workflow::EnterpriseRef,
    stall_no: Option<String>,
    contact_name: String,
    contact_phone: String,
}

/// Checks a merchant filing against what the database holds; every problem is named.
///
/// # Errors
/// Every bad field.
pub fn check_with(refs: &Refs, req: &MerchantRequest) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", &req.name, 100, &mut errors);
    if !MERCHANT_TYPES.iter().any(|(k, _)| *k == req.merchant_type) {
        let allowed: Vec<&str> = MERCHANT_TYPES.iter().map(|(k, _)| *k).collect();
        errors.push(FieldError::new("merchant_type", "unknown", format!("经营户类型应为: {}", allowed.join(", "))));
    }
    let uscc = match req.uscc.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(u) => match uscc::parse(u) {
            Ok(u) => Some(u),
            Err(e) => {
                errors.push(FieldError::new("uscc", "gb32100", e.to_string()));
                None
            }
        },
    };
    let categories = refs.categories("categories", &req.categories, &mut errors);
    let node = refs.enterprise("node_code", &req.node_code, NODE_TYPES, &mut errors);
    let stall_no = workflow::optional("stall_no", req.stall_no.as_deref(), 32, &mut errors);
    let contact_name = text("contact_name", &req.contact_name, 100, &mut errors);
    let contact_phone = text("contact_phone", &req.contact_phone, 32, &mut errors);
    crate::validate::phone("contact_phone", &contact_phone, &mut errors);
    match node {
        Some(node) if errors.is_empty() => Ok(Checked {
            name,
            merchant_type: req.merchant_type.clone(),
            uscc,
            categories,
            node,
            stall_no,
            contact_name,
            contact_phone,
        }),
        _ => Err(errors),
    }
}

async fn check(ctx: &Ctx<'_>, req: &MerchantRequest) -> ApiResult<Checked> {
    let refs = Refs::load(ctx, &[req.node_code.trim().to_ascii_uppercase()]).await?;
    check_with(&refs, req).map_err(ApiError::validation)
}

/// Writes checked values into a row.
pub fn apply(am: &mut merchant::ActiveModel, c: Checked) {
    am.name = Set(c.name);
    am.merchant_type = Set(c.merchant_type);
    am.uscc = Set(c.uscc);
    am.categories = Set(serde_json::to_string(&c.categories).unwrap_or_else(|_| "[]".to_owned()));
    am.node_enterprise_id = Set(c.node.id);
    am.node_code = Set(c.node.code);
    am.node_name = Set(c.node.name);
    am.stall_no = Set(c.stall_no);
    am.division_code = Set(c.node.division_code);
    am.contact_name = Set(c.contact_name);
    am.contact_phone = Set(c.contact_phone);
}

fn json(m: &merchant::Model) -> ApiResult<serde_json::Value> {
    serde_json::to_value(MerchantResponse::from(m.clone())).map_err(ApiError::internal)
}

/// A new row of the caller's tenant with its issued code (call under the tenant's chain lock).
#[must_use]
pub fn new_row(tenant_id: Uuid, code: String, status: &str) -> merchant::ActiveModel {
    let now = Utc::now();
    merchant::ActiveModel {
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

/// Files a merchant in the caller's tenant (a draft, or submitted at once), issuing its code.
///
/// # Errors
/// 422 naming every bad field; 403.
pub async fn create(ctx: &Ctx<'_>, req: &MerchantRequest) -> ApiResult<merchant::Model> {
    let scope = ctx.own_scope("merchant", "create").await?;
    if req.submit {
        ctx.require_own("merchant", "submit").await?;
    }
    let checked = check(ctx, req).await?;
    let txn = ctx.db.begin().await?;
    audit::lock_chain(&txn, scope.tenant_id()).await?;
    let serial = workflow::next_serial(&txn, Kind::Merchant, scope.tenant_id()).await?;
    let code = workflow::issue_code(Kind::Merchant, &ctx.who.tenant.code, serial);
    let mut am = new_row(scope.tenant_id(), code, if req.submit { "submitted" } else { "draft" });
    apply(&mut am, checked);
    let row = am.insert(&txn).await?;
    let detail = serde_json::json!({"code": row.code, "name": row.name, "status": row.status});
    audit::record(&txn, ctx.entry("merchant.create", "merchant", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(row)
}

/// The search's filters on the filings of `scope` (no order); bad filters go to `errors`.
pub fn filters(
    scope: &suyuan_tenancy::TenantScope,
    q: &MerchantQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<merchant::Entity> {
    let mut query = merchant::Entity::find().filter(scope.condition(merchant::Column::TenantId));
    if let Some(r) = q.region.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(prefix) = workflow::region_prefix(r, errors)
    {
        query = query.filter(workflow::starts_with(merchant::Column::DivisionCode, &prefix));
    }
    if let Some(t) = q.merchant_type.as_deref().filter(|s| !s.is_empty()) {
        if MERCHANT_TYPES.iter().any(|(k, _)| *k == t) {
            query = query.filter(merchant::Column::MerchantType.eq(t));
        } else {
            errors.push(FieldError::new("merchant_type", "unknown", "没有这个经营户类型"));
        }
    }
    if let Some(n) = q.node.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(
            Condition::any()
                .add(merchant::Column::NodeCode.eq(n.to_ascii_uppercase()))
                .add(merchant::Column::NodeName.contains(n)),
        );
    }
    if let Some(c) = q.category.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(c) = workflow::category_filter(c, errors)
    {
        query = query.filter(merchant::Column::Categories.contains(format!("\"{c}\"")));
    }
    if let Some(n) = q.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(merchant::Column::Name.contains(n));
    }
    if let Some(c) = q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(workflow::starts_with(merchant::Column::Code, &c.to_ascii_uppercase()));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(merchant::Column::Status.eq(s));
    }
    if let Some(f) = q.filed_from {
        query = query.filter(merchant::Column::CreatedAt.gte(f));
    }
    if let Some(t) = q.filed_to {
        query = query.filter(merchant::Column::CreatedAt.lt(t));
    }
    query
}

/// [`filters`] and the search's order.
fn filtered(
    scope: &suyuan_tenancy::TenantScope,
    q: &MerchantQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<merchant::Entity> {
    let query = filters(scope, q, errors);
    let (key, desc) = workflow::sort_key(q.sort.as_deref(), errors);
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    // With a filter, sort the matches rather than walk the code index (see the enterprises').
    let scan = given(&q.name) || given(&q.region) || given(&q.merchant_type) || given(&q.node);
    match key {
        "created_at" if desc => query.order_by_desc(merchant::Column::CreatedAt),
        "created_at" => query.order_by_asc(merchant::Column::CreatedAt),
        "name" => workflow::order_text(query, merchant::Column::Name, desc, scan),
        _ => workflow::order_text(query, merchant::Column::Code, desc, scan),
    }
}

/// Searches the merchant filings the caller may read (R-SUBJ-5), with paging and sorting.
///
/// # Errors
/// 422 naming a bad filter; 403.
pub async fn search(ctx: &Ctx<'_>, q: &MerchantQuery) -> ApiResult<(Vec<merchant::Model>, u64, u64, u64)> {
    let scope = ctx.read_scope("merchant", "read").await?;
    let mut errors = Vec::new();
    let (page, page_size) = workflow::paging(q.page, q.page_size, &mut errors);
    let sorted = filtered(&scope, q, &mut errors).order_by_asc(merchant::Column::Id);
    // The same filters without the order, for the count (their problems are reported above).
    let base = filters(&scope, q, &mut Vec::new());
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (items, total) = workflow::page_of(ctx.db, base, sorted, merchant::Column::Id, page, page_size).await?;
    Ok((items, page, page_size, total))
}

/// Every merchant filing matching the filters (paging ignored), for an export; audited.
///
/// # Errors
/// 422 for a bad filter or too many rows; 403.
pub async fn export(ctx: &Ctx<'_>, q: &MerchantQuery) -> ApiResult<Vec<merchant::Model>> {
    let scope = ctx.read_scope("merchant", "read").await?;
    let mut errors = Vec::new();
    let sorted = filtered(&scope, q, &mut errors).order_by_asc(merchant::Column::Id);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    workflow::export_rows(ctx, Kind::Merchant, scope.tenant_id(), sorted).await
}

async fn load(ctx: &Ctx<'_>, id: Uuid, action: &str) -> ApiResult<(merchant::Model, workflow::Head)> {
    let m = merchant::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    workflow::authorize(ctx, Kind::Merchant, m.tenant_id, action).await?;
    let h = workflow::head_of(m.id, m.tenant_id, &m.code, &m.status, m.version);
    Ok((m, h))
}

/// One merchant filing.
///
/// # Errors
/// 404, 403.
pub async fn get(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<merchant::Model> {
    Ok(load(ctx, id, "read").await?.0)
}

/// Changes a merchant filing under the tenant's change control ([`workflow::control`]).
///
/// # Errors
/// 422, 409 (under review), 404, 403 (another tenant's, a protected field).
pub async fn update(ctx: &Ctx<'_>, id: Uuid, req: &MerchantRequest) -> ApiResult<merchant::Model> {
    let (m, h) = load(ctx, id, "update").await?;
    if req.submit {
        ctx.require_own("merchant", "submit").await?;
    }
    let checked = check(ctx, req).await?;
    let before = json(&m)?;
    let mut am = m.into_active_model();
    apply(&mut am, checked);
    let after = am.clone().try_into_model()?;
    let change = workflow::control(ctx, Kind::Merchant, &h, &before, &json(&after)?, req.submit).await?;
    workflow::save_change::<merchant::Entity, _>(ctx, Kind::Merchant, &h, am, &change, req.submit, json).await
}

/// Approves a submitted merchant filing: a new version and its outbox row.
///
/// # Errors
/// 409 when not submitted; 404, 403.
pub async fn approve(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<merchant::Model> {
    let (txn, h) = workflow::begin_approval(ctx, Kind::Merchant, id).await?;
    let row = merchant::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    workflow::finish_approval(ctx, txn, Kind::Merchant, &h, json(&row)?).await?;
    Ok(row)
}
