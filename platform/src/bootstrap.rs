//! First start: the root tenant (national, 100000, 全国 — or the province a provincial
//! deployment is for, `root_code`) and the first administrator.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use suyuan_tenancy::division::DivisionCode;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use crate::audit::{self, Actor, ClientInfo};
use crate::config::{ConfigError, Settings};
use crate::modules::identity::entity::user;
use crate::modules::identity::password;
use crate::modules::identity::service::{NewUser, insert_user, replace_roles};

/// The first administrator's login name.
pub const ADMIN_USERNAME: &str = "admin";

/// Roles of a tenant's first administrator. The auditor role is never among them: it must go
/// to another person (separation of duties).
pub const FIRST_ADMIN_ROLES: &[&str] = &["tenant_admin", "system_admin", "security_admin"];

/// What the first start created.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// The root tenant was created now.
    pub created_root: bool,
    /// The administrator was created now with this generated password, to be shown once.
    pub generated_password: Option<String>,
    /// The administrator was created now with the configured password.
    pub created_admin_from_config: bool,
}

/// Checks `admin_password` against the password rules before anything starts.
///
/// # Errors
/// A [`ConfigError`] naming `admin_password`.
pub fn check_admin_password(settings: &Settings) -> Result<(), ConfigError> {
    if let Some(p) = &settings.admin_password {
        password::check_rules("admin_password", ADMIN_USERNAME, p).map_err(|e| ConfigError {
            key: "admin_password".to_owned(),
            origin: String::new(),
            problem: e.message,
        })?;
    }
    Ok(())
}

/// Creates the root tenant and the first administrator when the database has none. Does
/// nothing on later starts.
///
/// # Errors
/// Database failures.
pub async fn run(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<Bootstrapped> {
    let txn = db.begin().await?;
    crate::authz::seed(&txn).await?;
    let mut done = Bootstrapped::default();
    let existing = tenant::Entity::find().filter(tenant::Column::ParentId.is_null()).one(&txn).await?;
    let root_code = DivisionCode::parse(&settings.root_code)?;
    let root_id = match existing {
        Some(root) => root.id,
        None => {
            let now = Utc::now();
            let root = tenant::ActiveModel {
                id: Set(Uuid::now_v7()),
                code: Set(root_code.as_str().to_owned()),
                name: Set(settings.root_name.clone()),
                level: Set(root_code.level().as_str().to_owned()),
                parent_id: Set(None),
                path: Set(format!("{}/", root_code.as_str())),
                status: Set("active".to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            done.created_root = true;
            root.id
        }
    };
    crate::modules::products::service::seed(&txn, root_id).await?;
    if user::Entity::find().count(&txn).await? == 0 {
        let (pw, generated) = match &settings.admin_password {
            Some(p) => (p.clone(), false),
            None => (password::generate(), true),
        };
        let hash = (password::hash_off_thread(&pw).await?, pw);
        let admin = insert_user(
            &txn,
            NewUser {
                tenant_id: root_id,
                username: ADMIN_USERNAME,
                display_name: "系统管理员",
                password_hash: Some(hash.0),
                must_change_password: true,
                sso_subject: None,
            },
        )
        .await?;
        let admin_id = admin.id;
        let roles: Vec<String> = FIRST_ADMIN_ROLES.iter().map(|r| (*r).to_owned()).collect();
        replace_roles(&txn, admin_id, root_id, &roles).await?;
        let client = ClientInfo::default();
        let entry = audit::Entry {
            tenant_id: root_id,
            actor: Actor { user_id: None, name: "system".to_owned() },
            action: "system.bootstrap",
            object_type: "user",
            object_id: admin_id.to_string(),
            success: true,
            client: &client,
            detail: serde_json::json!({"username": ADMIN_USERNAME, "roles": FIRST_ADMIN_ROLES}),
        };
        audit::record(&txn, entry).await?;
        if generated {
            done.generated_password = Some(hash.1);
        } else {
            done.created_admin_from_config = true;
        }
    }
    txn.commit().await?;
    Ok(done)
}
