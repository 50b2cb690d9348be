//! The casbin guard: every protected handler asks [`Authz::require`] before it touches data.
//!
//! The policy rows live in the `policy_rules` table (seeded from `policies/policy.csv` at the
//! first start) and are loaded into one shared [`Authorizer`]. Which tenant a caller may reach
//! is decided here from the tenant tree: the caller's own tenant (`own`), a tenant below it
//! (`descendant`), or nothing else.

use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};
use suyuan_policies::{Authorizer, Rule, Scope};
use suyuan_tenancy::entity::tenant;

use crate::error::{ApiError, ApiResult};
use crate::modules::identity::service::Authenticated;

/// Stored policy rows.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// The `policy_rules` row: `p, role, scope, resource, action` or `g, role, role`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "policy_rules")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// `p` or `g`.
        pub ptype: String,
        /// Role.
        pub v0: String,
        /// Scope (p) or inherited role (g).
        pub v1: String,
        /// Resource (p).
        pub v2: String,
        /// Action (p).
        pub v3: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The shared authorizer.
#[derive(Clone, Debug)]
pub struct Authz {
    inner: Arc<Authorizer>,
    /// `count:max id` of the rules loaded, to notice changes made by other replicas.
    loaded: Arc<Mutex<String>>,
    /// Where a change is announced to the other replicas at once (Redis, when configured).
    notify: Option<crate::kv::Redis>,
}

/// The Redis channel on which policy changes are announced.
pub const POLICY_CHANNEL: &str = "suyuan:policy_changed";

async fn fingerprint<C: ConnectionTrait>(db: &C) -> Result<String, sea_orm::DbErr> {
    let count = entity::Entity::find().count(db).await?;
    let max = entity::Entity::find().order_by_desc(entity::Column::Id).one(db).await?.map_or(0, |r| r.id);
    Ok(format!("{count}:{max}"))
}

/// A stored row as a rule.
#[must_use]
pub fn to_rule(m: entity::Model) -> Rule {
    if m.ptype == "g" { vec![m.ptype, m.v0, m.v1] } else { vec![m.ptype, m.v0, m.v1, m.v2, m.v3] }
}

/// Adds every built-in policy row that is not stored yet (first start, and new built-in rows
/// after an upgrade). Built-in rows are not editable, so re-adding them is always right.
///
/// # Errors
/// Database failures or a broken shipped policy file.
pub async fn seed<C: ConnectionTrait>(db: &C) -> anyhow::Result<()> {
    let stored = load_rules(db).await?;
    let rules = suyuan_policies::parse_rules(suyuan_policies::DEFAULT_POLICY)?;
    let missing: Vec<_> = rules.into_iter().filter(|r| !stored.contains(r)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let rows = missing.into_iter().map(|r| {
        let get = |i: usize| r.get(i).cloned().unwrap_or_default();
        entity::ActiveModel {
            ptype: Set(get(0)),
            v0: Set(get(1)),
            v1: Set(get(2)),
            v2: Set(get(3)),
            v3: Set(get(4)),
            ..Default::default()
        }
    });
    entity::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Reads every stored rule.
///
/// # Errors
/// Database failures.
pub async fn load_rules<C: ConnectionTrait>(db: &C) -> Result<Vec<Rule>, sea_orm::DbErr> {
    Ok(entity::Entity::find().order_by_asc(entity::Column::Id).all(db).await?.into_iter().map(to_rule).collect())
}

impl Authz {
    /// Loads the stored rules into a fresh authorizer.
    ///
    /// # Errors
    /// Database failures or an invalid stored rule.
    pub async fn load<C: ConnectionTrait>(db: &C) -> anyhow::Result<Self> {
        let print = fingerprint(db).await?;
        let rules = load_rules(db).await?;
        Ok(Self { inner: Arc::new(Authorizer::new(&rules).await?), loaded: Arc::new(Mutex::new(print)), notify: None })
    }

    /// Announces changes through Redis, so other replicas reload at once instead of at their
    /// next `policy_reload_secs` poll.
    #[must_use]
    pub fn with_notifier(mut self, redis: Option<crate::kv::Redis>) -> Self {
        self.notify = redis;
        self
    }

    /// After this replica changed the policy table: reload here and tell the others. A Redis
    /// failure is logged; the others still see the change at their next poll.
    ///
    /// # Errors
    /// Database failures or an invalid stored rule.
    pub async fn changed<C: ConnectionTrait>(&self, db: &C) -> anyhow::Result<()> {
        self.reload_if_changed(db).await?;
        if let Some(redis) = &self.notify
            && let Err(e) = redis.publish(POLICY_CHANNEL, "changed").await
        {
            tracing::warn!(error = %e, "could not announce the policy change through Redis; replicas will poll");
        }
        Ok(())
    }

    /// Reloads the rules when the table changed since the last load (by this replica or another
    /// one). Cheap when nothing changed: one count and one indexed lookup.
    ///
    /// # Errors
    /// Database failures or an invalid stored rule (the old rules stay in force).
    pub async fn reload_if_changed<C: ConnectionTrait>(&self, db: &C) -> anyhow::Result<bool> {
        let print = fingerprint(db).await?;
        let same = self.loaded.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?.as_str() == print;
        if same {
            return Ok(false);
        }
        let rules = load_rules(db).await?;
        self.inner.reload(&rules).await?;
        *self.loaded.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))? = print;
        tracing::info!(rules = rules.len(), "authorization policies reloaded");
        Ok(true)
    }

    /// Allows the call or answers 403: the target tenant must be the caller's own or below
    /// it, and one of the caller's roles must grant `action` on `resource` at that scope.
    ///
    /// # Errors
    /// 403 `forbidden` naming what was refused.
    pub fn require(
        &self,
        who: &Authenticated,
        target: &tenant::Model,
        resource: &str,
        action: &str,
    ) -> ApiResult<Scope> {
        let Some(scope) = Scope::between(&who.tenant.path, &target.path) else {
            return Err(ApiError::forbidden(format!("无权访问其他单位（{}）的数据", target.name)));
        };
        let allowed = self.inner.allows(&who.roles, scope, resource, action).map_err(ApiError::internal)?;
        if allowed {
            Ok(scope)
        } else {
            Err(ApiError::forbidden(format!("当前角色无权执行此操作（{resource}:{action}）")))
        }
    }

    /// Whether one of the caller's roles grants `action` on `resource` at `scope` (to decide
    /// what a page offers; the command itself still goes through [`Authz::require`]).
    #[must_use]
    pub fn allows(&self, who: &Authenticated, scope: Scope, resource: &str, action: &str) -> bool {
        self.inner.allows(&who.roles, scope, resource, action).unwrap_or(false)
    }

    /// [`Authz::require`] on the caller's own tenant.
    ///
    /// # Errors
    /// 403 `forbidden`.
    pub fn require_own(&self, who: &Authenticated, resource: &str, action: &str) -> ApiResult<()> {
        self.require(who, &who.tenant, resource, action).map(|_| ())
    }
}
