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
    #[schema(value_type = crate::openapi::TenantLevel)]
    pub level: String,
}

/// The `kind` of a signed-in user's `me` answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// A person signed in with a session.
    User,
}

/// The `kind` of an API key's `me` answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyKind {
    /// A connected system calling with an API key.
    ApiKey,
}

/// Who is signed in, answered by login and `GET /api/v1/auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// Always `user`: the discriminator of `GET /api/v1/auth/me`'s answers.
    pub kind: UserKind,
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

/// The API key a connected system calls with (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    pub id: Uuid,
    /// The key's name (what it is for).
    pub name: String,
    /// The first characters of the secret, as in the key list.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if it expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What an API key is, answered by `GET /api/v1/auth/me` to a connected system: integrators
/// test their key with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyMeResponse {
    /// Always `api_key`: the discriminator of `GET /api/v1/auth/me`'s answers.
    pub kind: ApiKeyKind,
    /// The key.
    pub key: KeyView,
    /// The tenant it acts in.
    pub tenant: TenantView,
    /// The one business role it holds (`manager`, `operator` or `viewer`).
    #[schema(example = "operator", value_type = crate::openapi::KeyRole)]
    pub role: String,
}

/// `GET /api/v1/auth/me`: a signed-in user (`kind: user`) or an API key (`kind: api_key`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("user" = "#/components/schemas/MeResponse"),
    ("api_key" = "#/components/schemas/KeyMeResponse")
)))]
pub enum Me {
    /// A session.
    User(MeResponse),
    /// An API key.
    ApiKey(KeyMeResponse),
}
