//! The `users` table.

/// A local user account.
pub mod user {
    use sea_orm::entity::prelude::*;

    /// The `users` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        /// Surrogate key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Home tenant.
        pub tenant_id: Uuid,
        /// Lower-case login name, unique in the deployment.
        pub username: String,
        /// Name shown in the console.
        pub display_name: String,
        /// argon2id PHC string; `None` for SSO-only accounts.
        pub password_hash: Option<String>,
        /// The next login must set a new password (initial and reset passwords).
        pub must_change_password: bool,
        /// `active` or `disabled`.
        pub status: String,
        /// Consecutive failed logins.
        pub failed_logins: i32,
        /// Locked until then after too many failures.
        pub locked_until: Option<DateTimeUtc>,
        /// When the password was last set.
        pub password_changed_at: Option<DateTimeUtc>,
        /// `issuer#sub` of the single sign-on identity linked to this account.
        pub sso_subject: Option<String>,
        /// Creation time.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A login session.
pub mod session {
    use sea_orm::entity::prelude::*;

    /// The `sessions` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        /// Hex SHA-256 of the cookie token.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The user.
        pub user_id: Uuid,
        /// The tenant the session acts in.
        pub tenant_id: Uuid,
        /// Login time.
        pub created_at: DateTimeUtc,
        /// Last request seen (for the idle timeout).
        pub last_seen_at: DateTimeUtc,
        /// Absolute end.
        pub expires_at: DateTimeUtc,
        /// Client address at login.
        pub ip: Option<String>,
        /// Browser at login.
        pub user_agent: Option<String>,
        /// Set at logout or when an administrator ends the session.
        pub revoked_at: Option<DateTimeUtc>,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A role a user holds in a tenant.
pub mod user_role {
    use sea_orm::entity::prelude::*;

    /// The `user_roles` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_roles")]
    pub struct Model {
        /// User.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        /// Tenant the role is held in.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        /// Role name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub role: String,
        /// When granted.
        pub created_at: DateTimeUtc,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An API key of a connected system.
pub mod api_key {
    use sea_orm::entity::prelude::*;

    /// The `api_keys` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The tenant the key acts in.
        pub tenant_id: Uuid,
        /// What it is for, e.g. the connected system's name.
        pub name: String,
        /// The one role it holds.
        pub role: String,
        /// First characters of the secret, to recognise it in lists.
        pub prefix: String,
        /// SHA-256 (hex) of the secret; the secret itself is shown once and never stored.
        pub key_hash: String,
        /// Who created it.
        pub created_by: Option<Uuid>,
        /// Created.
        pub created_at: DateTimeUtc,
        /// Ends then, if set.
        pub expires_at: Option<DateTimeUtc>,
        /// Revoked then.
        pub revoked_at: Option<DateTimeUtc>,
        /// Last request made with it.
        pub last_used_at: Option<DateTimeUtc>,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A password a user had (its hash), newest kept.
pub mod password_history {
    use sea_orm::entity::prelude::*;

    /// The `password_history` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_history")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// User.
        pub user_id: Uuid,
        /// argon2id PHC string.
        pub password_hash: String,
        /// When it was set.
        pub created_at: DateTimeUtc,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A tenant's single sign-on provider.
pub mod tenant_sso {
    use sea_orm::entity::prelude::*;

    /// The `tenant_sso` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenant_sso")]
    pub struct Model {
        /// Tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        /// OpenID Connect issuer URL (discovery at `/.well-known/openid-configuration`).
        pub issuer: String,
        /// Client id registered at the provider.
        pub client_id: String,
        /// Client secret.
        pub client_secret: String,
        /// Space-separated scopes.
        pub scopes: String,
        /// The ID-token claim naming the user: `preferred_username`, `email` or `sub`.
        pub user_claim: String,
        /// The ID-token claim listing the user's groups.
        pub groups_claim: String,
        /// JSON: group → roles.
        pub role_mapping: String,
        /// Create unknown users at their first SSO login.
        pub jit_provisioning: bool,
        /// Offered on the login page.
        pub enabled: bool,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A login that went to the provider and has not come back yet.
pub mod sso_login {
    use sea_orm::entity::prelude::*;

    /// The `sso_logins` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sso_logins")]
    pub struct Model {
        /// The OAuth `state`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub state: String,
        /// Tenant.
        pub tenant_id: Uuid,
        /// The OpenID `nonce` expected in the ID token.
        pub nonce: String,
        /// PKCE verifier.
        pub pkce_verifier: String,
        /// Where to go after login (a path on this server).
        pub return_to: String,
        /// Started.
        pub created_at: DateTimeUtc,
        /// Set when the flow links the identity to this signed-in account instead of signing in.
        pub link_user_id: Option<Uuid>,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A custom role of a tenant.
pub mod tenant_role {
    use sea_orm::entity::prelude::*;

    /// The `tenant_roles` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenant_roles")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant.
        pub tenant_id: Uuid,
        /// Name, unique in the tenant, never a built-in name.
        pub name: String,
        /// Chinese name.
        pub label: String,
        /// Comma-separated built-in roles it inherits.
        pub inherits: String,
        /// Created.
        pub created_at: DateTimeUtc,
    }

    impl Model {
        /// The built-in roles it inherits.
        #[must_use]
        pub fn parents(&self) -> Vec<String> {
            self.inherits.split(',').filter(|s| !s.is_empty()).map(ToOwned::to_owned).collect()
        }
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A one-time invitation to set a first password.
pub mod invitation {
    use sea_orm::entity::prelude::*;

    /// The `invitations` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invitations")]
    pub struct Model {
        /// SHA-256 (hex) of the token.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The invited account.
        pub user_id: Uuid,
        /// Created.
        pub created_at: DateTimeUtc,
        /// Valid until.
        pub expires_at: DateTimeUtc,
        /// Used then (once only).
        pub used_at: Option<DateTimeUtc>,
    }

    /// No relations are navigated through the ORM yet.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
