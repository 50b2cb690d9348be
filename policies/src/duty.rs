//! Separation of duties (三员分立, GB/T 22239 level 2): the system, security and audit duties
//! stay with different people, and no grant, key, mapping or policy row gives anyone a power
//! their own duty keeps from them.
//!
//! The rules here are pure functions over role names, so every path that hands out power (a
//! user's roles, a grant to a person of a higher-level agency, an API key, an SSO group
//! mapping, a custom policy row) asks the same questions. `docs/security.md` states the rules
//! in words and names the test of each.

/// The four kinds of work a role belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// `system_admin`: tenants below, user accounts, federation links.
    System,
    /// `security_admin`: who holds which role, API keys, single sign-on, policies.
    Security,
    /// `auditor`: reads, verifies and exports the audit log, nothing else.
    Audit,
    /// `tenant_admin`, `manager`, `operator`, `viewer` and custom roles below them: the work of
    /// the agency itself (filings, records, analysis).
    Business,
}

/// The duty of a role (custom roles sit below business roles, so they are business).
#[must_use]
pub fn duty_of(role: &str) -> Duty {
    match role {
        "system_admin" => Duty::System,
        "security_admin" => Duty::Security,
        "auditor" => Duty::Audit,
        _ => Duty::Business,
    }
}

/// Roles whose holders are guarded from the administrators of their own tenant: their
/// accounts are reset, disabled, enabled or ended, and their roles changed, only by the tenant
/// above (or, at the root, by the `suyuan` command on the server). Otherwise the system
/// administrator could take over the auditor's account, or the security administrator could
/// be stripped by the administrators it watches.
pub const PROTECTED_ROLES: &[&str] = &["auditor", "security_admin"];

/// Whether an account holding `roles` is guarded (see [`PROTECTED_ROLES`]).
#[must_use]
pub fn is_protected(roles: &[String]) -> bool {
    roles.iter().any(|r| PROTECTED_ROLES.contains(&r.as_str()))
}

/// The built-in business roles from the top of the tree down; each holds every role after it.
const BUSINESS_TREE: &[&str] = &["tenant_admin", "manager", "operator", "viewer"];

/// Whether someone holding `roles` holds `role` itself or through the built-in role tree
/// (`tenant_admin` ⊃ `manager` ⊃ `operator` ⊃ `viewer`).
#[must_use]
pub fn holds(roles: &[String], role: &str) -> bool {
    let Some(wanted) = BUSINESS_TREE.iter().position(|r| *r == role) else {
        return roles.iter().any(|r| r == role);
    };
    roles.iter().any(|r| BUSINESS_TREE.iter().position(|b| b == r).is_some_and(|held| held <= wanted))
}

/// Why a set of roles may not be held together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A short machine-readable code.
    pub code: &'static str,
    /// The rule in words (zh-CN, for the problem's detail).
    pub message: &'static str,
}

/// Checks the roles one account holds (or would hold) in one tenant: the auditor holds no
/// administrator or business role beside it, so the person who reads the log is never one of
/// the people whose actions it records.
///
/// # Errors
/// The rule broken.
pub fn check_combination(roles: &[String]) -> Result<(), Violation> {
    let audit = roles.iter().any(|r| duty_of(r) == Duty::Audit);
    let other = roles.iter().any(|r| matches!(duty_of(r), Duty::System | Duty::Security) || r == "tenant_admin");
    if audit && other {
        return Err(Violation {
            code: "separation_of_duties",
            message: "审计员不能同时担任系统管理员、安全管理员或单位管理员（三员分立）",
        });
    }
    Ok(())
}

/// Checks the roles an SSO group mapping hands out. Accounts signing in through a provider
/// carry business roles only: the system, security and audit duties are given to named
/// accounts by a person, never to whoever a provider's group happens to contain.
///
/// # Errors
/// The rule broken.
pub fn check_mapped(roles: &[String]) -> Result<(), Violation> {
    if roles.iter().any(|r| duty_of(r) != Duty::Business) {
        return Err(Violation {
            code: "separation_of_duties",
            message: "单点登录的分组只能映射到业务角色；系统管理员、安全管理员和审计员须由专人在用户管理中授予",
        });
    }
    check_combination(roles)
}

/// Resources whose writing belongs to the system or security duty, and the audit log, which
/// belongs to the auditor alone.
const DUTY_RESOURCES: &[&str] =
    &["user", "tenant", "federation", "role_assignment", "role", "policy", "api_key", "sso", "audit"];

/// Checks a custom policy row (`p, role, scope, resource, action`) before it is added. The
/// duty roles' permissions are fixed by the release (a security administrator who could add
/// rows for `security_admin` would grant itself anything), and no row hands a duty's writing
/// or the audit log to a business role (which an administrator also holds).
///
/// # Errors
/// The field that breaks the rule (`role` or `resource`) and the rule.
pub fn check_custom_rule(role: &str, resource: &str, action: &str) -> Result<(), (&'static str, Violation)> {
    if duty_of(role) != Duty::Business {
        return Err((
            "role",
            Violation {
                code: "separation_of_duties",
                message: "系统管理员、安全管理员和审计员的权限由版本固定，不能追加",
            },
        ));
    }
    if DUTY_RESOURCES.contains(&resource) && (resource == "audit" || action != "read") {
        return Err((
            "resource",
            Violation {
                code: "separation_of_duties",
                message: "账号、单位、角色、密钥、单点登录和权限策略的修改以及审计日志属于三员职责，不能授予业务角色",
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_auditor_stands_alone() {
        assert!(check_combination(&r(&["auditor"])).is_ok());
        assert!(check_combination(&r(&["auditor", "viewer"])).is_ok());
        for admin in ["system_admin", "security_admin", "tenant_admin"] {
            assert!(check_combination(&r(&["auditor", admin])).is_err(), "{admin}");
        }
        assert!(check_combination(&r(&["tenant_admin", "system_admin", "security_admin"])).is_ok());
    }

    #[test]
    fn mappings_hand_out_business_roles_only() {
        assert!(check_mapped(&r(&["manager", "viewer", "my_custom"])).is_ok());
        for duty in ["system_admin", "security_admin", "auditor"] {
            assert!(check_mapped(&r(&["viewer", duty])).is_err(), "{duty}");
        }
    }

    #[test]
    fn holding_follows_the_business_tree_downwards() {
        assert!(holds(&r(&["tenant_admin"]), "viewer"));
        assert!(holds(&r(&["manager"]), "operator"));
        assert!(!holds(&r(&["operator"]), "manager"));
        assert!(!holds(&r(&["security_admin"]), "manager"));
        assert!(!holds(&r(&["security_admin", "system_admin"]), "viewer"));
        assert!(holds(&r(&["security_admin"]), "security_admin"));
    }

    #[test]
    fn custom_rows_stay_out_of_the_duties() {
        assert!(check_custom_rule("viewer", "user", "read").is_ok());
        assert!(check_custom_rule("manager", "enterprise", "approve").is_ok());
        assert_eq!(check_custom_rule("security_admin", "enterprise", "approve").map_err(|e| e.0), Err("role"));
        assert_eq!(check_custom_rule("auditor", "audit", "read").map_err(|e| e.0), Err("role"));
        assert_eq!(check_custom_rule("viewer", "audit", "read").map_err(|e| e.0), Err("resource"));
        assert_eq!(check_custom_rule("manager", "user", "update").map_err(|e| e.0), Err("resource"));
        assert_eq!(check_custom_rule("manager", "role_assignment", "update").map_err(|e| e.0), Err("resource"));
    }

    #[test]
    fn protected_accounts_are_the_auditor_and_the_security_administrator() {
        assert!(is_protected(&r(&["auditor"])));
        assert!(is_protected(&r(&["security_admin", "tenant_admin"])));
        assert!(!is_protected(&r(&["system_admin", "tenant_admin"])));
    }
}
