//! The product catalogue page (重要产品管理 → 产品分类).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

use super::page::form_field as field;
use super::page::{FormErrors, Layout, PageError, PageResult, PageUser, redirect_with};
use crate::modules::products::dto::{CategoryResponse, CreateCategoryRequest, SelectCategoriesRequest};
use crate::modules::products::service::{self, MAX_DEPTH};

#[derive(Template)]
#[template(path = "console/catalogue.html")]
struct CataloguePage {
    page: Layout,
    rows: Vec<CategoryResponse>,
    can_create: bool,
    can_select: bool,
    can_delete: bool,
    form: NewCategory,
    errors: FormErrors,
    max_depth: i32,
}

/// Values of the new-category form.
#[derive(Default)]
struct NewCategory {
    parent_id: String,
    code: String,
    name: String,
}

async fn catalogue_page(user: &PageUser, form: NewCategory, errors: FormErrors) -> Result<CataloguePage, PageError> {
    let allows = |action: &str| user.state.authz.require_own(&user.who, "catalogue", action).is_ok();
    Ok(CataloguePage {
        page: user.layout("产品分类").crumb("产品分类", None),
        rows: service::list(&user.ctx()).await?,
        can_create: allows("create"),
        can_select: allows("select"),
        can_delete: allows("delete"),
        form,
        errors,
        max_depth: MAX_DEPTH,
    })
}

/// `GET /console/catalogue`.
pub async fn catalogue(user: PageUser) -> PageResult {
    let page = catalogue_page(&user, NewCategory::default(), FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/catalogue`: a sub-category.
pub async fn create(user: PageUser, form: web::Form<Vec<(String, String)>>) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let values = NewCategory {
        parent_id: field(&pairs, "parent_id").to_owned(),
        code: field(&pairs, "code").trim().to_owned(),
        name: field(&pairs, "name").trim().to_owned(),
    };
    let parent_id = uuid::Uuid::parse_str(&values.parent_id).ok();
    let req = CreateCategoryRequest { parent_id, code: values.code.clone(), name: values.name.clone() };
    match service::create(&user.ctx(), &req).await {
        Ok(c) => Ok(redirect_with("/console/catalogue", "ok", &format!("已添加分类 {}（{}）", c.name, c.code))),
        Err(e) if e.http_status().is_client_error() && e.http_status() != StatusCode::FORBIDDEN => {
            let status = e.http_status();
            let page = catalogue_page(&user, values, FormErrors::from_api(&e)).await?;
            Ok(user.render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/catalogue/selection`: the categories the tenant traces.
pub async fn select(user: PageUser, form: web::Form<Vec<(String, String)>>) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let category_ids =
        pairs.iter().filter(|(k, _)| k == "category_ids").filter_map(|(_, v)| uuid::Uuid::parse_str(v).ok()).collect();
    let chosen = service::select(&user.ctx(), &SelectCategoriesRequest { category_ids }).await?;
    Ok(redirect_with("/console/catalogue", "ok", &format!("已保存：本单位追溯 {} 个分类", chosen.len())))
}

/// `POST /console/catalogue/{id}/delete`.
pub async fn delete(user: PageUser, id: web::Path<String>, form: web::Form<Vec<(String, String)>>) -> PageResult {
    user.check_csrf(Some(field(&form, "_csrf")))?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| crate::error::ApiError::not_found("分类不存在"))?;
    match service::delete(&user.ctx(), id).await {
        Ok(()) => Ok(redirect_with("/console/catalogue", "ok", "分类已删除")),
        Err(e) if e.http_status() == StatusCode::CONFLICT => {
            Ok(redirect_with("/console/catalogue", "error", &e.to_problem(None).detail.unwrap_or_default()))
        }
        Err(e) => Err(e.into()),
    }
}
