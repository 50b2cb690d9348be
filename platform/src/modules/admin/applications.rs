//! "An agency applies, the parent approves" (R-SHAPE-1): an agency without an account asks to
//! join below the tenant of the region above it; that tenant's system administrator approves
//! (the tenant is created with its first administrator's invitation, as when the parent
//! onboards it directly) or rejects with a reason.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use suyuan_tenancy::entity::tenant;
use suyuan_tenancy::{DivisionCode, TenantLevel};
use uuid::Uuid;

use super::dto::{CreateTenantRequest, TenantApplicationRequest};
use super::service::{Ctx, check_new_tenant, insert_tenant};
use crate::audit::{self, Actor, ClientInfo};
use crate::error::{ApiError, ApiResult, FieldError};

/// The stored application.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// The `tenant_applications` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenant_applications")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The tenant that decides (the one directly above the code).
        pub parent_id: Uuid,
        /// Division code applied for.
        pub code: String,
        /// Agency name.
        pub name: String,
        /// Contact person.
        pub contact_name: String,
        /// Contact phone.
        pub contact_phone: String,
        /// Contact e-mail (the invitation goes there).
        pub contact_email: String,
        /// The first administrator's login name.
        pub admin_username: String,
        /// The first administrator's name.
        pub admin_display_name: String,
        /// `pending`, `approved` or `rejected`.
        pub status: String,
        /// Why it was rejected.
        pub reason: Option<String>,
        /// The tenant created on approval.
        pub tenant_id: Option<Uuid>,
        /// Submitted.
        pub created_at: DateTimeUtc,
        /// Decided.
        pub decided_at: Option<DateTimeUtc>,
        /// Who decided.
        pub decided_by: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity as application;

fn required(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(FieldError::new(field, "required", "不能为空"));
    } else if v.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("不能超过 {max} 个字符")));
    }
    v.to_owned()
}

/// The tenant that decides an application for `code`: the nearest existing tenant above it
/// whose code may hold it directly.
async fn deciding_tenant(db: &DatabaseConnection, code: &DivisionCode) -> ApiResult<Option<tenant::Model>> {
    let mut candidates = Vec::new();
    if code.level() == TenantLevel::County
        && let Some(city) = code.city()
    {
        candidates.push(city.to_string());
    }
    if let Some(p) = code.province().filter(|p| p != code) {
        candidates.push(p.to_string());
    }
    if code.level() == TenantLevel::Provincial {
        candidates.push(suyuan_tenancy::division::NATIONAL_CODE.to_owned());
    }
    for c in candidates {
        if let Some(t) = tenant::Entity::find().filter(tenant::Column::Code.eq(c)).one(db).await?
            && DivisionCode::parse_stored(&t.code).is_ok_and(|pc| pc.check_child(code).is_ok())
        {
            return Ok(Some(t).filter(|t| t.status == "active"));
        }
    }
    Ok(None)
}

/// The reason other waiting applications for a code get when one is approved.
const OTHER_APPROVED: &str = "该单位已通过另一份申请入驻平台";

/// How many applications for one division code may wait at once.
pub const MAX_PENDING_PER_CODE: usize = 10;

/// Records an application (no account needed). Every bad field is listed; nothing is written
/// then.
///
/// # Errors
/// 422 for bad fields or when no tenant above the code has joined yet; 409 when the code is a
/// tenant already, the same applicant waits already, or too many applications wait for it.
pub async fn submit(
    db: &DatabaseConnection,
    req: &TenantApplicationRequest,
    client: &ClientInfo,
) -> ApiResult<(application::Model, tenant::Model)> {
    let mut errors = Vec::new();
    let code = DivisionCode::parse(req.code.trim())
        .map_err(|e| errors.push(FieldError::new("code", e.rule(), e.to_string())))
        .ok();
    let name = required("name", &req.name, 100, &mut errors);
    let contact_name = required("contact_name", &req.contact_name, 100, &mut errors);
    let contact_phone = required("contact_phone", &req.contact_phone, 32, &mut errors);
    crate::validate::phone("contact_phone", &contact_phone, &mut errors);
    let contact_email = required("contact_email", &req.contact_email, 255, &mut errors);
    crate::validate::email("contact_email", &contact_email, &mut errors);
    let parent = match &code {
        Some(c) if c.level() == TenantLevel::National => {
            errors.push(FieldError::new("code", "nesting", "全国平台不能申请入驻"));
            None
        }
        Some(c) => {
            let p = deciding_tenant(db, c).await?;
            if p.is_none() {
                errors.push(FieldError::new("code", "no_parent", "上级单位尚未入驻平台，请先联系上级单位"));
            }
            p
        }
        None => None,
    };
    // The tenant fields follow the same rules as when the parent onboards directly.
    let as_tenant = CreateTenantRequest {
        code: req.code.clone(),
        name: req.name.clone(),
        admin_username: req.admin_username.clone(),
        admin_display_name: req.admin_display_name.clone(),
        admin_email: Some(contact_email.clone()),
    };
    if let Some(p) = &parent
        && let Err(e) = check_new_tenant(p, &as_tenant)
    {
        for f in e.field_errors() {
            if !errors.iter().any(|x| x.field == f.field) {
                errors.push(f.clone());
            }
        }
    }
    let (Some(code), Some(parent), true) = (code, parent, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let admin_username = req.admin_username.trim().to_lowercase();
    let txn = db.begin().await?;
    if tenant::Entity::find().filter(tenant::Column::Code.eq(code.as_str())).count(&txn).await? > 0 {
        return Err(ApiError::conflict(format!("单位代码 {code} 已入驻平台")));
    }
    // Anyone may apply for a code: one pending application must not block the real agency's,
    // so several may wait side by side and the tenant above picks one. Only the same
    // applicant's second application (same user name or e-mail) is refused, and a code takes at
    // most MAX_PENDING_PER_CODE waiting applications. Whether the user name is taken is not
    // told here (that would let anyone list accounts); the approval checks it.
    let pending: Vec<application::Model> = application::Entity::find()
        .filter(application::Column::Code.eq(code.as_str()))
        .filter(application::Column::Status.eq("pending"))
        .all(&txn)
        .await?;
    if pending.iter().any(|a| a.admin_username == admin_username || a.contact_email == contact_email) {
        return Err(ApiError::conflict(format!("单位代码 {code} 已有您的待审核申请")));
    }
    if pending.len() >= MAX_PENDING_PER_CODE {
        return Err(ApiError::conflict(format!("单位代码 {code} 的待审核申请过多，请直接联系上级单位")));
    }
    let row = application::ActiveModel {
        id: Set(Uuid::now_v7()),
        parent_id: Set(parent.id),
        code: Set(code.to_string()),
        name: Set(name),
        contact_name: Set(contact_name.clone()),
        contact_phone: Set(contact_phone),
        contact_email: Set(contact_email),
        admin_username: Set(admin_username),
        admin_display_name: Set(req.admin_display_name.trim().to_owned()),
        status: Set("pending".to_owned()),
        reason: Set(None),
        tenant_id: Set(None),
        created_at: Set(Utc::now()),
        decided_at: Set(None),
        decided_by: Set(None),
    }
    .insert(&txn)
    .await?;
    // Recorded in the deciding tenant's chain; the applicant has no account yet.
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: parent.id,
            actor: Actor { user_id: None, name: contact_name.chars().take(100).collect() },
            action: "tenant_application.submit",
            object_type: "tenant_application",
            object_id: row.id.to_string(),
            success: true,
            client,
            detail: serde_json::json!({"code": row.code, "name": row.name}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok((row, parent))
}

/// Applications addressed to the caller's tenant, newest first (`status` filters).
///
/// # Errors
/// 403 without `tenant:create`.
pub async fn list(ctx: &Ctx<'_>, status: Option<&str>) -> ApiResult<Vec<application::Model>> {
    let scope = ctx.own_scope("tenant", "create").await?;
    let mut q = application::Entity::find()
        .filter(scope.condition(application::Column::ParentId))
        .order_by_desc(application::Column::CreatedAt);
    if let Some(s) = status.filter(|s| !s.is_empty()) {
        q = q.filter(application::Column::Status.eq(s));
    }
    Ok(q.all(ctx.db).await?)
}

async fn pending_for(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<application::Model> {
    let scope = ctx.own_scope("tenant", "create").await?;
    let app =
        application::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("申请不存在"))?;
    if app.parent_id != scope.tenant_id() {
        let target = tenant::Entity::find_by_id(app.parent_id).one(ctx.db).await?;
        let refused = ApiError::forbidden("该申请不由本单位审核");
        return Err(match target {
            Some(t) => ctx.deny(&t, "tenant_application", "decide", refused).await?,
            None => refused,
        });
    }
    if app.status != "pending" {
        return Err(ApiError::conflict("该申请已处理"));
    }
    Ok(app)
}

/// Records a decision, only while the application is still pending (a concurrent decision
/// makes this one 409, and its transaction rolls back).
async fn decide(
    txn: &sea_orm::DatabaseTransaction,
    app: &application::Model,
    status: &str,
    reason: Option<String>,
    tenant_id: Option<Uuid>,
    by: &str,
) -> ApiResult<application::Model> {
    use sea_orm::sea_query::Expr;
    let now = Utc::now();
    let done = application::Entity::update_many()
        .col_expr(application::Column::Status, Expr::value(status))
        .col_expr(application::Column::Reason, Expr::value(reason.clone()))
        .col_expr(application::Column::TenantId, Expr::value(tenant_id))
        .col_expr(application::Column::DecidedAt, Expr::value(Some(now)))
        .col_expr(application::Column::DecidedBy, Expr::value(Some(by.to_owned())))
        .filter(application::Column::Id.eq(app.id))
        .filter(application::Column::Status.eq("pending"))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::conflict("该申请已处理"));
    }
    Ok(application::Model {
        status: status.to_owned(),
        reason,
        tenant_id,
        decided_at: Some(now),
        decided_by: Some(by.to_owned()),
        ..app.clone()
    })
}

/// Approves: creates the tenant and its first administrator's invitation, in one
/// transaction with the decision.
///
/// # Errors
/// 404, 403 (not addressed to the caller's tenant), 409 (decided already, code or user name
/// taken meanwhile).
pub async fn approve(
    ctx: &Ctx<'_>,
    id: Uuid,
) -> ApiResult<(application::Model, tenant::Model, String, chrono::DateTime<Utc>)> {
    let app = pending_for(ctx, id).await?;
    let parent = ctx.who.tenant.clone();
    let req = CreateTenantRequest {
        code: app.code.clone(),
        name: app.name.clone(),
        admin_username: app.admin_username.clone(),
        admin_display_name: app.admin_display_name.clone(),
        admin_email: Some(app.contact_email.clone()),
    };
    let checked = check_new_tenant(&parent, &req)?;
    let txn = ctx.db.begin().await?;
    // The decision first: it takes the row's write lock, so a concurrent decision waits and
    // then finds it decided.
    let decided_placeholder = decide(&txn, &app, "approved", None, None, &ctx.who.actor().name).await?;
    let (mut t, token, expires_at) = insert_tenant(ctx, &txn, &parent, &checked).await?;
    let mut am = t.clone().into_active_model();
    am.contact_name = Set(Some(app.contact_name.clone()));
    am.contact_phone = Set(Some(app.contact_phone.clone()));
    t = am.update(&txn).await?;
    application::Entity::update_many()
        .col_expr(application::Column::TenantId, sea_orm::sea_query::Expr::value(Some(t.id)))
        .filter(application::Column::Id.eq(app.id))
        .exec(&txn)
        .await?;
    // Other applications for the same code are answered: the agency has joined.
    let others = application::Entity::update_many()
        .col_expr(application::Column::Status, sea_orm::sea_query::Expr::value("rejected"))
        .col_expr(application::Column::Reason, sea_orm::sea_query::Expr::value(Some(OTHER_APPROVED.to_owned())))
        .col_expr(application::Column::DecidedAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .col_expr(application::Column::DecidedBy, sea_orm::sea_query::Expr::value(Some(ctx.who.actor().name)))
        .filter(application::Column::Code.eq(app.code.clone()))
        .filter(application::Column::Status.eq("pending"))
        .filter(application::Column::Id.ne(app.id))
        .exec(&txn)
        .await?
        .rows_affected;
    let decided = application::Model { tenant_id: Some(t.id), ..decided_placeholder };
    audit::record(
        &txn,
        ctx.entry(
            "tenant_application.approve",
            "tenant_application",
            decided.id.to_string(),
            serde_json::json!({"code": decided.code, "other_applications_rejected": others}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok((decided, t, token, expires_at))
}

/// Rejects with a reason the applicant is told.
///
/// # Errors
/// 422 without a reason; 404, 403, 409 as for [`approve`].
pub async fn reject(ctx: &Ctx<'_>, id: Uuid, reason: &str) -> ApiResult<application::Model> {
    let mut errors = Vec::new();
    let reason = required("reason", reason, 500, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let app = pending_for(ctx, id).await?;
    let txn = ctx.db.begin().await?;
    let app = decide(&txn, &app, "rejected", Some(reason.clone()), None, &ctx.who.actor().name).await?;
    audit::record(
        &txn,
        ctx.entry(
            "tenant_application.reject",
            "tenant_application",
            app.id.to_string(),
            serde_json::json!({"code": app.code, "reason": reason}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(app)
}
