//! Request and response bodies of the identity routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/v1/auth/login`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name (case-insensitive).
    #[schema(example = "admin")]
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /api/v1/auth/password`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password used now.
    pub current_password: String,
    /// The new password: ≥ 8 characters, three of upper case, lower case, digits, symbols; not
    /// containing the user name; not the current one.
    pub new_password: String,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Name shown in the console.
    pub display_name: String,
}

/// The tenant a session acts in.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Tenant id.
    pub id: Uuid,
    /// Division code.
    #[schema(example = "370000")]
    pub code: String,
    /// Name.
    #[schema(example = "山东省")]
    pub name: String,
    /// `national`, `provincial`, `municipal` or `county`.
    pub level: String,
}

/// Who is signed in, answered by login and `GET /api/v1/auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The user.
    pub user: UserView,
    /// The tenant.
    pub tenant: TenantView,
    /// The user's roles in that tenant.
    pub roles: Vec<String>,
    /// When true, every route but `me`, `password` and `logout` answers 403
    /// `password_change_required` until the password is changed.
    pub must_change_password: bool,
    /// Absolute end of this session.
    pub session_expires_at: DateTime<Utc>,
}

/// `POST /api/v1/auth/invitations/{token}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The first password: ≥ 8 characters, three of upper case, lower case, digits, symbols;
    /// not containing the user name.
    pub new_password: String,
}

/// `POST /api/v1/auth/tenant`: act in another tenant where the user holds a role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTenantRequest {
    /// The tenant to act in (one of `GET /api/v1/auth/tenants`).
    pub tenant_id: Uuid,
}
