//! Administration: tenants (onboarding, suspension), user accounts, role assignments and the
//! audit log viewer (R-SHAPE-1, R-SHAPE-2, R-SEC-1, R-SEC-2, R-SEC-3).

pub mod applications;
pub mod dto;
pub(crate) mod handlers;
pub mod service;

/// Registers the administration routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_tenants)
        .service(handlers::create_tenant)
        .service(handlers::get_tenant)
        .service(handlers::suspend_tenant)
        .service(handlers::activate_tenant)
        .service(handlers::set_tenant_profile)
        .service(handlers::list_users)
        .service(handlers::create_user)
        .service(handlers::get_user)
        .service(handlers::disable_user)
        .service(handlers::enable_user)
        .service(handlers::reset_user_password)
        .service(handlers::end_user_sessions)
        .service(handlers::set_user_roles)
        .service(handlers::list_roles)
        .service(handlers::create_role)
        .service(handlers::delete_role)
        .service(handlers::list_policies)
        .service(handlers::create_policy)
        .service(handlers::delete_policy)
        .service(handlers::list_audit)
        .service(handlers::verify_audit)
        .service(handlers::publish_audit_anchor)
        .service(handlers::list_audit_anchors)
        .service(handlers::export_audit)
        .service(handlers::list_api_keys)
        .service(handlers::create_api_key)
        .service(handlers::revoke_api_key)
        .service(handlers::get_sso)
        .service(handlers::put_sso)
        .service(handlers::list_role_grants)
        .service(handlers::set_role_grant)
        .service(handlers::apply_for_tenant)
        .service(handlers::list_tenant_applications)
        .service(handlers::approve_tenant_application)
        .service(handlers::reject_tenant_application);
}
