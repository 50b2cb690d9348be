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
    servers((url = "/", description = "本部署（提供本文档的地址）/ this deployment, where the document is served")),
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
    components(schemas(
        Problem, FieldError, Stage, Action, KeyRole, BuiltinRole, CustomRoleParent, TenantLevel,
        InspectionResult, ChainDirection, ChainFormat, TableFormat, QrFormat, CodeKind, ImportKind, ImportMode
    )),
    modifiers(&SecuritySchemes, &Contact)
)]
pub struct ApiDoc;

/// The body of a file sent or answered as it is (an XLSX or CSV import or export, a PNG QR
/// code): `type: string, format: binary`, so generated clients send and receive bytes, not a
/// JSON array of numbers. Used as `inline(crate::openapi::Binary)`.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// The document's contact: the project, from the workspace's `repository` (one place).
struct Contact;

impl Modify for Contact {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let url = Some(env!("CARGO_PKG_REPOSITORY")).filter(|u| !u.is_empty());
        openapi.info.contact =
            Some(utoipa::openapi::info::ContactBuilder::new().name(Some("Suyuan 溯源")).url(url).build());
    }
}

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

/// A string schema that allows only `values`: the document's `enum`, built from the same lists
/// the server checks against, so the two cannot drift apart.
fn string_enum<'a>(
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(seen)).description(Some(description)).into()
}

/// Declares a named string enumeration whose values come from a server-side list.
macro_rules! string_enum_schema {
    ($(#[$doc:meta])* $name:ident, $values:expr, $description:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                string_enum($values, $description)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_enum_schema!(
    /// A trace record's stage (the keys of `subjects::dto::STAGES`).
    Stage,
    crate::modules::subjects::dto::STAGES.iter().map(|(k, _)| *k),
    "追溯环节 / the stage of a trace record"
);
string_enum_schema!(
    /// A trace record's action (the actions of `trace::dto::ACTIONS`; which stage each belongs
    /// to is in the description and checked by the server).
    Action,
    crate::modules::trace::dto::ACTIONS.iter().map(|(_, a, _)| *a),
    "环节中的动作：primary_production = plant | breed | harvest | slaughter | catch；processing = process | \
     package；transport = ship | arrive；testing = inspect；sale = receive | sell | use / the action, which \
     must belong to the stage"
);
string_enum_schema!(
    /// The one business role an API key holds (`suyuan_policies::KEY_ROLES`).
    KeyRole,
    suyuan_policies::KEY_ROLES.iter().copied(),
    "API 密钥的业务角色 / the business role of an API key"
);
string_enum_schema!(
    /// A built-in role (`suyuan_policies::BUILTIN_ROLES`).
    BuiltinRole,
    suyuan_policies::BUILTIN_ROLES.iter().map(|(k, _)| *k),
    "内置角色 / a built-in role"
);
string_enum_schema!(
    /// A built-in role a custom role may sit under (`suyuan_policies::CUSTOM_ROLE_PARENTS`).
    CustomRoleParent,
    suyuan_policies::CUSTOM_ROLE_PARENTS.iter().copied(),
    "自定义角色可继承的内置业务角色 / a business role a custom role sits under"
);
string_enum_schema!(
    /// A tenant's level.
    TenantLevel,
    {
        use suyuan_tenancy::TenantLevel as L;
        [L::National, L::Provincial, L::Municipal, L::County].map(L::as_str)
    },
    "单位层级 / the level of a tenant"
);
string_enum_schema!(
    /// The result of a test.
    InspectionResult,
    ["pass", "fail"],
    "检测结果：pass 合格，fail 不合格 / pass or fail"
);
string_enum_schema!(
    /// Which way a chain is walked.
    ChainDirection,
    ["up", "down", "both"],
    "up 来源，down 去向，both 两者 / upstream, downstream or both"
);
string_enum_schema!(
    /// The formats of a chain.
    ChainFormat,
    ["json", "csv", "xlsx", "geojson"],
    "json 链条图，csv / xlsx 流量流向表，geojson 流向地图 / the graph, the flow table or the flow map"
);
string_enum_schema!(
    /// The formats of a filing export or import.
    TableFormat,
    ["csv", "xlsx"],
    "CSV（UTF-8）或 Excel / CSV (UTF-8) or XLSX"
);
string_enum_schema!(
    /// The formats of a QR code.
    QrFormat,
    ["png", "svg"],
    "PNG 或 SVG"
);
string_enum_schema!(
    /// The kinds of trace codes.
    CodeKind,
    ["item", "batch"],
    "item 一物一码，batch 一批一码 / one code per item, or one code for a batch"
);
string_enum_schema!(
    /// What an import holds.
    ImportKind,
    ["enterprise", "merchant", "product"],
    "导入的备案类型 / what the file holds"
);
string_enum_schema!(
    /// How an import writes.
    ImportMode,
    ["dry_run", "all_or_nothing", "good_rows"],
    "dry_run 只校验，all_or_nothing 全部写入或都不写，good_rows 写入合格行 / check only, all or none, or the good rows"
);
