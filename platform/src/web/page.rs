//! What every console page shares: the signed-in user (or a redirect to the login page), the
//! layout data (tenant, navigation, breadcrumbs, toast), CSRF protection of form posts, and
//! HTML error pages.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use sha2::{Digest, Sha256};
use suyuan_tenancy::TenantLevel;

use crate::audit::ClientInfo;
use crate::error::{ApiError, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::identity::SESSION_COOKIE;
use crate::modules::identity::service::{self, Authenticated, SessionAuth};
use crate::state::AppState;

/// Content-Security-Policy of every page: scripts and styles only from the platform itself
/// (ECharts sets element styles from script, hence `'unsafe-inline'` for styles only).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const FLASH_COOKIE: &str = "suyuan_flash";

/// An HTML response for a rendered template.
pub fn html(status: StatusCode, tpl: &impl Template) -> HttpResponse {
    match tpl.render() {
        Ok(body) => crate::secret::mark(&mut HttpResponse::build(status))
            .insert_header(ContentType::html())
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .body(body),
        Err(e) => PageError::from(ApiError::internal(e)).error_response(),
    }
}

/// A 303 to `to` (after a successful form post), with a toast for the next page.
pub fn redirect_with(to: &str, kind: &str, message: &str) -> HttpResponse {
    let value: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("k", kind).append_pair("m", message).finish();
    let cookie = Cookie::build(FLASH_COOKIE, value).path("/").http_only(true).same_site(SameSite::Strict).finish();
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).cookie(cookie).finish()
}

/// A plain 303.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// A toast shown once.
#[derive(Debug, Clone)]
pub struct Flash {
    /// `ok` or `error`.
    pub kind: String,
    /// The message.
    pub message: String,
}

fn take_flash(req: &HttpRequest) -> Option<Flash> {
    let c = req.cookie(FLASH_COOKIE)?;
    let mut kind = String::new();
    let mut message = String::new();
    for (k, v) in url::form_urlencoded::parse(c.value().as_bytes()) {
        match k.as_ref() {
            "k" => kind = v.into_owned(),
            "m" => message = v.into_owned(),
            _ => {}
        }
    }
    (!message.is_empty()).then_some(Flash { kind, message })
}

/// The cookie that removes a shown toast.
fn clear_flash() -> Cookie<'static> {
    Cookie::build(FLASH_COOKIE, "").path("/").max_age(time::Duration::ZERO).finish()
}

/// The CSRF token of a session: derived from the session's secret cookie token, so a page of
/// another site can neither read nor compute it.
#[must_use]
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("suyuan-csrf|{session_token}").as_bytes());
    hex::encode(&digest[..16])
}

/// A fresh random token for a form that has no session yet (login, application): it goes into
/// the form and into a cookie, and the post must bring both (double submit).
#[must_use]
pub fn new_form_token() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A page holding such a form, with the token's cookie (Strict, HttpOnly, only sent to `path`).
pub fn html_with_form_token(
    status: StatusCode,
    tpl: &impl Template,
    cookie: &'static str,
    path: &'static str,
    token: &str,
) -> HttpResponse {
    let mut res = html(status, tpl);
    let c = Cookie::build(cookie, token.to_owned()).path(path).http_only(true).same_site(SameSite::Strict).finish();
    let _ = res.add_cookie(&c);
    res
}

/// Whether a post without a session brings the token of its form's cookie.
#[must_use]
pub fn form_token_ok(req: &HttpRequest, cookie: &str, posted: &str) -> bool {
    req.cookie(cookie).is_some_and(|c| !c.value().is_empty() && same_token(c.value(), posted))
}

/// The value of a field of a posted form read as pairs (`roles=a&roles=b` arrives as pairs);
/// empty when absent.
#[must_use]
pub fn form_field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated field of a posted form.
#[must_use]
pub fn form_fields(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

/// Constant-time comparison of two tokens.
#[must_use]
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A navigation entry.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Label.
    pub label: &'static str,
    /// Target.
    pub href: &'static str,
    /// The current page is in this entry.
    pub active: bool,
}

/// A group of navigation entries (one business module or the system pages).
#[derive(Debug, Clone)]
pub struct NavGroup {
    /// Label.
    pub label: &'static str,
    /// Entries the user may open.
    pub items: Vec<NavItem>,
}

/// One console page's place in the navigation: which module it belongs to (required modules
/// are always on, optional ones only when the tenant switched them on) and which permission
/// opens it.
pub struct NavDef {
    /// Group label.
    pub group: &'static str,
    /// Entry label.
    pub label: &'static str,
    /// Target.
    pub href: &'static str,
    /// Module key (`None` for the platform's own pages).
    pub module: Option<&'static str>,
    /// Permission that opens the page; `None`: every signed-in user.
    pub permission: Option<(&'static str, &'static str)>,
}

/// Every console page. Business modules add theirs here as they land.
pub const NAV: &[NavDef] = &[
    NavDef { group: "概览", label: "首页", href: "/console", module: None, permission: None },
    NavDef {
        group: "追溯主体管理",
        label: "企业备案",
        href: "/console/enterprises",
        module: Some("subjects"),
        permission: Some(("enterprise", "read")),
    },
    NavDef {
        group: "追溯主体管理",
        label: "个体经营户备案",
        href: "/console/merchants",
        module: Some("subjects"),
        permission: Some(("merchant", "read")),
    },
    NavDef {
        group: "追溯主体管理",
        label: "备案分析",
        href: "/console/filing-analysis",
        module: Some("subjects"),
        permission: Some(("enterprise", "read")),
    },
    NavDef {
        group: "追溯主体管理",
        label: "批量导入",
        href: "/console/imports",
        module: Some("subjects"),
        permission: Some(("import", "read")),
    },
    NavDef {
        group: "追溯主体管理",
        label: "变更规则",
        href: "/console/filing-rules",
        module: Some("subjects"),
        permission: Some(("filing_rule", "read")),
    },
    NavDef {
        group: "追溯应急管理",
        label: "追溯记录",
        href: "/console/trace",
        module: Some("emergency"),
        permission: Some(("trace_event", "read")),
    },
    NavDef {
        group: "追溯应急管理",
        label: "追溯链条",
        href: "/console/trace-chain",
        module: Some("emergency"),
        permission: Some(("trace_event", "read")),
    },
    NavDef {
        group: "追溯应急管理",
        label: "查询行为分析",
        href: "/console/query-analysis",
        module: Some("emergency"),
        permission: Some(("trace_event", "read")),
    },
    NavDef {
        group: "追溯应急管理",
        label: "追溯码异常",
        href: "/console/code-anomalies",
        module: Some("emergency"),
        permission: Some(("code_anomaly", "read")),
    },
    NavDef {
        group: "汇总与上报",
        label: "汇总统计",
        href: "/console/rollup",
        module: None,
        permission: Some(("rollup", "read")),
    },
    NavDef {
        group: "汇总与上报",
        label: "数据上报",
        href: "/console/federation",
        module: None,
        permission: Some(("federation", "read")),
    },
    NavDef {
        group: "重要产品管理",
        label: "产品备案",
        href: "/console/products",
        module: Some("products"),
        permission: Some(("product", "read")),
    },
    NavDef {
        group: "重要产品管理",
        label: "产品分类",
        href: "/console/catalogue",
        module: Some("products"),
        permission: Some(("catalogue", "read")),
    },
    NavDef {
        group: "系统管理",
        label: "单位管理",
        href: "/console/tenants",
        module: None,
        permission: Some(("tenant", "read")),
    },
    NavDef {
        group: "系统管理",
        label: "用户管理",
        href: "/console/users",
        module: None,
        permission: Some(("user", "read")),
    },
    NavDef {
        group: "系统管理",
        label: "角色与权限",
        href: "/console/roles",
        module: None,
        permission: Some(("role_assignment", "read")),
    },
    NavDef {
        group: "系统管理",
        label: "接入密钥",
        href: "/console/api-keys",
        module: None,
        permission: Some(("api_key", "read")),
    },
    NavDef {
        group: "系统管理",
        label: "单点登录",
        href: "/console/sso",
        module: None,
        permission: Some(("sso", "read")),
    },
    NavDef {
        group: "安全审计",
        label: "审计日志",
        href: "/console/audit",
        module: None,
        permission: Some(("audit", "read")),
    },
];

/// Whether the tenant has a module on (required modules always are).
#[must_use]
pub fn module_on(tenant: &suyuan_tenancy::entity::tenant::Model, module: &str) -> bool {
    suyuan_tenancy::REQUIRED_MODULES.iter().any(|(m, _)| *m == module)
        || tenant.optional_modules().iter().any(|m| m == module)
}

/// The navigation the caller may see: modules the tenant has on, pages the roles open.
#[must_use]
pub fn navigation(state: &AppState, who: &Authenticated, current: &str) -> Vec<NavGroup> {
    let mut groups: Vec<NavGroup> = Vec::new();
    for def in NAV {
        if def.module.is_some_and(|m| !module_on(&who.tenant, m)) {
            continue;
        }
        if let Some((resource, action)) = def.permission
            && state.authz.require_own(who, resource, action).is_err()
        {
            continue;
        }
        let active = if def.href == "/console" {
            current == "/console"
        } else {
            current == def.href || current.starts_with(&format!("{}/", def.href))
        };
        let item = NavItem { label: def.label, href: def.href, active };
        match groups.iter_mut().find(|g| g.label == def.group) {
            Some(g) => g.items.push(item),
            None => groups.push(NavGroup { label: def.group, items: vec![item] }),
        }
    }
    groups
}

/// A breadcrumb.
#[derive(Debug, Clone)]
pub struct Crumb {
    /// Label.
    pub label: String,
    /// Link (none for the current page).
    pub href: Option<String>,
}

/// Another tenant the user holds roles in (tenant switcher).
#[derive(Debug, Clone)]
pub struct TenantChoice {
    /// Tenant id.
    pub id: String,
    /// "山东省（省级）".
    pub label: String,
    /// The session acts in it now.
    pub current: bool,
}

/// What the layout shows around every console page.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Page title.
    pub title: String,
    /// Breadcrumbs after 首页.
    pub crumbs: Vec<Crumb>,
    /// The user's display name.
    pub user_name: String,
    /// The tenant's name.
    pub tenant_name: String,
    /// The tenant's level in Chinese.
    pub tenant_level: String,
    /// Tenants the user may switch to (empty or one: no switcher).
    pub tenants: Vec<TenantChoice>,
    /// Navigation.
    pub nav: Vec<NavGroup>,
    /// The CSRF token for forms.
    pub csrf: String,
    /// A toast.
    pub flash: Option<Flash>,
}

impl Layout {
    /// Adds a breadcrumb.
    #[must_use]
    pub fn crumb(mut self, label: impl Into<String>, href: Option<&str>) -> Self {
        self.crumbs.push(Crumb { label: label.into(), href: href.map(str::to_owned) });
        self
    }
}

/// A signed-in user on a console page. Anonymous callers are sent to `/login`; a user who
/// must still change an initial password is sent to `/console/password`.
pub struct PageUser {
    /// Shared state.
    pub state: web::Data<AppState>,
    /// The session.
    pub session: SessionAuth,
    /// The caller as the guard sees it.
    pub who: Authenticated,
    /// Client address and agent, for the audit log.
    pub client: ClientInfo,
    /// The session's CSRF token.
    pub csrf: String,
    /// The request path.
    pub path: String,
    /// The toast to show, taken from the cookie.
    pub flash: Option<Flash>,
    /// Tenants the user holds roles in.
    pub tenants: Vec<TenantChoice>,
    /// This server's base URL as the browser sees it.
    pub base_url: String,
}

impl PageUser {
    /// The command context for the services.
    #[must_use]
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            db: &self.state.db,
            authz: &self.state.authz,
            who: &self.who,
            client: &self.client,
            sessions: &self.state.sessions,
        }
    }

    /// The layout of a page titled `title`.
    #[must_use]
    pub fn layout(&self, title: &str) -> Layout {
        let level = self.who.tenant.level.parse::<TenantLevel>().map(TenantLevel::label_zh).unwrap_or_default();
        Layout {
            title: title.to_owned(),
            crumbs: Vec::new(),
            user_name: self.session.user.display_name.clone(),
            tenant_name: self.who.tenant.name.clone(),
            tenant_level: level.to_owned(),
            tenants: self.tenants.clone(),
            nav: navigation(&self.state, &self.who, &self.path),
            csrf: self.csrf.clone(),
            flash: self.flash.clone(),
        }
    }

    /// Renders a page (and clears a shown toast).
    pub fn render(&self, status: StatusCode, tpl: &impl Template) -> HttpResponse {
        let mut res = html(status, tpl);
        if self.flash.is_some() {
            let _ = res.add_cookie(&clear_flash());
        }
        res
    }

    /// Refuses a post whose CSRF token is missing or wrong.
    ///
    /// # Errors
    /// 403 `csrf`.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), PageError> {
        match submitted {
            Some(t) if same_token(t, &self.csrf) => Ok(()),
            _ => Err(PageError::from(ApiError::forbidden_code("csrf", "页面已过期或来源不明，请刷新页面后重试"))),
        }
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::from(ApiError::internal(anyhow::anyhow!("application state missing"))))
}

/// Finds the session of a page request; `Ok(None)` when there is none (or it expired).
async fn page_session(req: &HttpRequest) -> Result<Option<(SessionAuth, String)>, PageError> {
    let state = app_state(req)?;
    let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match service::authenticate(&state.db, &state.sessions, &state.settings, &token).await {
        Ok(auth) => Ok(Some((auth, token))),
        Err(e) if matches!(e.status_code().as_u16(), 401 | 403) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn login_redirect(req: &HttpRequest) -> PageError {
    let next: String = url::form_urlencoded::byte_serialize(req.path().as_bytes()).collect();
    PageError::Redirect(format!("/login?next={next}"))
}

async fn build(req: HttpRequest, allow_password_change: bool) -> Result<PageUser, PageError> {
    let state = app_state(&req)?;
    let Some((session, token)) = page_session(&req).await? else {
        return Err(login_redirect(&req));
    };
    if session.user.must_change_password && !allow_password_change {
        return Err(PageError::Redirect("/console/password".to_owned()));
    }
    let tenants = service::tenants_of(&state.db, session.user.id)
        .await?
        .into_iter()
        .map(|t| {
            let level = t.level.parse::<TenantLevel>().map(TenantLevel::label_zh).unwrap_or_default();
            TenantChoice {
                id: t.id.to_string(),
                label: format!("{}（{level}）", t.name),
                current: t.id == session.tenant.id,
            }
        })
        .collect();
    let who: Authenticated = session.clone().into();
    Ok(PageUser {
        client: ClientInfo::from_request(&req),
        base_url: crate::modules::identity::sso::base_url(&state.settings, &req),
        csrf: csrf_token(&token),
        path: req.path().to_owned(),
        flash: take_flash(&req),
        state,
        session,
        who,
        tenants,
    })
}

impl FromRequest for PageUser {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(build(req, false))
    }
}

/// A signed-in user who may still have to change an initial password (the password page).
pub struct PasswordPageUser(pub PageUser);

impl FromRequest for PasswordPageUser {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { build(req, true).await.map(PasswordPageUser) })
    }
}

/// Field messages of a refused form, by field name, to show beside the inputs.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    fields: BTreeMap<String, String>,
    /// A message for the whole form (a conflict, a refusal).
    pub summary: Option<String>,
}

impl FormErrors {
    /// No errors.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// The message of `field`.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// The message of `field` or of one of its items (`categories[1]`).
    #[must_use]
    pub fn get_any(&self, field: &str) -> Option<&str> {
        self.get(field).or_else(|| {
            let items = format!("{field}[");
            self.fields.iter().find(|(k, _)| k.starts_with(&items)).map(|(_, v)| v.as_str())
        })
    }

    /// Whether there is anything to show.
    #[must_use]
    pub fn any(&self) -> bool {
        self.summary.is_some() || !self.fields.is_empty()
    }

    /// From the API's problem: the field errors go beside the fields, the rest on top.
    #[must_use]
    pub fn from_api(e: &ApiError) -> Self {
        let mut fields = BTreeMap::new();
        for FieldError { field, message, .. } in e.field_errors() {
            // The first message of a field is the one to fix first.
            fields.entry(field.clone()).or_insert_with(|| message.clone());
        }
        let summary = if fields.is_empty() {
            Some(e.to_problem(None).detail.unwrap_or_else(|| e.to_problem(None).title))
        } else {
            Some("请按提示修改标记的内容后再提交".to_owned())
        };
        Self { fields, summary }
    }
}

/// A console page's failure: a redirect (to the login page) or an HTML error page.
#[derive(Debug)]
pub enum PageError {
    /// Send the browser there.
    Redirect(String),
    /// Show an error page.
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Api(e.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redirect(to) => write!(f, "redirect to {to}"),
            Self::Api(e) => write!(f, "{e}"),
        }
    }
}

/// The HTML error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    detail: String,
    request_id: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Redirect(_) => StatusCode::SEE_OTHER,
            Self::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Redirect(to) => redirect(to),
            Self::Api(e) => {
                if e.status_code().is_server_error() {
                    tracing::error!(error = ?e, "page failed");
                }
                let request_id = crate::request_id::current().unwrap_or_default();
                let problem = e.to_problem(None);
                let page = ErrorPage {
                    status: problem.status,
                    title: problem.title.clone(),
                    detail: problem.detail.clone().unwrap_or_default(),
                    request_id,
                };
                let mut res = HttpResponse::build(e.status_code());
                if let Some(secs) = e.retry_after() {
                    res.insert_header((header::RETRY_AFTER, secs));
                }
                match page.render() {
                    Ok(body) => res
                        .insert_header(ContentType::html())
                        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
                        .body(body),
                    Err(_) => res.body(problem.title),
                }
            }
        }
    }
}

/// Result of a page handler.
pub type PageResult = Result<HttpResponse, PageError>;
