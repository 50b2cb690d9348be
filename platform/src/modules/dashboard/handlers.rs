//! HTTP in and out for the dashboard routes.

use actix_web::{get, web};

use super::dto::{DashboardResponse, RegionMap, RegionMapQuery};
use super::service;
use crate::error::{ApiResult, GuardErrors, ParamErrors};
use crate::modules::admin::handlers::Caller;

/// The home dashboard of the caller's tenant: key figures, charts and the caller's own recent
/// actions. Each section is present only when the caller's roles allow it; figures of modules
/// that have not landed yet are `null`.
#[utoipa::path(tag = "概览 dashboard", operation_id = "getDashboard", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "首页数据 / dashboard", body = DashboardResponse), GuardErrors))]
#[get("/api/v1/dashboard")]
pub async fn get_dashboard(caller: Caller) -> ApiResult<web::Json<DashboardResponse>> {
    Ok(web::Json(service::dashboard(&caller.ctx()).await?))
}

/// The map data of a region inside the caller's: tenants onboarded per sub-region
/// (choropleth) and the agencies' seats (points). Drill down by asking for a sub-region.
#[utoipa::path(tag = "概览 dashboard", operation_id = "getRegionMap", security(("session_cookie" = []), ("api_key" = [])),
    params(RegionMapQuery),
    responses((status = 200, description = "地图数据 / map data", body = RegionMap), GuardErrors, ParamErrors))]
#[get("/api/v1/dashboard/map")]
pub async fn get_region_map(caller: Caller, q: web::Query<RegionMapQuery>) -> ApiResult<web::Json<RegionMap>> {
    Ok(web::Json(service::region_map(&caller.ctx(), q.region.as_deref()).await?))
}
