//! HTTP in and out for the identity routes.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::SESSION_COOKIE;
use super::dto::{ChangePasswordRequest, LoginRequest, MeResponse};
use super::extract::SessionUser;
use super::service;
use crate::audit::ClientInfo;
use crate::error::{ApiResult, Problem};
use crate::state::AppState;

fn session_cookie<'a>(req: &HttpRequest, value: String, max_age_secs: i64) -> Cookie<'a> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

/// Sign in with user name and password. Sets the `suyuan_session` cookie (HttpOnly,
/// SameSite=Strict, Secure behind TLS).
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "登录成功 / signed in", body = MeResponse),
        (status = 400, description = "请求格式错误 / malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "用户名或密码错误 / invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "账号停用或单位暂停 / account disabled or tenant suspended", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "需要 JSON / JSON required", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "字段校验未通过 / invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "账号已锁定 / account locked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let (token, me) =
        service::login(&state.db, &state.settings, &body.username, &body.password, ClientInfo::from_request(&req))
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
    service::logout(&state.db, &user.0, &ClientInfo::from_request(&req)).await?;
    Ok(HttpResponse::NoContent().cookie(session_cookie(&req, String::new(), 0)).finish())
}

/// Who is signed in, in which tenant, and whether the password must be changed first.
#[utoipa::path(
    tag = "身份 identity",
    operation_id = "getMe",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "当前用户 / the signed-in user", body = MeResponse),
        (status = 401, description = "未登录或已超时 / not signed in or expired", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/auth/me")]
pub async fn get_me(user: SessionUser) -> web::Json<MeResponse> {
    web::Json(user.0.to_me())
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
        (status = 400, description = "请求格式错误 / malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "未登录 / not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "当前密码错误或新密码不符合规则 / wrong current password or weak new one", body = Problem, content_type = "application/problem+json"),
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
    service::change_password(&state.db, &user.0, &body.current_password, &body.new_password, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
