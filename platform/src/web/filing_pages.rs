//! Enterprise filing pages (追溯主体管理 → 企业备案): list, file, review, versions.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{FormErrors, Layout, PageError, PageResult, PageUser, redirect_with};
use super::page::{form_field as field, form_fields as fields};
use crate::error::ApiError;
use crate::modules::products::dto::CategoryResponse;
use crate::modules::subjects::dto::{ENTERPRISE_TYPES, EnterpriseRequest, EnterpriseResponse, STAGES, VersionResponse};
use crate::modules::subjects::service;

/// A status in Chinese, with its badge class.
#[must_use]
pub fn status_label(status: &str) -> (&'static str, &'static str) {
    match status {
        "draft" => ("草稿", "badge"),
        "submitted" => ("待审核", "badge badge-warn"),
        "approved" => ("已备案", "badge badge-ok"),
        "rejected" => ("已驳回", "badge badge-danger"),
        "changed" => ("变更待提交", "badge badge-warn"),
        _ => ("未知", "badge"),
    }
}

/// Values of the filing form as typed.
#[derive(Default)]
struct FilingForm {
    name: String,
    uscc: String,
    enterprise_type: String,
    categories: Vec<String>,
    stages: Vec<String>,
    licence_no: String,
    address: String,
    division_code: String,
    longitude: String,
    latitude: String,
    contact_name: String,
    contact_phone: String,
    contact_email: String,
}

#[derive(Template)]
#[template(path = "console/enterprises.html")]
struct EnterprisesPage {
    page: Layout,
    form_action: &'static str,
    form_button: &'static str,
    rows: Vec<EnterpriseResponse>,
    total: u64,
    page_no: u64,
    pages: u64,
    q: ListQuery,
    status: String,
    can_create: bool,
    categories: Vec<CategoryResponse>,
    types: &'static [(&'static str, &'static str)],
    stages: &'static [(&'static str, &'static str)],
    form: FilingForm,
    errors: FormErrors,
}

impl EnterprisesPage {
    fn label(&self, status: &str) -> (&'static str, &'static str) {
        status_label(status)
    }

    fn type_label(&self, t: &str) -> &'static str {
        ENTERPRISE_TYPES.iter().find(|(k, _)| *k == t).map_or("", |(_, l)| *l)
    }

    fn export_link(&self, format: &str) -> String {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.q.status),
            ("region", &self.q.region),
            ("enterprise_type", &self.q.enterprise_type),
            ("name", &self.q.name),
        ] {
            if !v.trim().is_empty() {
                qs.append_pair(k, v.trim());
            }
        }
        qs.append_pair("format", format);
        format!("/api/v1/enterprises/export?{}", qs.finish())
    }

    fn page_link(&self, page: u64) -> String {
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("status", &self.q.status)
            .append_pair("region", &self.q.region)
            .append_pair("enterprise_type", &self.q.enterprise_type)
            .append_pair("name", &self.q.name)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/console/enterprises?{qs}")
    }
}

/// Query of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    enterprise_type: String,
    #[serde(default)]
    name: String,
    page: Option<u64>,
}

async fn enterprises_page(
    user: &PageUser,
    q: ListQuery,
    form: FilingForm,
    errors: FormErrors,
) -> Result<EnterprisesPage, PageError> {
    let can_create = user.state.authz.require_own(&user.who, "enterprise", "create").is_ok();
    let categories = if can_create && user.state.authz.require_own(&user.who, "catalogue", "read").is_ok() {
        crate::modules::products::service::list(&user.ctx()).await?.into_iter().filter(|c| c.depth >= 2).collect()
    } else {
        Vec::new()
    };
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let search = crate::modules::subjects::dto::EnterpriseQuery {
        status: opt(&q.status),
        region: opt(&q.region),
        enterprise_type: opt(&q.enterprise_type),
        name: opt(&q.name),
        page: q.page,
        page_size: Some(20),
        ..Default::default()
    };
    let (rows, page_no, page_size, total) = match service::search(&user.ctx(), &search).await {
        Ok(found) => found,
        // A malformed filter (a region code, say) shows the whole list with the message.
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let all = crate::modules::subjects::dto::EnterpriseQuery { page_size: Some(20), ..Default::default() };
            let found = service::search(&user.ctx(), &all).await?;
            return Ok(EnterprisesPage {
                errors: FormErrors::from_api(&e),
                ..build(user, found, q, form, can_create, categories)
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(EnterprisesPage { errors, ..build(user, (rows, page_no, page_size, total), q, form, can_create, categories) })
}

fn build(
    user: &PageUser,
    (rows, page_no, page_size, total): (Vec<crate::modules::subjects::entity::enterprise::Model>, u64, u64, u64),
    q: ListQuery,
    form: FilingForm,
    can_create: bool,
    categories: Vec<CategoryResponse>,
) -> EnterprisesPage {
    EnterprisesPage {
        page: user.layout("企业备案").crumb("企业备案", None),
        form_action: "/console/enterprises",
        form_button: "保存备案",
        rows: rows.into_iter().map(Into::into).collect(),
        total,
        page_no,
        pages: total.div_ceil(page_size).max(1),
        status: q.status.clone(),
        q,
        can_create,
        categories,
        types: ENTERPRISE_TYPES,
        stages: STAGES,
        form,
        errors: FormErrors::none(),
    }
}

/// `GET /console/enterprises`.
pub async fn enterprises(user: PageUser, q: web::Query<ListQuery>) -> PageResult {
    let page = enterprises_page(&user, q.into_inner(), FilingForm::default(), FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

fn values_of(pairs: &[(String, String)]) -> FilingForm {
    FilingForm {
        name: field(pairs, "name").to_owned(),
        uscc: field(pairs, "uscc").to_owned(),
        enterprise_type: field(pairs, "enterprise_type").to_owned(),
        categories: fields(pairs, "categories"),
        stages: fields(pairs, "stages"),
        licence_no: field(pairs, "licence_no").to_owned(),
        address: field(pairs, "address").to_owned(),
        division_code: field(pairs, "division_code").to_owned(),
        longitude: field(pairs, "longitude").to_owned(),
        latitude: field(pairs, "latitude").to_owned(),
        contact_name: field(pairs, "contact_name").to_owned(),
        contact_phone: field(pairs, "contact_phone").to_owned(),
        contact_email: field(pairs, "contact_email").to_owned(),
    }
}

/// The API request of a typed form (coordinates must be numbers).
fn request_of(values: &FilingForm, submit: bool) -> Result<EnterpriseRequest, ApiError> {
    let mut errors = Vec::new();
    let coord = |name: &str, raw: &str, errors: &mut Vec<crate::error::FieldError>| {
        let t = raw.trim();
        if t.is_empty() {
            return None;
        }
        t.parse::<f64>().map_err(|_| errors.push(crate::error::FieldError::new(name, "format", "请填写数字"))).ok()
    };
    let longitude = coord("longitude", &values.longitude, &mut errors);
    let latitude = coord("latitude", &values.latitude, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(EnterpriseRequest {
        name: values.name.clone(),
        uscc: values.uscc.clone(),
        enterprise_type: values.enterprise_type.clone(),
        categories: values.categories.clone(),
        stages: values.stages.clone(),
        licence_no: opt(&values.licence_no),
        address: values.address.clone(),
        division_code: values.division_code.clone(),
        longitude,
        latitude,
        contact_name: values.contact_name.clone(),
        contact_phone: values.contact_phone.clone(),
        contact_email: opt(&values.contact_email),
        submit,
    })
}

impl FilingForm {
    fn of(e: &EnterpriseResponse) -> Self {
        Self {
            name: e.name.clone(),
            uscc: e.uscc.clone(),
            enterprise_type: e.enterprise_type.clone(),
            categories: e.categories.clone(),
            stages: e.stages.clone(),
            licence_no: e.licence_no.clone().unwrap_or_default(),
            address: e.address.clone(),
            division_code: e.division_code.clone(),
            longitude: e.longitude.map(|v| v.to_string()).unwrap_or_default(),
            latitude: e.latitude.map(|v| v.to_string()).unwrap_or_default(),
            contact_name: e.contact_name.clone(),
            contact_phone: e.contact_phone.clone(),
            contact_email: e.contact_email.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/enterprise_edit.html")]
struct EditPage {
    page: Layout,
    form_action: String,
    form_button: &'static str,
    categories: Vec<CategoryResponse>,
    types: &'static [(&'static str, &'static str)],
    stages: &'static [(&'static str, &'static str)],
    form: FilingForm,
    errors: FormErrors,
    approved: bool,
}

async fn edit_page(
    user: &PageUser,
    e: &EnterpriseResponse,
    form: FilingForm,
    errors: FormErrors,
) -> Result<EditPage, PageError> {
    let categories =
        crate::modules::products::service::list(&user.ctx()).await?.into_iter().filter(|c| c.depth >= 2).collect();
    Ok(EditPage {
        page: user
            .layout("修改备案")
            .crumb("企业备案", Some("/console/enterprises"))
            .crumb(e.name.clone(), Some(&format!("/console/enterprises/{}", e.id)))
            .crumb("修改", None),
        form_action: format!("/console/enterprises/{}/edit", e.id),
        form_button: "保存修改",
        categories,
        types: ENTERPRISE_TYPES,
        stages: STAGES,
        form,
        errors,
        approved: e.version > 0,
    })
}

/// `GET /console/enterprises/{id}/edit`.
pub async fn edit_form(user: PageUser, id: web::Path<String>) -> PageResult {
    let e: EnterpriseResponse = service::get(&user.ctx(), parse_id(&id)?).await?.into();
    if e.tenant_id != user.who.tenant.id {
        return Err(ApiError::forbidden("下级单位的备案由该单位自己维护，上级单位只能查看").into());
    }
    user.ctx().require_own("enterprise", "update").await?;
    let page = edit_page(&user, &e, FilingForm::of(&e), FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/enterprises/{id}/edit`.
pub async fn edit(user: PageUser, id: web::Path<String>, form: web::Form<Vec<(String, String)>>) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let id = parse_id(&id)?;
    let values = values_of(&pairs);
    let result = match request_of(&values, !field(&pairs, "submit").is_empty()) {
        Ok(req) => service::update(&user.ctx(), id, &req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect_with(&format!("/console/enterprises/{id}"), "ok", "修改已保存")),
        Err(e) if matches!(e.http_status().as_u16(), 409 | 422) => {
            let status = e.http_status();
            let current: EnterpriseResponse = service::get(&user.ctx(), id).await?.into();
            let page = edit_page(&user, &current, values, FormErrors::from_api(&e)).await?;
            Ok(user.render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/enterprises`: file an enterprise.
pub async fn create(user: PageUser, form: web::Form<Vec<(String, String)>>) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let values = values_of(&pairs);
    let result = match request_of(&values, !field(&pairs, "submit").is_empty()) {
        Ok(req) => service::create(&user.ctx(), &req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(e) => {
            Ok(redirect_with(&format!("/console/enterprises/{}", e.id), "ok", &format!("已备案，企业编码 {}", e.code)))
        }
        Err(e) if e.http_status().is_client_error() && e.http_status() != StatusCode::FORBIDDEN => {
            let status = e.http_status();
            let page = enterprises_page(&user, ListQuery::default(), values, FormErrors::from_api(&e)).await?;
            Ok(user.render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/enterprise_detail.html")]
struct EnterpriseDetailPage {
    page: Layout,
    e: EnterpriseResponse,
    versions: Vec<VersionResponse>,
    own: bool,
    can_edit: bool,
    can_submit: bool,
    can_approve: bool,
}

impl EnterpriseDetailPage {
    fn label(&self, status: &str) -> (&'static str, &'static str) {
        status_label(status)
    }

    fn type_label(&self, t: &str) -> &'static str {
        ENTERPRISE_TYPES.iter().find(|(k, _)| *k == t).map_or("", |(_, l)| *l)
    }

    fn stage_label(&self, s: &str) -> &'static str {
        STAGES.iter().find(|(k, _)| *k == s).map_or("", |(_, l)| *l)
    }
}

fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::from(ApiError::not_found("备案不存在")))
}

/// `GET /console/enterprises/{id}`.
pub async fn detail(user: PageUser, id: web::Path<String>) -> PageResult {
    let id = parse_id(&id)?;
    let e = service::get(&user.ctx(), id).await?;
    let versions = crate::modules::subjects::workflow::versions(
        &user.ctx(),
        crate::modules::subjects::workflow::Kind::Enterprise,
        id,
    )
    .await?;
    let own = e.tenant_id == user.who.tenant.id;
    let page = EnterpriseDetailPage {
        page: user.layout(&e.name).crumb("企业备案", Some("/console/enterprises")).crumb(e.name.clone(), None),
        can_edit: own && user.state.authz.require_own(&user.who, "enterprise", "update").is_ok(),
        can_submit: own && user.state.authz.require_own(&user.who, "enterprise", "submit").is_ok(),
        can_approve: own && user.state.authz.require_own(&user.who, "enterprise", "approve").is_ok(),
        own,
        e: e.into(),
        versions,
    };
    Ok(user.render(StatusCode::OK, &page))
}

/// The review form.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/enterprises/{id}/{submit|approve|reject}`.
pub async fn review(user: PageUser, path: web::Path<(String, String)>, form: web::Form<ReviewForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let (id, action) = path.into_inner();
    let id = parse_id(&id)?;
    let back = format!("/console/enterprises/{id}");
    let result = match action.as_str() {
        "submit" => service::submit(&user.ctx(), id).await.map(|_| "已提交审核"),
        "approve" => service::approve(&user.ctx(), id).await.map(|_| "已审核通过，并已排队报送上级"),
        "reject" => service::reject(&user.ctx(), id, &form.reason).await.map(|_| "已驳回"),
        _ => return Err(ApiError::not_found("没有这个操作").into()),
    };
    match result {
        Ok(msg) => Ok(redirect_with(&back, "ok", msg)),
        Err(e) if matches!(e.http_status().as_u16(), 409 | 422) => {
            let msg = if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY {
                "驳回时请填写原因".to_owned()
            } else {
                e.to_problem(None).detail.unwrap_or_default()
            };
            Ok(redirect_with(&back, "error", &msg))
        }
        Err(e) => Err(e.into()),
    }
}
