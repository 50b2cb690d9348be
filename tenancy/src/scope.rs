//! [`TenantScope`]: which tenants' rows a query may read or write. Every query on tenant data
//! takes its tenant condition from a scope, and the platform hands out scopes only after the
//! casbin guard allowed the call (`Ctx::own_scope`, `Ctx::subtree_scope` in the platform), so
//! code cannot reach tenant data without passing the guard.

use sea_orm::sea_query::{Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use crate::entity::tenant;

/// How far a scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The tenant's own rows.
    Own,
    /// The tenant's rows and those of every tenant below it.
    Subtree,
}

/// The tenants a query may touch: one tenant, or a tenant and its subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: Uuid,
    path: String,
    reach: Reach,
}

impl TenantScope {
    /// A scope over `tenant` (the guard has allowed it; see the module docs).
    #[must_use]
    pub fn new(tenant: &tenant::Model, reach: Reach) -> Self {
        Self { tenant_id: tenant.id, path: tenant.path.clone(), reach }
    }

    /// The tenant new rows belong to.
    #[must_use]
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The tenant's path (`100000/370000/`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How far it reaches.
    #[must_use]
    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// Whether a tenant lies inside the scope.
    #[must_use]
    pub fn contains(&self, t: &tenant::Model) -> bool {
        self.covers(t.id, &t.path)
    }

    /// [`TenantScope::contains`] for a tenant known by its id and path (read with a row that
    /// joins the tenant, instead of the whole tenant).
    #[must_use]
    pub fn covers(&self, id: Uuid, path: &str) -> bool {
        match self.reach {
            Reach::Own => id == self.tenant_id,
            Reach::Subtree => path.starts_with(&self.path),
        }
    }

    /// The condition on a table's tenant column: `= id`, or `IN (the subtree's ids)`.
    #[must_use]
    pub fn condition<C: ColumnTrait>(&self, tenant_column: C) -> Condition {
        Condition::all().add(self.expr(tenant_column))
    }

    /// [`TenantScope::condition`] as an expression.
    #[must_use]
    pub fn expr<C: ColumnTrait>(&self, tenant_column: C) -> SimpleExpr {
        match self.reach {
            Reach::Own => tenant_column.eq(self.tenant_id),
            Reach::Subtree => tenant_column.in_subquery(
                Query::select()
                    .column(tenant::Column::Id)
                    .from(tenant::Entity)
                    .and_where(tenant::Column::Path.starts_with(&self.path))
                    .to_owned(),
            ),
        }
    }

    /// The condition on the `tenants` table itself.
    #[must_use]
    pub fn tenants(&self) -> Condition {
        match self.reach {
            Reach::Own => Condition::all().add(tenant::Column::Id.eq(self.tenant_id)),
            Reach::Subtree => Condition::all().add(tenant::Column::Path.starts_with(&self.path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryTrait};

    fn tenant(code: &str, path: &str) -> tenant::Model {
        tenant::Model {
            id: Uuid::nil(),
            code: code.into(),
            name: code.into(),
            level: "provincial".into(),
            parent_id: None,
            path: path.into(),
            status: "active".into(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            contact_name: None,
            contact_phone: None,
            contact_email: None,
            modules: String::new(),
            federation_parent_url: None,
            longitude: None,
            latitude: None,
        }
    }

    #[test]
    fn scopes_contain_what_they_reach() {
        let sd = tenant("370000", "100000/370000/");
        let jn = tenant("370100", "100000/370000/370100/");
        let js = tenant("320000", "100000/320000/");
        let own = TenantScope::new(&sd, Reach::Own);
        let sub = TenantScope::new(&sd, Reach::Subtree);
        assert!(own.contains(&sd));
        assert!(sub.contains(&sd) && sub.contains(&jn) && !sub.contains(&js));
    }

    #[test]
    fn the_subtree_condition_is_a_subquery_on_the_path() {
        let sd = tenant("370000", "100000/370000/");
        let sql = tenant::Entity::find()
            .filter(TenantScope::new(&sd, Reach::Subtree).condition(tenant::Column::ParentId))
            .build(DbBackend::Postgres)
            .to_string();
        assert!(
            sql.contains("IN (SELECT \"id\" FROM \"tenants\" WHERE \"tenants\".\"path\" LIKE '100000/370000/%')"),
            "{sql}"
        );
    }
}
