//! HTTP in and out for the trace routes.

use actix_web::{HttpResponse, get, post, web};
use futures_util::StreamExt;
use uuid::Uuid;

use super::dto::{IngestRequest, IngestResponse, TraceEventPage, TraceEventQuery, TraceEventResponse};
use super::service;
use crate::error::{ApiError, ApiResult, BodyErrors, ConflictError, GuardErrors, NotFoundError, ParamErrors};
use crate::modules::admin::handlers::Caller;

/// The largest ingest body (10 000 records).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Push trace records (R-ARCH-1, R-IF-4): 1 to 10 000 records from a connected system, with its
/// own API key. The whole batch is checked first: one bad record and nothing is written, and
/// the answer (422) names every bad record's field (`events[3].quantity`). A record whose
/// `client_event_id` was received before is answered with its id and not written again, so a
/// retried request never duplicates. The new records and their lineage edges commit in one
/// transaction.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "ingestTraceEvents", security(("session_cookie" = []), ("api_key" = [])),
    request_body = IngestRequest,
    responses((status = 200, description = "已接收 / received", body = IngestResponse), BodyErrors, GuardErrors, ConflictError,
        (status = 413, description = "请求过大 / body too large", body = crate::error::Problem, content_type = "application/problem+json")))]
#[post("/api/v1/trace/events")]
pub async fn ingest_events(caller: Caller, mut payload: web::Payload) -> ApiResult<web::Json<IngestResponse>> {
    // The guard first: nobody without the right holds 16 MiB of the server's memory.
    caller.ctx().require_own("trace_event", "create").await?;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::payload_too_large(MAX_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    let req: IngestRequest = serde_json::from_slice(&body).map_err(|e| crate::error::from_serde_json(&e))?;
    Ok(web::Json(service::ingest(&caller.ctx(), req.events).await?))
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
