//! Federation commands and views: credentials for children in other deployments, the
//! upstream of this deployment, link settings and "sync now", the operations view, the
//! rolled-up figures, and the recompute that checks them.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use suyuan_tenancy::division::DivisionCode;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::dto::{
    CredentialResponse, FederationStatus, InboxStatus, LinkSettings, LinkStatus, NewCredential, ParkedRow,
    QuantityFigure, RecomputeReport, RegionFigures, RollupResponse, UpstreamRequest,
};
use super::entity::{credential, filing, inbox, link, parked, rollup, rollup_total};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::dashboard::dto::{Chart, RegionMap, RegionValue, Series};
use crate::modules::subjects::dto::STAGES;
use crate::modules::subjects::entity::{enterprise, merchant, product};
use crate::modules::trace::entity::stats_daily;

async fn tenant_by_id(db: &DatabaseConnection, id: Uuid) -> ApiResult<tenant::Model> {
    tenant::Entity::find_by_id(id).one(db).await?.ok_or_else(|| ApiError::not_found("单位不存在"))
}

/// Issues a credential to a direct child that runs in another deployment.
///
/// # Errors
/// 422 when the tenant is not a direct child; 403; 404.
pub async fn issue_credential(ctx: &Ctx<'_>, req: &NewCredential) -> ApiResult<CredentialResponse> {
    ctx.require_own("federation", "configure").await?;
    let child = tenant_by_id(ctx.db, req.tenant_id).await?;
    if child.parent_id != Some(ctx.who.tenant.id) {
        return Err(ApiError::invalid_field("tenant_id", "not_a_child", "只能为本单位的直属下级单位发放接入凭证"));
    }
    // A child that already reports inside this platform needs no credential: one given anyway
    // would let a second source speak for it.
    if inbox::Entity::find_by_id(child.id).one(ctx.db).await?.is_some() {
        return Err(ApiError::invalid_field("tenant_id", "reports_locally", "该单位已在本平台内上报，无需接入凭证"));
    }
    let key_id = format!("fk_{}", hex::encode(rand::random::<[u8; 8]>()));
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let txn = ctx.db.begin().await?;
    let row = credential::ActiveModel {
        key_id: Set(key_id.clone()),
        tenant_id: Set(child.id),
        secret: Set(secret.clone()),
        created_at: Set(Utc::now()),
        created_by: Set(ctx.who.actor().name),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({"key_id": key_id, "child": child.code});
    audit::record(&txn, ctx.entry("federation.credential_issue", "federation_credential", key_id.clone(), detail))
        .await?;
    txn.commit().await?;
    Ok(credential_response(row, &child, Some(secret)))
}

fn credential_response(c: credential::Model, child: &tenant::Model, secret: Option<String>) -> CredentialResponse {
    CredentialResponse {
        key_id: c.key_id,
        tenant_id: child.id,
        tenant_code: child.code.clone(),
        tenant_name: child.name.clone(),
        secret,
        created_at: c.created_at,
        created_by: c.created_by,
        revoked_at: c.revoked_at,
    }
}

/// The credentials the caller's tenant issued (without secrets).
///
/// # Errors
/// 403.
pub async fn credentials(ctx: &Ctx<'_>) -> ApiResult<Vec<CredentialResponse>> {
    ctx.require_own("federation", "read").await?;
    let children: HashMap<Uuid, tenant::Model> = tenant::Entity::find()
        .filter(tenant::Column::ParentId.eq(ctx.who.tenant.id))
        .all(ctx.db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let rows = credential::Entity::find()
        .filter(credential::Column::TenantId.is_in(children.keys().copied()))
        .order_by_asc(credential::Column::CreatedAt)
        .all(ctx.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|c| children.get(&c.tenant_id).cloned().map(|t| credential_response(c, &t, None)))
        .collect())
}

/// Revokes a credential: the child's next request is refused.
///
/// # Errors
/// 404; 403 outside the issuing tenant.
pub async fn revoke_credential(ctx: &Ctx<'_>, key_id: &str) -> ApiResult<()> {
    let c = credential::Entity::find_by_id(key_id.to_owned())
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::not_found("接入凭证不存在"))?;
    let child = tenant_by_id(ctx.db, c.tenant_id).await?;
    let issuer = tenant_by_id(ctx.db, child.parent_id.ok_or_else(|| ApiError::not_found("接入凭证不存在"))?).await?;
    ctx.require(&issuer, "federation", "configure").await?;
    if issuer.id != ctx.who.tenant.id {
        return Err(ctx
            .deny(&issuer, "federation", "configure", ApiError::forbidden("只能撤销本单位发放的凭证"))
            .await?);
    }
    let txn = ctx.db.begin().await?;
    credential::Entity::update_many()
        .col_expr(credential::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(credential::Column::KeyId.eq(key_id))
        .filter(credential::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        ctx.entry("federation.credential_revoke", "federation_credential", key_id.to_owned(), serde_json::json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Points this deployment's root tenant at its parent in another deployment (an address
/// `outbound_allow` lets this server reach).
///
/// # Errors
/// 422 naming the field; 403.
pub async fn set_upstream(ctx: &Ctx<'_>, outbound: &crate::outbound::Outbound, req: &UpstreamRequest) -> ApiResult<()> {
    ctx.require_own("federation", "configure").await?;
    let me = &ctx.who.tenant;
    let mut errors = Vec::new();
    if me.parent_id.is_some() {
        errors.push(FieldError::new(
            "parent_url",
            "not_root",
            "本单位的上级在本平台内，数据自动上报，无需配置上级平台",
        ));
    }
    let url = req.parent_url.trim();
    let clear = url.is_empty();
    if !clear {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if outbound.check(url).await.is_err() {
                    errors.push(FieldError::new("parent_url", "not_allowed", crate::outbound::NOT_ALLOWED));
                }
            }
            _ => errors.push(FieldError::new("parent_url", "format", "应为 http(s) 开头的网址")),
        }
        if url.len() > 255 {
            errors.push(FieldError::new("parent_url", "too_long", "最长 255 个字符"));
        }
        if !req.key_id.starts_with("fk_") || req.key_id.len() > 64 {
            errors.push(FieldError::new("key_id", "format", "应为上级平台发放的凭证编号（fk_ 开头）"));
        }
        if req.secret.len() != 64 || !req.secret.chars().all(|c| c.is_ascii_hexdigit()) {
            errors.push(FieldError::new("secret", "format", "应为上级平台发放的 64 位密钥"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let txn = ctx.db.begin().await?;
    let now = Utc::now();
    tenant::Entity::update_many()
        .col_expr(tenant::Column::FederationParentUrl, Expr::value(if clear { None } else { Some(url.to_owned()) }))
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
        .filter(tenant::Column::Id.eq(me.id))
        .exec(&txn)
        .await?;
    let (key, secret) = if clear { (None, None) } else { (Some(req.key_id.clone()), Some(req.secret.clone())) };
    let existing = link::Entity::find_by_id(me.id).one(&txn).await?;
    match existing {
        // No parent any more: no link. Its rows stay in the outbox; a parent set later gets
        // them all from the first (a new parent's cursor starts at 0, and so does the link).
        Some(l) if clear => {
            link::Entity::delete_by_id(l.origin_tenant_id).exec(&txn).await?;
        }
        None if clear => {}
        Some(l) => {
            let mut am: link::ActiveModel = l.into();
            am.remote_key_id = Set(key);
            am.remote_secret = Set(secret);
            am.next_attempt_at = Set(now);
            am.attempts = Set(0);
            am.update(&txn).await?;
        }
        None => {
            link::ActiveModel {
                origin_tenant_id: Set(me.id),
                delivered_seq: Set(0),
                mode: Set("continuous".into()),
                interval_secs: Set(3600),
                next_attempt_at: Set(now),
                attempts: Set(0),
                last_error: Set(None),
                last_error_at: Set(None),
                last_success_at: Set(None),
                lease_owner: Set(None),
                lease_until: Set(None),
                remote_key_id: Set(key),
                remote_secret: Set(secret),
                alerted_at: Set(None),
            }
            .insert(&txn)
            .await?;
        }
    }
    let detail = serde_json::json!({"parent_url": url, "key_id": req.key_id});
    audit::record(&txn, ctx.entry("federation.upstream", "tenant", me.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(())
}

/// The link of `tenant_id` (in the caller's subtree), for changing it.
async fn link_in_reach(ctx: &Ctx<'_>, tenant_id: Uuid) -> ApiResult<link::Model> {
    let t = tenant_by_id(ctx.db, tenant_id).await?;
    ctx.require(&t, "federation", "configure").await?;
    super::deliver::ensure_links(ctx.db).await.map_err(ApiError::internal)?;
    link::Entity::find_by_id(t.id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("该单位没有上级，无需上报"))
}

/// Sets how a link exchanges (continuously or once per period).
///
/// # Errors
/// 422 naming the field; 403; 404.
pub async fn set_link(ctx: &Ctx<'_>, tenant_id: Uuid, req: &LinkSettings) -> ApiResult<()> {
    let mut errors = Vec::new();
    if !["continuous", "periodic"].contains(&req.mode.as_str()) {
        errors.push(FieldError::new("mode", "one_of", "应为 continuous（实时）或 periodic（定期）"));
    }
    let interval = req.interval_secs.unwrap_or(3600);
    if !(60..=86_400).contains(&interval) {
        errors.push(FieldError::new("interval_secs", "range", "应在 60 到 86400 秒之间"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let l = link_in_reach(ctx, tenant_id).await?;
    let txn = ctx.db.begin().await?;
    let mut am: link::ActiveModel = l.into();
    am.mode = Set(req.mode.clone());
    am.interval_secs = Set(interval);
    am.next_attempt_at = Set(Utc::now());
    am.update(&txn).await?;
    let detail = serde_json::json!({"mode": req.mode, "interval_secs": interval});
    audit::record(&txn, ctx.entry("federation.link", "tenant", tenant_id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(())
}

/// "Sync now": the link is due at once, its back-off forgotten.
///
/// # Errors
/// 403; 404.
pub async fn sync_now(ctx: &Ctx<'_>, tenant_id: Uuid) -> ApiResult<()> {
    link_in_reach(ctx, tenant_id).await?;
    link::Entity::update_many()
        .col_expr(link::Column::NextAttemptAt, Expr::value(Utc::now()))
        .col_expr(link::Column::Attempts, Expr::value(0))
        .filter(link::Column::OriginTenantId.eq(tenant_id))
        .exec(ctx.db)
        .await?;
    Ok(())
}

/// The status of the links of `tenants`.
///
/// # Errors
/// Database failures.
pub async fn link_statuses(db: &DatabaseConnection, tenants: &[tenant::Model]) -> ApiResult<Vec<LinkStatus>> {
    let by_id: HashMap<Uuid, &tenant::Model> = tenants.iter().map(|t| (t.id, t)).collect();
    let links = link::Entity::find().filter(link::Column::OriginTenantId.is_in(by_id.keys().copied())).all(db).await?;
    let parents: HashMap<Uuid, String> = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(tenants.iter().filter_map(|t| t.parent_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    // Per link, in one statement: its last sequence and the time of its oldest waiting row (two
    // index probes into the outbox each).
    let heads: HashMap<Uuid, (i64, Option<chrono::DateTime<Utc>>)> = link::Entity::find()
        .select_only()
        .column(link::Column::OriginTenantId)
        .column_as(
            Expr::cust(
                "COALESCE((SELECT MAX(o.seq) FROM outbox o \
                 WHERE o.origin_tenant_id = federation_links.origin_tenant_id), 0)",
            ),
            "last_seq",
        )
        .column_as(
            Expr::cust(
                "(SELECT o.created_at FROM outbox o WHERE o.origin_tenant_id = federation_links.origin_tenant_id \
                 AND o.seq = federation_links.delivered_seq + 1)",
            ),
            "oldest",
        )
        .filter(link::Column::OriginTenantId.is_in(links.iter().map(|l| l.origin_tenant_id)))
        .into_tuple::<(Uuid, i64, Option<chrono::DateTime<Utc>>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, last, oldest)| (id, (last, oldest)))
        .collect();
    let now = Utc::now();
    let mut out = Vec::with_capacity(links.len());
    for l in links {
        let Some(t) = by_id.get(&l.origin_tenant_id) else { continue };
        let (last_seq, oldest) = heads.get(&t.id).copied().unwrap_or((0, None));
        let backlog = (last_seq - l.delivered_seq).max(0);
        let oldest = oldest.filter(|_| backlog > 0);
        let (transport, parent) = match super::deliver::upstream_url(t) {
            Some(url) => ("http", url.to_owned()),
            None => ("local", t.parent_id.and_then(|p| parents.get(&p).cloned()).unwrap_or_default()),
        };
        out.push(LinkStatus {
            tenant_id: t.id,
            tenant_code: t.code.clone(),
            tenant_name: t.name.clone(),
            transport: transport.into(),
            parent,
            mode: l.mode,
            interval_secs: l.interval_secs,
            last_seq,
            delivered_seq: l.delivered_seq,
            backlog,
            lag_secs: oldest.map_or(0, |o| (now - o).num_seconds().max(0)),
            attempts: l.attempts,
            last_error: l.last_error,
            last_error_at: l.last_error_at,
            last_success_at: l.last_success_at,
            next_attempt_at: l.next_attempt_at,
        });
    }
    out.sort_by(|a, b| a.tenant_code.cmp(&b.tenant_code));
    Ok(out)
}

/// The operations view of the caller's subtree (R-OPS-1).
///
/// # Errors
/// 403.
pub async fn status(ctx: &Ctx<'_>, lag_alert_secs: u64) -> ApiResult<FederationStatus> {
    let scope = ctx.read_scope("federation", "read").await?;
    let tenants = tenant::Entity::find().filter(scope.tenants()).all(ctx.db).await?;
    let links = link_statuses(ctx.db, &tenants).await?;
    let ids: Vec<Uuid> = tenants.iter().map(|t| t.id).collect();
    let rows = inbox::Entity::find()
        .filter(inbox::Column::ReceiverTenantId.is_in(ids.iter().copied()))
        .order_by_asc(inbox::Column::OriginCode)
        .all(ctx.db)
        .await?;
    let parked_counts: HashMap<Uuid, i64> = parked::Entity::find()
        .select_only()
        .column(parked::Column::OriginTenantId)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(parked::Column::ReceiverTenantId.is_in(ids))
        .group_by(parked::Column::OriginTenantId)
        .into_tuple::<(Uuid, i64)>()
        .all(ctx.db)
        .await?
        .into_iter()
        .collect();
    let inbox = rows
        .into_iter()
        .map(|r| InboxStatus {
            receiver_tenant_id: r.receiver_tenant_id,
            parked: parked_counts.get(&r.origin_tenant_id).copied().unwrap_or(0),
            origin_code: r.origin_code,
            origin_name: r.origin_name,
            cursor: r.cursor,
            last_row_at: r.last_row_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(FederationStatus { links, inbox, lag_alert_secs })
}

/// Rows parked in the caller's subtree, newest first.
///
/// # Errors
/// 403.
pub async fn parked_rows(ctx: &Ctx<'_>, paging: crate::paging::Paging) -> ApiResult<(Vec<ParkedRow>, u64)> {
    use sea_orm::PaginatorTrait as _;
    let scope = ctx.read_scope("federation", "read").await?;
    let pages = parked::Entity::find()
        .filter(scope.condition(parked::Column::ReceiverTenantId))
        .order_by_desc(parked::Column::ParkedAt)
        .order_by_desc(parked::Column::Id)
        .paginate(ctx.db, paging.page_size);
    let total = pages.num_items().await?;
    let rows = pages.fetch_page(paging.page - 1).await?;
    let rows = rows
        .into_iter()
        .map(|p| ParkedRow {
            id: p.id,
            receiver_tenant_id: p.receiver_tenant_id,
            origin_tenant_id: p.origin_tenant_id,
            seq: p.seq,
            kind: p.kind,
            source_code: p.source_code,
            reason: p.reason,
            parked_at: p.parked_at,
        })
        .collect();
    Ok((rows, total))
}

/// The region a roll-up is asked for: the caller's own, or one inside it (drill-down).
///
/// # Errors
/// 422 for a malformed code; 403 for a region outside the caller's (recorded).
pub async fn rollup_region(ctx: &Ctx<'_>, region: Option<&str>) -> ApiResult<DivisionCode> {
    ctx.require_own("rollup", "read").await?;
    let own = DivisionCode::parse_stored(&ctx.who.tenant.code).map_err(ApiError::internal)?;
    let Some(region) = region.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(own) };
    let region = DivisionCode::parse(region).map_err(|e| ApiError::invalid_field("region", e.rule(), e.to_string()))?;
    if !region.is_within(&own) {
        let refused = ApiError::forbidden(format!("无权查看本单位辖区以外的地区（{region}）"));
        return Err(ctx.deny(&ctx.who.tenant, "rollup", "read", refused).await?);
    }
    Ok(region)
}

fn empty_figures(code: String) -> RegionFigures {
    RegionFigures { code, name: String::new(), filings: 0, records: 0, quantities: Vec::new() }
}

/// Adds a quantity of `stage` in `unit` to `figures` (summed only with the same stage and unit).
fn add_quantity(figures: &mut Vec<QuantityFigure>, stage: &str, unit: &str, records: i64, quantity: f64) {
    match figures.iter_mut().find(|f| f.stage == stage && f.unit == unit) {
        Some(f) => {
            f.records += records;
            f.quantity += quantity;
        }
        None => figures.push(QuantityFigure {
            stage: stage.to_owned(),
            stage_label: String::new(),
            unit: unit.to_owned(),
            unit_name: String::new(),
            records,
            quantity,
        }),
    }
}

/// Labels the figures and puts them in the order of the stages, then of the unit list.
fn finish_quantities(figures: &mut [QuantityFigure], reference: &crate::modules::trace::reference::Reference) {
    let stage_at = |s: &str| STAGES.iter().position(|(k, _)| *k == s).unwrap_or(usize::MAX);
    let unit_at = |u: &str| reference.units.iter().position(|x| x.code == u).unwrap_or(usize::MAX);
    figures.sort_by(|a, b| {
        (stage_at(&a.stage), unit_at(&a.unit), &a.unit).cmp(&(stage_at(&b.stage), unit_at(&b.unit), &b.unit))
    });
    for f in figures {
        f.stage_label = reference.stage_label(&f.stage).to_owned();
        f.unit_name = reference.unit_name(&f.unit).to_owned();
    }
}

/// The figures of `region` held by `holder` (the caller's tenant), per sub-region one level
/// down: from the roll-up (what arrived from below, naming the tenant where it happened) and,
/// when the region is the holder's own, the holder's own records and filings as "本级". One
/// small table is read, never the raw records of the tenants below.
///
/// # Errors
/// Database failures.
pub async fn rollup(
    db: &DatabaseConnection,
    holder: &tenant::Model,
    region: DivisionCode,
) -> ApiResult<RollupResponse> {
    // Where a source's figures go: the sub-region of `region` it lies in, or the region's own
    // line when the source is the region itself; `None` outside.
    let line_of = |source: &str| -> Option<String> {
        let s = DivisionCode::parse_stored(source).ok()?;
        if s == region {
            return Some(region.as_str().to_owned());
        }
        region.sub_region_of(&s).map(|r| r.as_str().to_owned())
    };
    let mut regions: BTreeMap<String, RegionFigures> = BTreeMap::new();
    for t in rollup_total::Entity::find().filter(rollup_total::Column::HolderTenantId.eq(holder.id)).all(db).await? {
        let Some(line) = line_of(&t.source_code) else { continue };
        let e = regions.entry(line.clone()).or_insert_with(|| empty_figures(line));
        e.records += t.records;
        e.filings += t.filings;
    }
    // Quantities per source, stage and unit, summed by the database over the holder's rows.
    let quantities: Vec<(String, String, String, i64, f64)> = rollup::Entity::find()
        .select_only()
        .column(rollup::Column::SourceCode)
        .column(rollup::Column::Stage)
        .column(rollup::Column::Unit)
        .column_as(Expr::cust("CAST(SUM(records) AS BIGINT)"), "records")
        .column_as(Expr::cust("SUM(quantity)"), "quantity")
        .filter(rollup::Column::HolderTenantId.eq(holder.id))
        .group_by(rollup::Column::SourceCode)
        .group_by(rollup::Column::Stage)
        .group_by(rollup::Column::Unit)
        .into_tuple()
        .all(db)
        .await?;
    for (source, stage, unit, records, quantity) in quantities {
        let Some(line) = line_of(&source) else { continue };
        let e = regions.entry(line.clone()).or_insert_with(|| empty_figures(line));
        add_quantity(&mut e.quantities, &stage, &unit, records, quantity);
    }
    if region.as_str() == holder.code {
        let own = own_records(db, holder.id).await?;
        let own_filings = enterprise::Entity::find()
            .filter(enterprise::Column::TenantId.eq(holder.id))
            .filter(enterprise::Column::Version.gt(0))
            .count(db)
            .await?
            + merchant::Entity::find()
                .filter(merchant::Column::TenantId.eq(holder.id))
                .filter(merchant::Column::Version.gt(0))
                .count(db)
                .await?
            + product::Entity::find()
                .filter(product::Column::TenantId.eq(holder.id))
                .filter(product::Column::Version.gt(0))
                .count(db)
                .await?;
        if own.0 > 0 || own_filings > 0 {
            let e = regions.entry(holder.code.clone()).or_insert_with(|| empty_figures(holder.code.clone()));
            e.records += own.0;
            e.filings += i64::try_from(own_filings).unwrap_or(i64::MAX);
            for (stage, unit, records, quantity) in own_quantities(db, holder.id).await? {
                add_quantity(&mut e.quantities, &stage, &unit, records, quantity);
            }
        }
    }
    let names =
        region_names(db, holder.id, regions.keys().cloned().chain([region.as_str().to_owned()]).collect()).await?;
    let name_of = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    let reference = crate::modules::trace::reference::ensure(db).await?;
    let mut regions: Vec<RegionFigures> = regions
        .into_values()
        .map(|mut r| {
            r.name =
                if r.code == region.as_str() { format!("{}（本级）", name_of(&r.code)) } else { name_of(&r.code) };
            finish_quantities(&mut r.quantities, &reference);
            r
        })
        .collect();
    let mut quantities = Vec::new();
    for r in &regions {
        for q in &r.quantities {
            add_quantity(&mut quantities, &q.stage, &q.unit, q.records, q.quantity);
        }
    }
    finish_quantities(&mut quantities, &reference);
    regions.sort_by(|a, b| b.records.cmp(&a.records).then(b.filings.cmp(&a.filings)).then(a.code.cmp(&b.code)));
    let total = RegionFigures {
        code: region.as_str().to_owned(),
        name: name_of(region.as_str()),
        filings: regions.iter().map(|r| r.filings).sum(),
        records: regions.iter().map(|r| r.records).sum(),
        quantities,
    };
    let ranking = |key: &str, title: &str, unit: &str, value: &dyn Fn(&RegionFigures) -> f64| {
        let mut ranked: Vec<&RegionFigures> = regions.iter().collect();
        ranked.sort_by(|a, b| value(b).total_cmp(&value(a)));
        ranked.truncate(20);
        Chart {
            key: key.into(),
            kind: "ranking".into(),
            title: title.into(),
            unit: unit.into(),
            categories: ranked.iter().map(|r| r.name.clone()).collect(),
            series: vec![Series { name: title.into(), data: ranked.iter().map(|r| value(r)).collect() }],
        }
    };
    #[expect(clippy::cast_precision_loss, reason = "counts shown in a chart")]
    let charts = vec![
        ranking("records", "追溯记录（按地区）", "条", &|r| r.records as f64),
        ranking("filings", "备案（按地区）", "个", &|r| r.filings as f64),
    ];
    Ok(RollupResponse { region: region.as_str().to_owned(), total, regions, charts })
}

/// A tenant's own quantities per stage and unit, from its daily figures.
async fn own_quantities(db: &DatabaseConnection, tenant_id: Uuid) -> ApiResult<Vec<(String, String, i64, f64)>> {
    Ok(stats_daily::Entity::find()
        .select_only()
        .column(stats_daily::Column::Stage)
        .column(stats_daily::Column::Unit)
        .column_as(Expr::cust("CAST(SUM(records) AS BIGINT)"), "records")
        .column_as(Expr::cust("SUM(quantity)"), "quantity")
        .filter(stats_daily::Column::TenantId.eq(tenant_id))
        .group_by(stats_daily::Column::Stage)
        .group_by(stats_daily::Column::Unit)
        .into_tuple()
        .all(db)
        .await?)
}

/// A tenant's own records and quantity (all stages and units added: only the records are
/// shown), from its daily figures.
async fn own_records(db: &DatabaseConnection, tenant_id: Uuid) -> ApiResult<(i64, f64)> {
    // Ingests answered before this read are in the figures once their audit entries are chained.
    crate::audit::pending::settle(db, tenant_id).await?;
    Ok(stats_daily::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COALESCE(SUM(records), 0) AS BIGINT)"), "records")
        .column_as(Expr::cust("COALESCE(SUM(quantity), 0.0)"), "quantity")
        .filter(stats_daily::Column::TenantId.eq(tenant_id))
        .into_tuple::<(i64, f64)>()
        .one(db)
        .await?
        .unwrap_or((0, 0.0)))
}

/// The trace records of a tenant and of everything reported from below (the home dashboard's
/// figure): its daily figures and its roll-up totals, two sums.
///
/// # Errors
/// Database failures.
pub async fn records_total(db: &DatabaseConnection, tenant_id: Uuid) -> ApiResult<i64> {
    let below = rollup_total::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COALESCE(SUM(records), 0) AS BIGINT)"), "records")
        .filter(rollup_total::Column::HolderTenantId.eq(tenant_id))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0);
    Ok(own_records(db, tenant_id).await?.0 + below)
}

/// Names of division codes: the GB/T 2260 table's, else (a code a later edition retired) the
/// tenants of this deployment, else the names the children sent (their inbox rows, and the
/// source of a filing `holder` received — one indexed row per code).
pub(crate) async fn region_names(
    db: &DatabaseConnection,
    holder: Uuid,
    codes: Vec<String>,
) -> ApiResult<HashMap<String, String>> {
    let mut names: HashMap<String, String> =
        codes.iter().filter_map(|c| Some((c.clone(), suyuan_tenancy::division::name_of(c)?.to_owned()))).collect();
    for x in tenant::Entity::find().filter(tenant::Column::Code.is_in(codes.iter().cloned())).all(db).await? {
        names.entry(x.code).or_insert(x.name);
    }
    for (code, name) in inbox::Entity::find()
        .select_only()
        .column(inbox::Column::OriginCode)
        .column(inbox::Column::OriginName)
        .filter(inbox::Column::OriginCode.is_in(codes.iter().cloned()))
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
    {
        names.entry(code).or_insert(name);
    }
    for code in codes {
        if names.contains_key(&code) {
            continue;
        }
        if let Some(name) = filing::Entity::find()
            .select_only()
            .column(filing::Column::SourceName)
            .filter(filing::Column::ReceiverTenantId.eq(holder))
            .filter(filing::Column::SourceCode.eq(&code))
            .into_tuple::<String>()
            .one(db)
            .await?
        {
            names.insert(code, name);
        }
    }
    Ok(names)
}

/// The roll-up as the console's region map draws it: one value per sub-region of `region`.
/// `quantity` is the quantity of one stage in one unit (the map names both).
#[must_use]
pub fn rollup_map(r: &RollupResponse, metric: &str, quantity: Option<(&str, &str)>) -> RegionMap {
    let reference = crate::modules::trace::reference::current();
    let (label, unit) = match (metric, quantity) {
        ("filings", _) => ("备案".to_owned(), "个".to_owned()),
        ("quantity", Some((stage, unit))) => {
            (format!("追溯数量·{}", reference.stage_label(stage)), reference.unit_name(unit).to_owned())
        }
        _ => ("追溯记录".to_owned(), "条".to_owned()),
    };
    #[expect(clippy::cast_precision_loss, reason = "counts shown on a map")]
    let value = |f: &RegionFigures| match (metric, quantity) {
        ("filings", _) => f.filings as f64,
        ("quantity", Some((stage, unit))) => {
            f.quantities.iter().filter(|q| q.stage == stage && q.unit == unit).map(|q| q.quantity).sum()
        }
        _ => f.records as f64,
    };
    let parent = DivisionCode::parse_stored(&r.region).ok().and_then(|c| match c.level() {
        suyuan_tenancy::TenantLevel::National => None,
        suyuan_tenancy::TenantLevel::Provincial => Some(suyuan_tenancy::division::NATIONAL_CODE.to_owned()),
        _ => c.province().map(|p| p.as_str().to_owned()),
    });
    RegionMap {
        region: r.region.clone(),
        metric: format!("{label}（汇总）"),
        unit,
        parent,
        regions: r
            .regions
            .iter()
            .filter(|f| f.code != r.region)
            .map(|f| RegionValue { code: f.code.clone(), name: Some(f.name.clone()), value: value(f) })
            .collect(),
        points: Vec::new(),
    }
}

/// Recomputes a tenant's received statistics from the daily statistics of the tenants below
/// it in this deployment and compares them with the incremental roll-up; with `repair`, the
/// roll-up's rows of those sources are replaced by the recomputed ones. Children in other
/// deployments keep their raw rows there: their sources are left out (checked there).
///
/// # Errors
/// Database failures.
pub async fn recompute(db: &DatabaseConnection, t: &tenant::Model, repair: bool) -> anyhow::Result<RecomputeReport> {
    type Key = super::inbox::RollupKey;
    let below = tenant::Entity::find()
        .filter(tenant::Column::Path.starts_with(&t.path))
        .filter(tenant::Column::Id.ne(t.id))
        .all(db)
        .await?;
    let code_of: HashMap<Uuid, String> = below.iter().map(|x| (x.id, x.code.clone())).collect();
    crate::audit::pending::settle_all(db).await?;
    let mut fresh: BTreeMap<Key, (i64, f64)> = BTreeMap::new();
    for s in
        stats_daily::Entity::find().filter(stats_daily::Column::TenantId.is_in(code_of.keys().copied())).all(db).await?
    {
        let Some(code) = code_of.get(&s.tenant_id) else { continue };
        let v =
            fresh.entry((code.clone(), s.day, s.stage, s.category_code, s.division_code, s.unit)).or_insert((0, 0.0));
        v.0 += s.records;
        v.1 += s.quantity;
    }
    let local: std::collections::HashSet<&String> = code_of.values().collect();
    let mut held: BTreeMap<Key, (i64, f64)> = BTreeMap::new();
    for r in rollup::Entity::find().filter(rollup::Column::HolderTenantId.eq(t.id)).all(db).await? {
        if local.contains(&r.source_code) {
            held.insert(
                (r.source_code, r.day, r.stage, r.category_code, r.division_code, r.unit),
                (r.records, r.quantity),
            );
        }
    }
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<&Key> = fresh.keys().chain(held.keys()).collect();
    for k in &keys {
        let a = held.get(*k).copied().unwrap_or((0, 0.0));
        let b = fresh.get(*k).copied().unwrap_or((0, 0.0));
        if a.0 != b.0 || (a.1 - b.1).abs() > 1e-6 * b.1.abs().max(1.0) {
            differences.push(format!(
                "{} {} {} {} {} {}: 增量 {}/{} ≠ 重算 {}/{}",
                k.0, k.1, k.2, k.3, k.4, k.5, a.0, a.1, b.0, b.1
            ));
        }
    }
    // The totals per source, which the dashboards read, against the same recompute.
    let mut fresh_totals: BTreeMap<&String, (i64, f64)> = BTreeMap::new();
    for (k, v) in &fresh {
        let t = fresh_totals.entry(&k.0).or_insert((0, 0.0));
        t.0 += v.0;
        t.1 += v.1;
    }
    let all_totals = rollup_total::Entity::find().filter(rollup_total::Column::HolderTenantId.eq(t.id)).all(db).await?;
    // Filings per source against the read model they count (every source, remote ones too).
    let held_filings: BTreeMap<String, i64> = filing::Entity::find()
        .select_only()
        .column(filing::Column::SourceCode)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(filing::Column::ReceiverTenantId.eq(t.id))
        .filter(filing::Column::Status.eq("active"))
        .group_by(filing::Column::SourceCode)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let counted: BTreeMap<&String, i64> = all_totals.iter().map(|r| (&r.source_code, r.filings)).collect();
    let filing_sources: std::collections::BTreeSet<&String> =
        held_filings.keys().chain(counted.keys().copied()).collect();
    for source in filing_sources {
        let (a, b) = (counted.get(source).copied().unwrap_or(0), held_filings.get(source).copied().unwrap_or(0));
        if a != b {
            differences.push(format!("{source} 备案数: 增量 {a} ≠ 重算 {b}"));
        }
    }
    let held_totals: BTreeMap<String, (i64, f64)> = all_totals
        .iter()
        .filter(|r| local.contains(&r.source_code))
        .map(|r| (r.source_code.clone(), (r.records, r.quantity)))
        .collect();
    let sources: std::collections::BTreeSet<&String> = fresh_totals.keys().copied().chain(held_totals.keys()).collect();
    for source in sources {
        let a = held_totals.get(source).copied().unwrap_or((0, 0.0));
        let b = fresh_totals.get(source).copied().unwrap_or((0, 0.0));
        if a.0 != b.0 || (a.1 - b.1).abs() > 1e-6 * b.1.abs().max(1.0) {
            differences.push(format!("{source} 合计: 增量 {}/{} ≠ 重算 {}/{}", a.0, a.1, b.0, b.1));
        }
    }
    let rows = keys.len();
    // Rows still on their way up differ from the raw figures until they arrive: a repair then
    // would count them twice.
    let waiting: i64 = link_statuses(db, &below)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?
        .iter()
        .map(|l| l.backlog)
        .sum();
    let repaired = repair && !differences.is_empty();
    if repaired {
        anyhow::ensure!(waiting == 0, "{waiting} 条变更仍在上报途中：等它们送达（数据上报页的待上报为 0）后再修复");
        let txn = db.begin().await?;
        // The tenant's lock: no push is applied here while the roll-up is rebuilt.
        crate::audit::lock_chain(&txn, t.id).await?;
        rollup::Entity::delete_many()
            .filter(rollup::Column::HolderTenantId.eq(t.id))
            .filter(rollup::Column::SourceCode.is_in(local.iter().map(|c| (*c).clone())))
            .exec(&txn)
            .await?;
        // The totals are rebuilt whole: records from the recompute (local sources; remote ones
        // as they were), filings from the read model.
        let remote: Vec<rollup_total::Model> = all_totals
            .iter()
            .filter(|r| !local.contains(&r.source_code))
            .map(|r| rollup_total::Model { filings: 0, ..r.clone() })
            .collect();
        rollup_total::Entity::delete_many().filter(rollup_total::Column::HolderTenantId.eq(t.id)).exec(&txn).await?;
        let filings: Vec<rollup_total::Model> = held_filings
            .iter()
            .map(|(source, n)| rollup_total::Model {
                holder_tenant_id: t.id,
                source_code: source.clone(),
                records: 0,
                quantity: 0.0,
                filings: *n,
            })
            .chain(remote)
            .collect();
        super::inbox::add_totals(&txn, filings).await.map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?;
        super::inbox::add_rollup(&txn, t.id, fresh)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?;
        txn.commit().await?;
    }
    Ok(RecomputeReport { tenant_code: t.code.clone(), rows, waiting, differences, repaired })
}

/// Sets the link gauges and alerts when a link's lag passes `threshold_secs`: an audit record
/// in the sending tenant (shown to its administrators), a warning in the log and, with e-mail
/// configured, a message to the agency's contact address. Once per episode: the alert is
/// armed again when the backlog is gone.
///
/// # Errors
/// Database failures.
pub async fn watch_links(state: &crate::state::AppState, threshold_secs: u64) -> anyhow::Result<()> {
    let db = &state.db;
    let tenants = tenant::Entity::find().all(db).await?;
    let statuses = link_statuses(db, &tenants).await.map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?;
    let links: HashMap<Uuid, link::Model> =
        link::Entity::find().all(db).await?.into_iter().map(|l| (l.origin_tenant_id, l)).collect();
    let threshold = i64::try_from(threshold_secs).unwrap_or(i64::MAX);
    for s in statuses {
        state.metrics.federation_link(&s.tenant_code, s.backlog, s.lag_secs);
        let Some(l) = links.get(&s.tenant_id) else { continue };
        // A periodic link waits its period on purpose: it lags when it passes period + threshold.
        let allowed =
            if l.mode == "periodic" { threshold.saturating_add(i64::from(l.interval_secs)) } else { threshold };
        if s.lag_secs > allowed && l.alerted_at.is_none() {
            alert(state, &s, threshold).await?;
            link::Entity::update_many()
                .col_expr(link::Column::AlertedAt, Expr::value(Some(Utc::now())))
                .filter(link::Column::OriginTenantId.eq(s.tenant_id))
                .exec(db)
                .await?;
        } else if s.backlog == 0 && l.alerted_at.is_some() {
            link::Entity::update_many()
                .col_expr(link::Column::AlertedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
                .filter(link::Column::OriginTenantId.eq(s.tenant_id))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

async fn alert(state: &crate::state::AppState, s: &LinkStatus, threshold: i64) -> anyhow::Result<()> {
    let text = format!(
        "{}（{}）向上级（{}）的数据上报已滞后 {} 秒（阈值 {} 秒），积压 {} 条。最近错误：{}",
        s.tenant_name,
        s.tenant_code,
        s.parent,
        s.lag_secs,
        threshold,
        s.backlog,
        s.last_error.as_deref().unwrap_or("无")
    );
    tracing::warn!(tenant = %s.tenant_code, lag_secs = s.lag_secs, backlog = s.backlog, "federation: lag alert");
    let detail = serde_json::json!({"lag_secs": s.lag_secs, "backlog": s.backlog, "message": text});
    let client = audit::ClientInfo::default();
    let entry = audit::Entry {
        tenant_id: s.tenant_id,
        actor: audit::Actor { user_id: None, name: "system".into() },
        action: "federation.lag_alert",
        object_type: "federation_link",
        object_id: s.tenant_id.to_string(),
        success: true,
        client: &client,
        detail,
    };
    audit::record(&state.db, entry).await?;
    if let Some(mailer) = &state.mailer
        && let Some(to) = tenant::Entity::find_by_id(s.tenant_id).one(&state.db).await?.and_then(|t| t.contact_email)
        && let Err(e) = mailer.send(&to, "【溯源平台】数据上报滞后告警", text).await
    {
        tracing::warn!(error = %format!("{e:#}"), "federation: alert e-mail not sent");
    }
    Ok(())
}

/// Deletes signatures older than twice the replay window.
///
/// # Errors
/// Database failures.
pub async fn prune_replay(db: &impl ConnectionTrait) -> anyhow::Result<()> {
    let before = Utc::now() - chrono::Duration::seconds(2 * suyuan_federation::sign::WINDOW_SECS);
    super::entity::replay::Entity::delete_many()
        .filter(super::entity::replay::Column::SeenAt.lt(before))
        .exec(db)
        .await?;
    Ok(())
}
