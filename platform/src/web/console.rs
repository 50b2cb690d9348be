//! The home dashboard page.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::page::{Layout, PageResult, PageUser};
use crate::modules::dashboard::dto::DashboardResponse;
use crate::modules::dashboard::service;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    page: Layout,
    data: DashboardResponse,
    region: String,
    can_map: bool,
}

/// `GET /console`.
pub async fn dashboard(user: PageUser) -> PageResult {
    let data = service::dashboard(&user.ctx()).await?;
    let can_map = user.state.authz.require_own(&user.who, "rollup", "read").is_ok();
    let page = DashboardPage { page: user.layout("首页"), region: user.who.tenant.code.clone(), data, can_map };
    Ok(user.render(StatusCode::OK, &page))
}

/// `GET /console/`: the same page without the slash.
pub async fn dashboard_slash() -> HttpResponse {
    super::page::redirect("/console")
}
