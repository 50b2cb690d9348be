//! System administration pages: tenants (tree), users, roles and permissions, API keys,
//! single sign-on and the audit log. Every page calls the same service as the JSON API, so
//! the casbin guard and the tenant tree decide exactly as they do for the API.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;
use suyuan_policies::{BUILTIN_ROLES, CUSTOM_ROLE_PARENTS, KEY_ROLES};
use suyuan_tenancy::TenantLevel;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::page::{FormErrors, Layout, PageError, PageResult, PageUser, redirect_with};
use super::page::{form_field as field, form_fields as fields};
use crate::error::ApiError;
use crate::modules::admin::dto::{
    AuditQuery, CreateApiKeyRequest, CreateRoleRequest, CreateTenantRequest, CreateUserRequest, TenantProfileRequest,
};
use crate::modules::admin::service::{self, UserCommand};
use crate::modules::identity::entity::{api_key, tenant_sso, user};
use crate::modules::identity::sso::{self, SsoConfigRequest};

/// Form posts with a list field (`roles=a&roles=b`) arrive as pairs.
type Pairs = web::Form<Vec<(String, String)>>;

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// A refused form is shown again with the messages; anything else is an error page.
pub(crate) fn form_failure(e: ApiError) -> Result<(StatusCode, FormErrors), PageError> {
    let status = e.http_status();
    if status.is_client_error() && status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        Ok((status, FormErrors::from_api(&e)))
    } else {
        Err(e.into())
    }
}

fn level_label(level: &str) -> &'static str {
    level.parse::<TenantLevel>().map(TenantLevel::label_zh).unwrap_or("")
}

pub(crate) fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::from(ApiError::not_found("没有这个对象")))
}

// ---------------------------------------------------------------- tenants

/// A row of the tenant tree.
pub struct TenantRow {
    t: tenant::Model,
    depth: usize,
    level: &'static str,
    own: bool,
}

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage {
    page: Layout,
    rows: Vec<TenantRow>,
    q: String,
    can_create: bool,
    can_update: bool,
    child_hint: String,
    form: CreateTenantForm,
    errors: FormErrors,
    applications: Vec<crate::modules::admin::applications::entity::Model>,
}

/// The new-tenant form.
#[derive(Debug, Default, Deserialize)]
pub struct CreateTenantForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    admin_username: String,
    #[serde(default)]
    admin_display_name: String,
    #[serde(default)]
    admin_email: String,
}

/// Query of list pages.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<u64>,
}

fn child_hint(own: &tenant::Model) -> String {
    match own.level.as_str() {
        "national" => "下级单位为省级，例如 370000 山东省".into(),
        "provincial" => format!("下级单位为本省的市（或直辖市的区县），代码以 {} 开头", &own.code[..2]),
        "municipal" => format!("下级单位为本市的区县，代码以 {} 开头", &own.code[..4]),
        _ => "区县级单位没有下级单位".into(),
    }
}

async fn tenants_page(
    user: &PageUser,
    q: &str,
    form: CreateTenantForm,
    errors: FormErrors,
) -> Result<TenantsPage, PageError> {
    let list = service::list_tenants(&user.ctx()).await?;
    let base_depth = user.who.tenant.path.matches('/').count();
    let needle = q.trim();
    let rows = list
        .into_iter()
        .filter(|t| needle.is_empty() || t.name.contains(needle) || t.code.contains(needle))
        .map(|t| TenantRow {
            depth: t.path.matches('/').count().saturating_sub(base_depth),
            level: level_label(&t.level),
            own: t.id == user.who.tenant.id,
            t,
        })
        .collect();
    Ok(TenantsPage {
        page: user.layout("单位管理").crumb("单位管理", None),
        rows,
        q: needle.to_owned(),
        can_create: user.state.authz.require_own(&user.who, "tenant", "create").is_ok(),
        can_update: user.state.authz.allows(&user.who, suyuan_policies::Scope::Descendant, "tenant", "update"),
        child_hint: child_hint(&user.who.tenant),
        form,
        errors,
        applications: if user.state.authz.require_own(&user.who, "tenant", "create").is_ok() {
            crate::modules::admin::applications::list(&user.ctx(), Some("pending")).await?
        } else {
            Vec::new()
        },
    })
}

/// `GET /console/tenants`.
pub async fn tenants(user: PageUser, q: web::Query<ListQuery>) -> PageResult {
    let page = tenants_page(&user, q.q.as_deref().unwrap_or_default(), CreateTenantForm::default(), FormErrors::none())
        .await?;
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/tenant_created.html")]
struct TenantCreatedPage {
    page: Layout,
    name: String,
    code: String,
    username: String,
    link: String,
    expires: String,
    emailed: Option<String>,
}

/// `POST /console/tenants`: onboard an agency; shows the invitation link once.
pub async fn create_tenant(user: PageUser, form: web::Form<CreateTenantForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let form = form.into_inner();
    let req = CreateTenantRequest {
        code: form.code.clone(),
        name: form.name.clone(),
        admin_username: form.admin_username.clone(),
        admin_display_name: form.admin_display_name.clone(),
        admin_email: opt(&form.admin_email),
    };
    match service::create_tenant(&user.ctx(), &req).await {
        Ok((t, token, expires_at)) => {
            let base = user.base_url.clone();
            let username = form.admin_username.trim().to_lowercase();
            let link = format!("{base}/invite/{token}");
            let emailed =
                crate::modules::admin::handlers::send_invitation(&user.state, &t, &username, &link, expires_at).await;
            let page = TenantCreatedPage {
                page: user.layout("单位已创建").crumb("单位管理", Some("/console/tenants")).crumb("单位已创建", None),
                name: t.name,
                code: t.code,
                username,
                link,
                expires: super::when(&expires_at),
                emailed,
            };
            Ok(user.render(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let page = tenants_page(&user, "", form, errors).await?;
            Ok(user.render(status, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "console/tenant_detail.html")]
struct TenantDetailPage {
    page: Layout,
    t: tenant::Model,
    level: &'static str,
    own: bool,
    modules: Vec<(&'static str, &'static str, bool)>,
    required: Vec<&'static str>,
    form: ProfileValues,
    errors: FormErrors,
}

/// Values of the profile form.
#[derive(Debug, Default)]
pub struct ProfileValues {
    contact_name: String,
    contact_phone: String,
    contact_email: String,
    federation_parent_url: String,
    longitude: String,
    latitude: String,
}

impl ProfileValues {
    fn of(t: &tenant::Model) -> Self {
        Self {
            contact_name: t.contact_name.clone().unwrap_or_default(),
            contact_phone: t.contact_phone.clone().unwrap_or_default(),
            contact_email: t.contact_email.clone().unwrap_or_default(),
            federation_parent_url: t.federation_parent_url.clone().unwrap_or_default(),
            longitude: t.longitude.map(|v| v.to_string()).unwrap_or_default(),
            latitude: t.latitude.map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}

fn tenant_detail_page(
    user: &PageUser,
    t: tenant::Model,
    form: ProfileValues,
    chosen: &[String],
    errors: FormErrors,
) -> TenantDetailPage {
    let modules =
        suyuan_tenancy::OPTIONAL_MODULES.iter().map(|(k, label)| (*k, *label, chosen.iter().any(|m| m == k))).collect();
    TenantDetailPage {
        page: user.layout(&t.name).crumb("单位管理", Some("/console/tenants")).crumb(t.name.clone(), None),
        level: level_label(&t.level),
        own: t.id == user.who.tenant.id,
        modules,
        required: suyuan_tenancy::REQUIRED_MODULES.iter().map(|(_, l)| *l).collect(),
        form,
        errors,
        t,
    }
}

/// `GET /console/tenants/{id}`.
pub async fn tenant_detail(user: PageUser, id: web::Path<String>) -> PageResult {
    let t = service::get_tenant(&user.ctx(), parse_id(&id)?).await?;
    let chosen = t.optional_modules();
    let form = ProfileValues::of(&t);
    Ok(user.render(StatusCode::OK, &tenant_detail_page(&user, t, form, &chosen, FormErrors::none())))
}

fn parse_coord(field_name: &str, raw: &str, errors: &mut Vec<crate::error::FieldError>) -> Option<f64> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = t.parse::<f64>() {
        Some(v)
    } else {
        errors.push(crate::error::FieldError::new(field_name, "format", "请填写数字，例如 117.02"));
        None
    }
}

/// `POST /console/tenants/{id}/profile`.
pub async fn tenant_profile(user: PageUser, id: web::Path<String>, form: Pairs) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let id = parse_id(&id)?;
    let mut errors = Vec::new();
    let longitude = parse_coord("longitude", field(&pairs, "longitude"), &mut errors);
    let latitude = parse_coord("latitude", field(&pairs, "latitude"), &mut errors);
    let modules = fields(&pairs, "modules");
    let values = ProfileValues {
        contact_name: field(&pairs, "contact_name").to_owned(),
        contact_phone: field(&pairs, "contact_phone").to_owned(),
        contact_email: field(&pairs, "contact_email").to_owned(),
        federation_parent_url: field(&pairs, "federation_parent_url").to_owned(),
        longitude: field(&pairs, "longitude").to_owned(),
        latitude: field(&pairs, "latitude").to_owned(),
    };
    let result = if errors.is_empty() {
        let req = TenantProfileRequest {
            contact_name: opt(&values.contact_name),
            contact_phone: opt(&values.contact_phone),
            contact_email: opt(&values.contact_email),
            modules: modules.clone(),
            federation_parent_url: opt(&values.federation_parent_url),
            longitude,
            latitude,
        };
        service::set_tenant_profile(&user.ctx(), &user.state.outbound, id, &req).await
    } else {
        Err(ApiError::validation(errors))
    };
    match result {
        Ok(_) => Ok(redirect_with(&format!("/console/tenants/{id}"), "ok", "单位设置已保存")),
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let t = service::get_tenant(&user.ctx(), id).await?;
            Ok(user.render(status, &tenant_detail_page(&user, t, values, &modules, errors)))
        }
    }
}

/// The CSRF field of a button form.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    pub(crate) csrf: String,
}

/// `POST /console/applications/{id}/approve`: creates the tenant; shows the invitation once.
pub async fn approve_application(user: PageUser, id: web::Path<String>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let (app, t, token, expires_at) = crate::modules::admin::applications::approve(&user.ctx(), parse_id(&id)?).await?;
    let link = format!("{}/invite/{token}", user.base_url);
    let emailed =
        crate::modules::admin::handlers::send_invitation(&user.state, &t, &app.admin_username, &link, expires_at).await;
    let page = TenantCreatedPage {
        page: user.layout("单位已创建").crumb("单位管理", Some("/console/tenants")).crumb("单位已创建", None),
        name: t.name,
        code: t.code,
        username: app.admin_username,
        link,
        expires: super::when(&expires_at),
        emailed,
    };
    Ok(user.render(StatusCode::CREATED, &page))
}

/// The rejection form.
#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/applications/{id}/reject`.
pub async fn reject_application(user: PageUser, id: web::Path<String>, form: web::Form<RejectForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    match crate::modules::admin::applications::reject(&user.ctx(), parse_id(&id)?, &form.reason).await {
        Ok(app) => {
            crate::modules::admin::handlers::notify_rejection(&user.state, &app).await;
            Ok(redirect_with("/console/tenants", "ok", &format!("已驳回 {} 的入驻申请", app.name)))
        }
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            Ok(redirect_with("/console/tenants", "error", "驳回时请填写原因"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/tenants/{id}/{suspend|activate}`.
pub async fn tenant_status(user: PageUser, path: web::Path<(String, String)>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let (id, action) = path.into_inner();
    let id = parse_id(&id)?;
    let active = match action.as_str() {
        "activate" => true,
        "suspend" => false,
        _ => return Err(ApiError::not_found("没有这个操作").into()),
    };
    let t = service::set_tenant_status(&user.ctx(), id, active).await?;
    let msg = if active {
        format!("{} 已恢复使用", t.name)
    } else {
        format!("{} 已暂停，其用户和密钥即刻失效", t.name)
    };
    Ok(redirect_with("/console/tenants", "ok", &msg))
}

// ---------------------------------------------------------------- users

/// A row of the users table.
pub struct UserRow {
    u: user::Model,
    roles: Vec<String>,
    locked: bool,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    page: Layout,
    rows: Vec<UserRow>,
    total: usize,
    q: String,
    status: String,
    sort: String,
    dir: String,
    page_no: u64,
    pages: u64,
    can_create: bool,
    form: NewUserForm,
    errors: FormErrors,
}

/// The new-user form.
#[derive(Debug, Default, Deserialize)]
pub struct NewUserForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
}

/// Rows per page of the users table.
const USERS_PER_PAGE: usize = 20;

impl UsersPage {
    /// Link to the same list sorted by `col` (toggling the direction on the current column).
    fn sort_link(&self, col: &str) -> String {
        let dir = if self.sort == col && self.dir == "asc" { "desc" } else { "asc" };
        self.link(col, dir, 1)
    }

    fn sort_mark(&self, col: &str) -> &'static str {
        match (self.sort == col, self.dir.as_str()) {
            (true, "asc") => " ▲",
            (true, _) => " ▼",
            _ => "",
        }
    }

    fn aria_sort(&self, col: &str) -> &'static str {
        match (self.sort == col, self.dir.as_str()) {
            (true, "asc") => "ascending",
            (true, _) => "descending",
            _ => "none",
        }
    }

    fn page_link(&self, page: u64) -> String {
        self.link(&self.sort, &self.dir, page)
    }

    fn link(&self, sort: &str, dir: &str, page: u64) -> String {
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &self.q)
            .append_pair("status", &self.status)
            .append_pair("sort", sort)
            .append_pair("dir", dir)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/console/users?{qs}")
    }
}

async fn users_page(
    user: &PageUser,
    q: &ListQuery,
    form: NewUserForm,
    errors: FormErrors,
) -> Result<UsersPage, PageError> {
    let now = chrono::Utc::now();
    let needle = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let status = q.status.clone().unwrap_or_default();
    let sort = match q.sort.as_deref() {
        Some(s @ ("username" | "display_name" | "created_at" | "status")) => s.to_owned(),
        _ => "username".to_owned(),
    };
    let dir = if q.dir.as_deref() == Some("desc") { "desc" } else { "asc" }.to_owned();
    let mut rows: Vec<UserRow> = service::list_users(&user.ctx())
        .await?
        .into_iter()
        .filter(|(u, _)| {
            needle.is_empty() || u.username.contains(&needle) || u.display_name.to_lowercase().contains(&needle)
        })
        .filter(|(u, _)| match status.as_str() {
            "active" | "disabled" => u.status == status,
            "locked" => u.locked_until.is_some_and(|t| t > now),
            "must_change" => u.must_change_password,
            _ => true,
        })
        .map(|(u, roles)| UserRow { locked: u.locked_until.is_some_and(|t| t > now), u, roles })
        .collect();
    rows.sort_by(|a, b| {
        let o = match sort.as_str() {
            "display_name" => a.u.display_name.cmp(&b.u.display_name),
            "created_at" => a.u.created_at.cmp(&b.u.created_at),
            "status" => a.u.status.cmp(&b.u.status),
            _ => a.u.username.cmp(&b.u.username),
        };
        if dir == "desc" { o.reverse() } else { o }
    });
    let total = rows.len();
    let pages = u64::try_from(total.div_ceil(USERS_PER_PAGE).max(1)).unwrap_or(1);
    let page_no = q.page.unwrap_or(1).clamp(1, pages);
    let skip = usize::try_from(page_no - 1).unwrap_or(0) * USERS_PER_PAGE;
    let rows = rows.into_iter().skip(skip).take(USERS_PER_PAGE).collect();
    Ok(UsersPage {
        page: user.layout("用户管理").crumb("用户管理", None),
        rows,
        total,
        q: q.q.clone().unwrap_or_default(),
        status,
        sort,
        dir,
        page_no,
        pages,
        can_create: user.state.authz.require_own(&user.who, "user", "create").is_ok(),
        form,
        errors,
    })
}

/// `GET /console/users`: search, filter, sort and page.
pub async fn users(user: PageUser, q: web::Query<ListQuery>) -> PageResult {
    let page = users_page(&user, &q, NewUserForm::default(), FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/secret_shown.html")]
pub(crate) struct SecretPage {
    pub(crate) page: Layout,
    pub(crate) heading: String,
    pub(crate) intro: String,
    pub(crate) secret_label: String,
    pub(crate) secret: String,
    pub(crate) back: String,
    pub(crate) back_label: String,
}

/// `POST /console/users`: create a user; shows the one-time password once.
pub async fn create_user(user: PageUser, form: web::Form<NewUserForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let form = form.into_inner();
    let req = CreateUserRequest { username: form.username.clone(), display_name: form.display_name.clone() };
    match service::create_user(&user.ctx(), &req).await {
        Ok((u, initial)) => {
            let page = SecretPage {
                page: user.layout("用户已创建").crumb("用户管理", Some("/console/users")).crumb("用户已创建", None),
                heading: format!("已创建用户 {}（{}）", u.display_name, u.username),
                intro: "请把初始密码当面或通过安全渠道告知本人。首次登录时必须修改密码。此密码只显示这一次。然后请安全管理员为其分配角色。".into(),
                secret_label: "初始密码".into(),
                secret: initial,
                back: format!("/console/users/{}", u.id),
                back_label: "查看该用户".into(),
            };
            Ok(user.render(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let page = users_page(&user, &ListQuery::default(), form, errors).await?;
            Ok(user.render(status, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "console/user_detail.html")]
struct UserDetailPage {
    page: Layout,
    u: user::Model,
    roles: Vec<String>,
    choices: Vec<(String, String, bool)>,
    locked: bool,
    can_update: bool,
    can_assign: bool,
    is_self: bool,
    errors: FormErrors,
}

async fn user_detail_page(
    user: &PageUser,
    id: Uuid,
    wanted: Option<&[String]>,
    errors: FormErrors,
) -> Result<UserDetailPage, PageError> {
    let (u, roles) = service::get_user(&user.ctx(), id).await?;
    // The custom roles of the user's own tenant: those are the ones it can hold there.
    let custom = if user.state.authz.require_own(&user.who, "role_assignment", "read").is_ok() {
        use crate::modules::identity::entity::tenant_role;
        use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
        tenant_role::Entity::find()
            .filter(tenant_role::Column::TenantId.eq(u.tenant_id))
            .order_by_asc(tenant_role::Column::Name)
            .all(&user.state.db)
            .await?
    } else {
        Vec::new()
    };
    let selected = wanted.map_or_else(|| roles.clone(), <[String]>::to_vec);
    let mut choices: Vec<(String, String, bool)> = BUILTIN_ROLES
        .iter()
        .map(|(n, l)| ((*n).to_owned(), (*l).to_owned(), selected.iter().any(|r| r == n)))
        .collect();
    choices.extend(custom.into_iter().map(|r| {
        let on = selected.contains(&r.name);
        (r.name, format!("{}（自定义）", r.label), on)
    }));
    let locked = u.locked_until.is_some_and(|t| t > chrono::Utc::now());
    Ok(UserDetailPage {
        page: user
            .layout(&u.display_name)
            .crumb("用户管理", Some("/console/users"))
            .crumb(u.display_name.clone(), None),
        can_update: user.state.authz.require_own(&user.who, "user", "update").is_ok(),
        can_assign: user.state.authz.require_own(&user.who, "role_assignment", "update").is_ok(),
        is_self: user.who.user_id == Some(u.id),
        roles,
        choices,
        locked,
        errors,
        u,
    })
}

/// `GET /console/users/{id}`.
pub async fn user_detail(user: PageUser, id: web::Path<String>) -> PageResult {
    let page = user_detail_page(&user, parse_id(&id)?, None, FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/users/{id}/roles`.
pub async fn user_roles(user: PageUser, id: web::Path<String>, form: Pairs) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let id = parse_id(&id)?;
    let roles = fields(&pairs, "roles");
    match service::set_roles(&user.ctx(), id, &roles).await {
        Ok(_) => Ok(redirect_with(&format!("/console/users/{id}"), "ok", "角色已保存")),
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let page = user_detail_page(&user, id, Some(&roles), errors).await?;
            Ok(user.render(status, &page))
        }
    }
}

/// `POST /console/users/{id}/{disable|enable|reset-password|end-sessions}`.
pub async fn user_command(user: PageUser, path: web::Path<(String, String)>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let (id, action) = path.into_inner();
    let id = parse_id(&id)?;
    let cmd = match action.as_str() {
        "disable" => UserCommand::Disable,
        "enable" => UserCommand::Enable,
        "reset-password" => UserCommand::ResetPassword,
        "end-sessions" => UserCommand::EndSessions,
        _ => return Err(ApiError::not_found("没有这个操作").into()),
    };
    let (u, initial) = service::user_command(&user.ctx(), id, cmd).await?;
    if let Some(secret) = initial {
        let page = SecretPage {
            page: user.layout("密码已重置").crumb("用户管理", Some("/console/users")).crumb("密码已重置", None),
            heading: format!("已重置 {}（{}）的密码", u.display_name, u.username),
            intro: "该用户的所有会话已结束，锁定已解除。请通过安全渠道告知新的一次性密码，登录时必须修改。此密码只显示这一次。".into(),
            secret_label: "一次性密码".into(),
            secret,
            back: format!("/console/users/{}", u.id),
            back_label: "返回该用户".into(),
        };
        return Ok(user.render(StatusCode::OK, &page));
    }
    let msg = match action.as_str() {
        "disable" => "账号已停用，其会话已全部结束",
        "enable" => "账号已启用",
        _ => "该用户已被强制下线",
    };
    Ok(redirect_with(&format!("/console/users/{id}"), "ok", msg))
}

// ---------------------------------------------------------------- roles

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    page: Layout,
    builtin: Vec<(&'static str, &'static str, &'static str)>,
    custom: Vec<crate::modules::identity::entity::tenant_role::Model>,
    parents: Vec<(&'static str, String, bool)>,
    policies: Vec<(crate::authz::entity::Model, bool)>,
    can_create: bool,
    can_delete: bool,
    can_read_policies: bool,
    form: NewRoleValues,
    errors: FormErrors,
    grants: Vec<crate::modules::admin::dto::RoleGrantResponse>,
    can_grant: bool,
    grant_choices: Vec<(String, String, bool)>,
    grant_username: String,
    gerrors: FormErrors,
}

/// Values of the new-role form.
#[derive(Debug, Default)]
pub struct NewRoleValues {
    name: String,
    label: String,
}

fn role_duty(name: &str) -> &'static str {
    match name {
        "tenant_admin" => "本单位业务的全部权限；包含模块管理员的权限",
        "manager" => "管理业务模块的数据；包含操作员的权限",
        "operator" => "录入和处理业务数据；包含查看员的权限",
        "viewer" => "查看本单位及下级单位的汇总数据",
        "system_admin" => "管理下级单位和本单位的用户账号",
        "security_admin" => "分配角色、管理接入密钥、单点登录和权限规则",
        "auditor" => "只查看、核验和导出审计日志（三员分立，不能兼任管理员）",
        _ => "",
    }
}

/// What the grant form holds when shown again.
#[derive(Default)]
struct GrantValues {
    username: String,
    roles: Vec<String>,
    errors: FormErrors,
}

async fn roles_page(
    user: &PageUser,
    wanted: &[String],
    form: NewRoleValues,
    errors: FormErrors,
    grant: GrantValues,
) -> Result<RolesPage, PageError> {
    let custom = service::list_custom_roles(&user.ctx()).await?;
    let can_grant = user.state.authz.require_own(&user.who, "role_assignment", "update").is_ok();
    let grants = if user.state.authz.require_own(&user.who, "role_assignment", "read").is_ok() {
        service::list_role_grants(&user.ctx())
            .await?
            .into_iter()
            .map(|(u, home, roles)| crate::modules::admin::dto::RoleGrantResponse::new(u, &home, roles))
            .collect()
    } else {
        Vec::new()
    };
    let mut grant_choices: Vec<(String, String, bool)> = BUILTIN_ROLES
        .iter()
        .map(|(n, l)| ((*n).to_owned(), (*l).to_owned(), grant.roles.iter().any(|r| r == n)))
        .collect();
    grant_choices.extend(custom.iter().map(|r| (r.name.clone(), r.label.clone(), grant.roles.contains(&r.name))));
    let can_read_policies = user.state.authz.require_own(&user.who, "policy", "read").is_ok();
    let policies = if can_read_policies && user.who.tenant.parent_id.is_none() {
        service::list_policies(&user.ctx()).await?
    } else {
        Vec::new()
    };
    Ok(RolesPage {
        page: user.layout("角色与权限").crumb("角色与权限", None),
        builtin: BUILTIN_ROLES.iter().map(|(n, l)| (*n, *l, role_duty(n))).collect(),
        custom,
        parents: CUSTOM_ROLE_PARENTS
            .iter()
            .map(|p| {
                let label = BUILTIN_ROLES.iter().find(|(n, _)| n == p).map_or("", |(_, l)| *l);
                (*p, label.to_owned(), wanted.iter().any(|w| w == p))
            })
            .collect(),
        policies,
        can_create: user.state.authz.require_own(&user.who, "role", "create").is_ok(),
        can_delete: user.state.authz.require_own(&user.who, "role", "delete").is_ok(),
        can_read_policies,
        form,
        errors,
        grants,
        can_grant,
        grant_choices,
        grant_username: grant.username,
        gerrors: grant.errors,
    })
}

/// `GET /console/roles`.
pub async fn roles(user: PageUser) -> PageResult {
    let page = roles_page(&user, &[], NewRoleValues::default(), FormErrors::none(), GrantValues::default()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/roles`.
pub async fn create_role(user: PageUser, form: Pairs) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let req = CreateRoleRequest {
        name: field(&pairs, "name").trim().to_owned(),
        label: field(&pairs, "label").trim().to_owned(),
        inherits: fields(&pairs, "inherits"),
    };
    match service::create_custom_role(&user.ctx(), &req).await {
        Ok(r) => Ok(redirect_with("/console/roles", "ok", &format!("已创建角色 {}", r.label))),
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let values = NewRoleValues { name: req.name.clone(), label: req.label.clone() };
            let page = roles_page(&user, &req.inherits, values, errors, GrantValues::default()).await?;
            Ok(user.render(status, &page))
        }
    }
}

/// `POST /console/roles/grants`: roles for a person of a higher-level agency.
pub async fn set_grant(user: PageUser, form: Pairs) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let username = field(&pairs, "username").trim().to_owned();
    let roles = fields(&pairs, "roles");
    match service::set_role_grant(&user.ctx(), &username, &roles).await {
        Ok((u, home, roles)) => {
            let msg = if roles.is_empty() {
                format!("已取消 {}（{}）在本单位的角色", u.display_name, home.name)
            } else {
                format!("已授权 {}（{}）在本单位的角色", u.display_name, home.name)
            };
            Ok(redirect_with("/console/roles", "ok", &msg))
        }
        Err(e) if e.http_status() == StatusCode::NOT_FOUND => {
            let grant = GrantValues {
                username,
                roles,
                errors: FormErrors::from_api(&ApiError::invalid_field(
                    "username",
                    "unknown",
                    e.to_problem(None).detail.unwrap_or_default(),
                )),
            };
            let page = roles_page(&user, &[], NewRoleValues::default(), FormErrors::none(), grant).await?;
            Ok(user.render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let grant = GrantValues { username, roles, errors };
            let page = roles_page(&user, &[], NewRoleValues::default(), FormErrors::none(), grant).await?;
            Ok(user.render(status, &page))
        }
    }
}

/// `POST /console/roles/{id}/delete`.
pub async fn delete_role(user: PageUser, id: web::Path<String>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    service::delete_custom_role(&user.ctx(), parse_id(&id)?).await?;
    Ok(redirect_with("/console/roles", "ok", "角色已删除"))
}

// ---------------------------------------------------------------- API keys

#[derive(Template)]
#[template(path = "console/api_keys.html")]
struct ApiKeysPage {
    page: Layout,
    keys: Vec<api_key::Model>,
    roles: Vec<(&'static str, &'static str)>,
    can_create: bool,
    can_revoke: bool,
    form: NewKeyForm,
    errors: FormErrors,
}

/// The new-key form.
#[derive(Debug, Default, Deserialize)]
pub struct NewKeyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_in_days: String,
}

impl ApiKeysPage {
    fn key_state(&self, k: &api_key::Model) -> (&'static str, &'static str) {
        if k.revoked_at.is_some() {
            ("badge-danger", "已撤销")
        } else if k.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
            ("badge-warn", "已过期")
        } else {
            ("badge-ok", "有效")
        }
    }
}

async fn api_keys_page(user: &PageUser, form: NewKeyForm, errors: FormErrors) -> Result<ApiKeysPage, PageError> {
    Ok(ApiKeysPage {
        page: user.layout("接入密钥").crumb("接入密钥", None),
        keys: service::list_api_keys(&user.ctx()).await?,
        roles: KEY_ROLES
            .iter()
            .map(|r| (*r, BUILTIN_ROLES.iter().find(|(n, _)| n == r).map_or("", |(_, l)| *l)))
            .collect(),
        can_create: user.state.authz.require_own(&user.who, "api_key", "create").is_ok(),
        can_revoke: user.state.authz.require_own(&user.who, "api_key", "update").is_ok(),
        form,
        errors,
    })
}

/// `GET /console/api-keys`.
pub async fn api_keys(user: PageUser) -> PageResult {
    let page = api_keys_page(&user, NewKeyForm::default(), FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/api-keys`: shows the secret once.
pub async fn create_api_key(user: PageUser, form: web::Form<NewKeyForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let form = form.into_inner();
    let days = form.expires_in_days.trim();
    let expires_in_days = if days.is_empty() {
        Ok(None)
    } else {
        days.parse::<u32>()
            .map(Some)
            .map_err(|_| ApiError::invalid_field("expires_in_days", "format", "请填写 1–3650 之间的整数天数"))
    };
    let result = match expires_in_days {
        Ok(expires_in_days) => {
            let req = CreateApiKeyRequest { name: form.name.clone(), role: form.role.clone(), expires_in_days };
            service::create_api_key(&user.ctx(), &req).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((k, secret)) => {
            let page = SecretPage {
                page: user.layout("密钥已创建").crumb("接入密钥", Some("/console/api-keys")).crumb("密钥已创建", None),
                heading: format!("已创建接入密钥「{}」", k.name),
                intro: "请把密钥配置到接入系统中，调用接口时放在请求头 Authorization: Bearer <密钥>。平台只保存密钥的哈希值，此密钥只显示这一次，丢失后只能撤销并新建。".into(),
                secret_label: "密钥".into(),
                secret,
                back: "/console/api-keys".into(),
                back_label: "返回密钥列表".into(),
            };
            Ok(user.render(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let page = api_keys_page(&user, form, errors).await?;
            Ok(user.render(status, &page))
        }
    }
}

/// `POST /console/api-keys/{id}/revoke`.
pub async fn revoke_api_key(user: PageUser, id: web::Path<String>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let k = service::revoke_api_key(&user.ctx(), parse_id(&id)?).await?;
    Ok(redirect_with("/console/api-keys", "ok", &format!("密钥「{}」已撤销，即刻失效", k.name)))
}

// ---------------------------------------------------------------- SSO

#[derive(Template)]
#[template(path = "console/sso.html")]
struct SsoPage {
    page: Layout,
    v: SsoValues,
    redirect_uri: String,
    login_url: String,
    can_update: bool,
    errors: FormErrors,
}

/// Values of the SSO form.
#[derive(Debug, Default)]
pub struct SsoValues {
    issuer: String,
    client_id: String,
    has_secret: bool,
    scopes: String,
    user_claim: String,
    groups_claim: String,
    mapping: String,
    jit: bool,
    enabled: bool,
}

fn sso_page(user: &PageUser, v: SsoValues, errors: FormErrors) -> SsoPage {
    let base = user.base_url.clone();
    SsoPage {
        page: user.layout("单点登录").crumb("单点登录", None),
        redirect_uri: format!("{base}{}", sso::CALLBACK_PATH),
        login_url: format!("{base}/login/sso?tenant={}", user.who.tenant.code),
        can_update: user.state.authz.require_own(&user.who, "sso", "update").is_ok(),
        v,
        errors,
    }
}

/// `GET /console/sso`.
pub async fn sso_settings(user: PageUser) -> PageResult {
    user.ctx().require_own("sso", "read").await?;
    let row = {
        use sea_orm::EntityTrait;
        tenant_sso::Entity::find_by_id(user.who.tenant.id).one(&user.state.db).await?
    };
    let base = user.base_url.clone();
    let v = row.map_or_else(
        || SsoValues {
            scopes: "openid profile email".into(),
            user_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            ..SsoValues::default()
        },
        |r| {
            let resp = sso::to_response(&r, &user.who.tenant.code, &base);
            SsoValues {
                issuer: resp.issuer,
                client_id: resp.client_id,
                has_secret: true,
                scopes: resp.scopes.join(" "),
                user_claim: resp.user_claim,
                groups_claim: resp.groups_claim,
                mapping: resp
                    .role_mapping
                    .iter()
                    .map(|(g, roles)| format!("{g}={}", roles.join(",")))
                    .collect::<Vec<_>>()
                    .join("\n"),
                jit: resp.jit_provisioning,
                enabled: resp.enabled,
            }
        },
    );
    Ok(user.render(StatusCode::OK, &sso_page(&user, v, FormErrors::none())))
}

/// `POST /console/sso`.
pub async fn save_sso(user: PageUser, form: Pairs) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let v = SsoValues {
        issuer: field(&pairs, "issuer").trim().to_owned(),
        client_id: field(&pairs, "client_id").trim().to_owned(),
        has_secret: false,
        scopes: field(&pairs, "scopes").to_owned(),
        user_claim: field(&pairs, "user_claim").trim().to_owned(),
        groups_claim: field(&pairs, "groups_claim").trim().to_owned(),
        mapping: field(&pairs, "mapping").to_owned(),
        jit: !field(&pairs, "jit").is_empty(),
        enabled: !field(&pairs, "enabled").is_empty(),
    };
    let mut mapping = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for (i, line) in v.mapping.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        match line.split_once('=') {
            Some((g, roles)) if !g.trim().is_empty() => {
                mapping.insert(
                    g.trim().to_owned(),
                    roles.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect(),
                );
            }
            _ => errors.push(crate::error::FieldError::new(
                "mapping",
                "format",
                format!("第 {} 行应写成「组名=角色1,角色2」", i + 1),
            )),
        }
    }
    let result = if errors.is_empty() {
        let req = SsoConfigRequest {
            issuer: v.issuer.clone(),
            client_id: v.client_id.clone(),
            client_secret: opt(field(&pairs, "client_secret")),
            scopes: Some(v.scopes.split_whitespace().map(str::to_owned).collect()),
            user_claim: opt(&v.user_claim),
            groups_claim: opt(&v.groups_claim),
            role_mapping: Some(mapping),
            jit_provisioning: v.jit,
            enabled: v.enabled,
        };
        crate::modules::admin::handlers::save_sso_settings(&user.ctx(), &user.state.sso, &req).await.map(|_| ())
    } else {
        Err(ApiError::validation(errors))
    };
    match result {
        Ok(()) => Ok(redirect_with("/console/sso", "ok", "单点登录设置已保存")),
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            Ok(user.render(status, &sso_page(&user, v, errors)))
        }
    }
}

// ---------------------------------------------------------------- audit

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    page: Layout,
    rows: Vec<crate::audit::entity::record::Model>,
    total: u64,
    page_no: u64,
    pages: u64,
    f: AuditFilter,
    export_link: String,
    errors: FormErrors,
}

/// Filters of the audit page, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<u64>,
}

impl AuditFilter {
    fn query(&self, errors: &mut Vec<crate::error::FieldError>) -> AuditQuery {
        let day = |name: &str, raw: &str, errors: &mut Vec<crate::error::FieldError>, end: bool| {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                Ok(d) => {
                    let d = if end { d.succ_opt().unwrap_or(d) } else { d };
                    d.and_hms_opt(0, 0, 0)
                        .and_then(|t| t.and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600)?).single())
                        .map(|t| t.with_timezone(&chrono::Utc))
                }
                Err(_) => {
                    errors.push(crate::error::FieldError::new(name, "format", "日期格式应为 2026-01-31"));
                    None
                }
            }
        };
        AuditQuery {
            from: day("from", &self.from, errors, false),
            to: day("to", &self.to, errors, true),
            action: opt(&self.action),
            actor: opt(&self.actor),
            result: opt(&self.result),
            page: self.page,
            page_size: Some(50),
        }
    }

    fn link(&self, page: u64) -> String {
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("action", &self.action)
            .append_pair("actor", &self.actor)
            .append_pair("result", &self.result)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/console/audit?{qs}")
    }
}

impl AuditPage {
    fn label(&self, action: &str) -> &'static str {
        crate::modules::dashboard::service::action_label(action)
    }
}

/// `GET /console/audit`.
pub async fn audit(user: PageUser, f: web::Query<AuditFilter>) -> PageResult {
    let f = f.into_inner();
    let mut errors = Vec::new();
    let mut q = f.query(&mut errors);
    if !errors.is_empty() {
        q.from = None;
        q.to = None;
    }
    let (rows, page_no, page_size, total) = service::list_audit(&user.ctx(), &q).await?;
    let pages = total.div_ceil(page_size).max(1);
    let export_link = {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        if let Some(v) = &q.action {
            qs.append_pair("action", v);
        }
        if let Some(v) = &q.actor {
            qs.append_pair("actor", v);
        }
        if let Some(v) = &q.result {
            qs.append_pair("result", v);
        }
        if let Some(v) = q.from {
            qs.append_pair("from", &v.to_rfc3339());
        }
        if let Some(v) = q.to {
            qs.append_pair("to", &v.to_rfc3339());
        }
        format!("/api/v1/audit/export?{}", qs.finish())
    };
    let errors =
        if errors.is_empty() { FormErrors::none() } else { FormErrors::from_api(&ApiError::validation(errors)) };
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = AuditPage {
        page: user.layout("审计日志").crumb("审计日志", None),
        rows,
        total,
        page_no,
        pages,
        f,
        export_link,
        errors,
    };
    Ok(user.render(status, &page))
}

#[derive(Template)]
#[template(path = "console/audit_verify.html")]
struct VerifyFragment {
    report: crate::audit::VerifyReport,
}

/// `POST /console/audit/verify` (htmx): the verification result as a fragment.
pub async fn verify_audit(user: PageUser, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let report = service::verify_audit(&user.ctx()).await?;
    Ok(super::page::html(StatusCode::OK, &VerifyFragment { report }))
}

/// `GET /console/users/`-style trailing slashes and unknown console pages.
pub async fn not_found() -> PageResult {
    Err(ApiError::not_found("没有这个页面").into())
}
