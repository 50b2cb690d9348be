//! HTTP in and out for the identity routes.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::SESSION_COOKIE;
use super::dto::{
    AcceptInvitationRequest, ApiKeyKind, ChangePasswordRequest, KeyMeResponse, KeyView, LoginRequest, Me, MeResponse,
    SwitchTenantRequest, TenantView,
};
use super::extract::{AnyCaller, SessionUser};
use super::service;
use crate::audit::ClientInfo;
use crate::error::{ApiResult, BodyErrors, Problem, RateLimited};
use crate::limits::Class;
use crate::state::AppState;
use sea_orm::EntityTrait as _;

pub(crate) fn session_cookie<'a>(req: &HttpRequest, value: String, max_age_secs: i64) -> Cookie<'a> {
    let secure = req.app_data::<web::Data<AppState>>().is_some_and(|s| super::sso::is_https(&s.settings, req));
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        // Lax, not Strict: the browser comes back from the SSO provider through a cross-site
        // redirect and must keep the session on the next navigation. Cross-site POSTs still
        // carry no cookie, and every write is JSON-only.
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

/// Sign in with user name and password. Sets the `suyuan_session` cookie (HttpOnly,
/// SameSite=Lax, Secure behind TLS).
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "登录成功 / signed in", body = MeResponse),
        (status = 401, description = "用户名或密码错误 / invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "密码正确但账号停用或单位暂停 / right password, account disabled or tenant suspended", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        (status = 503, description = "服务繁忙（密码校验排队已满），见 Retry-After / busy hashing passwords, see Retry-After", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let guard = service::LoginGuard { limits: &state.limits, metrics: &state.metrics };
    let (token, me) = service::login(
        &state.db,
        &state.sessions,
        &state.settings,
        guard,
        &body.username,
        &body.password,
        ClientInfo::from_request(&req),
    )
    .await?;
    let max_age = i64::try_from(state.settings.session_absolute_secs).unwrap_or(i64::MAX);
    Ok(HttpResponse::Ok().cookie(session_cookie(&req, token, max_age)).json(me))
}

/// End the current session.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "logout",
    security(("session_cookie" = [])),
    responses(
        (status = 204, description = "已退出 / signed out"),
        (status = 401, description = "未登录 / not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/logout")]
pub async fn logout(state: web::Data<AppState>, req: HttpRequest, user: SessionUser) -> ApiResult<HttpResponse> {
    service::logout(&state.db, &state.sessions, &user.0, &ClientInfo::from_request(&req)).await?;
    Ok(HttpResponse::NoContent().cookie(session_cookie(&req, String::new(), 0)).finish())
}

/// Who is calling. A session: the user, the tenant, the roles and whether the password must
/// be changed first (`kind: user`). An API key (`Authorization: Bearer sy_…`): the key's name,
/// its tenant and its role (`kind: api_key`), so an integrator can test a key.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "getMe",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "当前用户或 API 密钥（按 kind 区分）/ the signed-in user or the API key, told apart by kind", body = Me),
        (status = 401, description = "未登录、已超时，或密钥无效、已撤销、已过期 / not signed in, expired, or a bad, revoked or expired key", body = Problem, content_type = "application/problem+json"),
        RateLimited,
    )
)]
#[get("/api/v1/auth/me")]
pub async fn get_me(state: web::Data<AppState>, caller: AnyCaller) -> ApiResult<web::Json<Me>> {
    match caller {
        AnyCaller::Session(s) => Ok(web::Json(Me::User(s.to_me()))),
        AnyCaller::Key(k) => {
            use super::entity::api_key;
            let id = k.key_id.ok_or_else(|| crate::error::ApiError::unauthorized("API 密钥无效"))?;
            let key = api_key::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(|| crate::error::ApiError::unauthorized("API 密钥无效、已撤销或已过期"))?;
            let t = k.tenant.clone();
            Ok(web::Json(Me::ApiKey(KeyMeResponse {
                kind: ApiKeyKind::ApiKey,
                key: KeyView {
                    id: key.id,
                    name: key.name,
                    prefix: key.prefix,
                    created_at: key.created_at,
                    expires_at: key.expires_at,
                },
                tenant: TenantView { id: t.id, code: t.code, name: t.name, level: t.level },
                role: key.role,
            })))
        }
    }
}

/// Change the own password (required at the first login with an initial password). Other
/// sessions of the user end.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "changePassword",
    security(("session_cookie" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "密码已修改 / password changed"),
        (status = 401, description = "未登录 / not signed in", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/api/v1/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SessionUser,
    body: web::Json<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let client = ClientInfo::from_request(&req);
    service::change_password(&state.db, &state.sessions, &user.0, &body.current_password, &body.new_password, &client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Start single sign-on through the tenant's identity provider: answers 302 to the provider.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "ssoLogin",
    params(("code" = String, Path, description = "单位行政区划代码"), super::sso::SsoLoginQuery),
    responses(
        (status = 302, description = "转到身份提供方 / redirect to the identity provider"),
        (status = 404, description = "单位不存在或未启用单点登录 / no SSO for this tenant", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        (status = 503, description = "身份提供方不可用 / provider unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/auth/sso/{code}/login")]
pub async fn sso_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
    q: web::Query<super::sso::SsoLoginQuery>,
) -> ApiResult<HttpResponse> {
    state.limits.check_request(Class::Anonymous, &req, &state.trusted_proxies).await?;
    let base = super::sso::base_url(&state.settings, &req);
    let (url, sso_state) = super::sso::start(&state.db, &state.sso, &code, &base, q.return_to.as_deref(), None).await?;
    Ok(HttpResponse::Found().cookie(state_cookie(&req, sso_state)).insert_header(("Location", url)).finish())
}

/// Where the identity provider sends the browser back: checks state, code, ID token and nonce,
/// opens a session and answers 302 to the page the login started from.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "ssoCallback",
    params(super::sso::SsoCallbackQuery),
    responses(
        (status = 302, description = "已登录，转回原页面 / signed in, back to the page"),
        (status = 401, description = "state、nonce 或令牌无效 / wrong state, nonce or token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "账号未开通、已停用或单位暂停 / no account, disabled or suspended", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        (status = 503, description = "身份提供方不可用 / provider unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/auth/sso/callback")]
pub async fn sso_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<super::sso::SsoCallbackQuery>,
) -> ApiResult<HttpResponse> {
    state.limits.check_request(Class::Anonymous, &req, &state.trusted_proxies).await?;
    let base = super::sso::base_url(&state.settings, &req);
    let client = ClientInfo::from_request(&req);
    // The account signed in in this browser, if any: a link must be finished by it.
    let signed_in = match req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).filter(|t| !t.is_empty()) {
        Some(token) => {
            service::authenticate(&state.db, &state.sessions, &state.settings, &token).await.ok().map(|a| a.user.id)
        }
        None => None,
    };
    let bound = req.cookie(super::sso::STATE_COOKIE).map(|c| c.value().to_owned());
    let finished = super::sso::finish(
        &state.db,
        &state.sso,
        &state.sessions,
        &state.settings,
        &base,
        &q,
        &client,
        signed_in,
        bound.as_deref(),
    )
    .await?;
    match finished {
        super::sso::Finished::SignedIn { token, return_to } => {
            let max_age = i64::try_from(state.settings.session_absolute_secs).unwrap_or(i64::MAX);
            Ok(HttpResponse::Found()
                .cookie(session_cookie(&req, token, max_age))
                .insert_header(("Location", return_to))
                .finish())
        }
        super::sso::Finished::Linked { return_to } => {
            Ok(HttpResponse::Found().insert_header(("Location", return_to)).finish())
        }
    }
}

/// Accept an invitation: the invited administrator sets the first password with the one-time
/// token from the invitation link, then signs in.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "acceptInvitation",
    params(("token" = String, Path, description = "邀请链接中的一次性令牌")),
    request_body = AcceptInvitationRequest,
    responses(
        (status = 204, description = "密码已设置，请登录 / password set, sign in now"),
        (status = 404, description = "邀请无效、已使用或已过期 / invitation unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        BodyErrors,
    )
)]
#[post("/api/v1/auth/invitations/{token}")]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Json<AcceptInvitationRequest>,
) -> ApiResult<HttpResponse> {
    state.limits.check_request(Class::Anonymous, &req, &state.trusted_proxies).await?;
    service::accept_invitation(&state.db, &token, &body.new_password, &ClientInfo::from_request(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The tenants the signed-in user may act in: the home tenant and every tenant where the user
/// holds a role (the console's tenant switcher).
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "listMyTenants",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "可切换的单位 / tenants to act in", body = Vec<TenantView>),
        (status = 401, description = "未登录 / not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/auth/tenants")]
pub async fn list_my_tenants(state: web::Data<AppState>, user: SessionUser) -> ApiResult<web::Json<Vec<TenantView>>> {
    let list = service::tenants_of(&state.db, user.0.user.id).await?;
    Ok(web::Json(
        list.into_iter().map(|t| TenantView { id: t.id, code: t.code, name: t.name, level: t.level }).collect(),
    ))
}

/// Let the session act in another tenant where the user holds a role.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "switchTenant",
    security(("session_cookie" = [])),
    request_body = SwitchTenantRequest,
    responses(
        (status = 200, description = "已切换 / switched", body = MeResponse),
        (status = 401, description = "未登录 / not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "在该单位没有角色 / no role there", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "单位不存在 / no such tenant", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/api/v1/auth/tenant")]
pub async fn switch_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SessionUser,
    body: web::Json<SwitchTenantRequest>,
) -> ApiResult<web::Json<MeResponse>> {
    if user.0.user.must_change_password {
        return Err(crate::error::ApiError::forbidden_code("password_change_required", "请先修改初始密码"));
    }
    let me = service::switch_tenant(
        &state.db,
        &state.sessions,
        &state.settings,
        &user.0,
        body.tenant_id,
        &ClientInfo::from_request(&req),
    )
    .await?;
    Ok(web::Json(me))
}

/// Link the signed-in account to the tenant's single sign-on identity: answers the
/// provider's authorization URL to send the browser to; the callback then links instead of
/// signing in (it must arrive with this same session).
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "startSsoLink",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "转到身份提供方的地址 / where to send the browser", body = SsoLinkResponse),
        (status = 401, description = "未登录 / not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "本单位未启用单点登录 / no SSO for the tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "身份提供方不可用 / provider unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/sso/link")]
pub async fn start_sso_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SessionUser,
) -> ApiResult<HttpResponse> {
    let base = super::sso::base_url(&state.settings, &req);
    let home = user.0.user.tenant_id;
    let tenant = suyuan_tenancy::entity::tenant::Entity::find_by_id(home)
        .one(&state.db)
        .await?
        .ok_or_else(|| crate::error::ApiError::not_found("单位不存在"))?;
    let (url, sso_state) =
        super::sso::start(&state.db, &state.sso, &tenant.code, &base, Some("/console/password"), Some(user.0.user.id))
            .await?;
    Ok(HttpResponse::Ok().cookie(state_cookie(&req, sso_state)).json(SsoLinkResponse { authorization_url: url }))
}

/// Where to send the browser to link an account.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SsoLinkResponse {
    /// The identity provider's authorization URL.
    pub authorization_url: String,
}

/// The cookie binding an SSO `state` to this browser (10 minutes, only sent to the callback).
pub(crate) fn state_cookie<'a>(req: &HttpRequest, state: String) -> Cookie<'a> {
    let secure = req.app_data::<web::Data<AppState>>().is_some_and(|s| super::sso::is_https(&s.settings, req));
    Cookie::build(super::sso::STATE_COOKIE, state)
        .path(super::sso::CALLBACK_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::minutes(10))
        .finish()
}
