//! HTTP in and out for the trace routes.

use actix_web::{HttpResponse, get, post, web};
use uuid::Uuid;

use super::dto::{
    ChainQuery, ChainResponse, IngestRequest, IngestResponse, TraceEventPage, TraceEventQuery, TraceEventResponse,
};
use super::service;
use crate::error::{
    ApiError, ApiResult, BodyErrors, ConflictError, GuardErrors, NotFoundError, ParamErrors, RateLimited,
};
use crate::limits::Class;
use crate::modules::admin::handlers::Caller;

/// The largest ingest body (10 000 records).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Push trace records (R-ARCH-1, R-IF-4): 1 to 10 000 records from a connected system, with its
/// own API key. The whole batch is checked first: one bad record and nothing is written, and
/// the answer (422) names every bad record's field (`events[3].quantity`), a record that cannot
/// even be read (a mistyped field, a number out of range, nesting too deep) with its line and
/// column in the request. A record whose
/// `client_event_id` was received before is answered with its id and not written again, so a
/// retried request never duplicates; the same id with other content is a conflict (409 naming
/// the records, nothing written). Every record with a counterpart links the seller's batch to
/// the buyer's. The new records and their lineage edges commit in one transaction.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "ingestTraceEvents", security(("session_cookie" = []), ("api_key" = [])),
    request_body = IngestRequest,
    responses((status = 200, description = "已接收 / received", body = IngestResponse), BodyErrors, GuardErrors, ConflictError,
        (status = 413, description = "请求过大 / body too large", body = crate::error::Problem, content_type = "application/problem+json")))]
#[post("/api/v1/trace/events")]
pub async fn ingest_events(
    caller: Caller,
    state: web::Data<crate::state::AppState>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> ApiResult<web::Json<IngestResponse>> {
    crate::error::require_json(&req)?;
    // The guard first: nobody without the right holds 16 MiB of the server's memory.
    caller.ctx().require_own("trace_event", "create").await?;
    let body = crate::error::body_within(payload, MAX_BODY).await?;
    let req: IngestRequest<'_> =
        serde_json::from_slice(&body).map_err(|e| crate::error::json_body_error::<IngestRequest<'_>>(&body, &e))?;
    let lines = service::Lines::new(&body);
    let records = req.events.into_iter().map(|raw| service::InBody { raw, lines: &lines }).collect();
    let (answer, written) = service::ingest(&caller.ctx(), records).await?;
    crate::audit::pending::after_ingest(&state.db, caller.ctx().who.tenant.id, state.settings.audit_writer).await;
    super::public::invalidate(&state, &written).await;
    if answer.accepted > 0 {
        crate::modules::federation::deliver::wake_all(&state);
    }
    Ok(web::Json(answer))
}

/// The file import's options.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordImportQuery {
    /// `csv` or `xlsx`; by default from the content type.
    #[param(value_type = Option<crate::openapi::TableFormat>)]
    pub format: Option<String>,
}

/// Trace records from a CSV (UTF-8) or XLSX file, up to 10 000 rows, for systems that export
/// rather than call the API: headings 记录编号, 环节, 动作, 主体编码, 产品备案编码, 产品名称, 批次号,
/// 追溯码, 数量, 单位, 单价, 金额, 发生时间, 地区代码, 经度, 纬度, 交易对方编码, 投入批次 (`批次:数量`,
/// separated by `;`), 检测项目, 检测结果 (合格/不合格), 检测报告编号. Stages and actions by key or
/// Chinese name; a time without a zone is China time. The same checks as the ingest API, the
/// same all-or-nothing answer: a bad row is named as `rows[N].field` with N its row in the file,
/// and nothing is written; a re-sent file writes nothing twice, and a row whose 记录编号 was
/// received before with other content is a conflict (409 naming `rows[N].client_event_id`).
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "importTraceEvents", security(("session_cookie" = []), ("api_key" = [])),
    params(RecordImportQuery),
    request_body(content(
        (inline(crate::openapi::Binary) = "text/csv"),
        (inline(crate::openapi::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ), description = "CSV 或 Excel 文件 / the file"),
    responses((status = 200, description = "已接收 / received", body = IngestResponse), BodyErrors, GuardErrors, ParamErrors, ConflictError,
        (status = 413, description = "文件过大 / file too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "文件类型不对 / not CSV or XLSX", body = crate::error::Problem, content_type = "application/problem+json")))]
#[post("/api/v1/trace/events/import")]
pub async fn import_events(
    caller: Caller,
    state: web::Data<crate::state::AppState>,
    req: actix_web::HttpRequest,
    q: web::Query<RecordImportQuery>,
    payload: web::Payload,
) -> ApiResult<web::Json<IngestResponse>> {
    caller.ctx().require_own("trace_event", "create").await?;
    let xlsx = crate::modules::subjects::import::is_xlsx(&req, q.format.as_deref())?;
    let body = crate::error::body_within(payload, MAX_BODY).await?;
    let (answer, written) = super::import::import(&caller.ctx(), body, xlsx).await?;
    crate::audit::pending::after_ingest(&state.db, caller.ctx().who.tenant.id, state.settings.audit_writer).await;
    super::public::invalidate(&state, &written).await;
    if answer.accepted > 0 {
        crate::modules::federation::deliver::wake_all(&state);
    }
    Ok(web::Json(answer))
}

/// Search the trace records the caller may read (R-SUBJ-5): by stage, product, region,
/// reporting subject, batch, trace code and time, newest first, with paging.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "listTraceEvents", security(("session_cookie" = []), ("api_key" = [])),
    params(TraceEventQuery),
    responses((status = 200, description = "追溯记录 / records", body = TraceEventPage), GuardErrors, ParamErrors))]
#[get("/api/v1/trace/events")]
pub async fn list_events(caller: Caller, q: web::Query<TraceEventQuery>) -> ApiResult<web::Json<TraceEventPage>> {
    let (items, page, page_size, total) = service::search(&caller.ctx(), &q).await?;
    Ok(web::Json(TraceEventPage { items: items.into_iter().map(Into::into).collect(), page, page_size, total }))
}

/// One trace record.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "getTraceEvent", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "记录 id")),
    responses((status = 200, description = "追溯记录 / record", body = TraceEventResponse), GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/trace/events/{id}")]
pub async fn get_event(caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let e = service::get(&caller.ctx(), *id).await?;
    Ok(HttpResponse::Ok().json(TraceEventResponse::from(e)))
}

/// Rebuild a trace chain (R-EMG-3): from a batch or a trace code, every node upstream and
/// downstream across tenants and provinces, with the flows between them. Inside the caller's
/// subtree every detail; outside it a node shows its name, code, region and responsible tenant
/// only, and flows reported there no quantity (R-SEC-6). `format=csv` or `xlsx` answers the
/// flow table (流量流向表: from, to, regions, product, batch, quantity, time); `format=geojson`
/// the flow map: nodes as points, flows as lines between them (nodes without coordinates are
/// left off the map).
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "traceChain", security(("session_cookie" = []), ("api_key" = [])),
    params(ChainQuery),
    responses((status = 200, description = "追溯链条 / the chain", body = ChainResponse,
            content((ChainResponse = "application/json"), (inline(crate::openapi::Binary) = "text/csv"),
                (inline(crate::openapi::Binary) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                (Object = "application/geo+json"))),
        GuardErrors, NotFoundError, ParamErrors))]
#[get("/api/v1/trace/chain")]
pub async fn trace_chain(caller: Caller, q: web::Query<ChainQuery>) -> ApiResult<HttpResponse> {
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "xlsx" | "geojson") {
        return Err(ApiError::invalid_field("format", "unknown", "format 只能是 json、csv、xlsx 或 geojson"));
    }
    let chain = super::chain::chain(&caller.ctx(), &q).await?;
    let file = |content_type: &str, ext: &str, body: Vec<u8>| {
        HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Content-Disposition", format!("attachment; filename=\"trace-chain.{ext}\"")))
            .body(body)
    };
    use super::chain::{FLOW_HEADER, flow_rows};
    use crate::modules::subjects::export::{csv_of, xlsx_of};
    let size = chain.size();
    let response = match format {
        "csv" => file("text/csv; charset=utf-8", "csv", csv_of(FLOW_HEADER, flow_rows(&chain.response()))?),
        "xlsx" => file(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
            xlsx_of("流量流向表", FLOW_HEADER, flow_rows(&chain.response()))?,
        ),
        "geojson" => {
            HttpResponse::Ok().content_type("application/geo+json").json(super::chain::to_geojson(&chain.response()))
        }
        _ if size <= super::chain::LARGE => HttpResponse::Ok()
            .content_type("application/json")
            .body(serde_json::to_vec(&chain.response()).map_err(ApiError::internal)?),
        _ => {
            // A recall runs to tens of megabytes: written off the request's threads (nodes and
            // flows at the same time) and sent while it is written.
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(128);
            actix_web::rt::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                // A panic must not end the stream cleanly on half an answer: it is an error too.
                let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    chain.write_json(&mut |piece| {
                        tx.blocking_send(Ok(piece.into())).map_err(|_| std::io::Error::other("the client has gone"))
                    })
                }))
                .unwrap_or_else(|_| Err(std::io::Error::other("writing the chain panicked")));
                if let Err(e) = written {
                    // The answer ends short: the client sees the body cut off, never a whole one.
                    tracing::debug!(error = %e, "trace chain not sent whole");
                    let _ = tx.blocking_send(Err(e));
                }
                // The answer ends here; the chain is freed after.
                drop(tx);
                tracing::debug!(write_ms = started.elapsed().as_secs_f64() * 1e3, "trace chain written");
                drop(chain);
            });
            let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            return Ok(HttpResponse::Ok().content_type("application/json").streaming(body));
        }
    };
    super::chain::free_later(chain, size);
    Ok(response)
}

/// Query-behaviour analysis (R-ANA-3): the public's trace-code queries of the last `days` days
/// by day, consumer region (the next level down), product category and the type of the subject
/// that last handled the product. A tenant sees the queries of products that reached consumers
/// in its region; the national level sees all.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "traceQueryStatistics", security(("session_cookie" = []), ("api_key" = [])),
    params(super::dto::QueryStatisticsQuery),
    responses((status = 200, description = "统计 / statistics", body = super::dto::QueryStatistics), GuardErrors, ParamErrors))]
#[get("/api/v1/trace/queries/statistics")]
pub async fn query_statistics(
    caller: Caller,
    q: web::Query<super::dto::QueryStatisticsQuery>,
) -> ApiResult<web::Json<super::dto::QueryStatistics>> {
    Ok(web::Json(super::analysis::statistics(&caller.ctx(), &q).await?))
}

/// The public answer for a trace code (R-PUB-3), no sign-in: the product, its origin, the
/// stages with dates and regions, test results pass/fail, and how often and since when the code
/// has been queried, with a warning when a single item's code is queried suspiciously often.
/// Public fields only. Every query is recorded (asynchronously, in batches) for the analysis of
/// query behaviour.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "publicTrace",
    params(("code" = String, Path, description = "追溯码")),
    responses((status = 200, description = "公开的追溯信息 / public trace", body = super::dto::PublicTrace), NotFoundError, ParamErrors, RateLimited))]
#[get("/api/v1/public/trace/{code}")]
pub async fn public_trace(
    state: web::Data<crate::state::AppState>,
    req: actix_web::HttpRequest,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    state.limits.check_request(Class::Public, &req, &state.trusted_proxies).await?;
    let code = crate::web::public::clean_code(&code)
        .ok_or_else(|| ApiError::invalid_field("code", "format", "追溯码应为 4–120 位字母、数字或符号 - _ . : /"))?;
    let body = super::public::lookup_json(&state, &code).await?;
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(body))
}

/// Issue platform trace codes (一物一码 or 一批一码) for a subject of the caller's tenant or
/// below: its filing code, a 10-digit serial and a check character. Serials never repeat; a
/// run is kept as a range.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "issueTraceCodes", security(("session_cookie" = []), ("api_key" = [])),
    request_body = super::dto::IssueCodesRequest,
    responses((status = 201, description = "已发放 / issued", body = super::dto::IssueCodesResponse), BodyErrors, GuardErrors))]
#[post("/api/v1/trace/codes")]
pub async fn issue_codes(caller: Caller, body: web::Json<super::dto::IssueCodesRequest>) -> ApiResult<HttpResponse> {
    let issued = super::codes::issue(&caller.ctx(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(issued))
}

/// Resolve an identifier (R-ARCH-3), no sign-in: a platform trace code, a GS1 Digital Link
/// URI, a GS1 element string, a GTIN, a filing code, or a code some record carries. Answers
/// what it identifies (an item, a batch, a product, a subject), the names a label shows anyway,
/// how many records carry it, and its public trace page.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "resolveIdentifier",
    params(super::dto::ResolveQuery),
    responses((status = 200, description = "标识解析结果 / what it identifies", body = super::dto::Resolved), NotFoundError, ParamErrors, RateLimited))]
#[get("/api/v1/resolve")]
pub async fn resolve(
    state: web::Data<crate::state::AppState>,
    req: actix_web::HttpRequest,
    q: web::Query<super::dto::ResolveQuery>,
) -> ApiResult<web::Json<super::dto::Resolved>> {
    state.limits.check_request(Class::Public, &req, &state.trusted_proxies).await?;
    let base = crate::modules::identity::sso::base_url(&state.settings, &req);
    Ok(web::Json(super::codes::resolve(&state.db, &base, &q.id).await?))
}

/// The largest PNG QR code served, in pixels.
const MAX_QR_SIZE: u32 = 1024;

/// The QR code's options.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QrQuery {
    /// `png` (default) or `svg`.
    #[param(value_type = Option<crate::openapi::QrFormat>)]
    pub format: Option<String>,
    /// PNG: the smallest width in pixels, 64–1024 (default 320).
    #[param(minimum = 64, maximum = 1024)]
    pub size: Option<u32>,
}

/// The QR code of a trace code, as PNG or SVG, for labels and packaging: it encodes the public
/// page of the code (`{public_url}/t/{code}`), so a phone's camera opens the trace page. A code
/// that no record carries is 404, as its public page is (an issued code gets its QR code once
/// its first record is in).
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "traceQr",
    params(("code" = String, Path, description = "追溯码"), QrQuery),
    responses(
        (status = 200, description = "二维码 / QR code", content(
            (inline(crate::openapi::Binary) = "image/png"),
            (String = "image/svg+xml"))),
        (status = 404, description = "没有追溯记录使用这个追溯码 / no record carries the code", body = crate::error::Problem, content_type = "application/problem+json"),
        ParamErrors, RateLimited))]
#[get("/api/v1/public/trace/{code}/qr")]
pub async fn trace_qr(
    state: web::Data<crate::state::AppState>,
    req: actix_web::HttpRequest,
    code: web::Path<String>,
    q: web::Query<QrQuery>,
) -> ApiResult<HttpResponse> {
    state.limits.check_request(Class::Public, &req, &state.trusted_proxies).await?;
    let code = crate::web::public::clean_code(&code)
        .ok_or_else(|| ApiError::invalid_field("code", "format", "追溯码应为 4–120 位字母、数字或符号 - _ . : /"))?;
    let size = q.size.unwrap_or(320);
    // 1024 px prints a label of 8.7 cm at 300 dpi; a bigger image costs the server more than
    // any label needs.
    if !(64..=MAX_QR_SIZE).contains(&size) {
        return Err(ApiError::invalid_field("size", "range", format!("size 应为 64–{MAX_QR_SIZE}")));
    }
    if !matches!(q.format.as_deref(), None | Some("png" | "svg")) {
        return Err(ApiError::invalid_field("format", "unknown", "format 只能是 png 或 svg"));
    }
    // A code no record carries has no public page, so no QR code either (as the lookup, 404).
    let known = {
        use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
        super::entity::code_index::Entity::find()
            .filter(super::entity::code_index::Column::Code.eq(code.as_str()))
            .one(&state.db)
            .await?
            .is_some()
    };
    if !known {
        return Err(ApiError::not_found("没有追溯记录使用这个追溯码"));
    }
    let path: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
    let target = format!("{}/t/{path}", crate::modules::identity::sso::base_url(&state.settings, &req));
    let qr = qrcode::QrCode::with_error_correction_level(target.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::invalid_field("code", "too_long", format!("追溯码过长，无法生成二维码：{e}")))?;
    match q.format.as_deref().unwrap_or("png") {
        "svg" => {
            let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
            Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
        }
        "png" => {
            let image = qr.render::<image::Luma<u8>>().min_dimensions(size, size).build();
            let mut out = std::io::Cursor::new(Vec::new());
            image.write_to(&mut out, image::ImageFormat::Png).map_err(ApiError::internal)?;
            Ok(HttpResponse::Ok().content_type("image/png").body(out.into_inner()))
        }
        _ => Err(ApiError::invalid_field("format", "unknown", "format 只能是 png 或 svg")),
    }
}

/// The units a trace record's quantity may carry (reference data): code, zh-CN name, dimension
/// and, where a conversion exists, the unit it converts to and the factor. A record's `unit` is
/// one of these codes (or its name or another listed spelling, stored as the code); statistics
/// and the roll-up keep each stage and unit apart, counting a convertible unit in its base
/// (t → kg).
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "listTraceUnits", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "计量单位 / units", body = Vec<super::reference::Unit>), GuardErrors))]
#[get("/api/v1/trace/units")]
pub async fn list_units(caller: Caller) -> ApiResult<web::Json<Vec<super::reference::Unit>>> {
    let ctx = caller.ctx();
    Ok(web::Json(super::reference::ensure(ctx.db).await?.units.clone()))
}
