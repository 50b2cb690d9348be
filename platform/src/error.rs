//! One error type for every route, answered as RFC 9457 `application/problem+json`.
//!
//! Each error has a stable snake_case `code` that clients can switch on; `title` and `detail`
//! are in Chinese for the people reading them. Validation errors list every bad field in
//! `errors[]`. A 5xx never shows its cause to the caller; the cause is logged with the
//! request id instead.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One bad field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `events[3].quantity`, or the query/path parameter name.
    pub field: String,
    /// The rule it broke, a stable snake_case word such as `required`, `too_long`, `format`.
    pub rule: String,
    /// What is wrong, in Chinese.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), rule: rule.into(), message: message.into() }
    }
}

/// An RFC 9457 problem document, as sent to clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the problem kind: `/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem kind, in Chinese.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence, in Chinese.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code.
    pub code: String,
    /// The request id (also in the `X-Request-Id` header), to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Every bad field, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The error every handler returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: Option<String>,
    errors: Vec<FieldError>,
    /// Seconds for the `Retry-After` header (429, 503).
    retry_after: Option<u64>,
    /// Logged, never sent.
    source: Option<anyhow::Error>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self { status, code, title, detail: None, errors: Vec::new(), retry_after: None, source: None }
    }

    /// The HTTP status.
    #[must_use]
    pub fn http_status(&self) -> StatusCode {
        self.status
    }

    /// Replaces the stable code with a more specific one of the same status.
    #[must_use]
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// Adds a human explanation.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 400: the request could not be read (syntax, encoding).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "请求格式错误").with_detail(detail)
    }

    /// 400: the body is not well-formed JSON; the detail gives line and column.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", "JSON 格式错误").with_detail(detail)
    }

    /// 422: the request is well-formed but fields break rules.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "数据校验未通过");
        e.detail = Some(format!("{} 个字段未通过校验", errors.len()));
        e.errors = errors;
        e
    }

    /// 422 for one field.
    pub fn invalid_field(field: &str, rule: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, rule, message)])
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "未登录或凭证无效").with_detail(detail)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "无权执行此操作").with_detail(detail)
    }

    /// 403 with a more specific code (e.g. `password_change_required`).
    pub fn forbidden_code(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, "无权执行此操作").with_detail(detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "资源不存在").with_detail(detail)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "与现有数据冲突").with_detail(detail)
    }

    /// Adds the fields a problem of another kind than validation is about (a 409 naming the
    /// records it concerns).
    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// 413.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "请求体过大")
            .with_detail(format!("请求体不能超过 {limit} 字节"))
    }

    /// 405: the path is known, the method is not one of its own (listed in `Allow`).
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "不支持此请求方法").with_detail(detail)
    }

    /// 415.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "不支持的内容类型")
            .with_detail(format!("请使用 Content-Type: {expected}"))
    }

    /// 429: too many requests from this caller; try again after `retry_after_secs`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "请求过于频繁")
            .with_detail(format!("请求过于频繁，请 {secs} 秒后再试"));
        e.retry_after = Some(secs);
        e
    }

    /// 503 with `Retry-After`: the server is busy with this kind of work (e.g. every password
    /// hashing slot and its queue are taken).
    pub fn busy(retry_after_secs: u64) -> Self {
        let mut e =
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", "服务繁忙").with_detail("服务繁忙，请稍后再试");
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// Seconds after which the request may be tried again, when the answer says so.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// 503: a dependency is unavailable.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "服务暂不可用").with_detail(detail)
    }

    /// 500 with the cause kept for the log only.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "服务器内部错误");
        e.detail = Some("请稍后重试；如果问题持续，请将请求编号提供给管理员".to_owned());
        e.source = Some(source.into());
        e
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The field errors.
    #[must_use]
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// What a page shows of it: the field messages, joined, or the detail when it names no field.
    #[must_use]
    pub fn messages(&self) -> String {
        if self.errors.is_empty() {
            return self.detail.clone().unwrap_or_else(|| self.title.to_owned());
        }
        self.errors.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("；")
    }

    /// The body sent to the client.
    #[must_use]
    pub fn to_problem(&self, request_id: Option<String>) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            request_id,
            errors: self.errors.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.status)?;
        if let Some(source) = &self.source {
            write!(f, ": {source:#}")?;
        } else if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, error = %self, "request failed");
        }
        let body = serde_json::to_vec(&self.to_problem(crate::request_id::current())).unwrap_or_default();
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.body(body)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::internal(e)
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => Self::internal(db),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

/// Result alias for handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;

/// Maps the JSON extractor's errors to problems: syntax errors with their position (400),
/// wrong shapes naming the field (422), too large (413), wrong content type (415).
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match err {
        J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => ApiError::payload_too_large(limit),
        J::ContentType => ApiError::unsupported_media_type("application/json"),
        J::Deserialize(e) => from_serde_json(&e),
        J::Payload(e) => ApiError::bad_request(format!("无法读取请求体: {e}")),
        other => ApiError::bad_request(other.to_string()),
    };
    api.into()
}

/// For the JSON routes that read their body themselves (large trace batches, federation
/// pushes): the same rule as the JSON extractor, `application/json` or a `+json` type, else 415.
/// A plain HTML form cannot send that type, which is what keeps other sites from writing with a
/// visitor's session (with `SameSite` cookies).
///
/// # Errors
/// 415 for any other or a missing content type.
pub fn require_json(req: &HttpRequest) -> ApiResult<()> {
    let essence = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type("application/json"))
    }
}

/// Reads a request body of at most `limit` bytes, for the routes whose bodies are larger than
/// the JSON limit (imports, trace batches); a larger body is refused with 413 as it arrives.
///
/// # Errors
/// 413 past the limit; 400 when the body breaks off.
pub async fn body_within(mut payload: actix_web::web::Payload, limit: usize) -> ApiResult<actix_web::web::Bytes> {
    use futures_util::StreamExt;
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Turns a `serde_json` error into a problem: syntax → 400 with the position, data → 422 naming
/// the field when serde reports it.
#[must_use]
pub fn from_serde_json(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::malformed_json(format!(
            "第 {} 行第 {} 列: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        )),
        Category::Data => {
            let text = strip_position(&e.to_string());
            let field = field_in_serde_message(&text).unwrap_or_else(|| "body".to_owned());
            let rule = if text.starts_with("missing field") {
                "required"
            } else if text.starts_with("unknown field") {
                "unknown_field"
            } else {
                "type"
            };
            ApiError::invalid_field(&field, rule, format!("第 {} 行第 {} 列: {text}", e.line(), e.column()))
        }
    }
}

/// The most segments of a JSON path a problem names: a value nested deeper is named by its
/// first segments and `…`.
const MAX_PATH_SEGMENTS: usize = 6;

/// What serde found wrong with a value, as a field error relative to that value: `field` is the
/// JSON path where reading stopped (`inputs[1].quantity`; empty for the value itself), with the
/// field a "missing field" or "unknown field" message names; `message` is serde's, without its
/// position (`e.inner().line()` and `column()`). A number out of range or nesting too deep is a problem of
/// that field too (serde_json counts both as syntax).
#[must_use]
pub fn json_field_error(e: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    use serde_path_to_error::Segment;
    let text = strip_position(&e.inner().to_string());
    let mut field = String::new();
    for (n, segment) in e.path().iter().enumerate() {
        if n == MAX_PATH_SEGMENTS {
            field.push_str(".…");
            break;
        }
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    let rule = if text.starts_with("missing field") {
        "required"
    } else if text.starts_with("unknown field") {
        "unknown_field"
    } else if text.starts_with("number out of range") {
        "range"
    } else if text.starts_with("recursion limit exceeded") {
        "too_deep"
    } else if text.starts_with("invalid") {
        "type"
    } else {
        "format"
    };
    if matches!(rule, "required" | "unknown_field")
        && let Some(name) = field_in_serde_message(&text)
        && !field.ends_with(&name)
    {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(&name);
    }
    FieldError::new(field, rule, text)
}

/// A JSON body serde refused, re-read to find where: syntax errors are 400 with their position
/// (as [`from_serde_json`]); any other problem is a 422 naming the field by its JSON path
/// (`events`, `longitude`, `inputs[1].quantity`) with its line and column.
///
/// `first` is the error the body's first reading met; the second reading, tracking the path,
/// runs only then.
#[must_use]
pub fn json_body_error<'a, T: serde::Deserialize<'a>>(body: &'a [u8], first: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    if matches!(first.classify(), Category::Syntax | Category::Eof | Category::Io)
        && !first.to_string().starts_with("number out of range")
        && !first.to_string().starts_with("recursion limit exceeded")
    {
        return from_serde_json(first);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let fe = json_field_error(&e);
            let (line, column) = (e.inner().line(), e.inner().column());
            let field = if fe.field.is_empty() { "body".to_owned() } else { fe.field };
            ApiError::invalid_field(&field, &fe.rule, format!("第 {line} 行第 {column} 列: {}", fe.message))
        }
        // Read whole the second time: what the first reading met is all there is.
        Ok(_) => from_serde_json(first),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// serde names the field in backticks: "missing field `name`", "unknown field `x`, expected …".
fn field_in_serde_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// Maps query-string errors to a 422 naming the parameter when serde names it.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let text = err.to_string();
    let field = field_in_serde_message(&text).unwrap_or_else(|| "query".to_owned());
    ApiError::invalid_field(&field, "format", format!("查询参数有误: {text}")).into()
}

/// Maps path errors to a 422.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid_field("path", "format", format!("路径参数有误: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_has_position() {
        let e = serde_json::from_str::<serde_json::Value>("{\"a\": 1,\n  oops}").unwrap_err();
        let api = from_serde_json(&e);
        assert_eq!(api.code(), "malformed_json");
        let p = api.to_problem(None);
        assert_eq!(p.status, 400);
        assert!(p.detail.unwrap().contains("第 2 行"));
    }

    #[test]
    fn missing_field_is_named() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only the error matters")]
        struct Body {
            name: String,
        }
        let e = serde_json::from_str::<Body>("{}").unwrap_err();
        let api = from_serde_json(&e);
        assert_eq!(api.code(), "validation_failed");
        assert_eq!(api.field_errors()[0].field, "name");
        assert_eq!(api.field_errors()[0].rule, "required");
    }

    #[test]
    fn internal_error_hides_its_cause() {
        let api = ApiError::internal(anyhow::anyhow!("password=secret in connection string"));
        let body = serde_json::to_string(&api.to_problem(None)).unwrap();
        assert!(!body.contains("secret"));
        assert!(api.to_string().contains("secret"), "the log line keeps the cause");
    }
}

/// OpenAPI: the errors of a route that needs a signed-in, authorised caller.
#[derive(utoipa::IntoResponses)]
pub enum GuardErrors {
    /// 401
    #[response(
        status = 401,
        description = "未登录或会话已超时 / not signed in or session expired",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    /// 403
    #[response(
        status = 403,
        description = "无权操作（角色或单位范围不允许）/ forbidden by role or tenant tree",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    /// 429
    #[response(
        status = 429,
        description = "该密钥或会话请求过于频繁，见 Retry-After / too many calls of this key or session",
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "再试前等待的秒数 / seconds to wait"))
    )]
    TooMany(Problem),
}

/// OpenAPI: the errors of a route that reads a JSON body.
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    /// 400
    #[response(status = 400, description = "JSON 格式错误 / malformed JSON", content_type = "application/problem+json")]
    Malformed(Problem),
    /// 413
    #[response(status = 413, description = "请求体过大 / body too large", content_type = "application/problem+json")]
    TooLarge(Problem),
    /// 415
    #[response(
        status = 415,
        description = "需要 application/json / JSON required",
        content_type = "application/problem+json"
    )]
    MediaType(Problem),
    /// 422
    #[response(
        status = 422,
        description = "字段校验未通过，errors[] 列出每个字段 / invalid fields",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
}

/// OpenAPI: 429 of a rate-limited route.
#[derive(utoipa::IntoResponses)]
pub enum RateLimited {
    /// 429
    #[response(
        status = 429,
        description = "请求过于频繁，Retry-After 给出等待秒数 / too many requests, see Retry-After",
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "再试前等待的秒数 / seconds to wait"))
    )]
    TooMany(Problem),
}

/// OpenAPI: 404 for a route addressing one object.
#[derive(utoipa::IntoResponses)]
pub enum NotFoundError {
    /// 404
    #[response(status = 404, description = "对象不存在 / not found", content_type = "application/problem+json")]
    NotFound(Problem),
}

/// OpenAPI: 409.
#[derive(utoipa::IntoResponses)]
pub enum ConflictError {
    /// 409
    #[response(
        status = 409,
        description = "与现有数据冲突（代码或用户名已存在等）/ conflict",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
}

/// OpenAPI: 422 for query or path parameters.
#[derive(utoipa::IntoResponses)]
pub enum ParamErrors {
    /// 422
    #[response(status = 422, description = "参数有误 / invalid parameters", content_type = "application/problem+json")]
    Invalid(Problem),
}
