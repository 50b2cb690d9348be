//! Request and response bodies of the administration routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use suyuan_tenancy::TenantLevel;
use suyuan_tenancy::entity::tenant;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::entity::record;
use crate::modules::identity::entity::user;

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantResponse {
    /// Id.
    pub id: Uuid,
    /// GB/T 2260 division code.
    #[schema(example = "370000")]
    pub code: String,
    /// Name.
    #[schema(example = "山东省")]
    pub name: String,
    /// `national`, `provincial`, `municipal` or `county`.
    #[schema(value_type = crate::openapi::TenantLevel)]
    pub level: String,
    /// Level in Chinese.
    #[schema(example = "省级")]
    pub level_label: String,
    /// Parent tenant.
    pub parent_id: Option<Uuid>,
    /// Codes from the root down.
    #[schema(example = "100000/370000/")]
    pub path: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Contact person.
    pub contact_name: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Contact e-mail.
    pub contact_email: Option<String>,
    /// Optional modules switched on (`system`, `monitoring`, `public`); the required modules
    /// are always on.
    pub modules: Vec<String>,
    /// The parent platform's URL when it runs in another deployment.
    pub federation_parent_url: Option<String>,
    /// Longitude of the agency's seat.
    pub longitude: Option<f64>,
    /// Latitude of the agency's seat.
    pub latitude: Option<f64>,
}

/// `PUT /api/v1/tenants/{id}/profile`: the tenant's own settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantProfileRequest {
    /// Contact person.
    pub contact_name: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Contact e-mail.
    pub contact_email: Option<String>,
    /// Optional modules to switch on: any of `system` (体系建设管理), `monitoring` (运行监测管理),
    /// `public` (公共服务管理).
    pub modules: Vec<String>,
    /// The parent platform's URL when it runs in another deployment (used by federation). Its
    /// host must be reachable under the operator's `outbound_allow`; otherwise 422 with rule
    /// `not_allowed`.
    pub federation_parent_url: Option<String>,
    /// Longitude of the agency's seat (73–136), drawn as a point on the maps; give both or
    /// neither.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Latitude of the agency's seat (3–54).
    #[serde(default)]
    pub latitude: Option<f64>,
}

impl From<tenant::Model> for TenantResponse {
    fn from(t: tenant::Model) -> Self {
        let level_label = t.level.parse::<TenantLevel>().map(TenantLevel::label_zh).unwrap_or_default().to_owned();
        let modules = t.optional_modules();
        Self {
            id: t.id,
            code: t.code,
            name: t.name,
            level: t.level,
            level_label,
            parent_id: t.parent_id,
            path: t.path,
            modules,
            status: t.status,
            created_at: t.created_at,
            contact_name: t.contact_name,
            contact_phone: t.contact_phone,
            contact_email: t.contact_email,
            federation_parent_url: t.federation_parent_url,
            longitude: t.longitude,
            latitude: t.latitude,
        }
    }
}

/// `POST /api/v1/tenants`: onboard an agency below the caller's tenant, with its first
/// administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Division code; must sit directly below the caller's tenant (370000 under 100000,
    /// 370100 under 370000).
    #[schema(example = "370000")]
    pub code: String,
    /// Name of the agency or region.
    #[schema(example = "山东省")]
    pub name: String,
    /// Login name of the tenant's first administrator.
    #[schema(example = "sd_admin")]
    pub admin_username: String,
    /// Display name of the first administrator.
    #[schema(example = "山东省平台管理员")]
    pub admin_display_name: String,
    /// The first administrator's e-mail: the invitation is sent there when the platform has
    /// an SMTP server (`smtp_url`); it also becomes the tenant's contact e-mail.
    #[serde(default)]
    #[schema(example = "admin@sd.gov.cn")]
    pub admin_email: Option<String>,
}

/// The invitation of a new tenant's first administrator.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    /// Login name.
    pub username: String,
    /// Send this link to the administrator: the page where they set their first password
    /// (a program can `POST` it to `/api/v1/auth/invitations/{token}` instead). Shown once.
    pub invitation_url: String,
    /// The one-time token in the link.
    pub token: String,
    /// The link works until then.
    pub expires_at: DateTime<Utc>,
    /// Where the invitation was e-mailed; `null` when no e-mail was given, no SMTP server is
    /// configured, or sending failed (then pass the link on by hand).
    pub email_sent_to: Option<String>,
}

/// The new tenant and the invitation of its first administrator.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateTenantResponse {
    /// The tenant.
    pub tenant: TenantResponse,
    /// The first administrator's invitation.
    pub admin: Invitation,
}

/// A user account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Id.
    pub id: Uuid,
    /// Home tenant.
    pub tenant_id: Uuid,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// The initial or reset password still has to be changed.
    pub must_change_password: bool,
    /// Locked after failed logins until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Roles in the home tenant.
    pub roles: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl UserResponse {
    /// From a row and its roles.
    #[must_use]
    pub fn new(u: user::Model, roles: Vec<String>) -> Self {
        Self {
            id: u.id,
            tenant_id: u.tenant_id,
            username: u.username,
            display_name: u.display_name,
            status: u.status,
            must_change_password: u.must_change_password,
            locked_until: u.locked_until,
            roles,
            created_at: u.created_at,
        }
    }
}

/// `POST /api/v1/users`: a user in the caller's tenant, with a one-time initial password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login name: 3–64 of a–z, 0–9, `_`, `.`, `-` (stored in lower case, unique).
    #[schema(example = "zhang_wei")]
    pub username: String,
    /// Display name.
    #[schema(example = "张伟")]
    pub display_name: String,
}

/// The new user and the one-time password.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateUserResponse {
    /// The user.
    pub user: UserResponse,
    /// The one-time initial password.
    pub initial_password: String,
}

/// `PUT /api/v1/users/{id}/roles`: the complete set of roles in the user's tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// Built-in role names (see `GET /api/v1/roles`). `auditor` cannot be combined with an
    /// administrator role.
    pub roles: Vec<String>,
}

/// A role that can be assigned.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleResponse {
    /// Id of a custom role; none for built-in roles.
    pub id: Option<Uuid>,
    /// Name.
    #[schema(example = "system_admin")]
    pub name: String,
    /// Chinese name.
    #[schema(example = "系统管理员")]
    pub label: String,
    /// Built in (not editable).
    pub builtin: bool,
    /// For a custom role: the built-in roles it sits under and inherits.
    pub inherits: Vec<String>,
}

/// `POST /api/v1/roles`: a custom role of the caller's tenant inside the built-in tree.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Name: 3–64 of a–z, 0–9, `_`, starting with a letter; not a built-in name.
    #[schema(example = "market_inspector", pattern = r"^[a-z][a-z0-9_]{2,63}$")]
    pub name: String,
    /// Chinese name.
    #[schema(example = "市场巡查员", min_length = 1, max_length = 100)]
    pub label: String,
    /// Built-in roles it sits under (`manager`, `operator`, `viewer`); it gets their
    /// permissions.
    #[schema(value_type = Vec<crate::openapi::CustomRoleParent>, min_items = 1)]
    pub inherits: Vec<String>,
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// From this time (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Action, e.g. `login.failed`.
    pub action: Option<String>,
    /// Actor name.
    pub actor: Option<String>,
    /// `success` or `failure`.
    pub result: Option<String>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 50).
    pub page_size: Option<u64>,
}

/// An audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordResponse {
    /// Id.
    pub id: Uuid,
    /// Position in the tenant's chain.
    pub seq: i64,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who (user id).
    pub actor_user_id: Option<Uuid>,
    /// Who (name).
    pub actor_name: String,
    /// What.
    pub action: String,
    /// Object kind.
    pub object_type: String,
    /// Object id.
    pub object_id: String,
    /// `success` or `failure`.
    pub result: String,
    /// From where.
    pub ip: Option<String>,
    /// With what.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
    /// Chain hash.
    pub hash: String,
}

impl From<record::Model> for AuditRecordResponse {
    fn from(r: record::Model) -> Self {
        Self {
            id: r.id,
            seq: r.seq,
            occurred_at: r.occurred_at,
            actor_user_id: r.actor_user_id,
            actor_name: r.actor_name,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            result: r.result,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            hash: r.hash,
        }
    }
}

/// A page of audit records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Records.
    pub items: Vec<AuditRecordResponse>,
    /// Page, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Rows matching the filters.
    pub total: u64,
}

/// `POST /api/v1/api-keys`: a key for a connected system in the caller's tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What it is for, e.g. the connected system.
    #[schema(example = "寿光蔬菜批发市场追溯系统", min_length = 1, max_length = 100)]
    pub name: String,
    /// The one role it holds: `manager`, `operator` or `viewer` (keys never administer).
    #[schema(example = "operator", value_type = crate::openapi::KeyRole)]
    pub role: String,
    /// Days until it expires (1–3650); without it the key lasts until revoked.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// An API key (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    #[schema(value_type = crate::openapi::KeyRole)]
    pub role: String,
    /// First characters of the secret.
    #[schema(example = "sy_3f9a1c")]
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<crate::modules::identity::entity::api_key::Model> for ApiKeyResponse {
    fn from(k: crate::modules::identity::entity::api_key::Model) -> Self {
        Self {
            id: k.id,
            name: k.name,
            role: k.role,
            prefix: k.prefix,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// The new key with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateApiKeyResponse {
    /// The key.
    pub key: ApiKeyResponse,
    /// Send as `Authorization: Bearer <secret>`. Stored only as a hash; it cannot be shown
    /// again.
    pub secret: String,
}

/// A permission row of the shared policy: `role` may do `action` on `resource` in its own
/// tenant (`own`) or the tenants below it (`descendant`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyRuleResponse {
    /// Row id.
    pub id: i64,
    /// `p` (permission) or `g` (the role tree: `role` inherits `inherits`).
    pub ptype: String,
    /// Role.
    pub role: String,
    /// `own` or `descendant` (permissions).
    pub scope: Option<String>,
    /// Resource (permissions).
    pub resource: Option<String>,
    /// Action (permissions).
    pub action: Option<String>,
    /// Inherited role (role tree rows).
    pub inherits: Option<String>,
    /// Shipped with the platform; cannot be removed.
    pub builtin: bool,
}

/// `POST /api/v1/policies`: a permission added to the shared policy (national security
/// administrator only; it applies to every tenant).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicyRequest {
    /// A built-in role.
    #[schema(example = "viewer")]
    pub role: String,
    /// `own` or `descendant`.
    #[schema(example = "own")]
    pub scope: String,
    /// Resource, snake_case.
    #[schema(example = "user")]
    pub resource: String,
    /// Action, snake_case.
    #[schema(example = "read")]
    pub action: String,
}

/// A person of a higher-level agency holding roles in the caller's tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleGrantResponse {
    /// User id.
    pub user_id: Uuid,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Division code of the person's own agency.
    pub home_tenant_code: String,
    /// Name of the person's own agency.
    pub home_tenant_name: String,
    /// Roles held in the caller's tenant.
    pub roles: Vec<String>,
}

impl RoleGrantResponse {
    /// From the user, their home tenant and the roles.
    #[must_use]
    pub fn new(u: user::Model, home: &tenant::Model, roles: Vec<String>) -> Self {
        Self {
            user_id: u.id,
            username: u.username,
            display_name: u.display_name,
            home_tenant_code: home.code.clone(),
            home_tenant_name: home.name.clone(),
            roles,
        }
    }
}

/// `PUT /api/v1/role-grants/{username}`: the complete set of roles the person holds in the
/// caller's tenant (empty: none).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleGrantRequest {
    /// Role names (built-in or the tenant's custom roles).
    pub roles: Vec<String>,
}

/// `POST /api/v1/tenant-applications`: an agency asks to join the platform below the tenant of
/// the region above it (no account needed).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantApplicationRequest {
    /// Division code of the agency's region.
    #[schema(example = "370200")]
    pub code: String,
    /// Agency name.
    #[schema(example = "青岛市")]
    pub name: String,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Contact e-mail; the invitation of the first administrator goes there on approval.
    pub contact_email: String,
    /// Login name wanted for the first administrator.
    pub admin_username: String,
    /// The first administrator's name.
    pub admin_display_name: String,
}

/// An application to join.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantApplicationResponse {
    /// Id.
    pub id: Uuid,
    /// Division code.
    pub code: String,
    /// Agency name.
    pub name: String,
    /// The tenant that decides.
    pub parent_id: Uuid,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Contact e-mail.
    pub contact_email: String,
    /// First administrator's login name.
    pub admin_username: String,
    /// First administrator's name.
    pub admin_display_name: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Reason of a rejection.
    pub reason: Option<String>,
    /// The tenant created on approval.
    pub tenant_id: Option<Uuid>,
    /// Submitted.
    pub created_at: DateTime<Utc>,
    /// Decided.
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<crate::modules::admin::applications::entity::Model> for TenantApplicationResponse {
    fn from(a: crate::modules::admin::applications::entity::Model) -> Self {
        Self {
            id: a.id,
            code: a.code,
            name: a.name,
            parent_id: a.parent_id,
            contact_name: a.contact_name,
            contact_phone: a.contact_phone,
            contact_email: a.contact_email,
            admin_username: a.admin_username,
            admin_display_name: a.admin_display_name,
            status: a.status,
            reason: a.reason,
            tenant_id: a.tenant_id,
            created_at: a.created_at,
            decided_at: a.decided_at,
        }
    }
}

/// Filter of the applications list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplicationsQuery {
    /// `pending`, `approved` or `rejected`; all when absent.
    pub status: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u64>,
}

crate::page_type!(
    /// A page of tenant applications.
    TenantApplicationPage,
    TenantApplicationResponse
);

/// `POST /api/v1/tenant-applications/{id}/reject`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectApplicationRequest {
    /// Why, told to the applicant.
    pub reason: String,
}

crate::page_type!(
    /// A page of tenants (the caller's and every tenant below it, in tree order).
    TenantPage,
    TenantResponse
);
crate::page_type!(
    /// A page of users.
    UserPage,
    UserResponse
);
crate::page_type!(
    /// A page of roles.
    RolePage,
    RoleResponse
);
crate::page_type!(
    /// A page of API keys.
    ApiKeyPage,
    ApiKeyResponse
);
crate::page_type!(
    /// A page of policy rows.
    PolicyPage,
    PolicyRuleResponse
);
crate::page_type!(
    /// A page of role grants.
    RoleGrantPage,
    RoleGrantResponse
);
