//! HTTP in and out for the administration routes.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, put, web};
use uuid::Uuid;

use super::dto::{ApiKeyPage, PolicyPage, RoleGrantPage, RolePage, TenantPage, UserPage};
use super::dto::{
    ApiKeyResponse, AuditPage, AuditQuery, AuditRecordResponse, CreateApiKeyRequest, CreateApiKeyResponse,
    CreatePolicyRequest, CreateRoleRequest, CreateTenantRequest, CreateTenantResponse, CreateUserRequest,
    CreateUserResponse, Invitation, PolicyRuleResponse, RoleGrantResponse, RoleResponse, SetRoleGrantRequest,
    SetRolesRequest, TenantProfileRequest, TenantResponse, UserResponse,
};
use super::service::{self, Ctx, UserCommand};
use crate::audit::{ClientInfo, VerifyReport};
use crate::error::{ApiError, ApiResult, BodyErrors, ConflictError, GuardErrors, NotFoundError, ParamErrors};
use crate::modules::federation::anchors;
use crate::modules::identity::CurrentUser;
use crate::modules::identity::entity::tenant_sso;
use crate::modules::identity::sso::{self, SsoConfigRequest, SsoConfigResponse};
use crate::paging::PageQuery;
use crate::state::AppState;
use sea_orm::EntityTrait;

/// An authenticated caller with what every administration command needs: the state, who it
/// is, and where the request came from.
pub struct Caller {
    state: web::Data<AppState>,
    who: CurrentUser,
    client: ClientInfo,
    base_url: String,
}

impl Caller {
    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            db: &self.state.db,
            authz: &self.state.authz,
            who: &self.who.0,
            client: &self.client,
            sessions: &self.state.sessions,
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = CurrentUser::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let who = who.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
            let base_url = sso::base_url(&state.settings, &req);
            Ok(Self { client: ClientInfo::from_request(&req), state, who, base_url })
        })
    }
}

/// The caller's tenant and every tenant below it (tree order; `path` gives the nesting).
#[utoipa::path(tag = "单位 tenants", operation_id = "listTenants", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "单位列表 / tenants", body = TenantPage), GuardErrors, ParamErrors))]
#[get("/api/v1/tenants")]
pub async fn list_tenants(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<TenantPage>> {
    let paging = q.check()?;
    let (rows, total) = service::list_tenants_page(&caller.ctx(), paging).await?;
    Ok(web::Json(TenantPage::new(rows.into_iter().map(Into::into).collect(), paging, total)))
}

/// Onboard an agency directly below the caller's tenant, with its first administrator
/// (roles tenant_admin, system_admin, security_admin), who gets a one-time invitation link
/// (valid 7 days) to set a first password.
#[utoipa::path(tag = "单位 tenants", operation_id = "createTenant", security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateTenantRequest,
    responses((status = 201, description = "已创建 / created", body = CreateTenantResponse), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/tenants")]
pub async fn create_tenant(caller: Caller, body: web::Json<CreateTenantRequest>) -> ApiResult<HttpResponse> {
    let (t, token, expires_at) = service::create_tenant(&caller.ctx(), &body).await?;
    let username = body.admin_username.trim().to_lowercase();
    let invitation_url = format!("{}/invite/{token}", caller.base_url);
    let email_sent_to = send_invitation(&caller.state, &t, &username, &invitation_url, expires_at).await;
    let admin = Invitation { username, invitation_url, token, expires_at, email_sent_to };
    Ok(crate::secret::no_store(StatusCode::CREATED).json(CreateTenantResponse { tenant: t.into(), admin }))
}

/// One tenant of the caller's subtree.
#[utoipa::path(tag = "单位 tenants", operation_id = "getTenant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "单位 id")),
    responses((status = 200, description = "单位 / tenant", body = TenantResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/tenants/{id}")]
pub async fn get_tenant(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(service::get_tenant(&caller.ctx(), *id).await?.into()))
}

/// Suspend a tenant below the caller's: its users and keys are refused at once.
#[utoipa::path(tag = "单位 tenants", operation_id = "suspendTenant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "单位 id")),
    responses((status = 200, description = "已暂停 / suspended", body = TenantResponse), GuardErrors, NotFoundError, ParamErrors))]
#[post("/api/v1/tenants/{id}/suspend")]
pub async fn suspend_tenant(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(service::set_tenant_status(&caller.ctx(), *id, false).await?.into()))
}

/// Re-activate a suspended tenant below the caller's.
#[utoipa::path(tag = "单位 tenants", operation_id = "activateTenant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "单位 id")),
    responses((status = 200, description = "已恢复 / active again", body = TenantResponse), GuardErrors, NotFoundError, ParamErrors))]
#[post("/api/v1/tenants/{id}/activate")]
pub async fn activate_tenant(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(service::set_tenant_status(&caller.ctx(), *id, true).await?.into()))
}

/// Users of the caller's tenant.
#[utoipa::path(tag = "用户 users", operation_id = "listUsers", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "用户列表（按用户名）/ users, by user name", body = UserPage), GuardErrors, ParamErrors))]
#[get("/api/v1/users")]
pub async fn list_users(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<UserPage>> {
    let paging = q.check()?;
    let (list, total) = service::list_users_page(&caller.ctx(), paging).await?;
    Ok(web::Json(UserPage::new(list.into_iter().map(|(u, r)| UserResponse::new(u, r)).collect(), paging, total)))
}

/// Create a user in the caller's tenant; the one-time password is shown once and must be
/// changed at first login. Roles are assigned separately by a security administrator.
#[utoipa::path(tag = "用户 users", operation_id = "createUser", security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateUserRequest,
    responses((status = 201, description = "已创建 / created", body = CreateUserResponse), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/users")]
pub async fn create_user(caller: Caller, body: web::Json<CreateUserRequest>) -> ApiResult<HttpResponse> {
    let (u, initial_password) = service::create_user(&caller.ctx(), &body).await?;
    Ok(crate::secret::no_store(StatusCode::CREATED)
        .json(CreateUserResponse { user: UserResponse::new(u, Vec::new()), initial_password }))
}

/// One user.
#[utoipa::path(tag = "用户 users", operation_id = "getUser", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "用户 id")),
    responses((status = 200, description = "用户 / user", body = UserResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/users/{id}")]
pub async fn get_user(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<UserResponse>> {
    let (u, r) = service::get_user(&caller.ctx(), *id).await?;
    Ok(web::Json(UserResponse::new(u, r)))
}

async fn command(caller: &Caller, id: Uuid, cmd: UserCommand) -> ApiResult<(UserResponse, Option<String>)> {
    let (u, initial) = service::user_command(&caller.ctx(), id, cmd).await?;
    let roles = crate::modules::identity::service::roles_of(&caller.state.db, u.id, u.tenant_id).await?;
    Ok((UserResponse::new(u, roles), initial))
}

/// Disable an account: it can no longer log in and its sessions end at once.
#[utoipa::path(tag = "用户 users", operation_id = "disableUser", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "用户 id")),
    responses((status = 200, description = "已停用 / disabled", body = UserResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/users/{id}/disable")]
pub async fn disable_user(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<UserResponse>> {
    Ok(web::Json(command(&caller, *id, UserCommand::Disable).await?.0))
}

/// Enable a disabled account.
#[utoipa::path(tag = "用户 users", operation_id = "enableUser", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "用户 id")),
    responses((status = 200, description = "已启用 / enabled", body = UserResponse), GuardErrors, NotFoundError, ParamErrors))]
#[post("/api/v1/users/{id}/enable")]
pub async fn enable_user(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<UserResponse>> {
    Ok(web::Json(command(&caller, *id, UserCommand::Enable).await?.0))
}

/// Reset the password to a one-time one (shown once; must be changed at next login); ends the
/// user's sessions and lifts a lockout.
#[utoipa::path(tag = "用户 users", operation_id = "resetUserPassword", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "用户 id")),
    responses((status = 200, description = "已重置 / reset", body = CreateUserResponse), GuardErrors, NotFoundError, ParamErrors))]
#[post("/api/v1/users/{id}/reset-password")]
pub async fn reset_user_password(caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (user, initial) = command(&caller, *id, UserCommand::ResetPassword).await?;
    Ok(crate::secret::no_store(StatusCode::OK)
        .json(CreateUserResponse { user, initial_password: initial.unwrap_or_default() }))
}

/// End every session of a user.
#[utoipa::path(tag = "用户 users", operation_id = "endUserSessions", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "用户 id")),
    responses((status = 200, description = "会话已结束 / sessions ended", body = UserResponse), GuardErrors, NotFoundError, ParamErrors))]
#[post("/api/v1/users/{id}/end-sessions")]
pub async fn end_user_sessions(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<UserResponse>> {
    Ok(web::Json(command(&caller, *id, UserCommand::EndSessions).await?.0))
}

/// Replace a user's roles (security administrator).
#[utoipa::path(tag = "用户 users", operation_id = "setUserRoles", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "用户 id")),
    request_body = SetRolesRequest,
    responses((status = 200, description = "角色已更新 / roles set", body = UserResponse), BodyErrors, GuardErrors, NotFoundError))]
#[put("/api/v1/users/{id}/roles")]
pub async fn set_user_roles(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<SetRolesRequest>,
) -> ApiResult<web::Json<UserResponse>> {
    let (u, roles) = service::set_roles(&caller.ctx(), *id, &body.roles).await?;
    Ok(web::Json(UserResponse::new(u, roles)))
}

/// The roles that can be assigned in the caller's tenant: the built-in ones and the tenant's
/// custom roles.
#[utoipa::path(tag = "用户 users", operation_id = "listRoles", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "角色（内置在前）/ roles, built-in first", body = RolePage), GuardErrors, ParamErrors))]
#[get("/api/v1/roles")]
pub async fn list_roles(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<RolePage>> {
    let paging = q.check()?;
    let custom = service::list_custom_roles(&caller.ctx()).await?;
    let builtin = suyuan_policies::BUILTIN_ROLES.iter().map(|(name, label)| RoleResponse {
        id: None,
        name: (*name).to_owned(),
        label: (*label).to_owned(),
        builtin: true,
        inherits: Vec::new(),
    });
    let custom = custom.into_iter().map(|r| RoleResponse {
        id: Some(r.id),
        inherits: r.parents(),
        name: r.name,
        label: r.label,
        builtin: false,
    });
    let (rows, total) = paging.slice(builtin.chain(custom).collect());
    Ok(web::Json(RolePage::new(rows, paging, total)))
}

/// Create a custom role of the caller's tenant, under built-in business roles (security
/// administrator).
#[utoipa::path(tag = "用户 users", operation_id = "createRole", security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateRoleRequest,
    responses((status = 201, description = "已创建 / created", body = RoleResponse), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/roles")]
pub async fn create_role(caller: Caller, body: web::Json<CreateRoleRequest>) -> ApiResult<HttpResponse> {
    let r = service::create_custom_role(&caller.ctx(), &body).await?;
    Ok(HttpResponse::Created().json(RoleResponse {
        id: Some(r.id),
        inherits: r.parents(),
        name: r.name,
        label: r.label,
        builtin: false,
    }))
}

/// Delete a custom role that nobody holds.
#[utoipa::path(tag = "用户 users", operation_id = "deleteRole", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "角色 id")),
    responses((status = 204, description = "已删除 / deleted"), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[delete("/api/v1/roles/{id}")]
pub async fn delete_role(caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete_custom_role(&caller.ctx(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit log of the caller's tenant, newest first (auditor).
#[utoipa::path(tag = "审计 audit", operation_id = "listAudit", security(("session_cookie" = []), ("api_key" = [])),
    params(AuditQuery),
    responses((status = 200, description = "审计记录 / audit records", body = AuditPage), GuardErrors, ParamErrors))]
#[get("/api/v1/audit")]
pub async fn list_audit(caller: Caller, q: web::Query<AuditQuery>) -> ApiResult<web::Json<AuditPage>> {
    let (items, page, page_size, total) = service::list_audit(&caller.ctx(), &q).await?;
    Ok(web::Json(AuditPage {
        items: items.into_iter().map(AuditRecordResponse::from).collect(),
        page,
        page_size,
        total,
    }))
}

/// Check the hash chain of the caller's tenant's audit log; reports the first broken link.
#[utoipa::path(tag = "审计 audit", operation_id = "verifyAudit", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "校验结果 / verification report", body = VerifyReport), GuardErrors))]
#[get("/api/v1/audit/verify")]
pub async fn verify_audit(caller: Caller) -> ApiResult<web::Json<VerifyReport>> {
    Ok(web::Json(service::verify_audit(&caller.ctx()).await?))
}

/// Publish the caller's tenant's audit chain head to the parent tenant now (auditor); the
/// parent keeps it as an anchor that `verify` compares the chain with. The request is recorded
/// first, so the head published includes it. Heads are also published every
/// `audit_anchor_secs`.
#[utoipa::path(tag = "审计 audit", operation_id = "publishAuditAnchor", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "已发布 / published", body = anchors::PublishedAnchor), GuardErrors))]
#[post("/api/v1/audit/anchors")]
pub async fn publish_audit_anchor(caller: Caller) -> ApiResult<web::Json<anchors::PublishedAnchor>> {
    let published = anchors::publish_own(&caller.ctx()).await?;
    if published.published_seq.is_some() {
        crate::modules::federation::deliver::wake_all(&caller.state);
    }
    Ok(web::Json(published))
}

/// The audit chain heads the caller's tenant holds for the tenants below it (auditor), newest
/// first: a child in another deployment checks its chain against them
/// (`suyuan audit verify --anchors FILE`).
#[utoipa::path(tag = "审计 audit", operation_id = "listAuditAnchors", security(("session_cookie" = []), ("api_key" = [])),
    params(anchors::HeldAnchorQuery),
    responses((status = 200, description = "下级单位的审计链锚点 / anchors held", body = Vec<anchors::HeldAnchorResponse>), GuardErrors, ParamErrors))]
#[get("/api/v1/audit/anchors")]
pub async fn list_audit_anchors(
    caller: Caller,
    q: web::Query<anchors::HeldAnchorQuery>,
) -> ApiResult<web::Json<Vec<anchors::HeldAnchorResponse>>> {
    Ok(web::Json(anchors::list_held(&caller.ctx(), &q).await?))
}

/// Export the audit records matching the filters as CSV (UTF-8 with BOM).
#[utoipa::path(tag = "审计 audit", operation_id = "exportAudit", security(("session_cookie" = []), ("api_key" = [])),
    params(AuditQuery),
    responses((status = 200, description = "CSV 文件 / CSV file", body = inline(crate::openapi::Binary), content_type = "text/csv"), GuardErrors, ParamErrors))]
#[get("/api/v1/audit/export")]
pub async fn export_audit(caller: Caller, q: web::Query<AuditQuery>) -> ApiResult<HttpResponse> {
    let csv = service::export_audit(&caller.ctx(), &q).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"audit.csv\""))
        .body(csv))
}

/// API keys of the caller's tenant (security administrator).
#[utoipa::path(tag = "API 密钥 api-keys", operation_id = "listApiKeys", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "密钥列表（不含密钥本身，新建的在前）/ keys, without secrets, newest first", body = ApiKeyPage), GuardErrors, ParamErrors))]
#[get("/api/v1/api-keys")]
pub async fn list_api_keys(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<ApiKeyPage>> {
    let paging = q.check()?;
    let (keys, total) = service::list_api_keys_page(&caller.ctx(), paging).await?;
    Ok(web::Json(ApiKeyPage::new(keys.into_iter().map(Into::into).collect(), paging, total)))
}

/// Create an API key for a connected system; the secret is in this answer only.
#[utoipa::path(tag = "API 密钥 api-keys", operation_id = "createApiKey", security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateApiKeyRequest,
    responses((status = 201, description = "已创建，secret 只显示这一次 / created; the secret is shown once", body = CreateApiKeyResponse), BodyErrors, GuardErrors))]
#[post("/api/v1/api-keys")]
pub async fn create_api_key(caller: Caller, body: web::Json<CreateApiKeyRequest>) -> ApiResult<HttpResponse> {
    let (key, secret) = service::create_api_key(&caller.ctx(), &body).await?;
    Ok(crate::secret::no_store(StatusCode::CREATED).json(CreateApiKeyResponse { key: key.into(), secret }))
}

/// Revoke an API key: requests with it are refused at once.
#[utoipa::path(tag = "API 密钥 api-keys", operation_id = "revokeApiKey", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "密钥 id")),
    responses((status = 200, description = "已撤销 / revoked", body = ApiKeyResponse), GuardErrors, NotFoundError, ParamErrors))]
#[post("/api/v1/api-keys/{id}/revoke")]
pub async fn revoke_api_key(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<ApiKeyResponse>> {
    Ok(web::Json(service::revoke_api_key(&caller.ctx(), *id).await?.into()))
}

/// The caller's tenant's single sign-on settings (security administrator).
#[utoipa::path(tag = "身份 identity", operation_id = "getSso", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "单点登录设置（不含密钥）/ SSO settings without the secret", body = SsoConfigResponse), GuardErrors, NotFoundError))]
#[get("/api/v1/sso")]
pub async fn get_sso(caller: Caller) -> ApiResult<web::Json<SsoConfigResponse>> {
    caller.ctx().require_own("sso", "read").await?;
    let tenant = &caller.who.0.tenant;
    let row = tenant_sso::Entity::find_by_id(tenant.id)
        .one(&caller.state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("尚未设置单点登录"))?;
    Ok(web::Json(sso::to_response(&row, &tenant.code, &caller.base_url)))
}

/// Set the caller's tenant's identity provider (OpenID Connect).
#[utoipa::path(tag = "身份 identity", operation_id = "putSso", security(("session_cookie" = []), ("api_key" = [])),
    request_body = SsoConfigRequest,
    responses((status = 200, description = "已保存 / saved", body = SsoConfigResponse), BodyErrors, GuardErrors))]
#[put("/api/v1/sso")]
pub async fn put_sso(caller: Caller, body: web::Json<SsoConfigRequest>) -> ApiResult<web::Json<SsoConfigResponse>> {
    let row = save_sso_settings(&caller.ctx(), &caller.state.sso, &body).await?;
    Ok(web::Json(sso::to_response(&row, &caller.who.0.tenant.code, &caller.base_url)))
}

/// Saves the caller's tenant's SSO settings (guard, row, audit entry); shared with the page.
pub(crate) async fn save_sso_settings(
    c: &Ctx<'_>,
    providers: &sso::Providers,
    body: &SsoConfigRequest,
) -> ApiResult<tenant_sso::Model> {
    c.require_own("sso", "update").await?;
    let tenant = &c.who.tenant;
    let row = sso::save_config(c.db, providers, tenant.id, body).await?;
    let detail = serde_json::json!({"issuer": row.issuer, "client_id": row.client_id, "enabled": row.enabled, "jit": row.jit_provisioning});
    crate::audit::record(c.db, c.entry("sso.configure", "tenant", tenant.id.to_string(), detail)).await?;
    Ok(row)
}

fn policy_view(r: crate::authz::entity::Model, builtin: bool) -> PolicyRuleResponse {
    let is_p = r.ptype == "p";
    PolicyRuleResponse {
        id: r.id,
        role: r.v0,
        scope: is_p.then(|| r.v1.clone()),
        resource: is_p.then(|| r.v2.clone()),
        action: is_p.then_some(r.v3),
        inherits: (!is_p).then_some(r.v1),
        ptype: r.ptype,
        builtin,
    }
}

/// The shared authorization policy (national security administrator).
#[utoipa::path(tag = "用户 users", operation_id = "listPolicies", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "权限策略 / policy rows", body = PolicyPage), GuardErrors, ParamErrors))]
#[get("/api/v1/policies")]
pub async fn list_policies(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<PolicyPage>> {
    let paging = q.check()?;
    let (rows, total) = paging.slice(service::list_policies(&caller.ctx()).await?);
    Ok(web::Json(PolicyPage::new(rows.into_iter().map(|(r, b)| policy_view(r, b)).collect(), paging, total)))
}

/// Add a permission to the shared policy; every replica applies it within
/// `policy_reload_secs`.
#[utoipa::path(tag = "用户 users", operation_id = "createPolicy", security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreatePolicyRequest,
    responses((status = 201, description = "已添加 / added", body = PolicyRuleResponse), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/policies")]
pub async fn create_policy(caller: Caller, body: web::Json<CreatePolicyRequest>) -> ApiResult<HttpResponse> {
    let row = service::create_policy(&caller.ctx(), &body).await?;
    Ok(HttpResponse::Created().json(policy_view(row, false)))
}

/// Remove a permission that is not built in.
#[utoipa::path(tag = "用户 users", operation_id = "deletePolicy", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "权限 id")),
    responses((status = 204, description = "已删除 / removed"), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[delete("/api/v1/policies/{id}")]
pub async fn delete_policy(caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    service::delete_policy(&caller.ctx(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set the caller's own tenant's contact, optional modules and federation parent (its system
/// administrator).
#[utoipa::path(tag = "单位 tenants", operation_id = "setTenantProfile", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "单位 id")),
    request_body = TenantProfileRequest,
    responses((status = 200, description = "已保存 / saved", body = TenantResponse), BodyErrors, GuardErrors, NotFoundError))]
#[put("/api/v1/tenants/{id}/profile")]
pub async fn set_tenant_profile(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<TenantProfileRequest>,
) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(service::set_tenant_profile(&caller.ctx(), &caller.state.outbound, *id, &body).await?.into()))
}

/// People of higher-level agencies who hold roles in the caller's tenant (security
/// administrator).
#[utoipa::path(tag = "用户 users", operation_id = "listRoleGrants", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "外单位授权 / grants to people of higher-level agencies", body = RoleGrantPage), GuardErrors, ParamErrors))]
#[get("/api/v1/role-grants")]
pub async fn list_role_grants(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<RoleGrantPage>> {
    let paging = q.check()?;
    let (list, total) = paging.slice(service::list_role_grants(&caller.ctx()).await?);
    let rows = list.into_iter().map(|(u, home, roles)| RoleGrantResponse::new(u, &home, roles)).collect();
    Ok(web::Json(RoleGrantPage::new(rows, paging, total)))
}

/// Give a person of a higher-level agency roles in the caller's tenant (an empty list takes
/// them away); they reach it through the tenant switcher (security administrator).
#[utoipa::path(tag = "用户 users", operation_id = "setRoleGrant", security(("session_cookie" = []), ("api_key" = [])),
    params(("username" = String, Path, description = "上级单位人员的用户名")),
    request_body = SetRoleGrantRequest,
    responses((status = 200, description = "已保存 / saved", body = RoleGrantResponse), BodyErrors, GuardErrors, NotFoundError))]
#[put("/api/v1/role-grants/{username}")]
pub async fn set_role_grant(
    caller: Caller,
    username: web::Path<String>,
    body: web::Json<SetRoleGrantRequest>,
) -> ApiResult<web::Json<RoleGrantResponse>> {
    let (u, home, roles) = service::set_role_grant(&caller.ctx(), &username, &body.roles).await?;
    Ok(web::Json(RoleGrantResponse::new(u, &home, roles)))
}

/// E-mails a new tenant's first administrator the invitation (to the tenant's contact e-mail,
/// set from `admin_email`), when an SMTP server is configured. Returns where it went; a
/// failure is logged and the link is passed on by hand.
pub(crate) async fn send_invitation(
    state: &AppState,
    t: &suyuan_tenancy::entity::tenant::Model,
    username: &str,
    link: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let (Some(mailer), Some(to)) = (&state.mailer, &t.contact_email) else {
        return None;
    };
    let text = crate::mail::invitation_text(&t.name, username, link, &crate::web::when(&expires_at));
    match mailer.send(to, &format!("【重要产品追溯管理平台】{}管理员邀请", t.name), text).await {
        Ok(()) => {
            tracing::info!(tenant = %t.code, "invitation e-mailed");
            Some(to.clone())
        }
        Err(e) => {
            tracing::warn!(tenant = %t.code, error = %format!("{e:#}"), "the invitation could not be e-mailed");
            None
        }
    }
}

/// An agency applies to join the platform (no account needed): the tenant of the region above
/// it decides. The first administrator's invitation goes to the contact e-mail on approval.
#[utoipa::path(tag = "单位 tenants", operation_id = "applyForTenant",
    request_body = super::dto::TenantApplicationRequest,
    responses((status = 201, description = "已提交，等待上级单位审核 / submitted", body = super::dto::TenantApplicationResponse), BodyErrors, ConflictError, crate::error::RateLimited))]
#[post("/api/v1/tenant-applications")]
pub async fn apply_for_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<super::dto::TenantApplicationRequest>,
) -> ApiResult<HttpResponse> {
    state.limits.check_request(crate::limits::Class::Anonymous, &req, &state.trusted_proxies).await?;
    let (app, _) = super::applications::submit(&state.db, &body, &ClientInfo::from_request(&req)).await?;
    Ok(HttpResponse::Created().json(super::dto::TenantApplicationResponse::from(app)))
}

/// Applications addressed to the caller's tenant (system administrator).
#[utoipa::path(tag = "单位 tenants", operation_id = "listTenantApplications", security(("session_cookie" = []), ("api_key" = [])),
    params(super::dto::ApplicationsQuery),
    responses((status = 200, description = "入驻申请 / applications", body = super::dto::TenantApplicationPage), GuardErrors, ParamErrors))]
#[get("/api/v1/tenant-applications")]
pub async fn list_tenant_applications(
    caller: Caller,
    q: web::Query<super::dto::ApplicationsQuery>,
) -> ApiResult<web::Json<super::dto::TenantApplicationPage>> {
    let paging = crate::paging::Paging::check(q.page, q.page_size)?;
    let (list, total) = paging.slice(super::applications::list(&caller.ctx(), q.status.as_deref()).await?);
    Ok(web::Json(super::dto::TenantApplicationPage::new(list.into_iter().map(Into::into).collect(), paging, total)))
}

/// Approve an application: the tenant is created with its first administrator, whose
/// invitation is answered (and e-mailed to the contact when SMTP is configured).
#[utoipa::path(tag = "单位 tenants", operation_id = "approveTenantApplication", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "申请 id")),
    responses((status = 201, description = "已批准，单位已创建 / approved, tenant created", body = CreateTenantResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/tenant-applications/{id}/approve")]
pub async fn approve_tenant_application(caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (app, t, token, expires_at) = super::applications::approve(&caller.ctx(), *id).await?;
    let invitation_url = format!("{}/invite/{token}", caller.base_url);
    let email_sent_to = send_invitation(&caller.state, &t, &app.admin_username, &invitation_url, expires_at).await;
    let admin = Invitation { username: app.admin_username, invitation_url, token, expires_at, email_sent_to };
    Ok(crate::secret::no_store(StatusCode::CREATED).json(CreateTenantResponse { tenant: t.into(), admin }))
}

/// Reject an application with a reason (told to the applicant by e-mail when SMTP is
/// configured).
#[utoipa::path(tag = "单位 tenants", operation_id = "rejectTenantApplication", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "申请 id")),
    request_body = super::dto::RejectApplicationRequest,
    responses((status = 200, description = "已驳回 / rejected", body = super::dto::TenantApplicationResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/tenant-applications/{id}/reject")]
pub async fn reject_tenant_application(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<super::dto::RejectApplicationRequest>,
) -> ApiResult<web::Json<super::dto::TenantApplicationResponse>> {
    let app = super::applications::reject(&caller.ctx(), *id, &body.reason).await?;
    notify_rejection(&caller.state, &app).await;
    Ok(web::Json(app.into()))
}

/// Tells the applicant about a rejection, when SMTP is configured (a failure is logged).
pub(crate) async fn notify_rejection(state: &AppState, app: &super::applications::entity::Model) {
    let Some(mailer) = &state.mailer else { return };
    let text = format!(
        "您好：\n\n{}（{}）在重要产品追溯管理平台的入驻申请未获通过。\n原因：{}\n\n如有疑问请联系上级单位。\n",
        app.name,
        app.code,
        app.reason.clone().unwrap_or_default()
    );
    if let Err(e) = mailer.send(&app.contact_email, "【重要产品追溯管理平台】入驻申请未通过", text).await
    {
        tracing::warn!(code = %app.code, error = %format!("{e:#}"), "the rejection could not be e-mailed");
    }
}
