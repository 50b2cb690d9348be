//! Identity: local accounts, passwords, login sessions (R-SEC-1).
//!
//! Built so far: login with lockout, idle and absolute session timeouts, logout, the forced
//! password change of initial passwords. SSO (OIDC), API keys, password history and audit
//! records come with the identity issue.

pub mod dto;
pub mod entity;
pub mod extract;
pub(crate) mod handlers;
pub mod password;
pub mod service;
pub mod sessions;
pub mod sso;

pub use extract::{AnyCaller, CurrentUser, SessionUser};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "suyuan_session";

/// Registers the identity routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::login)
        .service(handlers::logout)
        .service(handlers::get_me)
        .service(handlers::change_password)
        .service(handlers::sso_login)
        .service(handlers::sso_callback)
        .service(handlers::accept_invitation)
        .service(handlers::list_my_tenants)
        .service(handlers::switch_tenant)
        .service(handlers::start_sso_link);
}
