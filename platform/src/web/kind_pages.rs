//! Merchant and product filing pages (追溯主体管理 → 个体经营户备案, 重要产品管理 → 产品备案):
//! list with search and export, filing form, detail with review and versions, edit. One set
//! of pages for both kinds, driven by a description of each kind's fields; the services are
//! the API's, so the same guard, checks and change control apply.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::page::{FormErrors, Layout, PageError, PageResult, PageUser, form_field as field, redirect_with};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::subjects::dto::{
    MERCHANT_TYPES, MerchantQuery, MerchantRequest, MerchantResponse, NODE_TYPES, ProductQuery, ProductRequest,
    ProductResponse, VersionResponse,
};
use crate::modules::subjects::workflow::{self, Kind};
use crate::modules::subjects::{merchants, products};

/// How a field is entered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Text,
    Number,
    /// One of fixed options.
    Choice(&'static [(&'static str, &'static str)]),
    /// Several catalogue categories.
    Categories,
    /// One catalogue category.
    Category,
    /// An approved enterprise filing (a market for merchants, any for products).
    Enterprise,
}

struct Spec {
    name: &'static str,
    label: &'static str,
    input: Input,
    optional: bool,
    hint: &'static str,
}

const fn f(name: &'static str, label: &'static str, input: Input, optional: bool, hint: &'static str) -> Spec {
    Spec { name, label, input, optional, hint }
}

const MERCHANT_FIELDS: &[Spec] = &[
    f("name", "经营户名称", Input::Text, false, "摊位或店铺名称，也可以是业主姓名"),
    f("merchant_type", "经营户类型", Input::Choice(MERCHANT_TYPES), false, ""),
    f("node_code", "所在节点企业（市场）", Input::Enterprise, false, "已审核通过的批发市场、批发企业或零售企业"),
    f("stall_no", "摊位号", Input::Text, true, ""),
    f("categories", "经营品类", Input::Categories, false, ""),
    f("uscc", "统一社会信用代码", Input::Text, true, "已登记的个体工商户填写，平台核对校验位"),
    f("contact_name", "联系人", Input::Text, false, ""),
    f("contact_phone", "联系电话", Input::Text, false, ""),
];

const PRODUCT_FIELDS: &[Spec] = &[
    f("name", "产品名称", Input::Text, false, ""),
    f("category_code", "产品分类", Input::Category, false, ""),
    f("enterprise_code", "生产企业", Input::Enterprise, false, "已审核通过的企业备案"),
    f("brand", "品牌", Input::Text, true, ""),
    f("specification", "规格", Input::Text, true, "如 5kg/箱"),
    f("unit", "计量单位", Input::Text, false, "如 箱、kg、件"),
    f("shelf_life_days", "保质期（天）", Input::Number, true, ""),
    f("gtin", "商品条码 GTIN", Input::Text, true, "8、12、13 或 14 位，平台核对校验位"),
];

fn specs(kind: Kind) -> &'static [Spec] {
    if kind == Kind::Merchant { MERCHANT_FIELDS } else { PRODUCT_FIELDS }
}

fn kind_of(segment: &str) -> Result<Kind, PageError> {
    match segment {
        "merchants" => Ok(Kind::Merchant),
        "products" => Ok(Kind::Product),
        _ => Err(ApiError::not_found("页面不存在").into()),
    }
}

fn segment(kind: Kind) -> &'static str {
    if kind == Kind::Merchant { "merchants" } else { "products" }
}

fn title(kind: Kind) -> &'static str {
    if kind == Kind::Merchant { "个体经营户备案" } else { "产品备案" }
}

/// One input of the form as shown.
pub struct FieldView {
    name: &'static str,
    label: String,
    hint: &'static str,
    /// `text`, `number`, `select` or `checks`.
    control: &'static str,
    value: String,
    values: Vec<String>,
    options: Vec<(String, String)>,
    error: Option<String>,
}

/// What the form's selects offer.
struct Options {
    categories: Vec<(String, String)>,
    enterprises: Vec<(String, String)>,
}

async fn options(user: &PageUser, kind: Kind) -> ApiResult<Options> {
    use crate::modules::subjects::dto::EnterpriseQuery;
    let categories = crate::modules::products::service::list(&user.ctx())
        .await?
        .into_iter()
        .filter(|c| c.depth >= 2)
        .map(|c| (c.code.clone(), format!("{} {}", c.code, c.name)))
        .collect();
    let mut enterprises = Vec::new();
    let types: Vec<&str> = if kind == Kind::Merchant { NODE_TYPES.to_vec() } else { vec![""] };
    for t in types {
        let q = EnterpriseQuery {
            status: Some("approved".to_owned()),
            enterprise_type: Some(t.to_owned()).filter(|t| !t.is_empty()),
            page_size: Some(200),
            sort: Some("name".to_owned()),
            ..Default::default()
        };
        let (rows, ..) = crate::modules::subjects::service::search(&user.ctx(), &q).await?;
        enterprises.extend(rows.into_iter().map(|e| (e.code.clone(), format!("{}（{}）", e.name, e.code))));
    }
    Ok(Options { categories, enterprises })
}

fn views(kind: Kind, form: &Map<String, Value>, opts: &Options, errors: &FormErrors) -> Vec<FieldView> {
    specs(kind)
        .iter()
        .map(|s| {
            let text = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let (control, options) = match s.input {
                Input::Text => ("text", Vec::new()),
                Input::Number => ("number", Vec::new()),
                Input::Choice(o) => ("select", o.iter().map(|(k, l)| ((*k).to_owned(), (*l).to_owned())).collect()),
                Input::Categories => ("checks", opts.categories.clone()),
                Input::Category => ("select", opts.categories.clone()),
                Input::Enterprise => ("select", opts.enterprises.clone()),
            };
            let value = text(form.get(s.name));
            let mut options = options;
            // The filing's own value is always offered, even when it is not among the choices
            // (a market with a change under review, a category of another list).
            if control == "select" && !value.is_empty() && !options.iter().any(|(k, _)| *k == value) {
                options.insert(0, (value.clone(), value.clone()));
            }
            FieldView {
                name: s.name,
                label: if s.optional { format!("{}（选填）", s.label) } else { s.label.to_owned() },
                hint: s.hint,
                control,
                value,
                values: form
                    .get(s.name)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default(),
                options,
                error: errors.get_any(s.name).map(str::to_owned),
            }
        })
        .collect()
}

/// The typed form as the API's JSON body (blank optional fields are absent).
fn body_of(kind: Kind, pairs: &[(String, String)]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for s in specs(kind) {
        let v = field(pairs, s.name).trim();
        let value = match s.input {
            Input::Categories => {
                Value::Array(pairs.iter().filter(|(k, _)| k == s.name).map(|(_, v)| Value::String(v.clone())).collect())
            }
            _ if v.is_empty() && s.optional => Value::Null,
            Input::Number => match v.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    errors.push(FieldError::new(s.name, "format", "请填写整数"));
                    Value::Null
                }
            },
            _ => Value::String(v.to_owned()),
        };
        out.insert(s.name.to_owned(), value);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(out)
}

fn with_submit(mut body: Map<String, Value>, submit: bool) -> Value {
    body.insert("submit".to_owned(), Value::Bool(submit));
    Value::Object(body)
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| crate::error::from_serde_json(&e))
}

fn json<T: serde::Serialize>(v: T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

async fn get(user: &PageUser, kind: Kind, id: Uuid) -> ApiResult<Map<String, Value>> {
    Ok(match kind {
        Kind::Merchant => json(MerchantResponse::from(merchants::get(&user.ctx(), id).await?)),
        _ => json(ProductResponse::from(products::get(&user.ctx(), id).await?)),
    })
}

/// Query of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    name: String,
    /// Merchant type, or product category.
    #[serde(default)]
    kind: String,
    /// Node (merchants) or producer (products): code or part of the name.
    #[serde(default)]
    of: String,
    page: Option<u64>,
}

#[derive(Template)]
#[template(path = "console/filings.html")]
struct ListPage {
    page: Layout,
    base: &'static str,
    noun: &'static str,
    kind_label: &'static str,
    kind_options: Vec<(String, String)>,
    of_label: &'static str,
    headings: Vec<&'static str>,
    rows: Vec<(String, String, Vec<String>)>,
    total: u64,
    page_no: u64,
    pages: u64,
    q: ListQuery,
    export: String,
    can_create: bool,
    form_action: String,
    form_button: &'static str,
    fields: Vec<FieldView>,
    errors: FormErrors,
}

impl ListPage {
    fn label(&self, status: &str) -> (&'static str, &'static str) {
        super::filing_pages::status_label(status)
    }

    fn link(&self, page: u64, format: &str) -> String {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("status", &self.q.status), ("region", &self.q.region), ("name", &self.q.name)] {
            if !v.trim().is_empty() {
                qs.append_pair(k, v.trim());
            }
        }
        let (kind_key, of_key) =
            if self.base.ends_with("merchants") { ("merchant_type", "node") } else { ("category", "enterprise") };
        if !self.q.kind.trim().is_empty() {
            qs.append_pair(if format.is_empty() { "kind" } else { kind_key }, self.q.kind.trim());
        }
        if !self.q.of.trim().is_empty() {
            qs.append_pair(if format.is_empty() { "of" } else { of_key }, self.q.of.trim());
        }
        if format.is_empty() {
            qs.append_pair("page", &page.to_string());
            format!("{}?{}", self.base, qs.finish())
        } else {
            qs.append_pair("format", format);
            format!("{}?{}", self.export, qs.finish())
        }
    }
}

type Found = (Vec<(String, String, Vec<String>)>, u64, u64, u64);

async fn search(user: &PageUser, kind: Kind, q: &ListQuery) -> ApiResult<Found> {
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let label = |t: &[(&str, &str)], k: &str| crate::modules::subjects::export::label(t, k).to_owned();
    Ok(match kind {
        Kind::Merchant => {
            let query = MerchantQuery {
                status: opt(&q.status),
                region: opt(&q.region),
                name: opt(&q.name),
                merchant_type: opt(&q.kind),
                node: opt(&q.of),
                page: q.page,
                page_size: Some(20),
                ..Default::default()
            };
            let (rows, page, size, total) = merchants::search(&user.ctx(), &query).await?;
            let rows = rows
                .into_iter()
                .map(|m| {
                    let cells = vec![
                        m.code.clone(),
                        m.name.clone(),
                        label(MERCHANT_TYPES, &m.merchant_type),
                        m.node_name.clone(),
                    ];
                    (m.id.to_string(), m.status, cells)
                })
                .collect();
            (rows, page, size, total)
        }
        _ => {
            let query = ProductQuery {
                status: opt(&q.status),
                region: opt(&q.region),
                name: opt(&q.name),
                category: opt(&q.kind),
                enterprise: opt(&q.of),
                page: q.page,
                page_size: Some(20),
                ..Default::default()
            };
            let (rows, page, size, total) = products::search(&user.ctx(), &query).await?;
            let rows = rows
                .into_iter()
                .map(|p| {
                    let cells =
                        vec![p.code.clone(), p.name.clone(), p.category_code.clone(), p.enterprise_name.clone()];
                    (p.id.to_string(), p.status, cells)
                })
                .collect();
            (rows, page, size, total)
        }
    })
}

async fn list_page(
    user: &PageUser,
    kind: Kind,
    q: ListQuery,
    form: Map<String, Value>,
    errors: FormErrors,
) -> Result<ListPage, PageError> {
    let can_create = user.state.authz.require_own(&user.who, kind.as_str(), "create").is_ok();
    let opts = options(user, kind).await?;
    let (rows, page_no, size, total, errors) = match search(user, kind, &q).await {
        Ok((r, p, s, t)) => (r, p, s, t, errors),
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let (r, p, s, t) = search(user, kind, &ListQuery::default()).await?;
            (r, p, s, t, FormErrors::from_api(&e))
        }
        Err(e) => return Err(e.into()),
    };
    let merchant = kind == Kind::Merchant;
    Ok(ListPage {
        page: user.layout(title(kind)).crumb(title(kind), None),
        base: if merchant { "/console/merchants" } else { "/console/products" },
        noun: if merchant { "户" } else { "种" },
        kind_label: if merchant { "类型" } else { "分类代码" },
        kind_options: if merchant {
            MERCHANT_TYPES.iter().map(|(k, l)| ((*k).to_owned(), (*l).to_owned())).collect()
        } else {
            Vec::new()
        },
        of_label: if merchant { "所在市场" } else { "生产企业" },
        headings: if merchant {
            vec!["经营户编码", "名称", "类型", "所在市场"]
        } else {
            vec!["产品编码", "名称", "分类", "生产企业"]
        },
        rows,
        total,
        page_no,
        pages: total.div_ceil(size).max(1),
        q,
        export: format!("/api/v1/{}/export", segment(kind)),
        can_create,
        form_action: format!("/console/{}", segment(kind)),
        form_button: "保存备案",
        fields: views(kind, &form, &opts, &errors),
        errors,
    })
}

/// `GET /console/{merchants|products}`.
pub async fn list(user: PageUser, path: web::Path<String>, q: web::Query<ListQuery>) -> PageResult {
    let kind = kind_of(&path)?;
    let page = list_page(&user, kind, q.into_inner(), Map::new(), FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/{merchants|products}`: file one.
pub async fn create(user: PageUser, path: web::Path<String>, form: web::Form<Vec<(String, String)>>) -> PageResult {
    let kind = kind_of(&path)?;
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let submit = !field(&pairs, "submit").is_empty();
    let body = body_of(kind, &pairs);
    let result = match &body {
        Ok(b) => match kind {
            Kind::Merchant => match parse::<MerchantRequest>(with_submit(b.clone(), submit)) {
                Ok(req) => merchants::create(&user.ctx(), &req).await.map(|m| (m.id, m.code)),
                Err(e) => Err(e),
            },
            _ => match parse::<ProductRequest>(with_submit(b.clone(), submit)) {
                Ok(req) => products::create(&user.ctx(), &req).await.map(|p| (p.id, p.code)),
                Err(e) => Err(e),
            },
        },
        Err(e) => Err(ApiError::validation(e.field_errors().to_vec())),
    };
    match result {
        Ok((id, code)) => {
            Ok(redirect_with(&format!("/console/{}/{id}", segment(kind)), "ok", &format!("已备案，编码 {code}")))
        }
        Err(e) if e.http_status().is_client_error() && e.http_status() != StatusCode::FORBIDDEN => {
            let status = e.http_status();
            let typed = body_of_lenient(kind, &pairs);
            let page = list_page(&user, kind, ListQuery::default(), typed, FormErrors::from_api(&e)).await?;
            Ok(user.render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// The typed values to show again, even when a number did not parse.
fn body_of_lenient(kind: Kind, pairs: &[(String, String)]) -> Map<String, Value> {
    specs(kind)
        .iter()
        .map(|s| {
            let v = if s.input == Input::Categories {
                Value::Array(pairs.iter().filter(|(k, _)| k == s.name).map(|(_, v)| Value::String(v.clone())).collect())
            } else {
                Value::String(field(pairs, s.name).to_owned())
            };
            (s.name.to_owned(), v)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/filing_detail.html")]
struct DetailPage {
    page: Layout,
    base: String,
    id: String,
    name: String,
    code: String,
    status: String,
    reason: Option<String>,
    version: i64,
    rows: Vec<(&'static str, String)>,
    versions: Vec<VersionResponse>,
    own: bool,
    can_edit: bool,
    can_submit: bool,
    can_approve: bool,
}

impl DetailPage {
    fn label(&self, status: &str) -> (&'static str, &'static str) {
        super::filing_pages::status_label(status)
    }
}

fn shown(kind: Kind, v: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let s = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        _ => "—".to_owned(),
    };
    match kind {
        Kind::Merchant => vec![
            ("经营户类型", crate::modules::subjects::export::label(MERCHANT_TYPES, &s("merchant_type")).to_owned()),
            ("所在节点企业", format!("{}（{}）", s("node_name"), s("node_code"))),
            ("摊位号", s("stall_no")),
            ("经营品类", s("categories")),
            ("统一社会信用代码", s("uscc")),
            ("地区", crate::web::division(&s("division_code"))),
            ("联系人", format!("{} {}", s("contact_name"), s("contact_phone"))),
        ],
        _ => vec![
            ("产品分类", s("category_code")),
            ("生产企业", format!("{}（{}）", s("enterprise_name"), s("enterprise_code"))),
            ("品牌", s("brand")),
            ("规格", s("specification")),
            ("计量单位", s("unit")),
            ("保质期（天）", s("shelf_life_days")),
            ("商品条码 GTIN", s("gtin")),
            ("地区", crate::web::division(&s("division_code"))),
        ],
    }
}

fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::from(ApiError::not_found("备案不存在")))
}

/// `GET /console/{merchants|products}/{id}`.
pub async fn detail(user: PageUser, path: web::Path<(String, String)>) -> PageResult {
    let kind = kind_of(&path.0)?;
    let id = parse_id(&path.1)?;
    let v = get(&user, kind, id).await?;
    let versions = workflow::versions(&user.ctx(), kind, id).await?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let own = text("tenant_id") == user.who.tenant.id.to_string();
    let allowed = |action: &str| own && user.state.authz.require_own(&user.who, kind.as_str(), action).is_ok();
    let page = DetailPage {
        page: user
            .layout(&text("name"))
            .crumb(title(kind), Some(&format!("/console/{}", segment(kind))))
            .crumb(text("name"), None),
        base: format!("/console/{}", segment(kind)),
        id: id.to_string(),
        name: text("name"),
        code: text("code"),
        status: text("status"),
        reason: v.get("reason").and_then(Value::as_str).map(str::to_owned),
        version: v.get("version").and_then(Value::as_i64).unwrap_or_default(),
        rows: shown(kind, &v),
        versions,
        can_edit: allowed("update"),
        can_submit: allowed("submit"),
        can_approve: allowed("approve"),
        own,
    };
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/filing_edit.html")]
struct EditPage {
    page: Layout,
    form_action: String,
    form_button: &'static str,
    fields: Vec<FieldView>,
    errors: FormErrors,
    approved: bool,
}

async fn edit_page(
    user: &PageUser,
    kind: Kind,
    id: Uuid,
    form: Option<Map<String, Value>>,
    errors: FormErrors,
) -> Result<EditPage, PageError> {
    let current = get(user, kind, id).await?;
    if current.get("tenant_id").and_then(Value::as_str) != Some(user.who.tenant.id.to_string().as_str()) {
        return Err(ApiError::forbidden("下级单位的备案由该单位自己维护，上级单位只能查看").into());
    }
    user.ctx().require_own(kind.as_str(), "update").await?;
    let opts = options(user, kind).await?;
    let name = current.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let approved = current.get("version").and_then(Value::as_i64).unwrap_or_default() > 0;
    let values = form.unwrap_or(current);
    Ok(EditPage {
        page: user
            .layout("修改备案")
            .crumb(title(kind), Some(&format!("/console/{}", segment(kind))))
            .crumb(name, Some(&format!("/console/{}/{id}", segment(kind))))
            .crumb("修改", None),
        form_action: format!("/console/{}/{id}/edit", segment(kind)),
        form_button: "保存修改",
        fields: views(kind, &values, &opts, &errors),
        errors,
        approved,
    })
}

/// `GET /console/{merchants|products}/{id}/edit`.
pub async fn edit_form(user: PageUser, path: web::Path<(String, String)>) -> PageResult {
    let kind = kind_of(&path.0)?;
    let page = edit_page(&user, kind, parse_id(&path.1)?, None, FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/{merchants|products}/{id}/edit`.
pub async fn edit(
    user: PageUser,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let kind = kind_of(&path.0)?;
    let id = parse_id(&path.1)?;
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let submit = !field(&pairs, "submit").is_empty();
    let result = match body_of(kind, &pairs) {
        Ok(b) => match kind {
            Kind::Merchant => match parse::<MerchantRequest>(with_submit(b, submit)) {
                Ok(req) => merchants::update(&user.ctx(), id, &req).await.map(|_| ()),
                Err(e) => Err(e),
            },
            _ => match parse::<ProductRequest>(with_submit(b, submit)) {
                Ok(req) => products::update(&user.ctx(), id, &req).await.map(|_| ()),
                Err(e) => Err(e),
            },
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(redirect_with(&format!("/console/{}/{id}", segment(kind)), "ok", "修改已保存")),
        Err(e) if matches!(e.http_status().as_u16(), 403 | 409 | 422) && e.code() != "forbidden" => {
            let status = e.http_status();
            let page =
                edit_page(&user, kind, id, Some(body_of_lenient(kind, &pairs)), FormErrors::from_api(&e)).await?;
            Ok(user.render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// The review form.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/{merchants|products}/{id}/{submit|approve|reject}`.
pub async fn review(
    user: PageUser,
    path: web::Path<(String, String, String)>,
    form: web::Form<ReviewForm>,
) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let (seg, id, action) = path.into_inner();
    let kind = kind_of(&seg)?;
    let id = parse_id(&id)?;
    let back = format!("/console/{}/{id}", segment(kind));
    let ctx = user.ctx();
    let result = match action.as_str() {
        "submit" => workflow::submit(&ctx, kind, id).await.map(|()| "已提交审核"),
        "approve" => match kind {
            Kind::Merchant => merchants::approve(&ctx, id).await.map(|_| "已审核通过，并已排队报送上级"),
            _ => products::approve(&ctx, id).await.map(|_| "已审核通过，并已排队报送上级"),
        },
        "reject" => workflow::reject(&ctx, kind, id, &form.reason).await.map(|()| "已驳回"),
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
