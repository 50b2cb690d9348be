//! Single sign-on through each tenant's OpenID Connect provider: authorization code flow with
//! PKCE, `state` and `nonce` checked, optional just-in-time accounts and group → role mapping.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{Duration, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse as _,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use suyuan_policies::duty::{Duty, check_mapped, duty_of};
use suyuan_tenancy::entity::tenant;
use utoipa::ToSchema;
use uuid::Uuid;

use super::entity::{sso_login, tenant_sso, user};

use super::service::{NewUser, insert_user, login_entry, open_session, replace_roles, roles_of};
use crate::audit::{self, ClientInfo};
use crate::config::Settings;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::outbound::Outbound;

/// How long a login may stay at the provider.
const LOGIN_TTL_MINUTES: i64 = 10;

/// The path of the callback on this server; register `{public URL}` + this at the provider.
pub const CALLBACK_PATH: &str = "/api/v1/auth/sso/callback";

/// `PUT /api/v1/sso`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoConfigRequest {
    /// Issuer URL of the provider (its discovery document is read from it). Its host must be
    /// reachable under the operator's `outbound_allow` (public addresses, or listed ones);
    /// otherwise 422 with rule `not_allowed`.
    #[schema(example = "https://sso.shandong.gov.cn/realms/agency")]
    pub issuer: String,
    /// Client id registered at the provider.
    pub client_id: String,
    /// Client secret; leave out to keep the stored one.
    pub client_secret: Option<String>,
    /// Scopes; default `openid profile email`.
    pub scopes: Option<Vec<String>>,
    /// ID-token claim naming the user: `preferred_username` (default), `email` or `sub`.
    pub user_claim: Option<String>,
    /// ID-token claim listing groups; default `groups`.
    pub groups_claim: Option<String>,
    /// Provider group → built-in roles. When not empty, a user's roles are set from their
    /// groups at every SSO login.
    pub role_mapping: Option<BTreeMap<String, Vec<String>>>,
    /// Create accounts for unknown users at their first login.
    pub jit_provisioning: bool,
    /// Offer SSO on the login page.
    pub enabled: bool,
}

/// A tenant's SSO settings (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoConfigResponse {
    /// Issuer.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// User claim.
    pub user_claim: String,
    /// Groups claim.
    pub groups_claim: String,
    /// Group → roles.
    pub role_mapping: BTreeMap<String, Vec<String>>,
    /// Just-in-time accounts.
    pub jit_provisioning: bool,
    /// Enabled.
    pub enabled: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// The login URL to link from the login page.
    pub login_url: String,
}

/// Query of `GET /api/v1/auth/sso/{code}/login`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SsoLoginQuery {
    /// A path on this server to go to after login (default `/`).
    pub return_to: Option<String>,
}

/// Query of the callback, as the provider sends it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SsoCallbackQuery {
    /// Authorization code.
    pub code: Option<String>,
    /// The `state` sent with the login.
    pub state: Option<String>,
    /// Error from the provider.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// The base URL of this server as the browser sees it: `public_url` when set (set it in
/// production); otherwise the request's `Host`, and `X-Forwarded-Host`/`-Proto` only when the
/// request comes from a trusted proxy (`trusted_proxies`), so a client cannot point links and
/// the SSO redirect URI at another host through forwarded headers.
#[must_use]
pub fn base_url(settings: &Settings, req: &actix_web::HttpRequest) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let forwarded = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or_default().trim().to_owned())
    };
    let (scheme, host) = if crate::audit::from_trusted_proxy(req) {
        (forwarded("x-forwarded-proto"), forwarded("x-forwarded-host"))
    } else {
        (None, None)
    };
    let scheme = scheme.filter(|s| s == "https" || s == "http").unwrap_or_else(|| "http".to_owned());
    let host = host
        .or_else(|| req.headers().get(actix_web::http::header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{scheme}://{host}")
}

/// Whether the browser reached this server over HTTPS (directly or through a trusted proxy):
/// decides the `Secure` flag of cookies.
#[must_use]
pub fn is_https(settings: &Settings, req: &actix_web::HttpRequest) -> bool {
    base_url(settings, req).starts_with("https://")
}

fn mapping_of(row: &tenant_sso::Model) -> BTreeMap<String, Vec<String>> {
    serde_json::from_str(&row.role_mapping).unwrap_or_default()
}

/// The response view of a stored configuration.
#[must_use]
pub fn to_response(row: &tenant_sso::Model, tenant_code: &str, base: &str) -> SsoConfigResponse {
    SsoConfigResponse {
        issuer: row.issuer.clone(),
        client_id: row.client_id.clone(),
        scopes: row.scopes.split_whitespace().map(ToOwned::to_owned).collect(),
        user_claim: row.user_claim.clone(),
        groups_claim: row.groups_claim.clone(),
        role_mapping: mapping_of(row),
        jit_provisioning: row.jit_provisioning,
        enabled: row.enabled,
        redirect_uri: format!("{base}{CALLBACK_PATH}"),
        login_url: format!("{base}/api/v1/auth/sso/{tenant_code}/login"),
    }
}

/// Checks and stores a tenant's SSO settings. The caller's guard check is done by the handler.
///
/// # Errors
/// 422 naming every bad field.
pub async fn save_config(
    db: &DatabaseConnection,
    providers: &Providers,
    tenant_id: Uuid,
    req: &SsoConfigRequest,
) -> ApiResult<tenant_sso::Model> {
    let mut errors = Vec::new();
    match url::Url::parse(&req.issuer) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => {
            if providers.outbound.check(&req.issuer).await.is_err() {
                errors.push(FieldError::new("issuer", "not_allowed", crate::outbound::NOT_ALLOWED));
            }
        }
        _ => errors.push(FieldError::new("issuer", "format", "应为 http(s) 开头的网址")),
    }
    if req.client_id.trim().is_empty() {
        errors.push(FieldError::new("client_id", "required", "不能为空"));
    }
    let user_claim = req.user_claim.clone().unwrap_or_else(|| "preferred_username".to_owned());
    if !matches!(user_claim.as_str(), "preferred_username" | "email" | "sub") {
        errors.push(FieldError::new("user_claim", "one_of", "应为 preferred_username、email 或 sub"));
    }
    let mapping = req.role_mapping.clone().unwrap_or_default();
    for (group, roles) in &mapping {
        for role in roles {
            if !suyuan_policies::is_builtin_role(role) {
                errors.push(FieldError::new(
                    format!("role_mapping.{group}"),
                    "unknown_role",
                    format!("没有名为 {role} 的角色"),
                ));
            }
        }
        if let Err(v) = suyuan_policies::duty::check_mapped(roles) {
            errors.push(FieldError::new(format!("role_mapping.{group}"), v.code, v.message));
        }
    }
    let existing = tenant_sso::Entity::find_by_id(tenant_id).one(db).await?;
    let secret = req.client_secret.clone().or_else(|| existing.as_ref().map(|e| e.client_secret.clone()));
    if secret.as_deref().is_none_or(str::is_empty) {
        errors.push(FieldError::new("client_secret", "required", "不能为空"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let scopes = req.scopes.clone().unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
    let row = tenant_sso::ActiveModel {
        tenant_id: Set(tenant_id),
        issuer: Set(req.issuer.trim_end_matches('/').to_owned()),
        client_id: Set(req.client_id.trim().to_owned()),
        client_secret: Set(secret.unwrap_or_default()),
        scopes: Set(scopes.join(" ")),
        user_claim: Set(user_claim),
        groups_claim: Set(req.groups_claim.clone().unwrap_or_else(|| "groups".to_owned())),
        role_mapping: Set(serde_json::to_string(&mapping).unwrap_or_else(|_| "{}".to_owned())),
        jit_provisioning: Set(req.jit_provisioning),
        enabled: Set(req.enabled),
        updated_at: Set(Utc::now()),
    };
    let saved = if existing.is_some() { row.update(db).await? } else { row.insert(db).await? };
    // Saving again reads the provider's document (and keys) afresh at the next login.
    if let Some(old) = existing {
        providers.forget(&old.issuer).await;
    }
    providers.forget(&saved.issuer).await;
    Ok(saved)
}

/// What people see when the provider cannot be read, whatever the reason: a closed port, a
/// live one answering an error, a refused address or a bad document all look the same (the
/// cause is logged at debug level).
const UNREACHABLE: &str = "无法连接身份提供方，请稍后再试；如果问题持续，请联系本单位管理员";

/// How long a provider's discovery document and keys are used before they are read again.
pub const DISCOVERY_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// How long a failure to read them is remembered (no fetch per anonymous login meanwhile).
pub const DISCOVERY_FAILURE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// Issuers kept at most (one per tenant with SSO at the very most).
const DISCOVERY_CAPACITY: u64 = 10_000;

/// A provider's metadata with its keys, or `None` when reading them failed.
type Discovered = Option<Arc<CoreProviderMetadata>>;

struct DiscoveryExpiry;

impl moka::Expiry<String, Discovered> for DiscoveryExpiry {
    fn expire_after_create(
        &self,
        _issuer: &String,
        value: &Discovered,
        _created_at: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Some(if value.is_some() { DISCOVERY_TTL } else { DISCOVERY_FAILURE_TTL })
    }
}

/// The identity providers as this server knows them: the allow-listed HTTP client and, per
/// issuer, the discovery document with its keys. The anonymous login route cannot make the
/// server fetch at will: a document (or a failure to read it) is kept for its lifetime, and
/// concurrent logins wait for the one fetch in flight.
#[derive(Clone)]
pub struct Providers {
    outbound: Outbound,
    discovered: moka::future::Cache<String, Discovered>,
}

impl Providers {
    /// Providers reached through `outbound`.
    #[must_use]
    pub fn new(outbound: Outbound) -> Self {
        let discovered =
            moka::future::Cache::builder().max_capacity(DISCOVERY_CAPACITY).expire_after(DiscoveryExpiry).build();
        Self { outbound, discovered }
    }

    /// The issuer's metadata and keys, from the cache or read once.
    async fn metadata(&self, issuer: &str) -> ApiResult<Arc<CoreProviderMetadata>> {
        let outbound = self.outbound.clone();
        let owned = issuer.to_owned();
        let found = self
            .discovered
            .get_with(issuer.to_owned(), async move {
                let Ok(url) = IssuerUrl::new(owned.clone()) else { return None };
                match CoreProviderMetadata::discover_async(url, &outbound).await {
                    Ok(m) => Some(Arc::new(m)),
                    Err(e) => {
                        tracing::debug!(issuer = %owned, error = %error_chain(&e), "sso: provider metadata not read");
                        None
                    }
                }
            })
            .await;
        found.ok_or_else(|| ApiError::unavailable(UNREACHABLE))
    }

    /// Drops what is known of `issuer`.
    pub async fn forget(&self, issuer: &str) {
        self.discovered.invalidate(issuer).await;
    }
}

/// An error with its causes, for the debug log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn sso_failed(detail: impl Into<String>) -> ApiError {
    ApiError::unauthorized(detail).with_code("sso_failed")
}

async fn provider(
    cfg: &tenant_sso::Model,
    redirect: &str,
    providers: &Providers,
) -> ApiResult<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
> {
    IssuerUrl::new(cfg.issuer.clone()).map_err(|e| sso_failed(format!("身份提供方地址无效: {e}")))?;
    let metadata = providers.metadata(&cfg.issuer).await?;
    let redirect = RedirectUrl::new(redirect.to_owned()).map_err(ApiError::internal)?;
    Ok(CoreClient::from_provider_metadata(
        CoreProviderMetadata::clone(&metadata),
        ClientId::new(cfg.client_id.clone()),
        Some(ClientSecret::new(cfg.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// Starts a login: remembers state, nonce and PKCE verifier, returns the provider's URL.
///
/// # Errors
/// 404 when the tenant has no enabled SSO; 503 when the provider cannot be reached.
pub async fn start(
    db: &DatabaseConnection,
    providers: &Providers,
    tenant_code: &str,
    base: &str,
    return_to: Option<&str>,
    link_user: Option<uuid::Uuid>,
) -> ApiResult<(String, String)> {
    let tenant = tenant::Entity::find()
        .filter(tenant::Column::Code.eq(tenant_code))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("单位不存在"))?;
    let cfg = tenant_sso::Entity::find_by_id(tenant.id)
        .one(db)
        .await?
        .filter(|c| c.enabled)
        .ok_or_else(|| ApiError::not_found("该单位未启用单点登录"))?;
    let return_to = local_path(return_to);
    let client = provider(&cfg, &format!("{base}{CALLBACK_PATH}"), providers).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in cfg.scopes.split_whitespace().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, state, nonce) = request.url();
    sso_login::Entity::delete_many()
        .filter(sso_login::Column::CreatedAt.lt(Utc::now() - Duration::minutes(LOGIN_TTL_MINUTES)))
        .exec(db)
        .await?;
    sso_login::ActiveModel {
        state: Set(state.secret().clone()),
        tenant_id: Set(tenant.id),
        nonce: Set(nonce.secret().clone()),
        pkce_verifier: Set(verifier.secret().clone()),
        return_to: Set(return_to),
        created_at: Set(Utc::now()),
        link_user_id: Set(link_user),
    }
    .insert(db)
    .await?;
    Ok((url.to_string(), state.secret().clone()))
}

/// The cookie that binds a login's `state` to the browser that started it, so a callback
/// link made by someone else cannot sign this browser into their account (login CSRF).
pub const STATE_COOKIE: &str = "suyuan_sso_state";

/// Only a path on this server, never an open redirect: `//host`, `/\\host` (which browsers
/// read as `//host`), schemes and control characters fall back to `/`.
pub(crate) fn local_path(return_to: Option<&str>) -> String {
    match return_to {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The groups in a verified ID token (the typed claims of the library carry no groups).
fn groups_in(id_token: &str, claim: &str) -> Vec<String> {
    let payload = id_token.split('.').nth(1).unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else { return Vec::new() };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Vec::new() };
    json.get(claim)
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(ToOwned::to_owned)).collect())
        .unwrap_or_default()
}

fn username_from(claim: &str) -> String {
    let base: String = claim
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c) { c } else { '_' })
        .take(48)
        .collect();
    if base.len() < 3 { format!("sso_{base}") } else { base }
}

/// The first free user name among `base`, `base.{tenant code}`, `base.{tenant code}.2`, …
/// (user names are unique across the deployment; provider names may fold to one).
///
/// # Errors
/// 409 when even the numbered names are taken; database failures.
async fn free_username(db: &impl sea_orm::ConnectionTrait, base: &str, tenant_code: &str) -> ApiResult<String> {
    let candidates = std::iter::once(base.to_owned())
        .chain(std::iter::once(format!("{base}.{tenant_code}")))
        .chain((2..=50).map(|n| format!("{base}.{tenant_code}.{n}")));
    for name in candidates {
        if user::Entity::find().filter(user::Column::Username.eq(name.clone())).one(db).await?.is_none() {
            return Ok(name);
        }
    }
    Err(ApiError::conflict(format!("用户名 {base} 及其编号变体均已被使用，请联系本单位管理员开通账号")))
}

/// Finishes a login: checks state, exchanges the code with the PKCE verifier, verifies the ID
/// token (signature, issuer, audience, expiry, nonce), finds or creates the account, sets roles
/// from groups, opens a session. Returns the cookie token and where to go.
///
/// # Errors
/// 401 `sso_failed` for a wrong or expired state, a provider error, a bad token or nonce; 403
/// for an unknown user without just-in-time accounts, a disabled account or suspended tenant.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    db: &DatabaseConnection,
    providers: &Providers,
    sessions: &super::sessions::SessionStore,
    settings: &Settings,
    base: &str,
    q: &SsoCallbackQuery,
    client_info: &ClientInfo,
    signed_in: Option<uuid::Uuid>,
    state_cookie: Option<&str>,
) -> ApiResult<Finished> {
    let state = q.state.clone().unwrap_or_default();
    if state.is_empty() || state_cookie.is_none_or(|c| !crate::web::page::same_token(c, &state)) {
        return Err(sso_failed("登录请求不是从本浏览器发起的（state 不匹配），请重新登录"));
    }
    // One use only: the row is removed whatever happens next.
    let pending = sso_login::Entity::find_by_id(state.clone()).one(db).await?;
    sso_login::Entity::delete_by_id(state).exec(db).await?;
    let pending = pending
        .filter(|p| Utc::now() - p.created_at < Duration::minutes(LOGIN_TTL_MINUTES))
        .ok_or_else(|| sso_failed("登录请求无效或已过期（state 不匹配），请重新登录"))?;
    if let Some(error) = &q.error {
        return Err(sso_failed(format!(
            "身份提供方拒绝了登录: {error} {}",
            q.error_description.clone().unwrap_or_default()
        )));
    }
    let code = q.code.clone().ok_or_else(|| sso_failed("缺少授权码"))?;
    let tenant =
        tenant::Entity::find_by_id(pending.tenant_id).one(db).await?.ok_or_else(|| sso_failed("单位不存在"))?;
    let cfg = tenant_sso::Entity::find_by_id(tenant.id)
        .one(db)
        .await?
        .filter(|c| c.enabled)
        .ok_or_else(|| sso_failed("该单位未启用单点登录"))?;
    let client = provider(&cfg, &format!("{base}{CALLBACK_PATH}"), providers).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| sso_failed(format!("身份提供方没有令牌端点: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&providers.outbound)
        .await
        .map_err(|e| match e {
            // The provider's own OAuth answer (`invalid_grant`…) is for people; anything else
            // (connection, status, body) is "unreachable", the cause in the debug log.
            openidconnect::RequestTokenError::ServerResponse(r) => {
                sso_failed(format!("身份提供方拒绝了令牌请求（{}）", r.error()))
            }
            other => {
                tracing::debug!(issuer = %cfg.issuer, error = %error_chain(&other), "sso: token request failed");
                ApiError::unavailable(UNREACHABLE)
            }
        })?;
    let id_token = token.id_token().ok_or_else(|| sso_failed("身份提供方没有返回 ID 令牌"))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce.clone()))
        .map_err(|e| sso_failed(format!("ID 令牌校验失败: {e}")))?;
    let subject = format!("{}#{}", cfg.issuer, claims.subject().as_str());
    let name_claim = match cfg.user_claim.as_str() {
        "email" => claims.email().map(|e| e.as_str().to_owned()),
        "sub" => Some(claims.subject().as_str().to_owned()),
        _ => claims.preferred_username().map(|u| u.as_str().to_owned()),
    }
    .ok_or_else(|| sso_failed(format!("ID 令牌中没有 {} 声明", cfg.user_claim)))?;
    let display = claims.name().and_then(|n| n.get(None)).map_or_else(|| name_claim.clone(), |n| n.as_str().to_owned());
    let groups = groups_in(&id_token.to_string(), &cfg.groups_claim);
    let mapping = mapping_of(&cfg);

    let txn = db.begin().await?;
    let found = user::Entity::find().filter(user::Column::SsoSubject.eq(subject.clone())).one(&txn).await?;
    if let Some(link_user) = pending.link_user_id {
        return link(txn, &tenant, link_user, signed_in, found.as_ref(), &subject, &cfg.issuer, client_info)
            .await
            .map(|()| Finished::Linked { return_to: pending.return_to.clone() });
    }
    let account = match found {
        Some(u) => u,
        None if cfg.jit_provisioning => {
            let username = free_username(&txn, &username_from(&name_claim), &tenant.code).await?;
            insert_user(
                &txn,
                NewUser {
                    tenant_id: tenant.id,
                    username: &username,
                    display_name: &display,
                    password_hash: None,
                    must_change_password: false,
                    sso_subject: Some(subject.clone()),
                },
            )
            .await?
        }
        None => {
            return Err(ApiError::forbidden_code("sso_user_not_provisioned", "该用户尚未开通账号，请联系本单位管理员"));
        }
    };
    if account.tenant_id != tenant.id {
        return Err(ApiError::forbidden("该账号不属于此单位"));
    }
    if account.status != "active" {
        return Err(ApiError::forbidden_code("account_disabled", "账号已停用，请联系管理员"));
    }
    if tenant.status != "active" {
        return Err(ApiError::forbidden_code("tenant_suspended", "所属单位已暂停使用"));
    }
    // The mapping sets the roles of accounts that do business work only. An account that holds
    // a duty (system, security, audit) keeps the roles people gave it, and a stored mapping
    // that would hand out a duty (saved before the rule) hands out nothing.
    let mut roles = roles_of(&txn, account.id, tenant.id).await?;
    let business_only = roles.iter().all(|r| duty_of(r) == Duty::Business);
    if !mapping.is_empty() && business_only {
        let mut mapped: Vec<String> = groups.iter().filter_map(|g| mapping.get(g)).flatten().cloned().collect();
        mapped.sort();
        mapped.dedup();
        if check_mapped(&mapped).is_err() {
            return Err(ApiError::forbidden_code(
                "separation_of_duties",
                "单点登录的分组映射包含三员角色，已拒绝登录；请安全管理员修改映射",
            ));
        }
        replace_roles(&txn, account.id, tenant.id, &mapped).await?;
        roles = mapped;
    }
    let mut am = account.clone().into_active_model();
    am.updated_at = Set(Utc::now());
    let account = am.update(&txn).await?;
    let (cookie, _) = open_session(&txn, sessions, settings, &account, &tenant, client_info).await?;
    let mut entry = login_entry(
        tenant.id,
        Some(account.id),
        &account.username,
        true,
        client_info,
        serde_json::json!({"method": "sso", "issuer": cfg.issuer, "groups": groups, "roles": roles}),
    );
    entry.action = "login.sso";
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(Finished::SignedIn { token: cookie, return_to: pending.return_to })
}

/// How a callback ended.
#[derive(Debug)]
pub enum Finished {
    /// A session was opened: set this cookie token and go on.
    SignedIn {
        /// Session cookie token.
        token: String,
        /// Where to go.
        return_to: String,
    },
    /// The provider's identity was linked to the signed-in account; no new session.
    Linked {
        /// Where to go.
        return_to: String,
    },
}

/// Links the provider's identity to the local account that started the link. The callback
/// must come with that account's own session (so nobody can make another person's provider
/// identity land in their account), and the identity may belong to no other account.
#[allow(clippy::too_many_arguments)]
async fn link(
    txn: sea_orm::DatabaseTransaction,
    tenant: &tenant::Model,
    link_user: uuid::Uuid,
    signed_in: Option<uuid::Uuid>,
    holder: Option<&user::Model>,
    subject: &str,
    issuer: &str,
    client_info: &ClientInfo,
) -> ApiResult<()> {
    if signed_in != Some(link_user) {
        return Err(sso_failed("关联统一身份认证须在发起关联的登录状态下完成，请重新登录后再试"));
    }
    let account = user::Entity::find_by_id(link_user)
        .one(&txn)
        .await?
        .filter(|u| u.tenant_id == tenant.id && u.status == "active")
        .ok_or_else(|| ApiError::forbidden("该账号不属于此单位或已停用"))?;
    if let Some(other) = holder.filter(|h| h.id != account.id) {
        return Err(ApiError::conflict(format!("该统一身份已关联账号 {}，不能重复关联", other.username)));
    }
    let mut am = account.clone().into_active_model();
    am.sso_subject = Set(Some(subject.to_owned()));
    am.updated_at = Set(Utc::now());
    am.update(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: tenant.id,
            actor: audit::Actor { user_id: Some(account.id), name: account.username.clone() },
            action: "user.link_sso",
            object_type: "user",
            object_id: account.id.to_string(),
            success: true,
            client: client_info,
            detail: serde_json::json!({"issuer": issuer}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_server() {
        assert_eq!(local_path(Some("/api/v1/auth/me")), "/api/v1/auth/me");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/ok\nLocation: x")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn usernames_from_claims_are_safe() {
        assert_eq!(username_from("Zhang.Wei@SD.gov.cn"), "zhang.wei_sd.gov.cn");
        assert_eq!(username_from("李"), "sso__");
    }

    #[test]
    fn groups_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"groups":["a","b"],"sub":"x"}"#);
        assert_eq!(groups_in(&format!("h.{payload}.s"), "groups"), ["a", "b"]);
        assert!(groups_in("garbage", "groups").is_empty());
    }
}
