//! The zh-CN web pages served by the platform itself: the staff console (`/console/…`, behind
//! the login page) and the public portal (`/`, no login). Pages are rendered on the server
//! with askama templates (`platform/templates/`); htmx, ECharts and the China map come from
//! `platform/static/vendor/`, embedded in the binary, so everything works with no internet.
//! Pages call the same services as the JSON API, so the same guard decides.

mod admin_pages;
pub mod assets;
mod auth_pages;
mod catalogue_pages;
mod console;
mod federation_pages;
mod filing_pages;
mod filing_tools_pages;
mod kind_pages;
pub mod page;
pub(crate) mod public;
mod trace_pages;

use actix_web::web;

/// Registers every page route and the static files.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{path:.*}", web::get().to(assets::serve))
        .route("/", web::get().to(public::home))
        .route("/search", web::get().to(public::search))
        .route("/t/{code:.*}", web::get().to(public::trace))
        .route("/info", web::get().to(public::info))
        .route("/board", web::get().to(public::board))
        .route("/apply", web::get().to(public::apply_form))
        .route("/apply", web::post().to(public::apply_submit))
        .route("/login", web::get().to(auth_pages::login_form))
        .route("/login", web::post().to(auth_pages::login_submit))
        .route("/login/sso", web::get().to(auth_pages::sso_redirect))
        .route("/logout", web::post().to(auth_pages::logout))
        .route("/invite/{token}", web::get().to(auth_pages::invite_form))
        .route("/invite/{token}", web::post().to(auth_pages::invite_submit))
        .route("/console", web::get().to(console::dashboard))
        .route("/console/", web::get().to(console::dashboard_slash))
        .route("/console/password", web::get().to(auth_pages::password_form))
        .route("/console/password", web::post().to(auth_pages::password_submit))
        .route("/console/sso-link", web::post().to(auth_pages::sso_link))
        .route("/console/tenant-switch", web::post().to(auth_pages::switch_tenant))
        .route("/console/tenants", web::get().to(admin_pages::tenants))
        .route("/console/tenants", web::post().to(admin_pages::create_tenant))
        .route("/console/applications/{id}/approve", web::post().to(admin_pages::approve_application))
        .route("/console/applications/{id}/reject", web::post().to(admin_pages::reject_application))
        .route("/console/tenants/{id}", web::get().to(admin_pages::tenant_detail))
        .route("/console/tenants/{id}/profile", web::post().to(admin_pages::tenant_profile))
        .route("/console/tenants/{id}/{action}", web::post().to(admin_pages::tenant_status))
        .route("/console/users", web::get().to(admin_pages::users))
        .route("/console/users", web::post().to(admin_pages::create_user))
        .route("/console/users/{id}", web::get().to(admin_pages::user_detail))
        .route("/console/users/{id}/roles", web::post().to(admin_pages::user_roles))
        .route("/console/users/{id}/{action}", web::post().to(admin_pages::user_command))
        .route("/console/roles", web::get().to(admin_pages::roles))
        .route("/console/roles", web::post().to(admin_pages::create_role))
        .route("/console/roles/grants", web::post().to(admin_pages::set_grant))
        .route("/console/roles/{id}/delete", web::post().to(admin_pages::delete_role))
        .route("/console/api-keys", web::get().to(admin_pages::api_keys))
        .route("/console/api-keys", web::post().to(admin_pages::create_api_key))
        .route("/console/api-keys/{id}/revoke", web::post().to(admin_pages::revoke_api_key))
        .route("/console/sso", web::get().to(admin_pages::sso_settings))
        .route("/console/sso", web::post().to(admin_pages::save_sso))
        .route("/console/audit", web::get().to(admin_pages::audit))
        .route("/console/audit/verify", web::post().to(admin_pages::verify_audit))
        .route("/console/catalogue", web::get().to(catalogue_pages::catalogue))
        .route("/console/catalogue", web::post().to(catalogue_pages::create))
        .route("/console/catalogue/selection", web::post().to(catalogue_pages::select))
        .route("/console/catalogue/{id}/delete", web::post().to(catalogue_pages::delete))
        .route("/console/enterprises", web::get().to(filing_pages::enterprises))
        .route("/console/enterprises", web::post().to(filing_pages::create))
        .route("/console/enterprises/{id}", web::get().to(filing_pages::detail))
        .route("/console/enterprises/{id}/edit", web::get().to(filing_pages::edit_form))
        .route("/console/enterprises/{id}/edit", web::post().to(filing_pages::edit))
        .route("/console/enterprises/{id}/{action}", web::post().to(filing_pages::review))
        .route("/console/trace", web::get().to(trace_pages::list))
        .route("/console/trace/{id}", web::get().to(trace_pages::detail))
        .route("/console/trace-chain", web::get().to(trace_pages::chain))
        .route("/console/query-analysis", web::get().to(trace_pages::query_analysis))
        .route("/console/code-anomalies", web::get().to(trace_pages::code_anomalies))
        .route("/console/rollup", web::get().to(federation_pages::rollup))
        .route("/console/federation", web::get().to(federation_pages::status))
        .route("/console/federation/credentials", web::post().to(federation_pages::issue_credential))
        .route("/console/federation/credentials/{id}/revoke", web::post().to(federation_pages::revoke_credential))
        .route("/console/federation/upstream", web::post().to(federation_pages::set_upstream))
        .route("/console/federation/links/{id}/sync", web::post().to(federation_pages::sync_link))
        .route("/console/filing-analysis", web::get().to(filing_tools_pages::analysis))
        .route("/console/imports", web::get().to(filing_tools_pages::imports))
        .route("/console/filing-rules", web::get().to(filing_tools_pages::rules))
        .route("/console/filing-rules/{kind}", web::post().to(filing_tools_pages::save_rules))
        .route("/console/{kind:(merchants|products)}", web::get().to(kind_pages::list))
        .route("/console/{kind:(merchants|products)}", web::post().to(kind_pages::create))
        .route("/console/{kind:(merchants|products)}/{id}", web::get().to(kind_pages::detail))
        .route("/console/{kind:(merchants|products)}/{id}/edit", web::get().to(kind_pages::edit_form))
        .route("/console/{kind:(merchants|products)}/{id}/edit", web::post().to(kind_pages::edit))
        .route("/console/{kind:(merchants|products)}/{id}/{action}", web::post().to(kind_pages::review))
        .route("/console/{tail:.*}", web::to(admin_pages::not_found));
}

/// A time as the pages show it: China Standard Time, to the second.
#[must_use]
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&china_time()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A division as the pages show it: its name from the GB/T 2260 table and its code
/// (`山东省济南市历城区 370112`); the code alone when the table does not hold it.
#[must_use]
pub fn division(code: &str) -> String {
    suyuan_tenancy::division::full_name_of(code).map_or_else(|| code.to_owned(), |n| format!("{n} {code}"))
}

/// China time to the microsecond, `2026-11-27 08:30:00.123456`: the audit export, whose
/// records follow each other within a second.
#[must_use]
pub fn when_precise(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&china_time()).format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn china_time() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap_or(chrono::FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}

/// The page for an unknown address outside the API (the API answers problem+json).
pub use public::not_found as page_not_found;

/// A filing status in Chinese.
#[must_use]
pub fn filing_status_label(status: &str) -> &'static str {
    filing_pages::status_label(status).0
}
