//! The OpenAPI 3.1 document. Paths and schemas are collected from each module's `configure`
//! (utoipa-actix-web); this file only holds the document's header and shared schemas.

use actix_web::App;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem};

/// The document's header: title, description, tags and the shared error schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Suyuan 溯源 — 重要产品追溯管理平台 API",
        description = "重要产品追溯管理平台的数据接口（R-DP-f）。所有错误以 RFC 9457 application/problem+json 返回，\
                       包含稳定的 `code` 与字段级 `errors[]`。\n\nThe data interface of the Suyuan important-product \
                       traceability platform. Every error is an RFC 9457 problem document with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "运维 ops", description = "健康、就绪与指标 / health, readiness and metrics"),
        (name = "身份 identity", description = "登录、会话与密码 / sign-in, sessions and passwords"),
        (name = "单位 tenants", description = "单位（租户）树与入驻 / the tenant tree and onboarding"),
        (name = "用户 users", description = "用户账号与角色 / user accounts and roles"),
        (name = "审计 audit", description = "安全审计日志（哈希链）/ the hash-chained security audit log"),
        (name = "API 密钥 api-keys", description = "接入系统的 API 密钥 / API keys of connected systems"),
        (name = "主体备案 filings", description = "企业与个体经营户备案、审核、版本、变更规则、导入导出、地图与统计（R-SUBJ-1…7, R-IF-3）/ enterprise and merchant filings"),
        (name = "产品备案 product filings", description = "产品备案、审核与版本（R-PROD-2）/ product filings"),
        (name = "追溯记录 trace records", description = "追溯记录的接收与查询（R-ARCH-1, R-IF-4）/ trace records"),
        (name = "产品目录 catalogue", description = "重要产品分类目录（R-PROD-1）/ the product catalogue"),
        (name = "概览 dashboard", description = "首页关键数字、图表与地图数据 / dashboard figures, charts and map data"),
        (name = "联邦上报 federation", description = "备案、统计与变更逐级上报（本平台内或跨平台签名传输）、汇总数据与运行状态（R-SHAPE-3, R-IF-1, R-OPS-1）/ roll-up to parent tenants and deployments"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// Declares how callers authenticate.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::modules::identity::SESSION_COOKIE,
                "登录后由 POST /api/v1/auth/login 设置的会话 Cookie / the session cookie set by login",
            ))),
        );
        components.add_security_scheme(
            "federation_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                suyuan_federation::sign::KEY_HEADER,
                "上级平台发放的接入凭证编号；请求另带 x-suyuan-timestamp（Unix 秒）与 x-suyuan-signature                  （HMAC-SHA256(密钥, 时间戳 + \"\\n\" + 请求体) 的十六进制）/ the key id of the federation credential;                  the request also carries x-suyuan-timestamp and x-suyuan-signature = hex HMAC-SHA256(secret,                  timestamp + \"\\n\" + body)",
            ))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "接入系统的 API 密钥：Authorization: Bearer sy_… / an API key of a connected system",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "设置项 metrics_token 的值：Authorization: Bearer … / the configured metrics_token",
                    ))
                    .build(),
            ),
        );
    }
}

/// The full document, built from the same route registrations the server uses.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(crate::app::api_routes).split_for_parts();
    doc
}

/// The document as pretty JSON with a trailing newline (the committed `openapi/openapi.json`).
///
/// # Errors
/// Serialisation failure (not expected).
pub fn to_pretty_json() -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(&document())?;
    s.push('\n');
    Ok(s)
}
