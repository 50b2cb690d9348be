//! HTTP in and out for the catalogue routes.

use actix_web::{HttpResponse, delete, get, post, put, web};
use uuid::Uuid;

use super::dto::{CategoryResponse, CreateCategoryRequest, SelectCategoriesRequest, UpdateCategoryRequest};
use super::service;
use crate::error::{ApiResult, BodyErrors, ConflictError, GuardErrors, NotFoundError, ParamErrors};
use crate::modules::admin::handlers::Caller;

/// The catalogue the caller's tenant sees: the national classification, its ancestors' and
/// its own sub-categories, with the ones it traces marked.
#[utoipa::path(tag = "产品目录 catalogue", operation_id = "listCategories", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "产品分类 / categories", body = Vec<CategoryResponse>), GuardErrors))]
#[get("/api/v1/catalogue")]
pub async fn list_categories(caller: Caller) -> ApiResult<web::Json<Vec<CategoryResponse>>> {
    Ok(web::Json(service::list(&caller.ctx()).await?))
}

/// Add a category: the national tenant extends the overall classification; other tenants add
/// sub-categories under a national category, the code extending the parent's.
#[utoipa::path(tag = "产品目录 catalogue", operation_id = "createCategory", security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateCategoryRequest,
    responses((status = 201, description = "已创建 / created", body = CategoryResponse), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/catalogue")]
pub async fn create_category(caller: Caller, body: web::Json<CreateCategoryRequest>) -> ApiResult<HttpResponse> {
    let ctx = caller.ctx();
    let c = service::create(&ctx, &body).await?;
    let view = service::list(&ctx).await?.into_iter().find(|v| v.id == c.id);
    Ok(HttpResponse::Created().json(view))
}

/// Rename a category of the caller's tenant, or move it (new parent and code) while it has no
/// sub-categories and no tenant traces it.
#[utoipa::path(tag = "产品目录 catalogue", operation_id = "updateCategory", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "分类 id")),
    request_body = UpdateCategoryRequest,
    responses((status = 200, description = "已保存 / saved", body = CategoryResponse), BodyErrors, GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[put("/api/v1/catalogue/{id}")]
pub async fn update_category(
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<UpdateCategoryRequest>,
) -> ApiResult<HttpResponse> {
    let ctx = caller.ctx();
    let c = service::update(&ctx, *id, &body).await?;
    let view = service::list(&ctx).await?.into_iter().find(|v| v.id == c.id);
    Ok(HttpResponse::Ok().json(view))
}

/// Delete a category of the caller's tenant that nothing uses.
#[utoipa::path(tag = "产品目录 catalogue", operation_id = "deleteCategory", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "分类 id")),
    responses((status = 204, description = "已删除 / deleted"), GuardErrors, NotFoundError, ConflictError, ParamErrors))]
#[delete("/api/v1/catalogue/{id}")]
pub async fn delete_category(caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&caller.ctx(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set the categories the caller's tenant traces (the complete set).
#[utoipa::path(tag = "产品目录 catalogue", operation_id = "selectCategories", security(("session_cookie" = []), ("api_key" = [])),
    request_body = SelectCategoriesRequest,
    responses((status = 200, description = "已保存：本单位追溯的分类 / the tenant's categories", body = Vec<Uuid>), BodyErrors, GuardErrors))]
#[put("/api/v1/catalogue/selection")]
pub async fn select_categories(
    caller: Caller,
    body: web::Json<SelectCategoriesRequest>,
) -> ApiResult<web::Json<Vec<Uuid>>> {
    Ok(web::Json(service::select(&caller.ctx(), &body).await?))
}
