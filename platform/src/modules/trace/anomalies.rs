//! Code anomalies (R-PUB-3, R-EMG-3): claims of a trace code by subjects not linked into the
//! code's lineage, kept by the public lookup (see [`super::public`]) for the supervisors of both
//! sides: the tenant that reported the claim and the tenant of the code's owner, and the
//! tenants above them. A plain list for now; the data-quality review comes later.

use std::collections::HashMap;

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::entity::code_anomaly;
use crate::error::{ApiError, ApiResult, FieldError, GuardErrors, ParamErrors};
use crate::modules::admin::handlers::Caller;
use crate::modules::admin::service::Ctx;
use crate::modules::subjects::workflow;
use suyuan_tenancy::entity::tenant;

/// `GET /api/v1/trace/anomalies`: filters and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnomalyQuery {
    /// Only this trace code.
    pub code: Option<String>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    pub page_size: Option<u64>,
}

/// One claim of a code by a subject not linked into its lineage.
#[derive(Debug, Serialize, ToSchema)]
pub struct Anomaly {
    /// Id.
    pub id: Uuid,
    /// The trace code.
    pub code: String,
    /// `unlinked_claim`: a record carries the code, but its subject is not linked into the
    /// lineage of the code's owner (see docs/api-design.md), so the public answer leaves it out.
    pub kind: String,
    /// The record that carries the code.
    pub event_id: Uuid,
    /// The claiming record's subject.
    pub claiming_subject_code: String,
    /// Its name (empty when the filing is gone).
    pub claiming_subject_name: String,
    /// The tenant that reported the claiming record.
    pub claiming_tenant_code: String,
    /// Its name.
    pub claiming_tenant_name: String,
    /// The code's owner: the subject the public answer starts from.
    pub owner_subject_code: String,
    /// Its name.
    pub owner_subject_name: String,
    /// The tenant that reported the owner's first record carrying the code.
    pub owner_tenant_code: String,
    /// Its name.
    pub owner_tenant_name: String,
    /// When the claim was found.
    pub detected_at: DateTime<Utc>,
}

/// A page of anomalies, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyPage {
    /// Anomalies.
    pub items: Vec<Anomaly>,
    /// Page.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Anomalies matching.
    pub total: u64,
}

/// The anomalies the caller may read: those whose claiming tenant or owner tenant is the
/// caller's tenant or (with the `descendant` grant) below it; newest first.
///
/// # Errors
/// 422 naming a bad filter; 403.
pub async fn list(ctx: &Ctx<'_>, q: &AnomalyQuery) -> ApiResult<AnomalyPage> {
    use code_anomaly::Column as A;
    let scope = ctx.read_scope("code_anomaly", "read").await?;
    let mut errors: Vec<FieldError> = Vec::new();
    let (page, page_size) = workflow::paging(q.page, q.page_size, &mut errors);
    let code = q.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if code.is_some_and(|c| c.chars().count() > 128) {
        errors.push(FieldError::new("code", "too_long", "追溯码不能超过 128 个字符"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut query = code_anomaly::Entity::find()
        .filter(Condition::any().add(scope.expr(A::ClaimingTenantId)).add(scope.expr(A::OwnerTenantId)));
    if let Some(c) = code {
        query = query.filter(A::Code.eq(c));
    }
    let sorted = query.clone().order_by_desc(A::DetectedAt).order_by_desc(A::Id);
    let (rows, total) = workflow::page_of(ctx.db, query, sorted, A::Id, page, page_size).await?;
    // The names, in two statements.
    let mut tenants: Vec<Uuid> = rows.iter().flat_map(|r| [r.claiming_tenant_id, r.owner_tenant_id]).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let tenants: HashMap<Uuid, tenant::Model> = if tenants.is_empty() {
        HashMap::new()
    } else {
        tenant::Entity::find()
            .filter(tenant::Column::Id.is_in(tenants))
            .all(ctx.db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect()
    };
    let mut subjects: Vec<String> =
        rows.iter().flat_map(|r| [r.claiming_subject_code.clone(), r.owner_subject_code.clone()]).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let subjects = super::chain::subjects(ctx.db, &subjects).await?;
    let tenant = |id: Uuid| tenants.get(&id).map(|t| (t.code.clone(), t.name.clone())).unwrap_or_default();
    let name = |code: &str| subjects.get(code).map(|s| s.name.clone()).unwrap_or_default();
    let items = rows
        .into_iter()
        .map(|r| {
            let (claiming_tenant_code, claiming_tenant_name) = tenant(r.claiming_tenant_id);
            let (owner_tenant_code, owner_tenant_name) = tenant(r.owner_tenant_id);
            Anomaly {
                id: r.id,
                claiming_subject_name: name(&r.claiming_subject_code),
                owner_subject_name: name(&r.owner_subject_code),
                code: r.code,
                kind: r.kind,
                event_id: r.event_id,
                claiming_subject_code: r.claiming_subject_code,
                claiming_tenant_code,
                claiming_tenant_name,
                owner_subject_code: r.owner_subject_code,
                owner_tenant_code,
                owner_tenant_name,
                detected_at: r.detected_at,
            }
        })
        .collect();
    Ok(AnomalyPage { items, page, page_size, total })
}

/// Code anomalies (R-PUB-3, R-EMG-3): records that carry a trace code but whose subject is not
/// linked into the lineage of the code's owner — a counterfeit or diversion signal. The public
/// answer leaves them out; they are listed here for the supervisors of the tenant that reported
/// the claim and of the owner's tenant, and of the tenants above them (a sibling sees none).
/// Newest first, paged.
#[utoipa::path(tag = "追溯记录 trace records", operation_id = "listCodeAnomalies", security(("session_cookie" = []), ("api_key" = [])),
    params(AnomalyQuery),
    responses((status = 200, description = "追溯码异常 / anomalies", body = AnomalyPage), GuardErrors, ParamErrors))]
#[get("/api/v1/trace/anomalies")]
pub async fn list_anomalies(caller: Caller, q: web::Query<AnomalyQuery>) -> ApiResult<web::Json<AnomalyPage>> {
    Ok(web::Json(list(&caller.ctx(), &q).await?))
}
