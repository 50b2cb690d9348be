//! The public portal (no login): the trace-code search, the page a consumer sees after
//! scanning a QR code, published information and the message board entry. Mobile first.
//!
//! Trace records and published information are filled by their modules (trace records,
//! public services) when they land; until then these pages say honestly that nothing is
//! published, never show invented data.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use askama::Template;
use serde::Deserialize;

use super::page::{html, redirect};

#[derive(Template)]
#[template(path = "public/home.html")]
struct HomePage {
    code: String,
    error: Option<String>,
}

/// `GET /`.
pub async fn home() -> HttpResponse {
    html(StatusCode::OK, &HomePage { code: String::new(), error: None })
}

/// Query of the search box.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    code: Option<String>,
}

/// A trace code as typed or scanned: letters, digits and the separators GS1 and our codes
/// use, 4–120 characters.
/// A trace code as typed or scanned, without spaces, when it looks like one.
#[must_use]
pub fn clean_code(raw: &str) -> Option<String> {
    let code: String = raw.trim().chars().filter(|c| !c.is_whitespace()).collect();
    let ok = (4..=120).contains(&code.chars().count())
        && code.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/()%".contains(c));
    ok.then_some(code)
}

/// `GET /search?code=…`: on to the code's page, or back to the box with a message.
pub async fn search(q: web::Query<SearchQuery>) -> HttpResponse {
    let raw = q.code.clone().unwrap_or_default();
    match clean_code(&raw) {
        Some(code) => {
            let path: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
            redirect(&format!("/t/{path}"))
        }
        None => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HomePage {
                code: raw,
                error: Some("请输入产品包装或标签上的追溯码（4–120 位字母、数字或符号 - _ . : /）".into()),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "public/trace.html")]
struct TracePage {
    code: String,
    valid: bool,
    found: Option<crate::modules::trace::dto::PublicTrace>,
}

impl TracePage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::when(t)
    }
}

/// `GET /t/{code}`: what a consumer sees after scanning: the product, its origin, the stages
/// with dates and regions, test results, and how often the code has been queried.
pub async fn trace(
    state: web::Data<crate::state::AppState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> HttpResponse {
    let limited = state.limits.check_request(crate::limits::Class::Public, &req, &state.trusted_proxies).await;
    if let Err(e) = limited {
        return super::page::PageError::from(e).error_response();
    }
    let raw = code.into_inner();
    let Some(clean) = clean_code(&raw) else {
        return html(StatusCode::NOT_FOUND, &TracePage { code: raw, valid: false, found: None });
    };
    match crate::modules::trace::public::lookup(&state, &clean).await {
        Ok(found) => html(StatusCode::OK, &TracePage { code: clean, valid: true, found: Some(found) }),
        Err(e) if e.http_status() == StatusCode::NOT_FOUND => {
            html(StatusCode::NOT_FOUND, &TracePage { code: clean, valid: true, found: None })
        }
        Err(e) => {
            tracing::warn!(error = %e, "public trace lookup failed");
            html(StatusCode::SERVICE_UNAVAILABLE, &TracePage { code: clean, valid: true, found: None })
        }
    }
}

#[derive(Template)]
#[template(path = "public/info.html")]
struct InfoPage;

/// `GET /info`: published information (filled by the public-services module).
pub async fn info() -> HttpResponse {
    html(StatusCode::OK, &InfoPage)
}

#[derive(Template)]
#[template(path = "public/board.html")]
struct BoardPage;

/// `GET /board`: the message board entry.
pub async fn board() -> HttpResponse {
    html(StatusCode::OK, &BoardPage)
}

#[derive(Template)]
#[template(path = "public/not_found.html")]
struct NotFoundPage {
    path: String,
}

/// Unknown addresses outside the API: an HTML page for people.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    html(StatusCode::NOT_FOUND, &NotFoundPage { path: req.path().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::clean_code;

    #[test]
    fn codes_are_checked() {
        assert_eq!(clean_code(" 3701 0200 0001 "), Some("370102000001".to_owned()));
        assert_eq!(
            clean_code("https://id.gs1.org/01/09506000134352/10/ABC"),
            Some("https://id.gs1.org/01/09506000134352/10/ABC".to_owned())
        );
        assert_eq!(clean_code("abc"), None);
        assert_eq!(clean_code("<script>"), None);
    }
}

const APPLY_CSRF_COOKIE: &str = "suyuan_apply_csrf";

/// The application form's values.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    admin_username: String,
    #[serde(default)]
    admin_display_name: String,
}

#[derive(Template)]
#[template(path = "public/apply.html")]
struct ApplyPage {
    csrf: String,
    form: ApplyForm,
    errors: super::page::FormErrors,
    submitted: Option<String>,
}

fn apply_page(status: StatusCode, page: &ApplyPage) -> HttpResponse {
    super::page::html_with_form_token(status, page, APPLY_CSRF_COOKIE, "/apply", &page.csrf)
}

fn new_token() -> String {
    super::page::new_form_token()
}

/// `GET /apply`: an agency applies to join.
pub async fn apply_form() -> HttpResponse {
    let page = ApplyPage {
        csrf: new_token(),
        form: ApplyForm::default(),
        errors: super::page::FormErrors::none(),
        submitted: None,
    };
    apply_page(StatusCode::OK, &page)
}

/// `POST /apply`.
pub async fn apply_submit(
    state: web::Data<crate::state::AppState>,
    req: HttpRequest,
    form: web::Form<ApplyForm>,
) -> HttpResponse {
    let limited = state.limits.check_request(crate::limits::Class::Anonymous, &req, &state.trusted_proxies).await;
    if let Err(e) = limited {
        return super::page::PageError::from(e).error_response();
    }
    let form = form.into_inner();
    let token_ok = super::page::form_token_ok(&req, APPLY_CSRF_COOKIE, &form.csrf);
    let mut page = ApplyPage { csrf: new_token(), form, errors: super::page::FormErrors::none(), submitted: None };
    if !token_ok {
        page.errors = super::page::FormErrors::from_api(&crate::error::ApiError::forbidden_code(
            "csrf",
            "页面已过期，请重新提交",
        ));
        return apply_page(StatusCode::FORBIDDEN, &page);
    }
    let body = crate::modules::admin::dto::TenantApplicationRequest {
        code: page.form.code.clone(),
        name: page.form.name.clone(),
        contact_name: page.form.contact_name.clone(),
        contact_phone: page.form.contact_phone.clone(),
        contact_email: page.form.contact_email.clone(),
        admin_username: page.form.admin_username.clone(),
        admin_display_name: page.form.admin_display_name.clone(),
    };
    let client = crate::audit::ClientInfo::from_request(&req);
    match crate::modules::admin::applications::submit(&state.db, &body, &client).await {
        Ok((_, parent)) => {
            page.submitted = Some(parent.name);
            apply_page(StatusCode::CREATED, &page)
        }
        Err(e) if e.http_status().is_client_error() => {
            let status = e.http_status();
            page.errors = super::page::FormErrors::from_api(&e);
            apply_page(status, &page)
        }
        Err(e) => super::page::PageError::from(e).error_response(),
    }
}
