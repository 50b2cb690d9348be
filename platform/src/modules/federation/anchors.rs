//! Audit chain heads anchored outside the chain (issue 17): each tenant with a parent
//! publishes its chain head — sequence number, hash, MAC, key id, time — through its outbox
//! (kind `audit.head`), periodically (`audit_anchor_secs`) and on demand; the parent keeps it
//! in `audit_anchors` and relays it up like any change, so a province's heads are held by the
//! nation. `audit::verify` then compares the chain with the heads held above it: a tail cut
//! after a published head, or a record rewritten under one, is found even when the database
//! writer fixed up every hash.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use suyuan_federation::wire::Row;
use suyuan_tenancy::entity::tenant;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, entity::anchor, entity::head, entity::record};
use crate::error::{ApiError, ApiResult};

/// The outbox kind of a published chain head.
pub const KIND: &str = "audit.head";

/// A chain head as it travels and as a parent lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ChainHead {
    /// The chain's tenant, as its own deployment names it.
    pub chain_tenant_id: Uuid,
    /// The head's sequence number.
    pub seq: i64,
    /// The head record's hash.
    pub hash: String,
    /// The head record's MAC (only the chain's own deployment can check it).
    pub mac: String,
    /// The id of the key that made the MAC.
    pub key_id: String,
    /// When the head was published.
    pub at: DateTime<Utc>,
}

/// Publishes `t`'s chain head to its parent when the chain moved since the last publication
/// and `t` has a parent (here or in another deployment). Call it in a transaction; it takes
/// the chain's lock. The sequence number published, if any.
///
/// # Errors
/// Database failures.
pub async fn publish_head(txn: &DatabaseTransaction, t: &tenant::Model) -> ApiResult<Option<i64>> {
    if t.parent_id.is_none() && t.federation_parent_url.is_none() {
        return Ok(None);
    }
    audit::lock_chain(txn, t.id).await?;
    let Some(h) = head::Entity::find_by_id(t.id).one(txn).await? else { return Ok(None) };
    if h.seq == 0 || h.seq <= h.published_seq {
        return Ok(None);
    }
    let Some(r) = record::Entity::find()
        .filter(record::Column::TenantId.eq(t.id))
        .filter(record::Column::Seq.eq(h.seq))
        .one(txn)
        .await?
    else {
        // The head names a record that is not there: verify reports it; nothing to vouch for.
        tracing::warn!(tenant = %t.code, seq = h.seq, "audit head record missing: head not published");
        return Ok(None);
    };
    let payload = ChainHead {
        chain_tenant_id: t.id,
        seq: r.seq,
        hash: r.hash.clone(),
        mac: r.mac.clone().unwrap_or_default(),
        key_id: r.key_id.clone().unwrap_or_default(),
        at: Utc::now(),
    };
    let payload = serde_json::to_value(&payload).map_err(ApiError::internal)?;
    crate::modules::subjects::service::write_outbox(txn, t.id, KIND, &payload).await?;
    head::Entity::update_many()
        .col_expr(head::Column::PublishedSeq, Expr::value(h.seq))
        .filter(head::Column::TenantId.eq(t.id))
        .exec(txn)
        .await?;
    Ok(Some(h.seq))
}

/// Publishes the head of every tenant with a parent whose chain moved (the periodic job and
/// `suyuan audit anchor`). How many heads were published.
///
/// # Errors
/// Database failures (heads published before the failure stay published).
pub async fn publish_all(db: &DatabaseConnection) -> ApiResult<usize> {
    // A published head vouches for every ingest answered before it.
    crate::audit::pending::settle_all(db).await?;
    let moved: Vec<Uuid> = head::Entity::find()
        .filter(Expr::col(head::Column::Seq).gt(Expr::col(head::Column::PublishedSeq)))
        .all(db)
        .await?
        .into_iter()
        .map(|h| h.tenant_id)
        .collect();
    let mut published = 0;
    for id in moved {
        let Some(t) = tenant::Entity::find_by_id(id).one(db).await? else { continue };
        let txn = db.begin().await?;
        if publish_head(&txn, &t).await?.is_some() {
            published += 1;
        }
        txn.commit().await?;
    }
    Ok(published)
}

/// Keeps a published head at `receiver` (from the inbox, in its transaction). The inner `Err`
/// parks the row with the reason. A head naming a tenant of this deployment must have been
/// delivered inside this deployment (`from_local`, not over HTTP) under that tenant's code; a
/// head from another deployment may not name a tenant of this one.
///
/// # Errors
/// Database failures.
pub async fn keep(
    txn: &DatabaseTransaction,
    receiver: Uuid,
    from_local: bool,
    row: &Row,
    now: DateTime<Utc>,
) -> ApiResult<Result<(), String>> {
    let head: ChainHead = match serde_json::from_value(row.payload.clone()) {
        Ok(h) => h,
        Err(e) => return Ok(Err(format!("审计链锚点无法读取：{e}"))),
    };
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if head.seq < 1 || !hex64(&head.hash) || !hex64(&head.mac) || head.key_id.is_empty() || head.key_id.len() > 16 {
        return Ok(Err(format!("审计链锚点不合规：第 {} 条", head.seq)));
    }
    match tenant::Entity::find_by_id(head.chain_tenant_id).one(txn).await? {
        Some(t) if !from_local || t.code != row.source.code => {
            return Ok(Err(format!("审计链锚点所称单位（{}）与来源 {} 不符", t.code, row.source.code)));
        }
        None if from_local => return Ok(Err("审计链锚点所称单位不存在".to_owned())),
        _ => {}
    }
    let model = anchor::Model {
        holder_tenant_id: receiver,
        chain_tenant_id: head.chain_tenant_id,
        source_code: row.source.code.chars().take(6).collect(),
        seq: head.seq,
        hash: head.hash.to_ascii_lowercase(),
        mac: head.mac.to_ascii_lowercase(),
        key_id: head.key_id,
        head_at: head.at,
        received_at: now,
    };
    anchor::Entity::insert(anchor::ActiveModel::from(model))
        .on_conflict_do_nothing_on([anchor::Column::HolderTenantId, anchor::Column::ChainTenantId, anchor::Column::Seq])
        .exec_without_returning(txn)
        .await?;
    Ok(Ok(()))
}

/// The heads held by `holder` for chains below it, newest first, optionally of one source
/// code only (most `limit`).
///
/// # Errors
/// Database failures.
pub async fn held_by(
    db: &impl ConnectionTrait,
    holder: Uuid,
    source_code: Option<&str>,
    limit: u64,
) -> ApiResult<Vec<anchor::Model>> {
    use sea_orm::QuerySelect as _;
    let mut q = anchor::Entity::find().filter(anchor::Column::HolderTenantId.eq(holder));
    if let Some(code) = source_code {
        q = q.filter(anchor::Column::SourceCode.eq(code));
    }
    Ok(q.order_by_desc(anchor::Column::ReceivedAt).order_by_desc(anchor::Column::Seq).limit(limit).all(db).await?)
}

/// A chain head held here, as listed to the holder's auditor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeldAnchorResponse {
    /// The chain's tenant, as its own deployment names it.
    pub chain_tenant_id: Uuid,
    /// Its division code.
    pub source_code: String,
    /// The head's sequence number.
    pub seq: i64,
    /// The head record's hash.
    pub hash: String,
    /// The head record's MAC.
    pub mac: String,
    /// The id of the key that made the MAC.
    pub key_id: String,
    /// When the head was published.
    pub head_at: DateTime<Utc>,
    /// When it arrived here.
    pub received_at: DateTime<Utc>,
}

impl From<anchor::Model> for HeldAnchorResponse {
    fn from(a: anchor::Model) -> Self {
        Self {
            chain_tenant_id: a.chain_tenant_id,
            source_code: a.source_code,
            seq: a.seq,
            hash: a.hash,
            mac: a.mac,
            key_id: a.key_id,
            head_at: a.head_at,
            received_at: a.received_at,
        }
    }
}

/// Filter of the held anchors.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeldAnchorQuery {
    /// Only the chain of this division code (a tenant below).
    pub source_code: Option<String>,
    /// At most this many, newest first (1–1000, default 100).
    pub limit: Option<u64>,
}

/// The answer of publishing the caller's own head.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedAnchor {
    /// The sequence number published; none when the tenant has no parent or the head was
    /// published already.
    pub published_seq: Option<i64>,
}

/// Publishes the caller's tenant's chain head to its parent now (auditor). The request itself
/// is recorded first, so the published head includes it.
///
/// # Errors
/// 403 (auditor only).
pub async fn publish_own(ctx: &crate::modules::admin::service::Ctx<'_>) -> ApiResult<PublishedAnchor> {
    ctx.require_own("audit", "verify").await?;
    let txn = ctx.db.begin().await?;
    audit::record(&txn, ctx.entry("audit.anchor", "audit", ctx.who.tenant.id.to_string(), serde_json::json!({})))
        .await?;
    let published_seq = publish_head(&txn, &ctx.who.tenant).await?;
    txn.commit().await?;
    Ok(PublishedAnchor { published_seq })
}

/// The chain heads the caller's tenant holds for the tenants below (auditor): what a child in
/// another deployment compares its chain with (`suyuan audit verify --anchors`).
///
/// # Errors
/// 422 for a bad limit or code; 403 (auditor only).
pub async fn list_held(
    ctx: &crate::modules::admin::service::Ctx<'_>,
    q: &HeldAnchorQuery,
) -> ApiResult<Vec<HeldAnchorResponse>> {
    ctx.require_own("audit", "read").await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "range", "limit 应为 1–1000"));
    }
    if let Some(code) = &q.source_code
        && (code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::invalid_field("source_code", "format", "单位代码应为 6 位数字"));
    }
    let rows = held_by(ctx.db, ctx.who.tenant.id, q.source_code.as_deref(), limit).await?;
    Ok(rows.into_iter().map(HeldAnchorResponse::from).collect())
}
