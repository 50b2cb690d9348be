//! Business rules of administration: every function checks the guard, writes in one
//! transaction and records the audit entry in it.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use suyuan_policies::duty;
use suyuan_policies::{CUSTOM_ROLE_PARENTS, KEY_ROLES, Scope, is_builtin_role};
use suyuan_tenancy::division::child_path;
use suyuan_tenancy::entity::tenant;
use suyuan_tenancy::{DivisionCode, Reach, TenantScope};
use uuid::Uuid;

use super::dto::{
    AuditQuery, CreateApiKeyRequest, CreatePolicyRequest, CreateRoleRequest, CreateTenantRequest, CreateUserRequest,
    TenantProfileRequest,
};
use crate::audit::{self, ClientInfo, entity::record};
use crate::authz::Authz;
use crate::bootstrap::FIRST_ADMIN_ROLES;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::identity::entity::{api_key, tenant_role, user, user_role};
use crate::modules::identity::password;
use crate::modules::identity::service::{
    Authenticated, NewUser, create_invitation, insert_user, new_api_key, replace_roles, roles_of, token_hash,
};
use crate::modules::identity::sessions::SessionStore;
use crate::paging::Paging;

/// Everything a command needs about its caller.
pub struct Ctx<'a> {
    /// Database.
    pub db: &'a DatabaseConnection,
    /// Guard.
    pub authz: &'a Authz,
    /// Caller.
    pub who: &'a Authenticated,
    /// Caller's client.
    pub client: &'a ClientInfo,
    /// Session store (to end sessions).
    pub sessions: &'a SessionStore,
}

impl Ctx<'_> {
    /// The guard, with refusals recorded in the audit log (result `failure`).
    ///
    /// # Errors
    /// 403 when refused.
    pub async fn require(&self, target: &tenant::Model, resource: &str, action: &str) -> ApiResult<Scope> {
        match self.authz.require(self.who, target, resource, action) {
            Ok(scope) => Ok(scope),
            Err(refused) => Err(self.deny(target, resource, action, refused).await?),
        }
    }

    /// Records a refusal in the audit log and returns the refusal.
    ///
    /// # Errors
    /// Database failures while recording.
    pub async fn deny(
        &self,
        target: &tenant::Model,
        resource: &str,
        action: &str,
        refused: ApiError,
    ) -> ApiResult<ApiError> {
        let mut entry = self.entry(
            "access.denied",
            resource,
            target.id.to_string(),
            serde_json::json!({"action": action, "target_tenant": target.code}),
        );
        entry.success = false;
        audit::record(self.db, entry).await?;
        if target.id != self.who.tenant.id {
            self.record_in_target(target, resource, action).await?;
        }
        Ok(refused)
    }

    /// A refusal aimed at another tenant goes into that tenant's chain too (its auditor sees
    /// who tried), at most once per caller and minute ([`audit::refusals`]).
    async fn record_in_target(&self, target: &tenant::Model, resource: &str, action: &str) -> ApiResult<()> {
        let caller = match (self.who.user_id, self.who.key_id) {
            (Some(u), _) => format!("user:{u}"),
            (None, Some(k)) => format!("key:{k}"),
            (None, None) => format!("name:{}", self.who.actor.name),
        };
        let audit::refusals::Decision::Record { suppressed_before } =
            audit::refusals::throttle().decide(target.id, &caller, std::time::Instant::now())
        else {
            return Ok(());
        };
        let entry = audit::Entry {
            tenant_id: target.id,
            actor: self.who.actor(),
            action: audit::INBOUND_DENIED_ACTION,
            object_type: resource,
            object_id: target.id.to_string(),
            success: false,
            client: self.client,
            detail: serde_json::json!({
                "action": action,
                "caller_tenant": self.who.tenant.code,
                "caller_tenant_name": self.who.tenant.name,
                "suppressed_before": suppressed_before,
            }),
        };
        audit::record(self.db, entry).await?;
        Ok(())
    }

    /// The caller's own tenant as a [`TenantScope`], once the guard allows `action` on
    /// `resource` there. Tenant data is reached only through scopes handed out here.
    ///
    /// # Errors
    /// 403 when refused.
    pub async fn own_scope(&self, resource: &str, action: &str) -> ApiResult<TenantScope> {
        self.require_own(resource, action).await?;
        Ok(TenantScope::new(&self.who.tenant, Reach::Own))
    }

    /// The widest scope the caller's roles allow for reading `resource`: the caller's tenant
    /// and its subtree when a role grants it for tenants below, else the own tenant.
    ///
    /// # Errors
    /// 403 when not even the own tenant is allowed.
    pub async fn read_scope(&self, resource: &str, action: &str) -> ApiResult<TenantScope> {
        self.require_own(resource, action).await?;
        let reach =
            if self.authz.allows(self.who, Scope::Descendant, resource, action) { Reach::Subtree } else { Reach::Own };
        Ok(TenantScope::new(&self.who.tenant, reach))
    }

    /// [`Ctx::require`] on the caller's own tenant.
    ///
    /// # Errors
    /// 403 when refused.
    pub async fn require_own(&self, resource: &str, action: &str) -> ApiResult<()> {
        self.require(&self.who.tenant, resource, action).await.map(|_| ())
    }

    /// An audit entry by the caller.
    pub fn entry<'b>(
        &'b self,
        action: &'b str,
        object_type: &'b str,
        object_id: String,
        detail: serde_json::Value,
    ) -> audit::Entry<'b> {
        audit::Entry {
            tenant_id: self.who.tenant.id,
            actor: self.who.actor(),
            action,
            object_type,
            object_id,
            success: true,
            client: self.client,
            detail,
        }
    }
}

fn check_username(field: &str, username: &str, errors: &mut Vec<FieldError>) {
    let ok_chars = username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !(3..=64).contains(&username.len()) {
        errors.push(FieldError::new(field, "length", "用户名长度应为 3–64 个字符"));
    } else if !ok_chars {
        errors.push(FieldError::new(field, "format", "用户名只能包含小写字母、数字、下划线、点和连字符"));
    }
}

fn check_name(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let n = value.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new(field, "required", "不能为空"));
    } else if n > 100 {
        errors.push(FieldError::new(field, "too_long", "不能超过 100 个字符"));
    }
}

async fn username_taken(db: &impl sea_orm::ConnectionTrait, username: &str) -> ApiResult<bool> {
    Ok(user::Entity::find().filter(user::Column::Username.eq(username)).count(db).await? > 0)
}

async fn tenant_by_id(db: &DatabaseConnection, id: Uuid) -> ApiResult<tenant::Model> {
    tenant::Entity::find_by_id(id).one(db).await?.ok_or_else(|| ApiError::not_found("单位不存在"))
}

/// The caller's tenant and every tenant below it, in tree order.
///
/// # Errors
/// 403 without `tenant:read`.
pub async fn list_tenants(ctx: &Ctx<'_>) -> ApiResult<Vec<tenant::Model>> {
    let scope = ctx.read_scope("tenant", "read").await?;
    Ok(tenant::Entity::find().filter(scope.tenants()).order_by_asc(tenant::Column::Path).all(ctx.db).await?)
}

/// A page of the caller's tenant and the tenants below it, in tree order, and how many there are.
///
/// # Errors
/// 403, database failures.
pub async fn list_tenants_page(ctx: &Ctx<'_>, paging: Paging) -> ApiResult<(Vec<tenant::Model>, u64)> {
    let scope = ctx.read_scope("tenant", "read").await?;
    let pages = tenant::Entity::find()
        .filter(scope.tenants())
        .order_by_asc(tenant::Column::Path)
        .order_by_asc(tenant::Column::Id)
        .paginate(ctx.db, paging.page_size);
    let total = pages.num_items().await?;
    Ok((pages.fetch_page(paging.page - 1).await?, total))
}

/// One tenant in the caller's subtree.
///
/// # Errors
/// 404, or 403 outside the subtree.
pub async fn get_tenant(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<tenant::Model> {
    let t = tenant_by_id(ctx.db, id).await?;
    ctx.require(&t, "tenant", "read").await?;
    Ok(t)
}

/// Creates a tenant directly below the caller's with its first administrator; returns the
/// administrator's one-time invitation token and its end.
///
/// # Errors
/// 422 for bad fields (every one listed), 409 for a taken code or user name, 403.
pub async fn create_tenant(
    ctx: &Ctx<'_>,
    req: &CreateTenantRequest,
) -> ApiResult<(tenant::Model, String, chrono::DateTime<Utc>)> {
    ctx.require_own("tenant", "create").await?;
    let parent = &ctx.who.tenant;
    let checked = check_new_tenant(parent, req)?;
    let txn = ctx.db.begin().await?;
    let out = insert_tenant(ctx, &txn, parent, &checked).await?;
    txn.commit().await?;
    Ok(out)
}

/// A new tenant's fields, checked.
pub(crate) struct NewTenant {
    code: DivisionCode,
    name: String,
    admin_username: String,
    admin_display_name: String,
    admin_email: Option<String>,
}

/// Checks a new tenant below `parent`; every bad field is listed.
pub(crate) fn check_new_tenant(parent: &tenant::Model, req: &CreateTenantRequest) -> ApiResult<NewTenant> {
    let mut errors = Vec::new();
    let code = match DivisionCode::parse(req.code.trim()) {
        Ok(code) => {
            let parent_code = DivisionCode::parse_stored(&parent.code).map_err(ApiError::internal)?;
            if let Err(e) = parent_code.check_child(&code) {
                errors.push(FieldError::new("code", "nesting", e.to_string()));
            }
            Some(code)
        }
        Err(e) => {
            errors.push(FieldError::new("code", e.rule(), e.to_string()));
            None
        }
    };
    check_name("name", &req.name, &mut errors);
    let admin_username = req.admin_username.trim().to_lowercase();
    check_username("admin_username", &admin_username, &mut errors);
    check_name("admin_display_name", &req.admin_display_name, &mut errors);
    let admin_email = optional_text("admin_email", req.admin_email.as_ref(), 255, &mut errors);
    crate::validate::email("admin_email", admin_email.as_deref().unwrap_or_default(), &mut errors);
    let (Some(code), true) = (code, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    Ok(NewTenant {
        code,
        name: req.name.trim().to_owned(),
        admin_username,
        admin_display_name: req.admin_display_name.trim().to_owned(),
        admin_email,
    })
}

/// Inserts a checked tenant with its first administrator and invitation, and the audit entry,
/// in `txn`.
///
/// # Errors
/// 409 for a taken code or user name.
pub(crate) async fn insert_tenant(
    ctx: &Ctx<'_>,
    txn: &sea_orm::DatabaseTransaction,
    parent: &tenant::Model,
    new: &NewTenant,
) -> ApiResult<(tenant::Model, String, chrono::DateTime<Utc>)> {
    let code = new.code;
    if tenant::Entity::find().filter(tenant::Column::Code.eq(code.as_str())).count(txn).await? > 0 {
        return Err(ApiError::conflict(format!("单位代码 {code} 已存在")));
    }
    if username_taken(txn, &new.admin_username).await? {
        return Err(ApiError::conflict(format!("用户名 {} 已被使用", new.admin_username)));
    }
    let now = Utc::now();
    let t = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(code.to_string()),
        name: Set(new.name.clone()),
        level: Set(code.level().as_str().to_owned()),
        parent_id: Set(Some(parent.id)),
        path: Set(child_path(&parent.path, &code)),
        status: Set("active".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        contact_email: Set(new.admin_email.clone()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let admin = insert_user(
        txn,
        NewUser {
            tenant_id: t.id,
            username: &new.admin_username,
            display_name: &new.admin_display_name,
            // No password until the invitation is accepted.
            password_hash: None,
            must_change_password: false,
            sso_subject: None,
        },
    )
    .await?;
    let roles: Vec<String> = FIRST_ADMIN_ROLES.iter().map(|r| (*r).to_owned()).collect();
    replace_roles(txn, admin.id, t.id, &roles).await?;
    let (token, expires_at) = create_invitation(txn, admin.id).await?;
    let detail = serde_json::json!({"code": t.code, "name": t.name, "admin": new.admin_username});
    audit::record(txn, ctx.entry("tenant.create", "tenant", t.id.to_string(), detail)).await?;
    Ok((t, token, expires_at))
}

/// Suspends (blocks every user of it at once) or re-activates a tenant below the caller's.
///
/// # Errors
/// 404, 403 (own tenant, siblings, ancestors).
pub async fn set_tenant_status(ctx: &Ctx<'_>, id: Uuid, active: bool) -> ApiResult<tenant::Model> {
    let t = tenant_by_id(ctx.db, id).await?;
    ctx.require(&t, "tenant", "update").await?;
    let status = if active { "active" } else { "suspended" };
    let txn = ctx.db.begin().await?;
    let mut am = t.into_active_model();
    am.status = Set(status.to_owned());
    am.updated_at = Set(Utc::now());
    let t = am.update(&txn).await?;
    let action = if active { "tenant.activate" } else { "tenant.suspend" };
    audit::record(&txn, ctx.entry(action, "tenant", t.id.to_string(), serde_json::json!({"code": t.code}))).await?;
    txn.commit().await?;
    Ok(t)
}

/// Users of the caller's tenant with their roles.
///
/// # Errors
/// 403 without `user:read`.
pub async fn list_users(ctx: &Ctx<'_>) -> ApiResult<Vec<(user::Model, Vec<String>)>> {
    let scope = ctx.own_scope("user", "read").await?;
    let users = user::Entity::find()
        .filter(scope.condition(user::Column::TenantId))
        .order_by_asc(user::Column::Username)
        .all(ctx.db)
        .await?;
    let roles = user_role::Entity::find().filter(scope.condition(user_role::Column::TenantId)).all(ctx.db).await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let mut r: Vec<String> = roles.iter().filter(|x| x.user_id == u.id).map(|x| x.role.clone()).collect();
            r.sort();
            (u, r)
        })
        .collect())
}

/// A page of the users of the caller's tenant by user name, with their roles, and how many there
/// are.
///
/// # Errors
/// 403, database failures.
pub async fn list_users_page(ctx: &Ctx<'_>, paging: Paging) -> ApiResult<(Vec<(user::Model, Vec<String>)>, u64)> {
    let scope = ctx.own_scope("user", "read").await?;
    let pages = user::Entity::find()
        .filter(scope.condition(user::Column::TenantId))
        .order_by_asc(user::Column::Username)
        .order_by_asc(user::Column::Id)
        .paginate(ctx.db, paging.page_size);
    let total = pages.num_items().await?;
    let users = pages.fetch_page(paging.page - 1).await?;
    let roles = user_role::Entity::find()
        .filter(scope.condition(user_role::Column::TenantId))
        .filter(user_role::Column::UserId.is_in(users.iter().map(|u| u.id)))
        .all(ctx.db)
        .await?;
    let rows = users
        .into_iter()
        .map(|u| {
            let mut r: Vec<String> = roles.iter().filter(|x| x.user_id == u.id).map(|x| x.role.clone()).collect();
            r.sort();
            (u, r)
        })
        .collect();
    Ok((rows, total))
}

/// A user, their tenant, how the caller reaches that tenant, and their roles there.
struct Account {
    user: user::Model,
    tenant: tenant::Model,
    scope: Scope,
    roles: Vec<String>,
}

/// Loads a user and checks the caller may do `action` on `resource` in the user's tenant. The
/// duty rules ([`guard_account`]) are the caller's next step.
async fn account_for(ctx: &Ctx<'_>, id: Uuid, resource: &str, action: &str) -> ApiResult<Account> {
    let u = user::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("用户不存在"))?;
    let t = tenant_by_id(ctx.db, u.tenant_id).await?;
    let scope = ctx.require(&t, resource, action).await?;
    let roles = roles_of(ctx.db, u.id, t.id).await?;
    Ok(Account { user: u, tenant: t, scope, roles })
}

/// The duty rules for reaching an account (三员分立, see `docs/security.md`):
/// - a tenant reaches the accounts of the tenants below it only where they are guarded (hold
///   `auditor` or `security_admin`), to read them, reset, disable or end them and change their
///   roles — the tenant above guards the guards;
/// - inside its own tenant a guarded account is only read: its own system administrator cannot
///   take the auditor's account over, its security administrator cannot be stripped by the
///   administrators it watches (at the root, the `suyuan user` command on the server acts);
/// - nobody acts on their own account through an administrator's command.
///
/// `guarded` says whether the account is (or, for a change of roles, will be) guarded.
async fn guard_account(
    ctx: &Ctx<'_>,
    account: &Account,
    (resource, action): (&str, &str),
    guarded: bool,
) -> ApiResult<()> {
    let refusal = if ctx.who.user_id == Some(account.user.id) && action != "read" {
        Some(ApiError::forbidden_code("separation_of_duties", "不能通过管理操作修改自己的账号或角色（三员分立）"))
    } else {
        match account.scope {
            Scope::Descendant if !guarded => {
                Some(ApiError::forbidden("下级单位的账号由该单位自行管理；上级单位只管理其审计员和安全管理员"))
            }
            Scope::Own if guarded && action != "read" => Some(ApiError::forbidden_code(
                "separation_of_duties",
                "审计员和安全管理员的账号只能由上级单位管理（国家级平台在服务器上用 suyuan user 命令）",
            )),
            _ => None,
        }
    };
    match refusal {
        Some(refused) => Err(ctx.deny(&account.tenant, resource, action, refused).await?),
        None => Ok(()),
    }
}

/// One user.
///
/// # Errors
/// 404, 403.
pub async fn get_user(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<(user::Model, Vec<String>)> {
    let account = account_for(ctx, id, "user", "read").await?;
    guard_account(ctx, &account, ("user", "read"), duty::is_protected(&account.roles)).await?;
    Ok((account.user, account.roles))
}

/// Creates a user in the caller's tenant with a one-time password and no role.
///
/// # Errors
/// 422, 409, 403.
pub async fn create_user(ctx: &Ctx<'_>, req: &CreateUserRequest) -> ApiResult<(user::Model, String)> {
    let scope = ctx.own_scope("user", "create").await?;
    let username = req.username.trim().to_lowercase();
    let mut errors = Vec::new();
    check_username("username", &username, &mut errors);
    check_name("display_name", &req.display_name, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let initial = password::generate();
    let hash = password::hash_off_thread(&initial).await?;
    let txn = ctx.db.begin().await?;
    if username_taken(&txn, &username).await? {
        return Err(ApiError::conflict(format!("用户名 {username} 已被使用")));
    }
    let u = insert_user(
        &txn,
        NewUser {
            tenant_id: scope.tenant_id(),
            username: &username,
            display_name: req.display_name.trim(),
            password_hash: Some(hash),
            must_change_password: true,
            sso_subject: None,
        },
    )
    .await?;
    audit::record(&txn, ctx.entry("user.create", "user", u.id.to_string(), serde_json::json!({"username": username})))
        .await?;
    txn.commit().await?;
    Ok((u, initial))
}

/// What an administrator does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserCommand {
    /// Disable: the user can no longer log in; every session ends at once.
    Disable,
    /// Enable again.
    Enable,
    /// New one-time password; must be changed at next login; sessions end; lock lifted.
    ResetPassword,
    /// End every session of the user.
    EndSessions,
}

/// Runs an administrator's command on an account. Returns the one-time password for a reset.
///
/// # Errors
/// 404; 409 when disabling oneself; 403 by the guard or the duty rules (a guarded account
/// inside its own tenant, another tenant's unguarded account, one's own account).
pub async fn user_command(ctx: &Ctx<'_>, id: Uuid, cmd: UserCommand) -> ApiResult<(user::Model, Option<String>)> {
    let account = account_for(ctx, id, "user", "update").await?;
    if cmd == UserCommand::Disable && ctx.who.user_id == Some(account.user.id) {
        return Err(ApiError::conflict("不能停用自己的账号"));
    }
    if cmd != UserCommand::EndSessions || ctx.who.user_id != Some(account.user.id) {
        guard_account(ctx, &account, ("user", "update"), duty::is_protected(&account.roles)).await?;
    }
    apply_user_command(ctx, account.user, cmd).await
}

/// Applies a checked command to an account in one transaction with its audit entry.
async fn apply_user_command(
    ctx: &Ctx<'_>,
    u: user::Model,
    cmd: UserCommand,
) -> ApiResult<(user::Model, Option<String>)> {
    let initial = if cmd == UserCommand::ResetPassword { Some(password::generate()) } else { None };
    let hash = match &initial {
        Some(p) => Some(password::hash_off_thread(p).await?),
        None => None,
    };
    let now = Utc::now();
    let txn = ctx.db.begin().await?;
    let mut am = u.clone().into_active_model();
    am.updated_at = Set(now);
    let action = match cmd {
        UserCommand::Disable => {
            am.status = Set("disabled".to_owned());
            "user.disable"
        }
        UserCommand::Enable => {
            am.status = Set("active".to_owned());
            "user.enable"
        }
        UserCommand::ResetPassword => {
            am.password_hash = Set(hash);
            am.must_change_password = Set(true);
            am.failed_logins = Set(0);
            am.locked_until = Set(None);
            "user.reset_password"
        }
        UserCommand::EndSessions => "user.end_sessions",
    };
    let u = am.update(&txn).await?;
    if cmd != UserCommand::Enable {
        ctx.sessions.revoke_user(&txn, u.id, None).await?;
    }
    audit::record(&txn, ctx.entry(action, "user", u.id.to_string(), serde_json::json!({"username": u.username})))
        .await?;
    txn.commit().await?;
    Ok((u, initial))
}

/// What the `suyuan user` command on the server does to an account.
#[derive(Debug, Clone)]
pub enum ServerUserCommand {
    /// Reset, disable, enable or end sessions.
    Run(UserCommand),
    /// Replace the account's roles in its tenant.
    SetRoles(Vec<String>),
}

/// The `suyuan user` command on the server: the last resort for the root tenant's guarded
/// accounts (its auditors and security administrators), which no tenant above can reach, and
/// for an agency that has locked itself out. Whoever runs it holds the server and its
/// database, not a role; the duty rules that keep one role from another do not apply, the
/// role-combination rule does, and the tenant's audit log records the act as the server's.
///
/// # Errors
/// 404 for an unknown user; 422 for unknown roles or an auditor who is also an administrator.
pub async fn server_user_command(
    db: &DatabaseConnection,
    sessions: &SessionStore,
    username: &str,
    cmd: ServerUserCommand,
) -> ApiResult<(user::Model, Option<String>, Vec<String>)> {
    let username = username.trim().to_lowercase();
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(&username))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("没有用户 {username}")))?;
    let t = tenant_by_id(db, u.tenant_id).await?;
    let authz = Authz::load(db).await.map_err(ApiError::internal)?;
    let who = Authenticated {
        tenant: t.clone(),
        roles: Vec::new(),
        actor: audit::Actor { user_id: None, name: SERVER_ACTOR.to_owned() },
        user_id: None,
        key_id: None,
    };
    let client = ClientInfo::default();
    let ctx = Ctx { db, authz: &authz, who: &who, client: &client, sessions };
    let (u, initial) = match cmd {
        ServerUserCommand::Run(cmd) => apply_user_command(&ctx, u, cmd).await?,
        ServerUserCommand::SetRoles(roles) => {
            let wanted = checked_roles(&ctx, t.id, &roles).await?;
            let before = roles_of(db, u.id, t.id).await?;
            let txn = db.begin().await?;
            replace_roles(&txn, u.id, t.id, &wanted).await?;
            let detail = serde_json::json!({"username": u.username, "before": before, "after": wanted});
            audit::record(&txn, ctx.entry("user.set_roles", "user", u.id.to_string(), detail)).await?;
            txn.commit().await?;
            (u, None)
        }
    };
    let roles = roles_of(db, u.id, t.id).await?;
    Ok((u, initial, roles))
}

/// How the audit log names the `suyuan user` command on the server.
pub const SERVER_ACTOR: &str = "suyuan user（服务器命令行）";

/// The wanted roles, trimmed, sorted and checked: every one built in or a custom role of the
/// tenant, and no auditor who is also an administrator.
async fn checked_roles(ctx: &Ctx<'_>, tenant_id: Uuid, roles: &[String]) -> ApiResult<Vec<String>> {
    let mut wanted: Vec<String> = roles.iter().map(|r| r.trim().to_owned()).collect();
    wanted.sort();
    wanted.dedup();
    let mut errors = Vec::new();
    let custom: Vec<String> = tenant_role::Entity::find()
        .filter(tenant_role::Column::TenantId.eq(tenant_id))
        .all(ctx.db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    for (i, r) in wanted.iter().enumerate() {
        if !is_builtin_role(r) && !custom.contains(r) {
            errors.push(FieldError::new(format!("roles[{i}]"), "unknown_role", format!("没有名为 {r} 的角色")));
        }
    }
    if let Err(v) = duty::check_combination(&wanted) {
        errors.push(FieldError::new("roles", v.code, v.message));
    }
    if errors.is_empty() { Ok(wanted) } else { Err(ApiError::validation(errors)) }
}

/// People of higher-level agencies who hold roles in the caller's tenant, with their home
/// tenant and those roles.
///
/// # Errors
/// 403 without `role_assignment:read`.
pub async fn list_role_grants(ctx: &Ctx<'_>) -> ApiResult<Vec<(user::Model, tenant::Model, Vec<String>)>> {
    let scope = ctx.own_scope("role_assignment", "read").await?;
    let grants = user_role::Entity::find().filter(scope.condition(user_role::Column::TenantId)).all(ctx.db).await?;
    let mut ids: Vec<Uuid> = grants.iter().map(|g| g.user_id).collect();
    ids.sort();
    ids.dedup();
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .filter(user::Column::TenantId.ne(scope.tenant_id()))
        .order_by_asc(user::Column::Username)
        .all(ctx.db)
        .await?;
    let mut out = Vec::new();
    for u in users {
        let home = tenant_by_id(ctx.db, u.tenant_id).await?;
        let mut roles: Vec<String> = grants.iter().filter(|g| g.user_id == u.id).map(|g| g.role.clone()).collect();
        roles.sort();
        out.push((u, home, roles));
    }
    Ok(out)
}

/// Gives a person of a higher-level agency roles in the caller's tenant (or, with no roles,
/// takes them away). They then reach this tenant through the tenant switcher.
///
/// # Errors
/// 404 for an unknown user; 422 for a user who is not from a higher-level agency, unknown roles
/// or an auditor who is also an administrator; 403 without `role_assignment:update`.
pub async fn set_role_grant(
    ctx: &Ctx<'_>,
    username: &str,
    roles: &[String],
) -> ApiResult<(user::Model, tenant::Model, Vec<String>)> {
    ctx.require_own("role_assignment", "update").await?;
    let own = &ctx.who.tenant;
    let username = username.trim().to_lowercase();
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(&username))
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("没有用户 {username}")))?;
    let home = tenant_by_id(ctx.db, u.tenant_id).await?;
    if home.id == own.id || !own.path.starts_with(&home.path) {
        return Err(ApiError::invalid_field(
            "username",
            "not_ancestor",
            "只能授权上级单位的人员；本单位人员请在用户详情中分配角色",
        ));
    }
    let wanted = checked_roles(ctx, own.id, roles).await?;
    let before = roles_of(ctx.db, u.id, own.id).await?;
    let txn = ctx.db.begin().await?;
    replace_roles(&txn, u.id, own.id, &wanted).await?;
    let detail = serde_json::json!({"username": u.username, "home": home.code, "before": before, "after": wanted});
    audit::record(&txn, ctx.entry("role_grant.set", "user", u.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok((u, home, wanted))
}

/// Replaces a user's roles in their tenant.
///
/// # Errors
/// 422 for unknown roles or an auditor who is also an administrator; 404; 403 by the guard or
/// the duty rules (one's own roles; a guarded account inside its own tenant; another
/// tenant's account that neither is nor becomes guarded).
pub async fn set_roles(ctx: &Ctx<'_>, id: Uuid, roles: &[String]) -> ApiResult<(user::Model, Vec<String>)> {
    let account = account_for(ctx, id, "role_assignment", "update").await?;
    let t = &account.tenant;
    let wanted = checked_roles(ctx, t.id, roles).await?;
    // Appointing an auditor or a security administrator is the tenant's own security
    // administrator's work; once appointed, only the tenant above changes their roles.
    let guarded = match account.scope {
        Scope::Own => duty::is_protected(&account.roles),
        Scope::Descendant => duty::is_protected(&account.roles) || duty::is_protected(&wanted),
    };
    guard_account(ctx, &account, ("role_assignment", "update"), guarded).await?;
    let before = account.roles.clone();
    let u = account.user;
    let txn = ctx.db.begin().await?;
    replace_roles(&txn, u.id, t.id, &wanted).await?;
    let detail = serde_json::json!({"username": u.username, "before": before, "after": wanted});
    audit::record(&txn, ctx.entry("user.set_roles", "user", u.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok((u, wanted))
}

/// The conditions of an audit query in `scope`.
fn audit_filter(scope: &TenantScope, q: &AuditQuery) -> Condition {
    let mut c = scope.condition(record::Column::TenantId);
    if let Some(from) = q.from {
        c = c.add(record::Column::OccurredAt.gte(from));
    }
    if let Some(to) = q.to {
        c = c.add(record::Column::OccurredAt.lt(to));
    }
    if let Some(a) = q.action.as_ref().filter(|s| !s.is_empty()) {
        c = c.add(record::Column::Action.eq(a.clone()));
    }
    if let Some(a) = q.actor.as_ref().filter(|s| !s.is_empty()) {
        c = c.add(record::Column::ActorName.eq(a.clone()));
    }
    if let Some(r) = q.result.as_ref().filter(|s| !s.is_empty()) {
        c = c.add(record::Column::Result.eq(r.clone()));
    }
    c
}

/// Largest audit page.
pub const MAX_PAGE_SIZE: u64 = 200;

/// A page of the caller's tenant's audit log, newest first.
///
/// # Errors
/// 422 for a bad page size, 403 (only the auditor reads the log).
pub async fn list_audit(ctx: &Ctx<'_>, q: &AuditQuery) -> ApiResult<(Vec<record::Model>, u64, u64, u64)> {
    let scope = ctx.own_scope("audit", "read").await?;
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(50);
    let mut errors = Vec::new();
    if page == 0 {
        errors.push(FieldError::new("page", "range", "页码从 1 开始"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        errors.push(FieldError::new("page_size", "range", format!("每页 1–{MAX_PAGE_SIZE} 条")));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // Entries queued by ingests answered before this read are shown too.
    audit::pending::settle(ctx.db, scope.tenant_id()).await?;
    let paginator = record::Entity::find()
        .filter(audit_filter(&scope, q))
        .order_by_desc(record::Column::Seq)
        .paginate(ctx.db, page_size);
    let total = paginator.num_items().await?;
    let items = paginator.fetch_page(page - 1).await?;
    Ok((items, page, page_size, total))
}

/// Verifies the caller's tenant's chain.
///
/// # Errors
/// 403 (auditor only).
pub async fn verify_audit(ctx: &Ctx<'_>) -> ApiResult<audit::VerifyReport> {
    let scope = ctx.own_scope("audit", "verify").await?;
    Ok(audit::verify(ctx.db, scope.tenant_id()).await?)
}

/// Every record matching the filters, oldest first, as CSV (UTF-8 with BOM so spreadsheet
/// programs show Chinese correctly).
///
/// # Errors
/// 403 (auditor only).
pub async fn export_audit(ctx: &Ctx<'_>, q: &AuditQuery) -> ApiResult<Vec<u8>> {
    let scope = ctx.own_scope("audit", "export").await?;
    audit::pending::settle(ctx.db, scope.tenant_id()).await?;
    let rows =
        record::Entity::find().filter(audit_filter(&scope, q)).order_by_asc(record::Column::Seq).all(ctx.db).await?;
    let header = [
        "序号",
        "时间（北京时间 UTC+8）",
        "操作人",
        "操作人ID",
        "操作",
        "对象类型",
        "对象ID",
        "结果",
        "IP",
        "客户端",
        "请求编号",
        "详情",
        "哈希",
    ];
    // Every column through the shared writer, which makes every cell formula-safe: the request
    // id, the address and the client come from anonymous callers too.
    let out = crate::modules::subjects::export::csv_of(
        header,
        rows.into_iter().map(|r| {
            vec![
                r.seq.to_string(),
                crate::web::when_precise(&r.occurred_at),
                r.actor_name,
                r.actor_user_id.map(|u| u.to_string()).unwrap_or_default(),
                r.action,
                r.object_type,
                r.object_id,
                r.result,
                r.ip.unwrap_or_default(),
                r.user_agent.unwrap_or_default(),
                r.request_id.unwrap_or_default(),
                r.detail,
                r.hash,
            ]
        }),
    )?;
    audit::record(ctx.db, ctx.entry("audit.export", "audit", ctx.who.tenant.id.to_string(), serde_json::json!({})))
        .await?;
    Ok(out)
}

/// API keys of the caller's tenant.
///
/// # Errors
/// 403.
pub async fn list_api_keys(ctx: &Ctx<'_>) -> ApiResult<Vec<api_key::Model>> {
    let scope = ctx.own_scope("api_key", "read").await?;
    Ok(api_key::Entity::find()
        .filter(scope.condition(api_key::Column::TenantId))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(ctx.db)
        .await?)
}

/// A page of the caller's tenant's API keys, newest first, and how many there are.
///
/// # Errors
/// 403, database failures.
pub async fn list_api_keys_page(ctx: &Ctx<'_>, paging: Paging) -> ApiResult<(Vec<api_key::Model>, u64)> {
    let scope = ctx.own_scope("api_key", "read").await?;
    let pages = api_key::Entity::find()
        .filter(scope.condition(api_key::Column::TenantId))
        .order_by_desc(api_key::Column::CreatedAt)
        .order_by_desc(api_key::Column::Id)
        .paginate(ctx.db, paging.page_size);
    let total = pages.num_items().await?;
    Ok((pages.fetch_page(paging.page - 1).await?, total))
}

/// Creates a key; returns it with its secret (shown once, stored hashed).
///
/// # Errors
/// 422 for a bad name, role or lifetime; 403.
pub async fn create_api_key(ctx: &Ctx<'_>, req: &CreateApiKeyRequest) -> ApiResult<(api_key::Model, String)> {
    let scope = ctx.own_scope("api_key", "create").await?;
    let mut errors = Vec::new();
    check_name("name", &req.name, &mut errors);
    if !KEY_ROLES.contains(&req.role.as_str()) {
        errors.push(FieldError::new("role", "key_role", format!("密钥只能使用以下角色: {}", KEY_ROLES.join(", "))));
    } else if !duty::holds(&ctx.who.roles, &req.role) {
        // A key acts for its creator's tenant with its own role; one its creator lacks would
        // give the creator a power its duty keeps from it.
        errors.push(FieldError::new(
            "role",
            "separation_of_duties",
            format!("密钥的角色不能超出创建者本人的角色：您没有 {} 角色（三员分立）", req.role),
        ));
    }
    if let Some(days) = req.expires_in_days
        && !(1..=3650).contains(&days)
    {
        errors.push(FieldError::new("expires_in_days", "range", "有效期应为 1–3650 天"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let secret = new_api_key();
    let now = Utc::now();
    let txn = ctx.db.begin().await?;
    let key = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        name: Set(req.name.trim().to_owned()),
        role: Set(req.role.clone()),
        prefix: Set(secret.chars().take(9).collect()),
        key_hash: Set(token_hash(&secret)),
        created_by: Set(ctx.who.user_id),
        created_at: Set(now),
        expires_at: Set(req.expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d)))),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({"name": key.name, "role": key.role, "prefix": key.prefix});
    audit::record(&txn, ctx.entry("api_key.create", "api_key", key.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok((key, secret))
}

/// Revokes a key at once.
///
/// # Errors
/// 404, 403.
pub async fn revoke_api_key(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<api_key::Model> {
    let key = api_key::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("密钥不存在"))?;
    let t = tenant_by_id(ctx.db, key.tenant_id).await?;
    ctx.require(&t, "api_key", "update").await?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let txn = ctx.db.begin().await?;
    let mut am = key.into_active_model();
    am.revoked_at = Set(Some(Utc::now()));
    let key = am.update(&txn).await?;
    let detail = serde_json::json!({"name": key.name, "prefix": key.prefix});
    audit::record(&txn, ctx.entry("api_key.revoke", "api_key", key.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(key)
}

/// The caller's tenant's custom roles.
///
/// # Errors
/// 403.
pub async fn list_custom_roles(ctx: &Ctx<'_>) -> ApiResult<Vec<tenant_role::Model>> {
    let scope = ctx.own_scope("role_assignment", "read").await?;
    Ok(tenant_role::Entity::find()
        .filter(scope.condition(tenant_role::Column::TenantId))
        .order_by_asc(tenant_role::Column::Name)
        .all(ctx.db)
        .await?)
}

/// Creates a custom role under built-in business roles.
///
/// # Errors
/// 422 naming every bad field, 409 for a taken name, 403.
pub async fn create_custom_role(ctx: &Ctx<'_>, req: &CreateRoleRequest) -> ApiResult<tenant_role::Model> {
    let scope = ctx.own_scope("role", "create").await?;
    let name = req.name.trim().to_lowercase();
    let mut errors = Vec::new();
    let well_formed = (3..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        errors.push(FieldError::new("name", "format", "名称应为 3–64 位小写字母、数字或下划线，以字母开头"));
    } else if is_builtin_role(&name) {
        errors.push(FieldError::new("name", "reserved", "不能使用内置角色的名称"));
    }
    check_name("label", &req.label, &mut errors);
    if req.inherits.is_empty() {
        errors.push(FieldError::new("inherits", "required", "至少选择一个上级角色"));
    }
    for (i, parent) in req.inherits.iter().enumerate() {
        if !CUSTOM_ROLE_PARENTS.contains(&parent.as_str()) {
            errors.push(FieldError::new(
                format!("inherits[{i}]"),
                "not_allowed",
                format!("自定义角色只能位于这些角色之下: {}", CUSTOM_ROLE_PARENTS.join(", ")),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let txn = ctx.db.begin().await?;
    let taken = tenant_role::Entity::find()
        .filter(scope.condition(tenant_role::Column::TenantId))
        .filter(tenant_role::Column::Name.eq(name.clone()))
        .count(&txn)
        .await?;
    if taken > 0 {
        return Err(ApiError::conflict(format!("角色 {name} 已存在")));
    }
    let mut parents = req.inherits.clone();
    parents.sort();
    parents.dedup();
    let role = tenant_role::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        name: Set(name),
        label: Set(req.label.trim().to_owned()),
        inherits: Set(parents.join(",")),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({"name": role.name, "inherits": parents});
    audit::record(&txn, ctx.entry("role.create", "role", role.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(role)
}

/// Deletes a custom role that nobody holds.
///
/// # Errors
/// 404, 409 while assigned, 403.
pub async fn delete_custom_role(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<()> {
    let role =
        tenant_role::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("角色不存在"))?;
    let t = tenant_by_id(ctx.db, role.tenant_id).await?;
    ctx.require(&t, "role", "delete").await?;
    let txn = ctx.db.begin().await?;
    let holders = user_role::Entity::find()
        .filter(user_role::Column::TenantId.eq(t.id))
        .filter(user_role::Column::Role.eq(role.name.clone()))
        .count(&txn)
        .await?;
    if holders > 0 {
        return Err(ApiError::conflict(format!("还有 {holders} 个用户担任角色 {}，请先调整他们的角色", role.name)));
    }
    tenant_role::Entity::delete_by_id(role.id).exec(&txn).await?;
    audit::record(&txn, ctx.entry("role.delete", "role", role.id.to_string(), serde_json::json!({"name": role.name})))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The shared policy applies to every tenant: only the root tenant edits it.
async fn require_policy(ctx: &Ctx<'_>, action: &str) -> ApiResult<()> {
    ctx.require_own("policy", action).await?;
    if ctx.who.tenant.parent_id.is_some() {
        let refused = ApiError::forbidden("权限策略由所有单位共用，只有国家级平台可以查看和修改");
        return Err(ctx.deny(&ctx.who.tenant, "policy", action, refused).await?);
    }
    Ok(())
}

fn builtin_rules() -> ApiResult<Vec<suyuan_policies::Rule>> {
    suyuan_policies::parse_rules(suyuan_policies::DEFAULT_POLICY).map_err(ApiError::internal)
}

/// Every stored policy row, with whether it is built in.
///
/// # Errors
/// 403 outside the root tenant's security administrator.
pub async fn list_policies(ctx: &Ctx<'_>) -> ApiResult<Vec<(crate::authz::entity::Model, bool)>> {
    require_policy(ctx, "read").await?;
    let builtin = builtin_rules()?;
    let rows = crate::authz::entity::Entity::find().order_by_asc(crate::authz::entity::Column::Id).all(ctx.db).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let is_builtin = builtin.contains(&crate::authz::to_rule(r.clone()));
            (r, is_builtin)
        })
        .collect())
}

fn snake(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=64).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        errors.push(FieldError::new(field, "format", "应为小写字母、数字和下划线"));
    }
}

/// Adds a permission; every replica applies it within `policy_reload_secs` (this one at once).
///
/// # Errors
/// 422, 409 for a duplicate, 403.
pub async fn create_policy(ctx: &Ctx<'_>, req: &CreatePolicyRequest) -> ApiResult<crate::authz::entity::Model> {
    require_policy(ctx, "create").await?;
    let mut errors = Vec::new();
    if !is_builtin_role(&req.role) {
        errors.push(FieldError::new("role", "unknown_role", "权限只能授予内置角色（自定义角色继承内置角色的权限）"));
    }
    if !matches!(req.scope.as_str(), "own" | "descendant") {
        errors.push(FieldError::new("scope", "one_of", "应为 own 或 descendant"));
    }
    snake("resource", &req.resource, &mut errors);
    snake("action", &req.action, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let rule: suyuan_policies::Rule =
        vec!["p".into(), req.role.clone(), req.scope.clone(), req.resource.clone(), req.action.clone()];
    let txn = ctx.db.begin().await?;
    if crate::authz::load_rules(&txn).await?.contains(&rule) {
        return Err(ApiError::conflict("这条权限已经存在"));
    }
    if let Err((field, v)) = duty::check_custom_rule(&req.role, &req.resource, &req.action) {
        return Err(ApiError::invalid_field(field, v.code, v.message));
    }
    let row = crate::authz::entity::ActiveModel {
        ptype: Set("p".to_owned()),
        v0: Set(req.role.clone()),
        v1: Set(req.scope.clone()),
        v2: Set(req.resource.clone()),
        v3: Set(req.action.clone()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({"rule": rule});
    audit::record(&txn, ctx.entry("policy.create", "policy", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    ctx.authz.changed(ctx.db).await.map_err(ApiError::internal)?;
    Ok(row)
}

/// Removes a permission that is not built in.
///
/// # Errors
/// 404, 409 for a built-in row, 403.
pub async fn delete_policy(ctx: &Ctx<'_>, id: i64) -> ApiResult<()> {
    require_policy(ctx, "delete").await?;
    let row = crate::authz::entity::Entity::find_by_id(id)
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::not_found("权限不存在"))?;
    let rule = crate::authz::to_rule(row.clone());
    if builtin_rules()?.contains(&rule) {
        return Err(ApiError::conflict("内置权限不能删除"));
    }
    let txn = ctx.db.begin().await?;
    crate::authz::entity::Entity::delete_by_id(row.id).exec(&txn).await?;
    audit::record(&txn, ctx.entry("policy.delete", "policy", row.id.to_string(), serde_json::json!({"rule": rule})))
        .await?;
    txn.commit().await?;
    ctx.authz.changed(ctx.db).await.map_err(ApiError::internal)?;
    Ok(())
}

fn optional_text(field: &str, value: Option<&String>, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let v = value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    if v.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("不能超过 {max} 个字符")));
    }
    Some(v)
}

/// Sets a tenant's own profile: contact, optional modules, federation parent.
///
/// # Errors
/// 422 naming every bad field, 404, 403 (only the tenant's own system administrator).
pub async fn set_tenant_profile(
    ctx: &Ctx<'_>,
    outbound: &crate::outbound::Outbound,
    id: Uuid,
    req: &TenantProfileRequest,
) -> ApiResult<tenant::Model> {
    let t = tenant_by_id(ctx.db, id).await?;
    if ctx.require(&t, "tenant", "configure").await? != Scope::Own {
        let refused = ApiError::forbidden("单位的联系方式和模块由本单位设置");
        return Err(ctx.deny(&t, "tenant", "configure", refused).await?);
    }
    let mut errors = Vec::new();
    let contact_name = optional_text("contact_name", req.contact_name.as_ref(), 100, &mut errors);
    let contact_phone = optional_text("contact_phone", req.contact_phone.as_ref(), 32, &mut errors);
    crate::validate::phone("contact_phone", contact_phone.as_deref().unwrap_or_default(), &mut errors);
    let contact_email = optional_text("contact_email", req.contact_email.as_ref(), 255, &mut errors);
    crate::validate::email("contact_email", contact_email.as_deref().unwrap_or_default(), &mut errors);
    let allowed: Vec<&str> = suyuan_tenancy::OPTIONAL_MODULES.iter().map(|(k, _)| *k).collect();
    for (i, m) in req.modules.iter().enumerate() {
        if !allowed.contains(&m.as_str()) {
            errors.push(FieldError::new(
                format!("modules[{i}]"),
                "unknown_module",
                format!("可选模块只有: {}", allowed.join(", ")),
            ));
        }
    }
    let parent_url = optional_text("federation_parent_url", req.federation_parent_url.as_ref(), 255, &mut errors);
    if let Some(u) = &parent_url {
        if !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
            errors.push(FieldError::new("federation_parent_url", "format", "应为 http(s) 开头的网址"));
        } else if outbound.check(u).await.is_err() {
            errors.push(FieldError::new("federation_parent_url", "not_allowed", crate::outbound::NOT_ALLOWED));
        }
    }
    crate::validate::coordinates(req.longitude, req.latitude, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut modules = req.modules.clone();
    modules.sort();
    modules.dedup();
    let txn = ctx.db.begin().await?;
    let mut am = t.into_active_model();
    am.contact_name = Set(contact_name);
    am.contact_phone = Set(contact_phone);
    am.contact_email = Set(contact_email);
    am.modules = Set(modules.join(","));
    am.federation_parent_url = Set(parent_url);
    am.longitude = Set(req.longitude);
    am.latitude = Set(req.latitude);
    am.updated_at = Set(Utc::now());
    let t = am.update(&txn).await?;
    let detail = serde_json::json!({"modules": modules, "federation_parent_url": t.federation_parent_url});
    audit::record(&txn, ctx.entry("tenant.configure", "tenant", t.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(t)
}
