//! Authorization for Suyuan: the casbin model (`model.conf`), the built-in role tree and
//! policies (`policy.csv`), and [`Authorizer`], a cached enforcer shared by every request.
//!
//! The policy set is roles × scopes × resources × actions, the same for every tenant; which
//! tenant a user may reach is decided by the tenant tree (see [`Scope`]), never by a policy row
//! per tenant. So the set stays small (tens of rows) however many tenants a deployment hosts.

use std::sync::RwLock;

pub mod duty;

use casbin::{CachedEnforcer, CoreApi, DefaultModel, MemoryAdapter, MgmtApi};

/// The casbin model text.
pub const MODEL: &str = include_str!("../model.conf");

/// The built-in policies (CSV, `#` comments).
pub const DEFAULT_POLICY: &str = include_str!("../policy.csv");

/// Built-in roles with their Chinese names, in display order.
pub const BUILTIN_ROLES: &[(&str, &str)] = &[
    ("tenant_admin", "单位管理员"),
    ("manager", "模块管理员"),
    ("operator", "操作员"),
    ("viewer", "查看员"),
    ("system_admin", "系统管理员"),
    ("security_admin", "安全管理员"),
    ("auditor", "审计员"),
];

/// Roles that may not be held together with `auditor` by one user (separation of duties).
pub const ADMIN_DUTIES: &[&str] = &["system_admin", "security_admin", "tenant_admin"];

/// Built-in roles a tenant's custom role may sit under (it inherits their permissions): the
/// business roles below the tenant administrator.
pub const CUSTOM_ROLE_PARENTS: &[&str] = &["manager", "operator", "viewer"];

/// Roles an API key may hold: business roles only; keys never administer.
pub const KEY_ROLES: &[&str] = &["manager", "operator", "viewer"];

/// Whether `role` is a built-in role.
#[must_use]
pub fn is_builtin_role(role: &str) -> bool {
    BUILTIN_ROLES.iter().any(|(r, _)| *r == role)
}

/// How the target tenant relates to the tenant the caller acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The same tenant.
    Own,
    /// A tenant below it in the tree.
    Descendant,
}

impl Scope {
    /// The word used in policies.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Descendant => "descendant",
        }
    }

    /// The scope of `target_path` seen from `actor_path` (tenant paths such as
    /// `100000/370000/`), or `None` for a sibling, an ancestor or another branch.
    #[must_use]
    pub fn between(actor_path: &str, target_path: &str) -> Option<Self> {
        if actor_path == target_path {
            Some(Self::Own)
        } else if target_path.starts_with(actor_path) {
            Some(Self::Descendant)
        } else {
            None
        }
    }
}

/// One policy row: `["p", role, scope, resource, action]` or `["g", role, inherited]`.
pub type Rule = Vec<String>;

/// Errors of the authorization layer.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The model or a policy row is invalid.
    #[error("invalid policy: {0}")]
    Invalid(String),
    /// casbin failed.
    #[error("casbin: {0}")]
    Casbin(#[from] casbin::Error),
}

/// Parses the CSV policy format (`p, a, b, c, d` / `g, a, b`; blank lines and `#` comments
/// ignored).
///
/// # Errors
/// [`PolicyError::Invalid`] for a row of the wrong shape.
pub fn parse_rules(csv: &str) -> Result<Vec<Rule>, PolicyError> {
    let mut rules = Vec::new();
    for (n, line) in csv.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let rule: Rule = line.split(',').map(|s| s.trim().to_owned()).collect();
        check_rule(&rule).map_err(|e| PolicyError::Invalid(format!("line {}: {e}", n + 1)))?;
        rules.push(rule);
    }
    Ok(rules)
}

/// Checks the shape of one rule.
///
/// # Errors
/// A message naming the problem.
pub fn check_rule(rule: &[String]) -> Result<(), String> {
    match rule.first().map(String::as_str) {
        Some("p") if rule.len() == 5 => {
            if !matches!(rule[2].as_str(), "own" | "descendant") {
                return Err(format!("scope must be own or descendant, got {}", rule[2]));
            }
            Ok(())
        }
        Some("g") if rule.len() == 3 => Ok(()),
        _ => Err(format!("expected `p, role, scope, resource, action` or `g, role, role`, got {rule:?}")),
    }
}

/// The shared enforcer. Reads take a read lock and hit casbin's cache; a policy change
/// rebuilds the enforcer and swaps it in.
pub struct Authorizer {
    enforcer: RwLock<CachedEnforcer>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

async fn build(rules: &[Rule]) -> Result<CachedEnforcer, PolicyError> {
    let model = DefaultModel::from_str(MODEL).await?;
    let mut enforcer = CachedEnforcer::new(model, MemoryAdapter::default()).await?;
    let mut p = Vec::new();
    let mut g = Vec::new();
    for rule in rules {
        check_rule(rule).map_err(PolicyError::Invalid)?;
        match rule[0].as_str() {
            "p" => p.push(rule[1..].to_vec()),
            _ => g.push(rule[1..].to_vec()),
        }
    }
    enforcer.add_policies(p).await?;
    enforcer.add_grouping_policies(g).await?;
    Ok(enforcer)
}

impl Authorizer {
    /// An authorizer over these rules.
    ///
    /// # Errors
    /// An invalid rule or model.
    pub async fn new(rules: &[Rule]) -> Result<Self, PolicyError> {
        Ok(Self { enforcer: RwLock::new(build(rules).await?) })
    }

    /// An authorizer over the built-in policies.
    ///
    /// # Errors
    /// Only if the shipped files are broken (caught by tests).
    pub async fn builtin() -> Result<Self, PolicyError> {
        Self::new(&parse_rules(DEFAULT_POLICY)?).await
    }

    /// Replaces every rule (after a policy change, on every replica).
    ///
    /// # Errors
    /// An invalid rule; the old rules stay in force then.
    pub async fn reload(&self, rules: &[Rule]) -> Result<(), PolicyError> {
        let fresh = build(rules).await?;
        let mut guard = self.enforcer.write().map_err(|_| PolicyError::Invalid("lock poisoned".into()))?;
        *guard = fresh;
        Ok(())
    }

    /// Whether any of `roles` may do `action` on `resource` at `scope`.
    ///
    /// # Errors
    /// casbin failures (not expected with a valid model).
    pub fn allows(&self, roles: &[String], scope: Scope, resource: &str, action: &str) -> Result<bool, PolicyError> {
        let enforcer = self.enforcer.read().map_err(|_| PolicyError::Invalid("lock poisoned".into()))?;
        for role in roles {
            if enforcer.enforce((role.as_str(), scope.as_str(), resource, action))? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn role_tree_inherits_downwards_only() {
        let a = Authorizer::builtin().await.unwrap();
        assert!(a.allows(&roles(&["tenant_admin"]), Scope::Own, "rollup", "read").unwrap());
        assert!(a.allows(&roles(&["viewer"]), Scope::Descendant, "rollup", "read").unwrap());
        assert!(!a.allows(&roles(&["viewer"]), Scope::Own, "tenant", "create").unwrap());
    }

    #[tokio::test]
    async fn separated_duties() {
        let a = Authorizer::builtin().await.unwrap();
        // The auditor reads the audit log and nothing else.
        assert!(a.allows(&roles(&["auditor"]), Scope::Own, "audit", "read").unwrap());
        assert!(!a.allows(&roles(&["auditor"]), Scope::Own, "user", "create").unwrap());
        assert!(!a.allows(&roles(&["auditor"]), Scope::Own, "tenant", "read").unwrap());
        // Administrators cannot read, let alone erase, the audit log.
        for admin in ["tenant_admin", "system_admin", "security_admin"] {
            assert!(!a.allows(&roles(&[admin]), Scope::Own, "audit", "read").unwrap(), "{admin}");
            assert!(!a.allows(&roles(&[admin]), Scope::Own, "audit", "delete").unwrap(), "{admin}");
        }
        // The system administrator creates users; the security administrator assigns roles.
        assert!(a.allows(&roles(&["system_admin"]), Scope::Own, "user", "create").unwrap());
        assert!(!a.allows(&roles(&["system_admin"]), Scope::Own, "role_assignment", "update").unwrap());
        assert!(a.allows(&roles(&["security_admin"]), Scope::Own, "role_assignment", "update").unwrap());
        assert!(!a.allows(&roles(&["security_admin"]), Scope::Own, "user", "create").unwrap());
    }

    #[tokio::test]
    async fn a_parent_reads_descendants_but_never_writes_their_users() {
        let a = Authorizer::builtin().await.unwrap();
        let admin = roles(&["tenant_admin", "system_admin", "security_admin"]);
        assert!(a.allows(&admin, Scope::Descendant, "tenant", "read").unwrap());
        assert!(a.allows(&admin, Scope::Descendant, "tenant", "update").unwrap());
        assert!(!a.allows(&admin, Scope::Descendant, "user", "create").unwrap());
        // The tenant above guards the guards (三员分立): its system and security administrators
        // reach a child's accounts, and the service lets them touch only the guarded ones
        // (auditors, security administrators; `duties::*` in the API tests). Business roles
        // and the auditor never reach below.
        assert!(a.allows(&roles(&["system_admin"]), Scope::Descendant, "user", "update").unwrap());
        assert!(a.allows(&roles(&["security_admin"]), Scope::Descendant, "role_assignment", "update").unwrap());
        assert!(!a.allows(&roles(&["security_admin"]), Scope::Descendant, "user", "update").unwrap());
        assert!(!a.allows(&roles(&["system_admin"]), Scope::Descendant, "role_assignment", "update").unwrap());
        for r in ["tenant_admin", "manager", "auditor"] {
            assert!(!a.allows(&roles(&[r]), Scope::Descendant, "user", "update").unwrap(), "{r}");
            assert!(!a.allows(&roles(&[r]), Scope::Descendant, "role_assignment", "update").unwrap(), "{r}");
        }
    }

    #[test]
    fn scope_follows_tenant_paths() {
        assert_eq!(Scope::between("100000/", "100000/"), Some(Scope::Own));
        assert_eq!(Scope::between("100000/", "100000/370000/"), Some(Scope::Descendant));
        assert_eq!(Scope::between("100000/370000/", "100000/320000/"), None, "sibling");
        assert_eq!(Scope::between("100000/370000/", "100000/"), None, "ancestor");
        assert_eq!(Scope::between("100000/370000/", "100000/370000/370100/"), Some(Scope::Descendant));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(parse_rules("p, viewer, everywhere, tenant, read").is_err());
        assert!(parse_rules("p, viewer, own, tenant").is_err());
        assert!(parse_rules("x, a, b").is_err());
        assert!(parse_rules("# only a comment\n\n").unwrap().is_empty());
    }

    #[tokio::test]
    async fn reload_replaces_the_rules() {
        let a = Authorizer::builtin().await.unwrap();
        assert!(a.allows(&roles(&["auditor"]), Scope::Own, "audit", "read").unwrap());
        a.reload(&parse_rules("p, viewer, own, tenant, read").unwrap()).await.unwrap();
        assert!(!a.allows(&roles(&["auditor"]), Scope::Own, "audit", "read").unwrap());
        assert!(a.reload(&[vec!["p".into()]]).await.is_err());
        assert!(a.allows(&roles(&["viewer"]), Scope::Own, "tenant", "read").unwrap(), "old rules kept on error");
    }
}
