//! Login, logout, password change, invitation and tenant switch pages.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormErrors, PageError, PageResult, PageUser, PasswordPageUser, html, redirect, redirect_with};
use crate::audit::ClientInfo;
use crate::error::ApiError;
use crate::modules::identity::handlers::session_cookie;
use crate::modules::identity::service;
use crate::state::AppState;

const LOGIN_CSRF_COOKIE: &str = "suyuan_login_csrf";

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    username: String,
    sso_tenant: String,
    notice: Option<String>,
    errors: FormErrors,
}

/// Query of the login page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    tenant: Option<String>,
    notice: Option<String>,
}

/// Only a path on this server is followed after login (no open redirect).
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if !n.is_empty() && crate::modules::identity::sso::local_path(Some(n)) == n => n.to_owned(),
        _ => "/console".to_owned(),
    }
}

fn new_login_csrf() -> String {
    super::page::new_form_token()
}

fn login_page(status: StatusCode, page: &LoginPage) -> HttpResponse {
    super::page::html_with_form_token(status, page, LOGIN_CSRF_COOKIE, "/login", &page.csrf)
}

/// `GET /login`.
pub async fn login_form(q: web::Query<LoginQuery>) -> HttpResponse {
    let notice = match q.notice.as_deref() {
        Some("password_set") => Some("密码已设置，请使用新密码登录".to_owned()),
        Some("logged_out") => Some("您已安全退出".to_owned()),
        _ => None,
    };
    let page = LoginPage {
        csrf: new_login_csrf(),
        next: local_next(q.next.as_deref()),
        username: String::new(),
        sso_tenant: q.tenant.clone().unwrap_or_default(),
        notice,
        errors: FormErrors::none(),
    };
    login_page(StatusCode::OK, &page)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`: signs in and goes on to the page asked for.
pub async fn login_submit(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let next = local_next(Some(&form.next));
    let mut page = LoginPage {
        csrf: new_login_csrf(),
        next: next.clone(),
        username: form.username.clone(),
        sso_tenant: String::new(),
        notice: None,
        errors: FormErrors::none(),
    };
    if !super::page::form_token_ok(&req, LOGIN_CSRF_COOKIE, &form.csrf) {
        page.errors = FormErrors::from_api(&ApiError::forbidden_code("csrf", "登录页面已过期，请重新输入后登录"));
        return login_page(StatusCode::FORBIDDEN, &page);
    }
    let client = ClientInfo::from_request(&req);
    let guard = service::LoginGuard { limits: &state.limits, metrics: &state.metrics };
    let result =
        service::login(&state.db, &state.sessions, &state.settings, guard, &form.username, &form.password, client)
            .await;
    match result {
        Ok((token, me)) => {
            let max_age = i64::try_from(state.settings.session_absolute_secs).unwrap_or(i64::MAX);
            let to = if me.must_change_password { "/console/password".to_owned() } else { next };
            let mut res = redirect(&to);
            let _ = res.add_cookie(&session_cookie(&req, token, max_age));
            res
        }
        Err(e) => {
            let status = e.http_status();
            page.errors = FormErrors::from_api(&e);
            let mut res = login_page(status, &page);
            if let Some(secs) = e.retry_after()
                && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&secs.to_string())
            {
                res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
            }
            res
        }
    }
}

/// The CSRF field of a plain form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(user: PasswordPageUser, req: HttpRequest, form: web::Form<CsrfForm>) -> PageResult {
    let u = user.0;
    u.check_csrf(Some(&form.csrf))?;
    service::logout(&u.state.db, &u.state.sessions, &u.session, &u.client).await?;
    let mut res = redirect("/login?notice=logged_out");
    let _ = res.add_cookie(&session_cookie(&req, String::new(), 0));
    Ok(res)
}

/// Query of `GET /login/sso`.
#[derive(Debug, Deserialize)]
pub struct SsoQuery {
    tenant: Option<String>,
    next: Option<String>,
}

/// `GET /login/sso?tenant=370000`: on to the tenant's identity provider.
pub async fn sso_redirect(q: web::Query<SsoQuery>) -> HttpResponse {
    let code = q.tenant.as_deref().unwrap_or_default().trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        let page = LoginPage {
            csrf: new_login_csrf(),
            next: local_next(q.next.as_deref()),
            username: String::new(),
            sso_tenant: code.to_owned(),
            notice: None,
            errors: FormErrors::from_api(&ApiError::invalid_field("tenant", "format", "请填写 6 位数字的单位代码")),
        };
        return login_page(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let next: String = url::form_urlencoded::byte_serialize(local_next(q.next.as_deref()).as_bytes()).collect();
    redirect(&format!("/api/v1/auth/sso/{code}/login?return_to={next}"))
}

#[derive(Template)]
#[template(path = "auth/password.html")]
struct PasswordPage {
    page: super::page::Layout,
    forced: bool,
    errors: FormErrors,
    sso: SsoLink,
}

/// The account's single sign-on link, as the password page shows it.
#[derive(Default)]
struct SsoLink {
    /// The home tenant offers SSO.
    available: bool,
    /// The account is linked.
    linked: bool,
}

async fn sso_link_state(u: &PageUser) -> Result<SsoLink, PageError> {
    use sea_orm::EntityTrait as _;
    let cfg = crate::modules::identity::entity::tenant_sso::Entity::find_by_id(u.session.user.tenant_id)
        .one(&u.state.db)
        .await?;
    Ok(SsoLink { available: cfg.is_some_and(|c| c.enabled), linked: u.session.user.sso_subject.is_some() })
}

/// `GET /console/password`.
pub async fn password_form(user: PasswordPageUser) -> PageResult {
    let u = user.0;
    let forced = u.session.user.must_change_password;
    let sso = sso_link_state(&u).await?;
    let page =
        PasswordPage {
            page: u.layout("修改密码").crumb("修改密码", None), forced, errors: FormErrors::none(), sso
        };
    Ok(u.render(StatusCode::OK, &page))
}

/// `POST /console/sso-link`: on to the tenant's provider to link this account.
pub async fn sso_link(user: PageUser, req: HttpRequest, form: web::Form<CsrfForm>) -> PageResult {
    use sea_orm::EntityTrait as _;
    user.check_csrf(Some(&form.csrf))?;
    let home = suyuan_tenancy::entity::tenant::Entity::find_by_id(user.session.user.tenant_id)
        .one(&user.state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("单位不存在"))?;
    let (url, sso_state) = crate::modules::identity::sso::start(
        &user.state.db,
        &user.state.sso,
        &home.code,
        &user.base_url,
        Some("/console/password"),
        Some(user.session.user.id),
    )
    .await?;
    let mut res = redirect(&url);
    let _ = res.add_cookie(&crate::modules::identity::handlers::state_cookie(&req, sso_state));
    Ok(res)
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /console/password`.
pub async fn password_submit(user: PasswordPageUser, form: web::Form<PasswordForm>) -> PageResult {
    let u = user.0;
    u.check_csrf(Some(&form.csrf))?;
    let forced = u.session.user.must_change_password;
    let result = if form.new_password == form.confirm_password {
        service::change_password(
            &u.state.db,
            &u.state.sessions,
            &u.session,
            &form.current_password,
            &form.new_password,
            &u.client,
        )
        .await
    } else {
        Err(ApiError::invalid_field("confirm_password", "mismatch", "两次输入的新密码不一致"))
    };
    match result {
        Ok(()) => Ok(redirect_with("/console", "ok", "密码已修改")),
        Err(e) if e.http_status().as_u16() < 500 && e.http_status().as_u16() != 401 => {
            let status = e.http_status();
            let sso = sso_link_state(&u).await?;
            let page = PasswordPage {
                page: u.layout("修改密码").crumb("修改密码", None),
                forced,
                errors: FormErrors::from_api(&e),
                sso,
            };
            Ok(u.render(status, &page))
        }
        Err(e) => Err(PageError::from(e)),
    }
}

#[derive(Template)]
#[template(path = "auth/invite.html")]
struct InvitePage {
    token: String,
    errors: FormErrors,
}

/// `GET /invite/{token}`: the invited administrator sets a first password.
pub async fn invite_form(token: web::Path<String>) -> HttpResponse {
    html(StatusCode::OK, &InvitePage { token: token.into_inner(), errors: FormErrors::none() })
}

/// The invitation form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /invite/{token}`. The one-time token in the path is what protects this form.
pub async fn invite_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<InviteForm>,
) -> HttpResponse {
    let limited = state.limits.check_request(crate::limits::Class::Anonymous, &req, &state.trusted_proxies).await;
    let result = if let Err(e) = limited {
        Err(e)
    } else if form.new_password == form.confirm_password {
        service::accept_invitation(&state.db, &token, &form.new_password, &ClientInfo::from_request(&req)).await
    } else {
        Err(ApiError::invalid_field("confirm_password", "mismatch", "两次输入的新密码不一致"))
    };
    match result {
        Ok(()) => redirect("/login?notice=password_set"),
        Err(e) => {
            let status = e.http_status();
            html(status, &InvitePage { token: token.into_inner(), errors: FormErrors::from_api(&e) })
        }
    }
}

/// The tenant switcher's form.
#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    tenant_id: String,
}

/// `POST /console/tenant-switch`.
pub async fn switch_tenant(user: PageUser, form: web::Form<SwitchForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let id = uuid::Uuid::parse_str(form.tenant_id.trim())
        .map_err(|_| ApiError::invalid_field("tenant_id", "format", "单位标识无效"))?;
    let me = service::switch_tenant(
        &user.state.db,
        &user.state.sessions,
        &user.state.settings,
        &user.session,
        id,
        &user.client,
    )
    .await?;
    Ok(redirect_with("/console", "ok", &format!("已切换到 {}", me.tenant.name)))
}
