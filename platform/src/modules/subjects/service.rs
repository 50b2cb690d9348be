//! Enterprise filing rules: checking, platform-issued codes, review and versions, and the
//! outbox row of every approved filing, in the approval's transaction.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use suyuan_policies::Scope;
use suyuan_tenancy::DivisionCode;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::dto::{ENTERPRISE_TYPES, EnterpriseRequest, STAGES, VersionResponse};
use super::entity::{enterprise, outbox, version};
use super::uscc;
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::products::entity::category;

/// The characters of issued codes' check character (those of GB 32100).
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The check character of an issued code's body (weights 3^i mod 31, as GB 32100 does).
#[must_use]
pub fn code_check(body: &str) -> char {
    let mut sum = 0usize;
    let mut w = 1usize;
    for b in body.bytes() {
        let v = CHARSET.iter().position(|&c| c == b).unwrap_or(0);
        sum += v * w;
        w = w * 3 % 31;
    }
    char::from(CHARSET[(31 - sum % 31) % 31])
}

/// An enterprise code: `E`, the issuing tenant's division code, a 7-digit serial, a check
/// character. The division code makes it unique across deployments, the serial within one.
#[must_use]
pub fn enterprise_code(division: &str, serial: u32) -> String {
    let body = format!("E{division}{serial:07}");
    let check = code_check(&body);
    format!("{body}{check}")
}

fn text(field: &str, v: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let t = v.trim();
    if t.is_empty() {
        errors.push(FieldError::new(field, "required", "不能为空"));
    } else if t.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("不能超过 {max} 个字符")));
    }
    t.to_owned()
}

/// The checked values of a filing.
struct Checked {
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
    if req.categories.is_empty() {
        errors.push(FieldError::new("categories", "required", "请至少选择一个经营品类"));
    }
    let known: Vec<String> = category::Entity::find()
        .filter(category::Column::Code.is_in(req.categories.clone()))
        .all(ctx.db)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect();
    for (i, c) in req.categories.iter().enumerate() {
        if !known.contains(c) {
            errors.push(FieldError::new(format!("categories[{i}]"), "unknown", format!("产品目录中没有分类 {c}")));
        }
    }
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
    let own = DivisionCode::parse(&ctx.who.tenant.code).map_err(ApiError::internal)?;
    match DivisionCode::parse(req.division_code.trim()) {
        Ok(d) if d.is_within(&own) => {}
        Ok(_) => errors.push(FieldError::new("division_code", "outside", "地址应在本单位辖区内")),
        Err(e) => errors.push(FieldError::new("division_code", "format", e.to_string())),
    }
    crate::validate::coordinates(req.longitude, req.latitude, &mut errors);
    let contact_name = text("contact_name", &req.contact_name, 100, &mut errors);
    let contact_phone = text("contact_phone", &req.contact_phone, 32, &mut errors);
    crate::validate::phone("contact_phone", &contact_phone, &mut errors);
    let contact_email = req.contact_email.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    crate::validate::email("contact_email", contact_email.as_deref().unwrap_or_default(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut stages = req.stages.clone();
    stages.sort();
    stages.dedup();
    let mut categories = req.categories.clone();
    categories.sort();
    categories.dedup();
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

fn apply(am: &mut enterprise::ActiveModel, c: Checked) {
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
    let issued = enterprise::Entity::find().filter(scope.condition(enterprise::Column::TenantId)).count(&txn).await?;
    let serial = u32::try_from(issued + 1).map_err(ApiError::internal)?;
    let now = Utc::now();
    let mut am = enterprise::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        code: Set(enterprise_code(&ctx.who.tenant.code, serial)),
        status: Set(if req.submit { "submitted" } else { "draft" }.to_owned()),
        version: Set(0),
        reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
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
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(20);
    if page == 0 {
        errors.push(FieldError::new("page", "range", "页码从 1 开始"));
    }
    if !(1..=200).contains(&page_size) {
        errors.push(FieldError::new("page_size", "range", "每页 1–200 条"));
    }
    let query = filtered(&scope, q, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // A stable order within equal keys, so pages never repeat or skip a row.
    let paginator = query.order_by_asc(enterprise::Column::Id).paginate(ctx.db, page_size);
    let total = paginator.num_items().await?;
    let items = paginator.fetch_page(page - 1).await?;
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
    let query = filtered(&scope, q, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let rows = query.order_by_asc(enterprise::Column::Id).limit(MAX_EXPORT_ROWS + 1).all(ctx.db).await?;
    if u64::try_from(rows.len()).unwrap_or(u64::MAX) > MAX_EXPORT_ROWS {
        return Err(ApiError::invalid_field(
            "region",
            "too_many",
            format!("一次最多导出 {MAX_EXPORT_ROWS} 条，请缩小地区、类型或时间范围"),
        ));
    }
    let detail = serde_json::json!({"rows": rows.len()});
    audit::record(ctx.db, ctx.entry("enterprise.export", "enterprise", scope.tenant_id().to_string(), detail)).await?;
    Ok(rows)
}

/// The search's filters and order on the filings of `scope`; bad filters go to `errors`.
fn filtered(
    scope: &suyuan_tenancy::TenantScope,
    q: &super::dto::EnterpriseQuery,
    errors: &mut Vec<FieldError>,
) -> sea_orm::Select<enterprise::Entity> {
    let mut query = enterprise::Entity::find().filter(scope.condition(enterprise::Column::TenantId));
    if let Some(r) = q.region.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        match DivisionCode::parse(r) {
            // The prefix that every code inside the region shares: 37, 3707, 370783.
            Ok(d) => {
                let s = d.as_str();
                let prefix = match d.level() {
                    suyuan_tenancy::TenantLevel::National => "",
                    suyuan_tenancy::TenantLevel::Provincial => &s[..2],
                    suyuan_tenancy::TenantLevel::Municipal => &s[..4],
                    suyuan_tenancy::TenantLevel::County => s,
                };
                query = query.filter(enterprise::Column::DivisionCode.starts_with(prefix));
            }
            Err(e) => errors.push(FieldError::new("region", "format", e.to_string())),
        }
    }
    if let Some(t) = q.enterprise_type.as_deref().filter(|s| !s.is_empty()) {
        if ENTERPRISE_TYPES.iter().any(|(k, _)| *k == t) {
            query = query.filter(enterprise::Column::EnterpriseType.eq(t));
        } else {
            errors.push(FieldError::new("enterprise_type", "unknown", "没有这个企业类型"));
        }
    }
    if let Some(c) = q.category.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if c.bytes().all(|b| b.is_ascii_digit()) {
            query = query.filter(enterprise::Column::Categories.contains(format!("\"{c}\"")));
        } else {
            errors.push(FieldError::new("category", "format", "分类代码只含数字"));
        }
    }
    if let Some(n) = q.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(enterprise::Column::Name.contains(n));
    }
    if let Some(c) = q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(enterprise::Column::Code.starts_with(c.to_ascii_uppercase()));
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
    let sort = q.sort.as_deref().unwrap_or("code");
    let (desc, key) = sort.strip_prefix('-').map_or((false, sort), |k| (true, k));
    let column = match key {
        "code" => enterprise::Column::Code,
        "name" => enterprise::Column::Name,
        "created_at" => enterprise::Column::CreatedAt,
        _ => {
            errors.push(FieldError::new("sort", "unknown", "排序字段只能是 code、name 或 created_at（前加 - 为降序）"));
            enterprise::Column::Code
        }
    };
    if desc { query.order_by_desc(column) } else { query.order_by_asc(column) }
}

/// One filing and the scope the guard granted on it for `action`.
async fn load(ctx: &Ctx<'_>, id: Uuid, action: &str) -> ApiResult<(enterprise::Model, Scope)> {
    let e = enterprise::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("备案不存在"))?;
    let owner = tenant::Entity::find_by_id(e.tenant_id)
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("filing without tenant")))?;
    let scope = ctx.require(&owner, "enterprise", action).await?;
    if action != "read" && scope != Scope::Own {
        let refused = ApiError::forbidden("下级单位的备案由该单位自己维护，上级单位只能查看");
        return Err(ctx.deny(&owner, "enterprise", action, refused).await?);
    }
    Ok((e, scope))
}

/// One filing (the caller's tenant's, or below it for a role that reads the subtree).
///
/// # Errors
/// 404, 403.
pub async fn get(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<enterprise::Model> {
    Ok(load(ctx, id, "read").await?.0)
}

/// Changes a filing of the caller's tenant. A draft or rejected filing stays a draft; an
/// approved one becomes `changed` and needs review again (the approved version stays in force
/// until then). A filing under review cannot be changed.
///
/// # Errors
/// 422, 409 (under review, credit code taken), 404, 403 (another tenant's, a child's).
pub async fn update(ctx: &Ctx<'_>, id: Uuid, req: &EnterpriseRequest) -> ApiResult<enterprise::Model> {
    let (e, _) = load(ctx, id, "update").await?;
    if req.submit {
        ctx.require_own("enterprise", "submit").await?;
    }
    if e.status == "submitted" {
        return Err(ApiError::conflict("备案正在审核中，审核完成后才能修改"));
    }
    let checked = check(ctx, req).await?;
    let txn = ctx.db.begin().await?;
    if uscc_taken(&txn, &checked.uscc, Some(e.id)).await? {
        return Err(ApiError::conflict(format!("统一社会信用代码 {} 的企业已备案", checked.uscc)));
    }
    let next = if req.submit {
        "submitted"
    } else if e.version > 0 {
        "changed"
    } else {
        "draft"
    };
    let mut am = e.into_active_model();
    apply(&mut am, checked);
    am.status = Set(next.to_owned());
    am.updated_at = Set(Utc::now());
    let row = am.update(&txn).await?;
    let detail = serde_json::json!({"code": row.code, "status": row.status});
    audit::record(&txn, ctx.entry("enterprise.update", "enterprise", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Moves a filing from `from` statuses to `to`, only if nothing changed it meanwhile.
async fn transition(
    txn: &DatabaseTransaction,
    e: &enterprise::Model,
    from: &[&str],
    to: &str,
    reason: Option<String>,
) -> ApiResult<()> {
    let done = enterprise::Entity::update_many()
        .col_expr(enterprise::Column::Status, Expr::value(to))
        .col_expr(enterprise::Column::Reason, Expr::value(reason))
        .col_expr(enterprise::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(enterprise::Column::Id.eq(e.id))
        .filter(enterprise::Column::Status.is_in(from.iter().copied()))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::conflict(format!("备案当前状态为 {}，不能执行此操作", e.status)));
    }
    Ok(())
}

/// Submits a draft, rejected or changed filing for review.
///
/// # Errors
/// 409 in another status; 404, 403.
pub async fn submit(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<enterprise::Model> {
    let (e, _) = load(ctx, id, "submit").await?;
    let txn = ctx.db.begin().await?;
    transition(&txn, &e, &["draft", "rejected", "changed"], "submitted", None).await?;
    audit::record(
        &txn,
        ctx.entry("enterprise.submit", "enterprise", e.id.to_string(), serde_json::json!({"code": e.code})),
    )
    .await?;
    txn.commit().await?;
    get(ctx, id).await
}

/// Approves a submitted filing: a new version, and its outbox row for the parent, in one
/// transaction.
///
/// # Errors
/// 409 when not submitted; 404, 403.
pub async fn approve(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<enterprise::Model> {
    let (e, _) = load(ctx, id, "approve").await?;
    let txn = ctx.db.begin().await?;
    // The tenant's chain lock orders the outbox sequence of concurrent approvals.
    audit::lock_chain(&txn, e.tenant_id).await?;
    transition(&txn, &e, &["submitted"], "approved", None).await?;
    let number = e.version + 1;
    enterprise::Entity::update_many()
        .col_expr(enterprise::Column::Version, Expr::value(number))
        .filter(enterprise::Column::Id.eq(e.id))
        .exec(&txn)
        .await?;
    let approved = enterprise::Model { status: "approved".to_owned(), version: number, reason: None, ..e };
    let data =
        serde_json::to_value(super::dto::EnterpriseResponse::from(approved.clone())).map_err(ApiError::internal)?;
    let by = ctx.who.actor().name;
    version::ActiveModel {
        id: Set(Uuid::now_v7()),
        enterprise_id: Set(approved.id),
        version: Set(number),
        data: Set(data.to_string()),
        approved_at: Set(Utc::now()),
        approved_by: Set(by),
    }
    .insert(&txn)
    .await?;
    let kind = if number == 1 { "filing.created" } else { "filing.changed" };
    write_outbox(
        &txn,
        approved.tenant_id,
        kind,
        &serde_json::json!({"type": "enterprise", "version": number, "filing": data}),
    )
    .await?;
    let detail = serde_json::json!({"code": approved.code, "version": number});
    audit::record(&txn, ctx.entry("enterprise.approve", "enterprise", approved.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(approved)
}

/// Appends a change for the parent to the origin's outbox. Call it after
/// [`audit::lock_chain`] on the origin in the same transaction: the sequence then has no gaps
/// and no twins (a unique index refuses a duplicate anyway).
///
/// # Errors
/// Database failures (the whole change rolls back).
pub async fn write_outbox(
    txn: &DatabaseTransaction,
    origin: Uuid,
    kind: &str,
    payload: &serde_json::Value,
) -> ApiResult<outbox::Model> {
    let last = outbox::Entity::find()
        .filter(outbox::Column::OriginTenantId.eq(origin))
        .order_by_desc(outbox::Column::Seq)
        .one(txn)
        .await?
        .map_or(0, |r| r.seq);
    Ok(outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        origin_tenant_id: Set(origin),
        seq: Set(last + 1),
        kind: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
    }
    .insert(txn)
    .await?)
}

/// Rejects a submitted filing with a reason.
///
/// # Errors
/// 422 without a reason; 409 when not submitted; 404, 403.
pub async fn reject(ctx: &Ctx<'_>, id: Uuid, reason: &str) -> ApiResult<enterprise::Model> {
    let mut errors = Vec::new();
    let reason = text("reason", reason, 500, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (e, _) = load(ctx, id, "approve").await?;
    let txn = ctx.db.begin().await?;
    transition(&txn, &e, &["submitted"], "rejected", Some(reason.clone())).await?;
    let detail = serde_json::json!({"code": e.code, "reason": reason});
    audit::record(&txn, ctx.entry("enterprise.reject", "enterprise", e.id.to_string(), detail)).await?;
    txn.commit().await?;
    get(ctx, id).await
}

/// The approved versions, oldest first, each with the fields changed from the one before.
///
/// # Errors
/// 404, 403.
pub async fn versions(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<Vec<VersionResponse>> {
    let (e, _) = load(ctx, id, "read").await?;
    let rows = version::Entity::find()
        .filter(version::Column::EnterpriseId.eq(e.id))
        .order_by_asc(version::Column::Version)
        .all(ctx.db)
        .await?;
    let mut out: Vec<VersionResponse> = Vec::new();
    for r in rows {
        let data: serde_json::Value = serde_json::from_str(&r.data).unwrap_or_default();
        let changed_fields = match out.last() {
            Some(prev) => data
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, v)| {
                            !matches!(k.as_str(), "status" | "version" | "updated_at" | "reason")
                                && prev.data.get(k.as_str()) != Some(v)
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        out.push(VersionResponse {
            version: r.version,
            approved_at: r.approved_at,
            approved_by: r.approved_by,
            data,
            changed_fields,
        });
    }
    Ok(out)
}
