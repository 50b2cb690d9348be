//! HTTP in and out for the federation routes.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::Utc;
use sea_orm::EntityTrait;
use suyuan_federation::sign;
use suyuan_federation::wire::{Ack, Push};
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::dto::{CredentialPage, ParkedPage};
use super::dto::{CredentialResponse, FederationStatus, LinkSettings, NewCredential, RollupResponse, UpstreamRequest};
use super::entity::{credential, replay};
use super::service;
use crate::error::{ApiError, ApiResult, BodyErrors, ConflictError, GuardErrors, NotFoundError, ParamErrors};
use crate::modules::admin::handlers::Caller;
use crate::modules::dashboard::dto::RegionMap;
use crate::paging::PageQuery;
use crate::state::AppState;

/// The largest push body (500 rows of a few KiB each, with room).
const MAX_BODY: usize = 8 * 1024 * 1024;

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Receive a child deployment's changes (R-SHAPE-3, R-IF-1): a batch of one origin's outbox
/// rows in sequence order, signed with the credential this platform issued to the child
/// (`x-suyuan-federation-key`, `x-suyuan-timestamp` in Unix seconds, `x-suyuan-signature` =
/// hex HMAC-SHA256 over `timestamp + "\n" + body`). A timestamp more than 300 s away, a
/// signature seen before (a replay) or a wrong one is refused with 401. Rows are applied once
/// and in order; the answer's `cursor` says how far: the child continues after it (rows after
/// a gap are not applied and are sent again). The rows are applied at the credential's
/// tenant's parent, never anywhere else; a second origin for the same child is refused (409).
#[utoipa::path(tag = "联邦上报 federation", operation_id = "receiveFederationPush", security(("federation_signature" = [])),
    request_body = Push,
    responses((status = 200, description = "已应用 / applied", body = Ack), BodyErrors, GuardErrors, ConflictError))]
#[post("/api/v1/federation/inbox")]
pub async fn receive_push(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<web::Json<Ack>> {
    let (Some(key), Some(ts), Some(signature)) =
        (header(&req, sign::KEY_HEADER), header(&req, sign::TIMESTAMP_HEADER), header(&req, sign::SIGNATURE_HEADER))
    else {
        return Err(ApiError::unauthorized(
            "缺少联邦签名（x-suyuan-federation-key、x-suyuan-timestamp、x-suyuan-signature）",
        ));
    };
    // The credential and the time first: nobody unknown or stale gets the body read.
    let refused = || ApiError::unauthorized("接入凭证无效或签名不正确");
    let cred = credential::Entity::find_by_id(key.to_owned())
        .one(&state.db)
        .await?
        .filter(|c| c.revoked_at.is_none())
        .ok_or_else(refused)?;
    let at = sign::fresh(ts, Utc::now().timestamp()).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    crate::error::require_json(&req)?;
    let body = crate::error::body_within(payload, MAX_BODY).await?;
    sign::verify(cred.secret.as_bytes(), ts, &body, signature, Utc::now().timestamp()).map_err(|_| refused())?;
    // A signature is good once: a replayed request (same body, same timestamp) is refused. It
    // is kept by the request's own time, so it outlives the window it could be replayed in.
    let fresh = replay::Entity::insert(replay::ActiveModel {
        signature: sea_orm::Set(signature.trim().to_ascii_lowercase()),
        seen_at: sea_orm::Set(chrono::DateTime::from_timestamp(at, 0).unwrap_or_else(Utc::now)),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&state.db)
    .await?;
    if !matches!(fresh, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Err(ApiError::unauthorized("重复的请求（重放），已拒绝"));
    }
    let push: Push = serde_json::from_slice(&body).map_err(|e| crate::error::from_serde_json(&e))?;
    let child = tenant::Entity::find_by_id(cred.tenant_id)
        .one(&state.db)
        .await?
        .filter(|t| t.status == "active")
        .ok_or_else(|| ApiError::forbidden("接入凭证对应的单位不存在或已停用"))?;
    if push.origin.code != child.code {
        return Err(ApiError::forbidden(format!(
            "凭证属于 {}（{}），不能以 {} 的名义上报",
            child.name, child.code, push.origin.code
        )));
    }
    let parent_id = child.parent_id.ok_or_else(|| ApiError::forbidden("该单位没有上级"))?;
    let parent = tenant::Entity::find_by_id(parent_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::forbidden("该单位没有上级"))?;
    let ack = super::inbox::apply(&state.db, &state.metrics, "http", &parent, &child, &push).await?;
    if ack.applied > 0 && (parent.parent_id.is_some() || parent.federation_parent_url.is_some()) {
        super::deliver::wake_all(&state);
    }
    Ok(web::Json(ack))
}

/// The federation overview of the caller's subtree (R-OPS-1): every link upward with its last
/// delivered sequence, backlog, lag, last error and next try; what the tenants receive from
/// below with their parked rows.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "getFederationStatus", security(("session_cookie" = []), ("api_key" = [])),
    responses((status = 200, description = "上报状态 / status", body = FederationStatus), GuardErrors))]
#[get("/api/v1/federation/status")]
pub async fn get_status(caller: Caller, state: web::Data<AppState>) -> ApiResult<web::Json<FederationStatus>> {
    Ok(web::Json(service::status(&caller.ctx(), state.settings.federation_lag_alert_secs).await?))
}

/// Rows received from below that could not be applied, with the reason (newest 500).
#[utoipa::path(tag = "联邦上报 federation", operation_id = "listParkedRows", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "搁置的变更（新的在前）/ parked rows, newest first", body = ParkedPage), GuardErrors, ParamErrors))]
#[get("/api/v1/federation/parked")]
pub async fn list_parked(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<ParkedPage>> {
    let paging = q.check()?;
    let (rows, total) = service::parked_rows(&caller.ctx(), paging).await?;
    Ok(web::Json(ParkedPage::new(rows, paging, total)))
}

/// Issue a credential to a direct child tenant that runs its own deployment: the answer holds
/// the secret, once. The child's administrator enters it with `PUT /api/v1/federation/upstream`.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "issueFederationCredential", security(("session_cookie" = []), ("api_key" = [])),
    request_body = NewCredential,
    responses((status = 201, description = "已发放 / issued", body = CredentialResponse), BodyErrors, GuardErrors, NotFoundError))]
#[post("/api/v1/federation/credentials")]
pub async fn issue_credential(caller: Caller, body: web::Json<NewCredential>) -> ApiResult<HttpResponse> {
    let c = service::issue_credential(&caller.ctx(), &body).await?;
    Ok(crate::secret::no_store(actix_web::http::StatusCode::CREATED).json(c))
}

/// The credentials the caller's tenant issued (without secrets).
#[utoipa::path(tag = "联邦上报 federation", operation_id = "listFederationCredentials", security(("session_cookie" = []), ("api_key" = [])),
    params(PageQuery),
    responses((status = 200, description = "接入凭证 / credentials", body = CredentialPage), GuardErrors, ParamErrors))]
#[get("/api/v1/federation/credentials")]
pub async fn list_credentials(caller: Caller, q: web::Query<PageQuery>) -> ApiResult<web::Json<CredentialPage>> {
    let paging = q.check()?;
    let (rows, total) = paging.slice(service::credentials(&caller.ctx()).await?);
    Ok(web::Json(CredentialPage::new(rows, paging, total)))
}

/// Revoke a credential: the child deployment's next push is refused.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "revokeFederationCredential", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "凭证编号 / key id")),
    responses((status = 204, description = "已撤销 / revoked"), GuardErrors, NotFoundError))]
#[delete("/api/v1/federation/credentials/{id}")]
pub async fn revoke_credential(caller: Caller, path: web::Path<String>) -> ApiResult<HttpResponse> {
    service::revoke_credential(&caller.ctx(), &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Point this deployment's root tenant at its parent platform in another deployment, with the
/// credential the parent issued; an empty `parent_url` stops reporting upward.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "setFederationUpstream", security(("session_cookie" = []), ("api_key" = [])),
    request_body = UpstreamRequest,
    responses((status = 204, description = "已保存 / saved"), BodyErrors, GuardErrors))]
#[put("/api/v1/federation/upstream")]
pub async fn set_upstream(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<UpstreamRequest>,
) -> ApiResult<HttpResponse> {
    service::set_upstream(&caller.ctx(), &state.outbound, &body).await?;
    super::deliver::wake_all(&state);
    Ok(HttpResponse::NoContent().finish())
}

/// Set how a tenant's link exchanges: `continuous` (every change at once) or `periodic` (once
/// per `interval_secs`, R-SUBJ-4 定期交换).
#[utoipa::path(tag = "联邦上报 federation", operation_id = "setFederationLink", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "上报单位 / the sending tenant")),
    request_body = LinkSettings,
    responses((status = 204, description = "已保存 / saved"), BodyErrors, GuardErrors, NotFoundError))]
#[put("/api/v1/federation/links/{id}")]
pub async fn set_link(caller: Caller, path: web::Path<Uuid>, body: web::Json<LinkSettings>) -> ApiResult<HttpResponse> {
    service::set_link(&caller.ctx(), path.into_inner(), &body).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sync now: the tenant's link is delivered at once, whatever its period or back-off.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "syncFederationLink", security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "上报单位 / the sending tenant")),
    responses((status = 202, description = "已开始 / started"), GuardErrors, NotFoundError))]
#[post("/api/v1/federation/links/{id}/sync")]
pub async fn sync_link(caller: Caller, state: web::Data<AppState>, path: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::sync_now(&caller.ctx(), path.into_inner()).await?;
    super::deliver::wake_all(&state);
    Ok(HttpResponse::Accepted().finish())
}

/// The roll-up's query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RollupQuery {
    /// Division code of the region (drill-down); the caller's own by default. Must lie in the
    /// caller's region.
    #[param(example = "370000")]
    pub region: Option<String>,
    /// The map's value: `records` (default), `filings` or `quantity` (map only; with `stage`
    /// and `unit`: quantities of different stages or units are never added).
    pub metric: Option<String>,
    /// With `metric=quantity`: the stage (`primary_production`, `processing`, `transport`,
    /// `testing`, `sale`).
    #[param(example = "primary_production")]
    pub stage: Option<String>,
    /// With `metric=quantity`: the unit the figures are counted in: a base unit (`kg`, `L`) or a
    /// unit without conversion (`箱`, `件` …); see `GET /api/v1/trace/units`.
    #[param(example = "kg")]
    pub unit: Option<String>,
}

/// A region's figures from the caller's roll-up (filings, trace records, quantity) per
/// sub-region, with the caller's own line: the national dashboard reads one small table, not
/// every province's records. Drill down by asking for a region inside the caller's.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "getRollup", security(("session_cookie" = []), ("api_key" = [])),
    params(RollupQuery),
    responses((status = 200, description = "汇总数据 / rolled-up figures", body = RollupResponse), GuardErrors, ParamErrors))]
#[get("/api/v1/federation/rollup")]
pub async fn get_rollup(caller: Caller, q: web::Query<RollupQuery>) -> ApiResult<web::Json<RollupResponse>> {
    let ctx = caller.ctx();
    let region = service::rollup_region(&ctx, q.region.as_deref()).await?;
    Ok(web::Json(service::rollup(ctx.db, &ctx.who.tenant, region).await?))
}

/// The roll-up as region-map data (the console's choropleth): one value per sub-region.
#[utoipa::path(tag = "联邦上报 federation", operation_id = "getRollupMap", security(("session_cookie" = []), ("api_key" = [])),
    params(RollupQuery),
    responses((status = 200, description = "地图数据 / map data", body = RegionMap), GuardErrors, ParamErrors))]
#[get("/api/v1/federation/rollup/map")]
pub async fn get_rollup_map(caller: Caller, q: web::Query<RollupQuery>) -> ApiResult<web::Json<RegionMap>> {
    let metric = q.metric.as_deref().unwrap_or("records");
    if !["records", "filings", "quantity"].contains(&metric) {
        return Err(ApiError::invalid_field("metric", "one_of", "应为 records、filings 或 quantity"));
    }
    let ctx = caller.ctx();
    let quantity = if metric == "quantity" {
        let stage = q.stage.as_deref().map(str::trim).unwrap_or_default();
        if !crate::modules::subjects::dto::STAGES.iter().any(|(k, _)| *k == stage) {
            return Err(ApiError::invalid_field(
                "stage",
                "one_of",
                "按数量查看地图须指定环节（stage），数量不跨环节相加",
            ));
        }
        let reference = crate::modules::trace::reference::ensure(ctx.db).await?;
        let given = q.unit.as_deref().map(str::trim).unwrap_or_default();
        let unit = reference.unit(given).map(|u| reference.statistics_unit(&u.code).0.to_owned());
        match unit {
            Some(u) if u == given => Some((stage.to_owned(), u)),
            Some(u) => {
                return Err(ApiError::invalid_field("unit", "base_unit", format!("统计按 {u} 计，请用 unit={u}")));
            }
            None => {
                return Err(ApiError::invalid_field(
                    "unit",
                    "unknown",
                    "按数量查看地图须指定计量单位（unit），数量不跨单位相加",
                ));
            }
        }
    } else {
        None
    };
    let region = service::rollup_region(&ctx, q.region.as_deref()).await?;
    let r = service::rollup(ctx.db, &ctx.who.tenant, region).await?;
    Ok(web::Json(service::rollup_map(&r, metric, quantity.as_ref().map(|(s, u)| (s.as_str(), u.as_str())))))
}
