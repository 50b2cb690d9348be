//! HTTP in and out for the filing routes.

use actix_web::{HttpResponse, get, post, put, web};
use uuid::Uuid;

use super::dto::{EnterpriseQuery, EnterpriseRequest, EnterpriseResponse, RejectFilingRequest, VersionResponse};
use super::service;
use crate::error::{ApiResult, BodyErrors, ConflictError, GuardErrors, NotFoundError, ParamErrors};
use crate::modules::admin::handlers::Caller;

/// File an enterprise in the caller's tenant (on the platform, or from the enterprise's own
/// system with an API key); the platform issues its code. A draft unless `submit` is true.
#[utoipa::path(tag = "主体备案 filings", operation_id = "createEnterprise", security(("session_cookie" = []), ("api_key" = [])),
    request_body = EnterpriseRequest,
    responses((status = 201, description = "已备案（草稿或待审核）/ filed", body = EnterpriseResponse), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/enterprises")]
pub async fn create_enterprise(caller: Caller, body: web::Json<EnterpriseRequest>) -> ApiResult<HttpResponse> {
    let e = service::create(&caller.ctx(), &body).await?;
    Ok(HttpResponse::Created().json(EnterpriseResponse::from(e)))
}

/// Search the enterprise filings the caller may read — its tenant's, and those below it for
/// roles that read the subtree — by region (with every region below), type, category, name,
/// code, status and filing time, with paging and sorting.
#[utoipa::path(tag = "主体备案 filings", operation_id = "listEnterprises", security(("session_cookie" = []), ("api_key" = [])),
    params(EnterpriseQuery),
    responses((status = 200, description = "企业备案 / filings", body = super::dto::EnterprisePage), GuardErrors, ParamErrors))]
#[get("/api/v1/enterprises")]
pub async fn list_enterprises(
    caller: Caller,
    q: web::Query<EnterpriseQuery>,
) -> ApiResult<web::Json<super::dto::EnterprisePage>> {
    let (items, page, page_size, total) = service::search(&caller.ctx(), &q).await?;
    Ok(web::Json(super::dto::EnterprisePage {
        items: items.into_iter().map(Into::into).collect(),
        page,
        page_size,
        total,
    }))
}

/// Export the filings matching the search's filters (paging ignored) as CSV (UTF-8 with BOM)
/// or XLSX; at most 100 000 rows. Recorded in the audit log.
#[utoipa::path(tag = "主体备案 filings", operation_id = "exportEnterprises", security(("session_cookie" = []), ("api_key" = [])),
    params(EnterpriseQuery),
    responses(
        (status = 200, description = "CSV 或 Excel 文件 / CSV or XLSX file", content(
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        GuardErrors, ParamErrors))]
#[get("/api/v1/enterprises/export")]
pub async fn export_enterprises(caller: Caller, q: web::Query<EnterpriseQuery>) -> ApiResult<HttpResponse> {
    let format = q.format.as_deref().unwrap_or("csv");
    if !matches!(format, "csv" | "xlsx") {
        return Err(crate::error::ApiError::invalid_field("format", "unknown", "导出格式只能是 csv 或 xlsx"));
    }
    let rows = service::export(&caller.ctx(), &q).await?;
    Ok(if format == "xlsx" {
        HttpResponse::Ok()
            .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .insert_header(("Content-Disposition", "attachment; filename=\"enterprises.xlsx\""))
            .body(super::export::to_xlsx(rows)?)
    } else {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", "attachment; filename=\"enterprises.csv\""))
            .body(super::export::to_csv(rows)?)
    })
}

/// One enterprise filing.
#[utoipa::path(tag = "主体备案 filings", operation_id = "getEnterprise", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "企业备案 / filing", body = EnterpriseResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/enterprises/{id}")]
pub async fn get_enterprise(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<EnterpriseResponse>> {
    Ok(web::Json(service::get(&caller.ctx(), *id).await?.into()))
}

/// Change a filing of the caller's tenant; an approved filing then needs review again.
#[utoipa::path(tag = "主体备案 filings", operation_id = "updateEnterprise", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    request_body = EnterpriseRequest,
    responses((status = 200, description = "已保存 / saved", body = EnterpriseResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[put("/api/v1/enterprises/{id}")]
pub async fn update_enterprise(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<EnterpriseRequest>,
) -> ApiResult<web::Json<EnterpriseResponse>> {
    Ok(web::Json(service::update(&caller.ctx(), *id, &body).await?.into()))
}

/// Submit a draft, rejected or changed filing for review.
#[utoipa::path(tag = "主体备案 filings", operation_id = "submitEnterprise", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "已提交审核 / submitted", body = EnterpriseResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/enterprises/{id}/submit")]
pub async fn submit_enterprise(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<EnterpriseResponse>> {
    Ok(web::Json(service::submit(&caller.ctx(), *id).await?.into()))
}

/// Approve a submitted filing (module manager): a new version, and an outbox row for the parent.
#[utoipa::path(tag = "主体备案 filings", operation_id = "approveEnterprise", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "已通过 / approved", body = EnterpriseResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/enterprises/{id}/approve")]
pub async fn approve_enterprise(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<EnterpriseResponse>> {
    Ok(web::Json(service::approve(&caller.ctx(), *id).await?.into()))
}

/// Reject a submitted filing with a reason (module manager).
#[utoipa::path(tag = "主体备案 filings", operation_id = "rejectEnterprise", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    request_body = RejectFilingRequest,
    responses((status = 200, description = "已驳回 / rejected", body = EnterpriseResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/enterprises/{id}/reject")]
pub async fn reject_enterprise(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<RejectFilingRequest>,
) -> ApiResult<web::Json<EnterpriseResponse>> {
    Ok(web::Json(service::reject(&caller.ctx(), *id, &body.reason).await?.into()))
}

/// The approved versions of a filing, each with the fields changed from the one before.
#[utoipa::path(tag = "主体备案 filings", operation_id = "listEnterpriseVersions", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "历史版本 / versions", body = Vec<VersionResponse>), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/enterprises/{id}/versions")]
pub async fn list_enterprise_versions(
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<VersionResponse>>> {
    Ok(web::Json(service::versions(&caller.ctx(), *id).await?))
}
