//! Enterprise filing rules: checking, platform-issued codes, review and versions, and the
//! outbox row of every approved filing, in the approval's transaction.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait, TryIntoModel,
};
use uuid::Uuid;

use super::dto::{ENTERPRISE_TYPES, EnterpriseRequest, EnterpriseResponse, STAGES};
use super::entity::{enterprise, outbox};
use super::uscc;
use super::workflow::{self, Kind, Refs};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;

/// An enterprise code: `E`, the issuing tenant's division code, a 7-digit serial, a check
/// character ([`workflow::issue_code`]).
#[must_use]
pub fn enterprise_code(division: &str, serial: u32) -> String {
    workflow::issue_code(Kind::Enterprise, division, serial)
}

use workflow::text;

/// The checked values of a filing.
pub struct Checked {
    name: String,
    uscc: String,
    enterprise_type: String,
    categories: Vec<String>,
    stages: Vec<String>,
    licence_no: Option<String>,
    address: String,
    division_code: String,
    longitude: Option<f64>,
    latitude: Option<f64>,
    contact_name: String,
    contact_phone: String,
    contact_email: Option<String>,
}

async fn check(ctx: &Ctx<'_>, req: &EnterpriseRequest) -> ApiResult<Checked> {
    let refs = Refs::load(ctx, &[]).await?;
    check_with(&refs, req).map_err(ApiError::validation)
}

/// Checks a filing against what the database holds ([`Refs`]); every problem is named.
///
/// # Errors
/// Every bad field.
pub fn check_with(refs: &Refs, req: &EnterpriseRequest) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", &req.name, 100, &mut errors);
    let uscc = uscc::parse(&req.uscc).unwrap_or_else(|e| {
        errors.push(FieldError::new("uscc", "gb32100", e.to_string()));
        String::new()
    });
    if !ENTERPRISE_TYPES.iter().any(|(k, _)| *k == req.enterprise_type) {
        let allowed: Vec<&str> = ENTERPRISE_TYPES.iter().map(|(k, _)| *k).collect();
        errors.push(FieldError::new("enterprise_type", "unknown", format!("企业类型应为: {}", allowed.join(", "))));
    }
    let categories = refs.categories("categories", &req.categories, &mut errors);
    for (i, s) in req.stages.iter().enumerate() {
        if !STAGES.iter().any(|(k, _)| k == s) {
            errors.push(FieldError::new(format!("stages[{i}]"), "unknown", format!("没有追溯环节 {s}")));
        }
    }
    if req.stages.is_empty() {
        errors.push(FieldError::new("stages", "required", "请至少选择一个追溯环节"));
    }
    let licence_no = req.licence_no.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    if licence_no.as_ref().is_some_and(|l| l.chars().count() > 64) {
        errors.push(FieldError::new("licence_no", "too_long", "不能超过 64 个字符"));
    }
    let address = text("address", &req.address, 200, &mut errors);
    refs.division("division_code", &req.division_code, &mut errors);
    crate::validate::coordinates(req.longitude, req.latitude, &mut errors);
    let contact_name = text("contact_name", &req.contact_name, 100, &mut errors);
    let contact_phone = text("contact_phone", &req.contact_phone, 32, &mut errors);
    crate::validate::phone("contact_phone", &contact_phone, &mut errors);
    let contact_email = req.contact_email.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    crate::validate::email("contact_email", contact_email.as_deref().unwrap_or_default(), &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut stages = req.stages.clone();
    stages.sort();
    stages.dedup();
    Ok(Checked {
        name,
        uscc,
        enterprise_type: req.enterprise_type.clone(),
        categories,
        stages,
        licence_no,
        address,
        division_code: req.division_code.trim().to_owned(),
        longitude: req.longitude,
        latitude: req.latitude,
        contact_name,
        contact_phone,
        contact_email,
    })
}

/// Writes checked values into a row.
pub fn apply(am: &mut enterprise::ActiveModel, c: Checked) {
    am.name = Set(c.name);
    am.uscc = Set(c.uscc);
    am.enterprise_type = Set(c.enterprise_type);
    am.categories = Set(serde_json::to_string(&c.categories).unwrap_or_else(|_| "[]".to_owned()));
    am.stages = Set(c.stages.join(","));
    am.licence_no = Set(c.licence_no);
    am.address = Set(c.address);
    am.division_code = Set(c.division_code);
    am.longitude = Set(c.longitude);
    am.latitude = Set(c.latitude);
    am.contact_name = Set(c.contact_name);
    am.contact_phone = Set(c.contact_phone);
    am.contact_email = Set(c.contact_email);
}

/// A new row of a tenant with its issued code (call under the tenant's chain lock).
#[must_use]
pub fn new_row(tenant_id: Uuid, code: String, status: &str) -> enterprise::ActiveModel {
    let now = Utc::now();
    enterprise::ActiveModel {
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

async fn uscc_taken(db: &impl ConnectionTrait, uscc: &str, except: Option<Uuid>) -> ApiResult<bool> {
    let mut q = enterprise::Entity::find().filter(enterprise::Column::Uscc.eq(uscc));
    if let Some(id) = except {
        q = q.filter(enterprise::Column::Id.ne(id));
    }
    Ok(q.count(db).await? > 0)
}

/// Files an enterprise in the caller's tenant (a draft, or submitted at once), issuing its code.
///
/// # Errors
/// 422 naming every bad field; 409 for a credit code filed already; 403.
pub async fn create(ctx: &Ctx<'_>, req: &EnterpriseRequest) -> ApiResult<enterprise::Model> {
    let scope = ctx.own_scope("enterprise", "create").await?;
    if req.submit {
        ctx.require_own("enterprise", "submit").await?;
    }
    let checked = check(ctx, req).await?;
    let txn = ctx.db.begin().await?;
    // One writer per tenant at a time from here: the serial below has no gaps and no twins.
    audit::lock_chain(&txn, scope.tenant_id()).await?;
    if uscc_taken(&txn, &checked.uscc, None).await? {
        return Err(ApiError::conflict(format!("统一社会信用代码 {} 的企业已备案", checked.uscc)));
    }
    let serial = workflow::next_serial(&txn, Kind::Enterprise, scope.tenant_id()).await?;
    let code = enterprise_code(&ctx.who.tenant.code, serial);
    let mut am = new_row(scope.tenant_id(), code, if req.submit { "submitted" } else { "draft" });
    apply(&mut am, checked);
    let row = am.insert(&txn).await?;
    let detail = serde_json::json!({"code": row.code, "name": row.name, "status": row.status});
    audit::record(&txn, ctx.entry("enterprise.create", "enterprise", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Searches the filings the caller may read (its tenant's, and its subtree's when a role
/// allows that), with paging and sorting.
///
/// # Errors
/// 422 naming a bad filter; 403.
pub async fn search(
    ctx: &Ctx<'_>,
    q: &super::dto::EnterpriseQuery,
) -> ApiResult<(Vec<enterprise::Model>, u64, u64, u64)> {
    let scope = ctx.read_scope("enterprise", "read").await?;
    let mut errors = Vec::new();
    let (page, page_size) = workflow::paging(q.page, q.page_size, &mut errors);
    let sorted = filtered(&scope, q, &mut errors).order_by_asc(enterprise::Column::Id);
    // The same filters without the order, for the count (their problems are reported above).
    let base = filters(&scope, q, &mut Vec::new());
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (items, total) = workflow::page_of(ctx.db, base, sorted, enterprise::Column::Id, page, page_size).await?;
    Ok((items, page, page_size, total))
}

/// The most rows one export holds.
pub const MAX_EXPORT_ROWS: u64 = 100_000;

/// Every filing matching the search's filters (paging ignored), for an export; recorded in
/// the audit log.
///
/// # Errors
/// 422 for a bad filter or more than [`MAX_EXPORT_ROWS`] rows; 403.
pub async fn export(ctx: &Ctx<'_>, q: &super::dto::EnterpriseQuery) -> ApiResult<Vec<enterprise::Model>> {
    let scope = ctx.read_scope("enterprise", "read").await?;
    let mut errors = Vec::new();
    let sorted = filtered(&scope, q, &mut errors).order_by_asc(enterprise::Column::Id);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    workflow::export_rows(ctx, Kind::Enterprise, scope.tenant_id(), sorted).await
}

/// The search's filters on the filings of `scope` (no order); bad filters go to `errors`.
pub fn filters(
    scope: &suyuan_tenancy::TenantScope,
    q: &super::dto::EnterpriseQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<enterprise::Entity> {
    let mut query = enterprise::Entity::find().filter(scope.condition(enterprise::Column::TenantId));
    if let Some(r) = q.region.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(prefix) = workflow::region_prefix(r, errors)
    {
        query = query.filter(workflow::starts_with(enterprise::Column::DivisionCode, &prefix));
    }
    if let Some(t) = q.enterprise_type.as_deref().filter(|s| !s.is_empty()) {
        if ENTERPRISE_TYPES.iter().any(|(k, _)| *k == t) {
            query = query.filter(enterprise::Column::EnterpriseType.eq(t));
        } else {
            errors.push(FieldError::new("enterprise_type", "unknown", "没有这个企业类型"));
        }
    }
    if let Some(c) = q.category.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && let Some(c) = workflow::category_filter(c, errors)
    {
        query = query.filter(enterprise::Column::Categories.contains(format!("\"{c}\"")));
    }
    if let Some(n) = q.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(enterprise::Column::Name.contains(n));
    }
    if let Some(c) = q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(workflow::starts_with(enterprise::Column::Code, &c.to_ascii_uppercase()));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(enterprise::Column::Status.eq(s));
    }
    if let Some(f) = q.filed_from {
        query = query.filter(enterprise::Column::CreatedAt.gte(f));
    }
    if let Some(t) = q.filed_to {
        query = query.filter(enterprise::Column::CreatedAt.lt(t));
    }
    query
}

/// [`filters`] and the search's order.
fn filtered(
    scope: &suyuan_tenancy::TenantScope,
    q: &super::dto::EnterpriseQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<enterprise::Entity> {
    let query = filters(scope, q, errors);
    let (key, desc) = workflow::sort_key(q.sort.as_deref(), errors);
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    // With a filter, sort the matches; the code order correlates with the region (codes carry
    // the tenant's division), so walking the code index past a region's rows is the slow plan.
    let scan = given(&q.name) || given(&q.region) || given(&q.enterprise_type);
    match key {
        "created_at" if desc => query.order_by_desc(enterprise::Column::CreatedAt),
        "created_at" => query.order_by_asc(enterprise::Column::CreatedAt),
        "name" => workflow::order_text(query, enterprise::Column::Name, desc, scan),
        _ => workflow::order_text(query, enterprise::Column::Code, desc, scan),
    }
}

/// One filing, once the guard allows `action` on it.
async fn load(ctx: &Ctx<'_>, id: Uuid, action: &str) -> ApiResult<(enterprise::Model, workflow::Head)> {
    let e = enterprise::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    workflow::authorize(ctx, Kind::Enterprise, e.tenant_id, action).await?;
    let h = workflow::head_of(e.id, e.tenant_id, &e.code, &e.status, e.version);
    Ok((e, h))
}

fn json(e: &enterprise::Model) -> ApiResult<serde_json::Value> {
    serde_json::to_value(EnterpriseResponse::from(e.clone())).map_err(ApiError::internal)
}

/// One filing (the caller's tenant's, or below it for a role that reads the subtree).
///
/// # Errors
/// 404, 403.
pub async fn get(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<enterprise::Model> {
    Ok(load(ctx, id, "read").await?.0)
}

/// Changes a filing of the caller's tenant under its change control
/// ([`workflow::control`]): before the first approval freely; after it, protected fields
/// only by reviewers, and the change either takes effect at once as a new version (fields
/// that need no review) or waits for review as `changed` (the approved version stays in
/// force until then). A filing under review cannot be changed.
///
/// # Errors
/// 422, 409 (under review, credit code taken), 404, 403 (another tenant's, a child's, a
/// protected field).
pub async fn update(ctx: &Ctx<'_>, id: Uuid, req: &EnterpriseRequest) -> ApiResult<enterprise::Model> {
    let (e, h) = load(ctx, id, "update").await?;
    if req.submit {
        ctx.require_own("enterprise", "submit").await?;
    }
    let checked = check(ctx, req).await?;
    let before = json(&e)?;
    let mut am = e.into_active_model();
    apply(&mut am, checked);
    let after = am.clone().try_into_model()?;
    let change = workflow::control(ctx, Kind::Enterprise, &h, &before, &json(&after)?, req.submit).await?;
    if uscc_taken(ctx.db, &after.uscc, Some(id)).await? {
        return Err(ApiError::conflict(format!("统一社会信用代码 {} 的企业已备案", after.uscc)));
    }
    workflow::save_change::<enterprise::Entity, _>(ctx, Kind::Enterprise, &h, am, &change, req.submit, json).await
}

/// Submits a draft, rejected or changed filing for review.
///
/// # Errors
/// 409 in another status; 404, 403.
pub async fn submit(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<enterprise::Model> {
    workflow::submit(ctx, Kind::Enterprise, id).await?;
    get(ctx, id).await
}

/// Approves a submitted filing: a new version, and its outbox row for the parent, in one
/// transaction.
///
/// # Errors
/// 409 when not submitted; 404, 403.
pub async fn approve(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<enterprise::Model> {
    let (txn, h) = workflow::begin_approval(ctx, Kind::Enterprise, id).await?;
    let row = enterprise::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    workflow::finish_approval(ctx, txn, Kind::Enterprise, &h, json(&row)?).await?;
    Ok(row)
}

/// Rejects a submitted filing with a reason.
///
/// # Errors
/// 422 without a reason; 409 when not submitted; 404, 403.
pub async fn reject(ctx: &Ctx<'_>, id: Uuid, reason: &str) -> ApiResult<enterprise::Model> {
    workflow::reject(ctx, Kind::Enterprise, id, reason).await?;
    get(ctx, id).await
}

/// Appends a change for the parent to the origin's outbox. Call it after
/// [`audit::lock_chain`] on the origin in the same transaction: the sequence then has no gaps
/// and no twins (a unique index refuses a duplicate anyway).
///
/// # Errors
/// Database failures (the whole change rolls back).
pub async fn write_outbox(
    txn: &impl ConnectionTrait,
    origin: Uuid,
    kind: &str,
    payload: &serde_json::Value,
) -> ApiResult<outbox::Model> {
    let seq = last_outbox_seq(txn, origin).await? + 1;
    Ok(outbox_row(origin, seq, kind, payload).insert(txn).await?)
}

/// [`write_outbox`] for many changes in one statement, numbered in their order.
///
/// # Errors
/// Database failures (the whole change rolls back).
pub async fn write_outbox_many(
    txn: &DatabaseTransaction,
    origin: Uuid,
    changes: &[(String, serde_json::Value)],
) -> ApiResult<()> {
    let last = last_outbox_seq(txn, origin).await?;
    for (n, chunk) in changes.chunks(1000).enumerate() {
        let first = last + 1 + i64::try_from(n * 1000).unwrap_or(i64::MAX);
        let rows = chunk.iter().zip(first..).map(|((kind, payload), seq)| outbox_row(origin, seq, kind, payload));
        outbox::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    Ok(())
}

async fn last_outbox_seq(txn: &impl ConnectionTrait, origin: Uuid) -> ApiResult<i64> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::OriginTenantId.eq(origin))
        .order_by_desc(outbox::Column::Seq)
        .one(txn)
        .await?
        .map_or(0, |r| r.seq))
}

fn outbox_row(origin: Uuid, seq: i64, kind: &str, payload: &serde_json::Value) -> outbox::ActiveModel {
    outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        origin_tenant_id: Set(origin),
        seq: Set(seq),
        kind: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
    }
}
