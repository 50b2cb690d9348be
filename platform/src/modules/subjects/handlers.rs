//! HTTP in and out for the filing routes.

use actix_web::{HttpResponse, get, post, put, web};
use uuid::Uuid;

use super::dto::{
    EnterpriseQuery, EnterpriseRequest, EnterpriseResponse, FilingRuleResponse, FilingRulesRequest,
    FilingStateResponse, MerchantPage, MerchantQuery, MerchantRequest, MerchantResponse, ProductPage, ProductQuery,
    ProductRequest, ProductResponse, RejectFilingRequest, VersionResponse,
};
use super::dto::{FilingMapQuery, FilingStatistics, ImportJobResponse, ImportQuery};
use super::service;
use super::workflow::{self, Kind};
use super::{analysis, import, merchants, products};
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
            (inline(crate::openapi::Binary) = "text/csv"),
            (inline(crate::openapi::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        GuardErrors, ParamErrors))]
#[get("/api/v1/enterprises/export")]
pub async fn export_enterprises(caller: Caller, q: web::Query<EnterpriseQuery>) -> ApiResult<HttpResponse> {
    let format = super::export::check_format(q.format.as_deref())?;
    let rows = service::export(&caller.ctx(), &q).await?;
    super::export::respond(Kind::Enterprise, format, rows.into_iter().map(super::export::enterprise_cells))
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
    Ok(web::Json(workflow::versions(&caller.ctx(), Kind::Enterprise, *id).await?))
}

// ---- merchants ----

/// File an individual merchant (个体经营户) of a market in the caller's tenant; the platform
/// issues its merchant code, and the node enterprise's name and region come from its filing.
#[utoipa::path(tag = "主体备案 filings", operation_id = "createMerchant", security(("session_cookie" = []), ("api_key" = [])),
    request_body = MerchantRequest,
    responses((status = 201, description = "已备案 / filed", body = MerchantResponse), BodyErrors, GuardErrors))]
#[post("/api/v1/merchants")]
pub async fn create_merchant(caller: Caller, body: web::Json<MerchantRequest>) -> ApiResult<HttpResponse> {
    let m = merchants::create(&caller.ctx(), &body).await?;
    Ok(HttpResponse::Created().json(MerchantResponse::from(m)))
}

/// Search the merchant filings the caller may read: by region, type, node (code or name),
/// category, name, code, status and filing time, with paging and sorting.
#[utoipa::path(tag = "主体备案 filings", operation_id = "listMerchants", security(("session_cookie" = []), ("api_key" = [])),
    params(MerchantQuery),
    responses((status = 200, description = "个体经营户备案 / filings", body = MerchantPage), GuardErrors, ParamErrors))]
#[get("/api/v1/merchants")]
pub async fn list_merchants(caller: Caller, q: web::Query<MerchantQuery>) -> ApiResult<web::Json<MerchantPage>> {
    let (items, page, page_size, total) = merchants::search(&caller.ctx(), &q).await?;
    Ok(web::Json(MerchantPage { items: items.into_iter().map(Into::into).collect(), page, page_size, total }))
}

/// Export the merchant filings matching the filters as CSV or XLSX (at most 100 000 rows);
/// audited.
#[utoipa::path(tag = "主体备案 filings", operation_id = "exportMerchants", security(("session_cookie" = []), ("api_key" = [])),
    params(MerchantQuery),
    responses(
        (status = 200, description = "CSV 或 Excel 文件 / CSV or XLSX file", content(
            (inline(crate::openapi::Binary) = "text/csv"),
            (inline(crate::openapi::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        GuardErrors, ParamErrors))]
#[get("/api/v1/merchants/export")]
pub async fn export_merchants(caller: Caller, q: web::Query<MerchantQuery>) -> ApiResult<HttpResponse> {
    let format = super::export::check_format(q.format.as_deref())?;
    let rows = merchants::export(&caller.ctx(), &q).await?;
    super::export::respond(Kind::Merchant, format, rows.into_iter().map(super::export::merchant_cells))
}

/// One merchant filing.
#[utoipa::path(tag = "主体备案 filings", operation_id = "getMerchant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "个体经营户备案 / filing", body = MerchantResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/merchants/{id}")]
pub async fn get_merchant(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<MerchantResponse>> {
    Ok(web::Json(merchants::get(&caller.ctx(), *id).await?.into()))
}

/// Change a merchant filing under the tenant's change control.
#[utoipa::path(tag = "主体备案 filings", operation_id = "updateMerchant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    request_body = MerchantRequest,
    responses((status = 200, description = "已保存 / saved", body = MerchantResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[put("/api/v1/merchants/{id}")]
pub async fn update_merchant(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<MerchantRequest>,
) -> ApiResult<web::Json<MerchantResponse>> {
    Ok(web::Json(merchants::update(&caller.ctx(), *id, &body).await?.into()))
}

/// Approve a submitted merchant filing (module manager): a new version, an outbox row.
#[utoipa::path(tag = "主体备案 filings", operation_id = "approveMerchant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "已通过 / approved", body = MerchantResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/merchants/{id}/approve")]
pub async fn approve_merchant(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<MerchantResponse>> {
    Ok(web::Json(merchants::approve(&caller.ctx(), *id).await?.into()))
}

// ---- products ----

/// File a product (R-PROD-2) of an approved enterprise in the caller's tenant; the platform
/// issues its product code.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "createProduct", security(("session_cookie" = []), ("api_key" = [])),
    request_body = ProductRequest,
    responses((status = 201, description = "已备案 / filed", body = ProductResponse), BodyErrors, GuardErrors))]
#[post("/api/v1/products")]
pub async fn create_product(caller: Caller, body: web::Json<ProductRequest>) -> ApiResult<HttpResponse> {
    let p = products::create(&caller.ctx(), &body).await?;
    Ok(HttpResponse::Created().json(ProductResponse::from(p)))
}

/// Search the product filings the caller may read: by region, category (with the categories
/// below it), producing enterprise, name, code, GTIN, status and filing time.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "listProducts", security(("session_cookie" = []), ("api_key" = [])),
    params(ProductQuery),
    responses((status = 200, description = "产品备案 / filings", body = ProductPage), GuardErrors, ParamErrors))]
#[get("/api/v1/products")]
pub async fn list_products(caller: Caller, q: web::Query<ProductQuery>) -> ApiResult<web::Json<ProductPage>> {
    let (items, page, page_size, total) = products::search(&caller.ctx(), &q).await?;
    Ok(web::Json(ProductPage { items: items.into_iter().map(Into::into).collect(), page, page_size, total }))
}

/// Export the product filings matching the filters as CSV or XLSX; audited.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "exportProducts", security(("session_cookie" = []), ("api_key" = [])),
    params(ProductQuery),
    responses(
        (status = 200, description = "CSV 或 Excel 文件 / CSV or XLSX file", content(
            (inline(crate::openapi::Binary) = "text/csv"),
            (inline(crate::openapi::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        GuardErrors, ParamErrors))]
#[get("/api/v1/products/export")]
pub async fn export_products(caller: Caller, q: web::Query<ProductQuery>) -> ApiResult<HttpResponse> {
    let format = super::export::check_format(q.format.as_deref())?;
    let rows = products::export(&caller.ctx(), &q).await?;
    super::export::respond(Kind::Product, format, rows.into_iter().map(super::export::product_cells))
}

/// One product filing.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "getProduct", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "产品备案 / filing", body = ProductResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/products/{id}")]
pub async fn get_product(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<ProductResponse>> {
    Ok(web::Json(products::get(&caller.ctx(), *id).await?.into()))
}

/// Change a product filing under the tenant's change control.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "updateProduct", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    request_body = ProductRequest,
    responses((status = 200, description = "已保存 / saved", body = ProductResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[put("/api/v1/products/{id}")]
pub async fn update_product(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ProductRequest>,
) -> ApiResult<web::Json<ProductResponse>> {
    Ok(web::Json(products::update(&caller.ctx(), *id, &body).await?.into()))
}

/// Approve a submitted product filing (module manager): a new version, an outbox row.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "approveProduct", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "已通过 / approved", body = ProductResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/products/{id}/approve")]
pub async fn approve_product(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<ProductResponse>> {
    Ok(web::Json(products::approve(&caller.ctx(), *id).await?.into()))
}

// ---- review steps shared by merchants and products ----

/// Submit a draft, rejected or changed merchant filing for review; answers its review state.
#[utoipa::path(tag = "主体备案 filings", operation_id = "submitMerchant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "已提交审核 / submitted", body = FilingStateResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/merchants/{id}/submit")]
pub async fn submit_merchant(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<FilingStateResponse>> {
    let ctx = caller.ctx();
    workflow::submit(&ctx, Kind::Merchant, *id).await?;
    Ok(web::Json(workflow::state(&ctx, Kind::Merchant, *id).await?))
}

/// Reject a submitted merchant filing with a reason (module manager).
#[utoipa::path(tag = "主体备案 filings", operation_id = "rejectMerchant", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    request_body = RejectFilingRequest,
    responses((status = 200, description = "已驳回 / rejected", body = FilingStateResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/merchants/{id}/reject")]
pub async fn reject_merchant(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<RejectFilingRequest>,
) -> ApiResult<web::Json<FilingStateResponse>> {
    let ctx = caller.ctx();
    workflow::reject(&ctx, Kind::Merchant, *id, &body.reason).await?;
    Ok(web::Json(workflow::state(&ctx, Kind::Merchant, *id).await?))
}

/// The approved versions of a merchant filing, each with the fields changed from the one
/// before.
#[utoipa::path(tag = "主体备案 filings", operation_id = "listMerchantVersions", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "历史版本 / versions", body = Vec<VersionResponse>), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/merchants/{id}/versions")]
pub async fn list_merchant_versions(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<Vec<VersionResponse>>> {
    Ok(web::Json(workflow::versions(&caller.ctx(), Kind::Merchant, *id).await?))
}

/// Submit a draft, rejected or changed product filing for review; answers its review state.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "submitProduct", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "已提交审核 / submitted", body = FilingStateResponse), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/products/{id}/submit")]
pub async fn submit_product(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<FilingStateResponse>> {
    let ctx = caller.ctx();
    workflow::submit(&ctx, Kind::Product, *id).await?;
    Ok(web::Json(workflow::state(&ctx, Kind::Product, *id).await?))
}

/// Reject a submitted product filing with a reason (module manager).
#[utoipa::path(tag = "产品备案 product filings", operation_id = "rejectProduct", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    request_body = RejectFilingRequest,
    responses((status = 200, description = "已驳回 / rejected", body = FilingStateResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[post("/api/v1/products/{id}/reject")]
pub async fn reject_product(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<RejectFilingRequest>,
) -> ApiResult<web::Json<FilingStateResponse>> {
    let ctx = caller.ctx();
    workflow::reject(&ctx, Kind::Product, *id, &body.reason).await?;
    Ok(web::Json(workflow::state(&ctx, Kind::Product, *id).await?))
}

/// The approved versions of a product filing, each with the fields changed from the one
/// before.
#[utoipa::path(tag = "产品备案 product filings", operation_id = "listProductVersions", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "备案 id")),
    responses((status = 200, description = "历史版本 / versions", body = Vec<VersionResponse>), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/products/{id}/versions")]
pub async fn list_product_versions(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<Vec<VersionResponse>>> {
    Ok(web::Json(workflow::versions(&caller.ctx(), Kind::Product, *id).await?))
}

// ---- change control ----

fn rule_kind(s: &str) -> ApiResult<Kind> {
    Kind::parse(s).ok_or_else(|| {
        crate::error::ApiError::invalid_field("kind", "unknown", "备案种类只能是 enterprise、merchant 或 product")
    })
}

/// The caller's tenant's change control of a kind of filing (R-SUBJ-4): per field, who may
/// change it once approved, and whether a change needs review again.
#[utoipa::path(tag = "主体备案 filings", operation_id = "getFilingRules", security(("session_cookie" = []), ("api_key" = [])),
    params(("kind" = String, Path, description = "`enterprise`、`merchant` 或 `product`")),
    responses((status = 200, description = "变更规则 / change control", body = Vec<FilingRuleResponse>), GuardErrors, ParamErrors))]
#[get("/api/v1/filing-rules/{kind}")]
pub async fn get_filing_rules(
    caller: Caller,
    kind: web::Path<String>,
) -> ApiResult<web::Json<Vec<FilingRuleResponse>>> {
    Ok(web::Json(workflow::get_rules(&caller.ctx(), rule_kind(&kind)?).await?))
}

/// Set the caller's tenant's change control of some fields (managers); audited.
#[utoipa::path(tag = "主体备案 filings", operation_id = "setFilingRules", security(("session_cookie" = []), ("api_key" = [])),
    params(("kind" = String, Path, description = "`enterprise`、`merchant` 或 `product`")),
    request_body = FilingRulesRequest,
    responses((status = 200, description = "变更规则 / change control", body = Vec<FilingRuleResponse>), BodyErrors, GuardErrors, ParamErrors))]
#[put("/api/v1/filing-rules/{kind}")]
pub async fn set_filing_rules(
    caller: Caller,
    kind: web::Path<String>,
    body: web::Json<FilingRulesRequest>,
) -> ApiResult<web::Json<Vec<FilingRuleResponse>>> {
    Ok(web::Json(workflow::set_rules(&caller.ctx(), rule_kind(&kind)?, &body.rules).await?))
}

// ---- import ----

/// Import enterprises, merchants or products from a CSV (UTF-8) or XLSX file sent as the
/// body, with the columns of the export. The answer comes at once (202) with the import's id;
/// the rows are checked and written in the background — poll `GET /api/v1/imports/{id}` for
/// progress and every bad row (row, column, rule). At most 64 MiB and 200 000 rows.
#[utoipa::path(tag = "主体备案 filings", operation_id = "startImport", security(("session_cookie" = []), ("api_key" = [])),
    params(ImportQuery),
    request_body(content(
        (inline(crate::openapi::Binary) = "text/csv"),
        (inline(crate::openapi::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ), description = "CSV 或 Excel 文件 / the file"),
    responses((status = 202, description = "已开始 / started", body = ImportJobResponse), BodyErrors, GuardErrors, ParamErrors,
        (status = 413, description = "文件过大 / file too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "文件类型不对 / not CSV or XLSX", body = crate::error::Problem, content_type = "application/problem+json")))]
#[post("/api/v1/imports")]
pub async fn start_import(
    caller: Caller,
    req: actix_web::HttpRequest,
    q: web::Query<ImportQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = Kind::parse(&q.kind).ok_or_else(|| {
        crate::error::ApiError::invalid_field("kind", "unknown", "kind 只能是 enterprise、merchant 或 product")
    })?;
    let mode = import::Mode::parse(q.mode.as_deref())?;
    // The guard first: nobody without the right holds 64 MiB of the server's memory.
    caller.ctx().require_own("import", "create").await?;
    let xlsx = import::is_xlsx(&req, q.format.as_deref())?;
    let body = crate::error::body_within(payload, import::MAX_IMPORT_BYTES).await?;
    let upload = import::Upload {
        kind,
        mode,
        submit: q.submit,
        file_name: q
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{}.{}", kind.as_str(), if xlsx { "xlsx" } else { "csv" })),
        xlsx,
        bytes: body,
    };
    let job = import::start(caller, upload).await?;
    Ok(HttpResponse::Accepted().json(ImportJobResponse::from(job)))
}

/// One import of the caller's tenant: its progress and the problems found.
#[utoipa::path(tag = "主体备案 filings", operation_id = "getImport", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "导入 id")),
    responses((status = 200, description = "导入进度 / import", body = ImportJobResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/imports/{id}")]
pub async fn get_import(caller: Caller, id: web::Path<Uuid>) -> ApiResult<web::Json<ImportJobResponse>> {
    Ok(web::Json(import::get(&caller.ctx(), *id).await?))
}

/// The caller's tenant's imports, newest first.
#[utoipa::path(tag = "主体备案 filings", operation_id = "listImports", security(("session_cookie" = []), ("api_key" = [])),
    params(crate::paging::PageQuery),
    responses((status = 200, description = "导入记录 / imports", body = super::dto::ImportJobPage), GuardErrors, ParamErrors))]
#[get("/api/v1/imports")]
pub async fn list_imports(
    caller: Caller,
    q: web::Query<crate::paging::PageQuery>,
) -> ApiResult<web::Json<super::dto::ImportJobPage>> {
    let paging = q.check()?;
    let (rows, total) = import::list(&caller.ctx(), paging).await?;
    Ok(web::Json(super::dto::ImportJobPage::new(rows, paging, total)))
}

// ---- map and statistics ----

/// The filings of a region on the map (R-SUBJ-6): a count per sub-region, and the filings as
/// points clustered on a grid and coloured by type (merchants at their market). Filters as the
/// search's; approved filings unless `status` says otherwise.
#[utoipa::path(tag = "主体备案 filings", operation_id = "filingsMap", security(("session_cookie" = []), ("api_key" = [])),
    params(FilingMapQuery),
    responses((status = 200, description = "地图数据 / map data", body = crate::modules::dashboard::dto::RegionMap), GuardErrors, ParamErrors))]
#[get("/api/v1/filings/map")]
pub async fn filings_map(
    caller: Caller,
    q: web::Query<FilingMapQuery>,
) -> ApiResult<web::Json<crate::modules::dashboard::dto::RegionMap>> {
    Ok(web::Json(analysis::map(&caller.ctx(), &q).await?))
}

/// Filing statistics of a region (R-SUBJ-7): totals, and counts and shares by child tenant,
/// enterprise type, trace stage, product kind, merchant type and month.
#[utoipa::path(tag = "主体备案 filings", operation_id = "filingStatistics", security(("session_cookie" = []), ("api_key" = [])),
    params(FilingMapQuery),
    responses((status = 200, description = "统计 / statistics", body = FilingStatistics), GuardErrors, ParamErrors))]
#[get("/api/v1/filings/statistics")]
pub async fn filing_statistics(
    caller: Caller,
    q: web::Query<FilingMapQuery>,
) -> ApiResult<web::Json<FilingStatistics>> {
    Ok(web::Json(analysis::statistics(&caller.ctx(), &q).await?))
}
