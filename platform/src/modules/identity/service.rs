//! Login, session checks, logout and password changes.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use suyuan_tenancy::entity::tenant;

use super::dto::{MeResponse, TenantView, UserView};
use super::entity::{invitation, password_history, session, tenant_role, user, user_role};
use super::password;
use super::sessions::SessionStore;
use crate::audit::{self, Actor, ClientInfo};
use crate::config::Settings;
use crate::error::{ApiError, ApiResult, FieldError};

/// How many of a user's last passwords a new one may not repeat (GB/T 22239 practice).
pub const PASSWORD_HISTORY: u64 = 5;

/// A checked session with its user and tenant.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    /// The session row.
    pub session: session::Model,
    /// The user.
    pub user: user::Model,
    /// The tenant the session acts in.
    pub tenant: tenant::Model,
    /// The user's roles in that tenant, as assigned (custom roles by name).
    pub roles: Vec<String>,
    /// The roles that decide permissions (custom roles expanded to the built-in ones).
    pub effective_roles: Vec<String>,
}

/// Any authenticated caller: a signed-in user or a connected system's API key.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The tenant the caller acts in.
    pub tenant: tenant::Model,
    /// The caller's roles in that tenant.
    pub roles: Vec<String>,
    /// Who, for the audit log.
    pub actor: Actor,
    /// The user, for a session.
    pub user_id: Option<uuid::Uuid>,
    /// The key, for an API key.
    pub key_id: Option<uuid::Uuid>,
}

impl Authenticated {
    /// This caller as an audit actor.
    #[must_use]
    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }
}

impl From<SessionAuth> for Authenticated {
    fn from(s: SessionAuth) -> Self {
        Self { actor: s.actor(), user_id: Some(s.user.id), key_id: None, tenant: s.tenant, roles: s.effective_roles }
    }
}

impl SessionAuth {
    /// The `me` view.
    #[must_use]
    pub fn to_me(&self) -> MeResponse {
        me(&self.user, &self.tenant, self.roles.clone(), self.session.expires_at)
    }

    /// This user as an audit actor.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor { user_id: Some(self.user.id), name: self.user.username.clone() }
    }
}

/// The roles `user_id` holds in `tenant_id`, sorted.
///
/// # Errors
/// Database failures.
pub async fn roles_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: uuid::Uuid,
    tenant_id: uuid::Uuid,
) -> ApiResult<Vec<String>> {
    let mut roles: Vec<String> = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user_id))
        .filter(user_role::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.role)
        .collect();
    roles.sort();
    Ok(roles)
}

/// The roles that decide permissions: the assigned ones plus the built-in roles that assigned
/// custom roles sit under. Custom roles are expanded here, outside casbin, so the policy set
/// stays the same for every tenant.
///
/// # Errors
/// Database failures.
pub async fn effective_roles<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant_id: uuid::Uuid,
    assigned: &[String],
) -> ApiResult<Vec<String>> {
    let mut out = assigned.to_vec();
    let custom: Vec<&String> = assigned.iter().filter(|r| !suyuan_policies::is_builtin_role(r)).collect();
    if !custom.is_empty() {
        let rows = tenant_role::Entity::find()
            .filter(tenant_role::Column::TenantId.eq(tenant_id))
            .filter(tenant_role::Column::Name.is_in(custom.iter().map(|s| s.as_str())))
            .all(db)
            .await?;
        out.extend(rows.iter().flat_map(tenant_role::Model::parents));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn me(user: &user::Model, tenant: &tenant::Model, roles: Vec<String>, expires_at: DateTime<Utc>) -> MeResponse {
    MeResponse {
        kind: super::dto::UserKind::User,
        user: UserView { id: user.id, username: user.username.clone(), display_name: user.display_name.clone() },
        tenant: TenantView {
            id: tenant.id,
            code: tenant.code.clone(),
            name: tenant.name.clone(),
            level: tenant.level.clone(),
        },
        roles,
        must_change_password: user.must_change_password,
        session_expires_at: expires_at,
    }
}

/// The SHA-256 (hex) under which a session token is stored.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

/// A hash to verify against when the user does not exist, so both answers take as long.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash("dummy-Password-1").unwrap_or_default())
}

async fn verify_blocking(password: String, hash: String) -> ApiResult<bool> {
    password::verify_any_off_thread(&password, vec![hash]).await
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("用户名或密码错误").with_code("invalid_credentials")
}

/// What a login is counted against: the rate limits and the failure counter.
#[derive(Clone, Copy)]
pub struct LoginGuard<'a> {
    /// The limits (per address, per account name and address).
    pub limits: &'a crate::limits::Limits,
    /// Where failed logins are counted.
    pub metrics: &'a crate::metrics::Metrics,
}

/// Checks the password and opens a session. Returns the cookie token and the `me` view.
///
/// An attacker is slowed, never the account closed: attempts are limited per client address
/// (`rate_limit_login`) and per account name and address (`login_max_failures` per
/// `login_lockout_secs`), counted before anything is looked up, so a name that exists and one
/// that does not are throttled alike; the real user at another address signs in meanwhile. A
/// wrong password, an unknown name and a disabled account get the same 401 (an unknown name
/// is verified against a dummy hash, so it takes as long); only the right password of a
/// disabled account or suspended tenant learns why it cannot sign in. Failures of known
/// accounts are audited in their tenant; unknown names are only counted
/// (`suyuan_login_failures_total{reason="unknown_user"}`), so anonymous callers cannot fill an
/// audit chain.
///
/// # Errors
/// 422 for empty fields, 429 `rate_limited`, 401 `invalid_credentials`, 403 for a disabled
/// account or suspended tenant (right password only), 503 `server_busy` when every hashing slot
/// is taken.
pub async fn login(
    db: &DatabaseConnection,
    sessions: &SessionStore,
    settings: &Settings,
    guard: LoginGuard<'_>,
    username: &str,
    password_in: &str,
    client: ClientInfo,
) -> ApiResult<(String, MeResponse)> {
    use crate::limits::{Class, Key};
    let username = username.trim().to_lowercase();
    let mut errors = Vec::new();
    if username.is_empty() {
        errors.push(FieldError::new("username", "required", "请输入用户名"));
    }
    if password_in.is_empty() {
        errors.push(FieldError::new("password", "required", "请输入密码"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let ip = client
        .ip
        .as_deref()
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let throttled = |e: ApiError| {
        guard.metrics.login_failed("throttled");
        e
    };
    guard.limits.check(Class::Login, &Key::addr(ip)).await.map_err(throttled)?;
    guard.limits.check(Class::LoginAccount, &Key::account(&username, ip)).await.map_err(throttled)?;
    let Some(found) = user::Entity::find().filter(user::Column::Username.eq(&username)).one(db).await? else {
        verify_blocking(password_in.to_owned(), dummy_hash().to_owned()).await?;
        // Counted, not chained: the name belongs to no tenant, and anyone can send names.
        guard.metrics.login_failed("unknown_user");
        tracing::info!(ip = %ip, "login failed: unknown user name");
        return Err(invalid_credentials());
    };
    let ok = match &found.password_hash {
        Some(hash) => verify_blocking(password_in.to_owned(), hash.clone()).await?,
        None => {
            // An account without a password (SSO or invited) takes as long as any other.
            verify_blocking(password_in.to_owned(), dummy_hash().to_owned()).await?;
            false
        }
    };
    if !ok {
        guard.metrics.login_failed("wrong_password");
        let reason = if found.status == "active" { "wrong_password" } else { "wrong_password_disabled" };
        let entry = login_entry(
            found.tenant_id,
            Some(found.id),
            &username,
            false,
            &client,
            serde_json::json!({"reason": reason}),
        );
        audit::record(db, entry).await?;
        return Err(invalid_credentials());
    }
    if found.status != "active" {
        let entry = login_entry(
            found.tenant_id,
            Some(found.id),
            &username,
            false,
            &client,
            serde_json::json!({"reason": "disabled"}),
        );
        audit::record(db, entry).await?;
        return Err(ApiError::forbidden_code("account_disabled", "账号已停用，请联系管理员"));
    }
    let tenant = tenant::Entity::find_by_id(found.tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user {} has no tenant", found.id)))?;
    if tenant.status != "active" {
        let entry = login_entry(
            found.tenant_id,
            Some(found.id),
            &username,
            false,
            &client,
            serde_json::json!({"reason": "tenant_suspended"}),
        );
        audit::record(db, entry).await?;
        return Err(ApiError::forbidden_code("tenant_suspended", "所属单位已暂停使用"));
    }
    let roles = roles_of(db, found.id, tenant.id).await?;
    let txn = db.begin().await?;
    let (token, expires_at) = open_session(&txn, sessions, settings, &found, &tenant, &client).await?;
    audit::record(&txn, login_entry(tenant.id, Some(found.id), &found.username, true, &client, serde_json::json!({})))
        .await?;
    txn.commit().await?;
    tracing::info!(user = %found.username, tenant = %tenant.code, "login");
    Ok((token, me(&found, &tenant, roles, expires_at)))
}

/// Opens a session for a user who has proved who they are; returns the cookie token and the
/// session's absolute end. Call inside the login's transaction.
///
/// # Errors
/// Database failures.
pub async fn open_session<C: sea_orm::ConnectionTrait>(
    db: &C,
    sessions: &SessionStore,
    settings: &Settings,
    user: &user::Model,
    tenant: &tenant::Model,
    client: &ClientInfo,
) -> ApiResult<(String, DateTime<Utc>)> {
    let token = new_token();
    let now = Utc::now();
    let expires_at = now + secs(settings.session_absolute_secs);
    let row = session::Model {
        id: token_hash(&token),
        user_id: user.id,
        tenant_id: tenant.id,
        created_at: now,
        last_seen_at: now,
        expires_at,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        revoked_at: None,
    };
    sessions.save(db, &row, settings.session_idle_secs).await?;
    Ok((token, expires_at))
}

pub(crate) fn login_entry<'a>(
    tenant_id: uuid::Uuid,
    user_id: Option<uuid::Uuid>,
    name: &str,
    success: bool,
    client: &'a ClientInfo,
    detail: serde_json::Value,
) -> audit::Entry<'a> {
    audit::Entry {
        tenant_id,
        actor: Actor { user_id, name: name.to_owned() },
        action: if success { "login" } else { "login.failed" },
        object_type: "user",
        object_id: user_id.map(|u| u.to_string()).unwrap_or_else(|| name.to_owned()),
        success,
        client,
        detail,
    }
}

fn session_expired() -> ApiError {
    ApiError::unauthorized("登录已超时，请重新登录").with_code("session_expired")
}

/// Checks a session token: not revoked, not past its absolute end, not idle too long; the
/// user active and the tenant not suspended. Refreshes the idle clock.
///
/// # Errors
/// 401 `unauthorized` or `session_expired`.
pub async fn authenticate(
    db: &DatabaseConnection,
    sessions: &SessionStore,
    settings: &Settings,
    token: &str,
) -> ApiResult<SessionAuth> {
    let now = Utc::now();
    let Some(sess) = sessions.find(db, &token_hash(token)).await? else {
        return Err(ApiError::unauthorized("请先登录"));
    };
    if now >= sess.expires_at || now - sess.last_seen_at > secs(settings.session_idle_secs) {
        return Err(session_expired());
    }
    let user = user::Entity::find_by_id(sess.user_id).one(db).await?.filter(|u| u.status == "active");
    let Some(user) = user else {
        return Err(ApiError::unauthorized("账号已停用"));
    };
    let tenant = tenant::Entity::find_by_id(sess.tenant_id).one(db).await?.filter(|t| t.status == "active");
    let Some(tenant) = tenant else {
        return Err(ApiError::unauthorized("所属单位已暂停使用"));
    };
    // A session switched into another tenant ends too when the user's own tenant is suspended.
    if user.tenant_id != tenant.id
        && tenant::Entity::find_by_id(user.tenant_id).one(db).await?.is_none_or(|home| home.status != "active")
    {
        return Err(ApiError::unauthorized("所属单位已暂停使用"));
    }
    let roles = roles_of(db, user.id, tenant.id).await?;
    let effective_roles = effective_roles(db, tenant.id, &roles).await?;
    // Refresh the idle clock, but not on every request: at most every tenth of the idle time
    // (and at most once a minute).
    let refresh_after = secs(Ord::min(settings.session_idle_secs / 10, 60));
    let sess = if now - sess.last_seen_at >= refresh_after {
        let touched = session::Model { last_seen_at: now, ..sess };
        sessions.touch(db, &touched, settings.session_idle_secs).await?;
        touched
    } else {
        sess
    };
    Ok(SessionAuth { session: sess, user, tenant, roles, effective_roles })
}

/// The tenants a user may act in: the home tenant and every active tenant where the user
/// holds a role, in tree order.
///
/// # Errors
/// Database failures.
pub async fn tenants_of(db: &DatabaseConnection, user_id: uuid::Uuid) -> ApiResult<Vec<tenant::Model>> {
    let Some(u) = user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(Vec::new());
    };
    let mut ids: Vec<uuid::Uuid> = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.tenant_id)
        .collect();
    ids.push(u.tenant_id);
    ids.sort();
    ids.dedup();
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(ids))
        .filter(tenant::Column::Status.eq("active"))
        .order_by_asc(tenant::Column::Path)
        .all(db)
        .await?)
}

/// Lets a session act in another tenant where the user holds a role (the tenant switcher).
///
/// # Errors
/// 403 when the user holds no role there or the tenant is suspended; 404 for an unknown tenant.
pub async fn switch_tenant(
    db: &DatabaseConnection,
    sessions: &SessionStore,
    settings: &Settings,
    auth: &SessionAuth,
    tenant_id: uuid::Uuid,
    client: &ClientInfo,
) -> ApiResult<MeResponse> {
    let target =
        tenant::Entity::find_by_id(tenant_id).one(db).await?.ok_or_else(|| ApiError::not_found("单位不存在"))?;
    let roles = roles_of(db, auth.user.id, target.id).await?;
    let home = target.id == auth.user.tenant_id;
    if target.status != "active" || (roles.is_empty() && !home) {
        return Err(ApiError::forbidden("您在该单位没有角色，不能切换到该单位"));
    }
    let moved = session::Model { tenant_id: target.id, last_seen_at: Utc::now(), ..auth.session.clone() };
    let txn = db.begin().await?;
    sessions.touch(&txn, &moved, settings.session_idle_secs).await?;
    let detail = serde_json::json!({"from": auth.tenant.code, "to": target.code});
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: target.id,
            actor: auth.actor(),
            action: "session.switch_tenant",
            object_type: "tenant",
            object_id: target.id.to_string(),
            success: true,
            client,
            detail,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(me(&auth.user, &target, roles, moved.expires_at))
}

/// Ends one session.
///
/// # Errors
/// Database failures.
pub async fn logout(
    db: &DatabaseConnection,
    sessions: &SessionStore,
    auth: &SessionAuth,
    client: &ClientInfo,
) -> ApiResult<()> {
    let txn = db.begin().await?;
    sessions.revoke(&txn, &auth.session).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: auth.tenant.id,
            actor: auth.actor(),
            action: "logout",
            object_type: "user",
            object_id: auth.user.id.to_string(),
            success: true,
            client,
            detail: serde_json::json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password after checking the current one and the rules; ends the user's other
/// sessions and lifts the forced change.
///
/// # Errors
/// 422 naming `current_password` or `new_password`; nothing is changed then.
pub async fn change_password(
    db: &DatabaseConnection,
    sessions: &SessionStore,
    auth: &SessionAuth,
    current: &str,
    new: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    let hash = auth.user.password_hash.clone().unwrap_or_default();
    if !verify_blocking(current.to_owned(), hash).await? {
        return Err(ApiError::invalid_field("current_password", "mismatch", "当前密码不正确"));
    }
    password::check_rules("new_password", &auth.user.username, new).map_err(|e| ApiError::validation(vec![e]))?;
    if new == current {
        return Err(ApiError::invalid_field("new_password", "same_as_current", "新密码不能与当前密码相同"));
    }
    let recent: Vec<String> = password_history::Entity::find()
        .filter(password_history::Column::UserId.eq(auth.user.id))
        .order_by_desc(password_history::Column::CreatedAt)
        .limit(PASSWORD_HISTORY)
        .all(db)
        .await?
        .into_iter()
        .map(|h| h.password_hash)
        .collect();
    let reused = password::verify_any_off_thread(new, recent).await?;
    if reused {
        return Err(ApiError::invalid_field(
            "new_password",
            "recently_used",
            format!("新密码不能与最近 {PASSWORD_HISTORY} 次使用过的密码相同"),
        ));
    }
    let new_hash = password::hash_off_thread(new).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    password_history::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(auth.user.id),
        password_hash: Set(new_hash.clone()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let keep: Vec<uuid::Uuid> = password_history::Entity::find()
        .filter(password_history::Column::UserId.eq(auth.user.id))
        .order_by_desc(password_history::Column::CreatedAt)
        .limit(PASSWORD_HISTORY)
        .all(&txn)
        .await?
        .into_iter()
        .map(|h| h.id)
        .collect();
    password_history::Entity::delete_many()
        .filter(password_history::Column::UserId.eq(auth.user.id))
        .filter(password_history::Column::Id.is_not_in(keep))
        .exec(&txn)
        .await?;
    let mut active = auth.user.clone().into_active_model();
    active.password_hash = Set(Some(new_hash));
    active.must_change_password = Set(false);
    active.password_changed_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(&txn).await?;
    sessions.revoke_user(&txn, auth.user.id, Some(&auth.session.id)).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: auth.tenant.id,
            actor: auth.actor(),
            action: "password.change",
            object_type: "user",
            object_id: auth.user.id.to_string(),
            success: true,
            client,
            detail: serde_json::json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user = %auth.user.username, "password changed");
    Ok(())
}

/// Prefix of every API key, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "sy_";

/// A new API key secret.
#[must_use]
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", new_token())
}

/// Checks an API key: known, not revoked, not expired, its tenant active. Records its use
/// (at most once a minute).
///
/// # Errors
/// 401 `unauthorized`.
pub async fn authenticate_key(db: &DatabaseConnection, secret: &str) -> ApiResult<Authenticated> {
    use super::entity::api_key;
    let refused = || ApiError::unauthorized("API 密钥无效、已撤销或已过期");
    if !secret.starts_with(API_KEY_PREFIX) {
        return Err(refused());
    }
    let now = Utc::now();
    // The key and its tenant in one statement: every request of a connected system comes here.
    let to_tenant =
        api_key::Entity::belongs_to(tenant::Entity).from(api_key::Column::TenantId).to(tenant::Column::Id).into();
    let (key, tenant) = api_key::Entity::find()
        .join(sea_orm::JoinType::InnerJoin, to_tenant)
        .select_also(tenant::Entity)
        .filter(api_key::Column::KeyHash.eq(token_hash(secret)))
        .one(db)
        .await?
        .filter(|(k, _)| k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now))
        .ok_or_else(refused)?;
    let tenant = tenant.filter(|t| t.status == "active").ok_or_else(|| ApiError::unauthorized("所属单位已暂停使用"))?;
    if key.last_used_at.is_none_or(|t| now - t > Duration::seconds(60)) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(key.id))
            .exec(db)
            .await?;
    }
    Ok(Authenticated {
        tenant,
        roles: vec![key.role.clone()],
        actor: Actor { user_id: None, name: format!("key:{}", key.name) },
        user_id: None,
        key_id: Some(key.id),
    })
}

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Home tenant.
    pub tenant_id: uuid::Uuid,
    /// Login name (already checked, lower case).
    pub username: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// argon2id hash; `None` for SSO-only accounts.
    pub password_hash: Option<String>,
    /// The password is a one-time one that must be changed at first login.
    pub must_change_password: bool,
    /// `issuer#sub` for SSO accounts.
    pub sso_subject: Option<String>,
}

/// Inserts an account.
///
/// # Errors
/// Database failures (a taken user name is a unique-constraint error; check first).
pub async fn insert_user<C: sea_orm::ConnectionTrait>(db: &C, new: NewUser<'_>) -> ApiResult<user::Model> {
    let now = Utc::now();
    Ok(user::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(new.tenant_id),
        username: Set(new.username.to_owned()),
        display_name: Set(new.display_name.chars().take(100).collect()),
        password_hash: Set(new.password_hash),
        must_change_password: Set(new.must_change_password),
        status: Set("active".to_owned()),
        failed_logins: Set(0),
        locked_until: Set(None),
        password_changed_at: Set(None),
        sso_subject: Set(new.sso_subject),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Replaces the roles a user holds in a tenant.
///
/// # Errors
/// Database failures.
pub async fn replace_roles<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    roles: &[String],
) -> ApiResult<()> {
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(user_id))
        .filter(user_role::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    let now = Utc::now();
    for role in roles {
        user_role::ActiveModel {
            user_id: Set(user_id),
            tenant_id: Set(tenant_id),
            role: Set(role.clone()),
            created_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// How long an invitation link stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// Creates a one-time invitation for an account without a password; returns the token (for
/// the link) and its end.
///
/// # Errors
/// Database failures.
pub async fn create_invitation<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: uuid::Uuid,
) -> ApiResult<(String, DateTime<Utc>)> {
    let token = new_token();
    let now = Utc::now();
    let expires_at = now + Duration::days(INVITATION_DAYS);
    invitation::ActiveModel {
        id: Set(token_hash(&token)),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// Sets the first password of an invited account; the invitation is used up.
///
/// # Errors
/// 404 for an unknown, used or expired invitation; 422 naming `new_password`.
pub async fn accept_invitation(
    db: &DatabaseConnection,
    token: &str,
    new_password: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    let gone =
        || ApiError::not_found("邀请链接无效、已使用或已过期，请联系上级单位重新邀请").with_code("invitation_invalid");
    let now = Utc::now();
    let inv = invitation::Entity::find_by_id(token_hash(token))
        .one(db)
        .await?
        .filter(|i| i.used_at.is_none() && i.expires_at > now)
        .ok_or_else(gone)?;
    let account =
        user::Entity::find_by_id(inv.user_id).one(db).await?.filter(|u| u.status == "active").ok_or_else(gone)?;
    password::check_rules("new_password", &account.username, new_password)
        .map_err(|e| ApiError::validation(vec![e]))?;
    let hash = password::hash_off_thread(new_password).await?;
    let txn = db.begin().await?;
    // Used up first, so two concurrent acceptances cannot both succeed.
    let used = invitation::Entity::update_many()
        .col_expr(invitation::Column::UsedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(inv.id.clone()))
        .filter(invitation::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(gone());
    }
    password_history::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(account.id),
        password_hash: Set(hash.clone()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut am = account.clone().into_active_model();
    am.password_hash = Set(Some(hash));
    am.must_change_password = Set(false);
    am.password_changed_at = Set(Some(now));
    am.updated_at = Set(now);
    am.update(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: account.tenant_id,
            actor: Actor { user_id: Some(account.id), name: account.username.clone() },
            action: "invitation.accept",
            object_type: "user",
            object_id: account.id.to_string(),
            success: true,
            client,
            detail: serde_json::json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
