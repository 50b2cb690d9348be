//! The security audit log (R-SEC-3): one record per command, login, failed login, logout,
//! permission or key change, written in the same transaction as the change, hash-chained per
//! tenant so that any edited, removed or inserted record is found by [`verify`].
//!
//! Every module writes through [`record`]; nothing updates or deletes audit rows.

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

pub mod keys;
pub mod pending;
pub mod refusals;

/// Hash that precedes the first record of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Stored rows.
pub mod entity {
    /// An audit record.
    pub mod record {
        use sea_orm::entity::prelude::*;

        /// The `audit_log` row.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "audit_log")]
        pub struct Model {
            /// Record id.
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            /// The tenant whose chain holds it.
            pub tenant_id: Uuid,
            /// Position in the chain, from 1.
            pub seq: i64,
            /// When.
            pub occurred_at: DateTimeUtc,
            /// Who (a user), if known.
            pub actor_user_id: Option<Uuid>,
            /// Who, as shown (user name, key name, or the name tried at a failed login).
            pub actor_name: String,
            /// What, e.g. `login`, `tenant.create`.
            pub action: String,
            /// Kind of object.
            pub object_type: String,
            /// Object id.
            pub object_id: String,
            /// `success` or `failure`.
            pub result: String,
            /// Client address.
            pub ip: Option<String>,
            /// Browser or client.
            pub user_agent: Option<String>,
            /// Request id.
            pub request_id: Option<String>,
            /// JSON details.
            pub detail: String,
            /// Hash of the previous record.
            pub prev_hash: String,
            /// SHA-256 of `prev_hash` and this record.
            pub hash: String,
            /// The id of the key that made [`Model::mac`] (see [`crate::audit::keys`]).
            pub key_id: Option<String>,
            /// HMAC-SHA256 of `hash` under a key kept outside the database: a database writer
            /// who re-hashes the chain cannot make it.
            pub mac: Option<String>,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// The head of each tenant's chain.
    pub mod head {
        use sea_orm::entity::prelude::*;

        /// The `audit_heads` row.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "audit_heads")]
        pub struct Model {
            /// Tenant.
            #[sea_orm(primary_key, auto_increment = false)]
            pub tenant_id: Uuid,
            /// Last sequence number.
            pub seq: i64,
            /// Last hash.
            pub hash: String,
            /// The last purged record's sequence number (0: nothing purged).
            pub anchor_seq: i64,
            /// Its hash: the `prev_hash` of the first record kept.
            pub anchor_hash: String,
            /// The last sequence number published to the parent tenant as an anchor.
            pub published_seq: i64,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// A chain head published by a tenant below, held here (the parent and the tenants above).
    pub mod anchor {
        use sea_orm::entity::prelude::*;

        /// The `audit_anchors` row.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "audit_anchors")]
        pub struct Model {
            /// The tenant holding it.
            #[sea_orm(primary_key, auto_increment = false)]
            pub holder_tenant_id: Uuid,
            /// The chain's tenant, as its own deployment names it.
            #[sea_orm(primary_key, auto_increment = false)]
            pub chain_tenant_id: Uuid,
            /// The chain's tenant's division code.
            pub source_code: String,
            /// The head's sequence number.
            #[sea_orm(primary_key, auto_increment = false)]
            pub seq: i64,
            /// The head's hash.
            pub hash: String,
            /// The head record's MAC (checkable by the chain's own deployment only).
            pub mac: String,
            /// The id of the key that made it.
            pub key_id: String,
            /// When the head was published.
            pub head_at: DateTimeUtc,
            /// When it arrived here.
            pub received_at: DateTimeUtc,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{anchor, head, record};

/// Where a request comes from.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client address.
    pub ip: Option<String>,
    /// Browser or client.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// From an HTTP request (the real client address behind a trusted proxy header).
    #[must_use]
    pub fn from_request(req: &actix_web::HttpRequest) -> Self {
        let trusted = req
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .map(|s| s.trusted_proxies.clone())
            .unwrap_or_default();
        // Every X-Forwarded-For line, in order (a proxy may add its own line).
        let forwarded: Vec<&str> = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect();
        let forwarded = forwarded.join(",");
        let ip = client_ip(req.peer_addr().map(|a| a.ip()), Some(&forwarded), &trusted);
        Self {
            ip: ip.map(|ip| ip.to_string()),
            user_agent: req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(255).collect()),
        }
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
/// `X-Forwarded-For` chain is read from the right, skipping trusted proxies, and the first
/// address that is not one of them is the client (a client cannot forge its way past a
/// proxy that appends what it saw).
#[must_use]
pub fn client_ip(
    peer: Option<std::net::IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<std::net::IpAddr> =
        forwarded_for.unwrap_or_default().split(',').filter_map(|h| h.trim().parse().ok()).collect();
    Some(hops.iter().rev().find(|ip| !is_trusted(ip)).or(hops.first()).copied().unwrap_or(peer))
}

/// Whether the request's TCP peer is one of the trusted proxies.
#[must_use]
pub fn from_trusted_proxy(req: &actix_web::HttpRequest) -> bool {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else { return false };
    req.app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_some_and(|s| s.trusted_proxies.iter().any(|n| n.contains(&peer)))
}

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user, when known.
    pub user_id: Option<Uuid>,
    /// Name shown in the log.
    pub name: String,
}

/// One thing to record.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The tenant whose chain records it (the tenant the actor acts in).
    pub tenant_id: Uuid,
    /// Who.
    pub actor: Actor,
    /// What, e.g. `user.create`.
    pub action: &'a str,
    /// Kind of object.
    pub object_type: &'a str,
    /// Object id.
    pub object_id: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Where from.
    pub client: &'a ClientInfo,
    /// Anything else worth keeping (never passwords or tokens).
    pub detail: serde_json::Value,
}

/// The chain hash of a record: SHA-256 of the previous record's hash and this record's fields.
/// Anyone can compute it (the algorithm is public); what a database writer cannot make is the
/// record's MAC ([`keys::Keyring::sign`]).
#[must_use]
pub fn chain_hash(prev_hash: &str, r: &record::Model) -> String {
    let canonical = serde_json::json!([
        r.tenant_id,
        r.seq,
        r.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        r.actor_user_id,
        r.actor_name,
        r.action,
        r.object_type,
        r.object_id,
        r.result,
        r.ip,
        r.user_agent,
        r.request_id,
        r.detail,
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The process's keyring, or an error: nothing is recorded unsigned.
fn signing_keys() -> Result<std::sync::Arc<keys::Keyring>, DbErr> {
    keys::current().ok_or_else(|| DbErr::Custom("the audit key is not loaded".to_owned()))
}

/// Takes the write lock of a tenant's chain inside the caller's transaction (creating the head
/// when the chain is new). Writers that number things per tenant (filing codes, outbox
/// sequences) take it first, so concurrent writers of one tenant queue instead of colliding.
///
/// # Errors
/// Database failures.
pub async fn lock_chain<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> Result<(), DbErr> {
    head::Entity::insert(head::ActiveModel {
        tenant_id: Set(tenant_id),
        seq: Set(0),
        hash: Set(GENESIS.to_owned()),
        anchor_seq: Set(0),
        anchor_hash: Set(GENESIS.to_owned()),
        published_seq: Set(0),
    })
    .on_conflict_do_nothing_on([head::Column::TenantId])
    .exec(db)
    .await?;
    head::Entity::update_many()
        .col_expr(head::Column::Seq, Expr::col(head::Column::Seq))
        .filter(head::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Appends a record to the tenant's chain. Call it with the transaction of the change it
/// records. Concurrent writers to one chain are serialised by the head row's write lock.
///
/// # Errors
/// Database failures (the caller's transaction then rolls back with the change).
pub async fn record<C: ConnectionTrait>(db: &C, entry: Entry<'_>) -> Result<record::Model, DbErr> {
    // Taking the write lock first (rather than reading first) serialises writers on both
    // SQLite and PostgreSQL.
    let bump = || {
        head::Entity::update_many()
            .col_expr(head::Column::Seq, Expr::col(head::Column::Seq).add(1))
            .filter(head::Column::TenantId.eq(entry.tenant_id))
    };
    let new_head = || {
        head::Entity::insert(head::ActiveModel {
            tenant_id: Set(entry.tenant_id),
            seq: Set(0),
            hash: Set(GENESIS.to_owned()),
            anchor_seq: Set(0),
            anchor_hash: Set(GENESIS.to_owned()),
            published_seq: Set(0),
        })
        .on_conflict_do_nothing_on([head::Column::TenantId])
    };
    let current = if db.support_returning() {
        // PostgreSQL: the lock, the number and the previous hash in one round trip; the head is
        // made only when the chain is new.
        match bump().exec_with_returning(db).await?.pop() {
            Some(h) => Some(h),
            None => {
                new_head().exec(db).await?;
                bump().exec_with_returning(db).await?.pop()
            }
        }
    } else {
        new_head().exec(db).await?;
        bump().exec(db).await?;
        head::Entity::find_by_id(entry.tenant_id).one(db).await?
    };
    let current = current.ok_or_else(|| DbErr::RecordNotFound("audit head".to_owned()))?;
    let mut row = record::Model {
        id: Uuid::now_v7(),
        tenant_id: entry.tenant_id,
        seq: current.seq,
        occurred_at: Utc::now().trunc_subsecs(6),
        actor_user_id: entry.actor.user_id,
        actor_name: entry.actor.name.chars().take(100).collect(),
        action: entry.action.to_owned(),
        object_type: entry.object_type.to_owned(),
        object_id: entry.object_id.chars().take(100).collect(),
        result: if entry.success { "success" } else { "failure" }.to_owned(),
        ip: entry.client.ip.clone(),
        user_agent: entry.client.user_agent.clone(),
        request_id: crate::request_id::current(),
        detail: entry.detail.to_string(),
        prev_hash: current.hash.clone(),
        hash: String::new(),
        key_id: None,
        mac: None,
    };
    row.hash = chain_hash(&current.hash, &row);
    let (key_id, mac) = signing_keys()?.sign(&row.hash);
    row.key_id = Some(key_id);
    row.mac = Some(mac);
    let saved = record::ActiveModel::from(row.clone()).insert(db).await?;
    head::Entity::update_many()
        .col_expr(head::Column::Hash, Expr::value(row.hash.clone()))
        .filter(head::Column::TenantId.eq(entry.tenant_id))
        .exec(db)
        .await?;
    Ok(saved)
}

/// The first problem found in a chain.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct BrokenLink {
    /// Sequence number where the chain breaks.
    pub seq: i64,
    /// The record there, when it exists.
    pub record_id: Option<Uuid>,
    /// What is wrong, in Chinese.
    pub reason: String,
}

/// Result of [`verify`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyReport {
    /// Tenant checked.
    pub tenant_id: Uuid,
    /// Records checked.
    pub checked: i64,
    /// Whether the whole chain is intact.
    pub ok: bool,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
    /// Chain heads this tenant published that the tenants above hold (anchors) and that were
    /// compared with the chain (in this deployment; see docs/operations.md for a parent in
    /// another one).
    pub anchors_checked: i64,
    /// The highest anchored sequence number, if any.
    pub anchored_seq: Option<i64>,
    /// When the check ran.
    pub verified_at: DateTime<Utc>,
}

/// A chain head held outside the chain (by the parent): sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAnchor {
    /// Sequence number.
    pub seq: i64,
    /// Hash of that record.
    pub hash: String,
}

/// The anchors of `tenant_id`'s chain held in this deployment (by any tenant above it).
///
/// # Errors
/// Database failures.
pub async fn held_anchors<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> Result<Vec<HeldAnchor>, DbErr> {
    let rows = anchor::Entity::find()
        .filter(anchor::Column::ChainTenantId.eq(tenant_id))
        .order_by_asc(anchor::Column::Seq)
        .all(db)
        .await?;
    let mut out: Vec<HeldAnchor> = Vec::with_capacity(rows.len());
    for r in rows {
        // The same head held by the parent and the tenants above it is one anchor.
        if out.last().is_some_and(|a| a.seq == r.seq && a.hash == r.hash) {
            continue;
        }
        out.push(HeldAnchor { seq: r.seq, hash: r.hash });
    }
    Ok(out)
}

/// Walks a tenant's chain from the start and reports the first broken link: a changed record
/// (hash mismatch), a removed or inserted record (sequence gap or wrong previous hash), a
/// record whose MAC does not match (written or re-hashed by someone without the audit key,
/// [`keys`]), a removed tail (the head points past the last record), or a chain that
/// disagrees with the heads the tenants above hold ([`held_anchors`]).
///
/// # Errors
/// Database failures, or no audit key loaded.
pub async fn verify(db: &sea_orm::DatabaseConnection, tenant_id: Uuid) -> Result<VerifyReport, DbErr> {
    let anchors = held_anchors(db, tenant_id).await?;
    verify_against(db, tenant_id, &anchors).await
}

/// [`verify`] against the given anchors (a parent in another deployment exports them).
///
/// Chains the tenant's queued entries first ([`pending::settle`]), then reads the chain, the
/// entries still queued and the trace records in one snapshot, so that an ingest committed
/// meanwhile is seen whole or not at all: every trace record the snapshot holds is accounted
/// for by an ingest entry, chained or queued, unless one was deleted.
///
/// # Errors
/// Database failures, or no audit key loaded.
pub async fn verify_against(
    db: &sea_orm::DatabaseConnection,
    tenant_id: Uuid,
    anchors: &[HeldAnchor],
) -> Result<VerifyReport, DbErr> {
    pending::settle(db, tenant_id).await?;
    let txn = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            sea_orm::TransactionTrait::begin_with_config(
                db,
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            )
            .await?
        }
        // SQLite (write-ahead log): a read transaction reads one snapshot.
        _ => sea_orm::TransactionTrait::begin(db).await?,
    };
    let report = verify_in(&txn, tenant_id, anchors).await;
    txn.rollback().await?;
    report
}

async fn verify_in<C: ConnectionTrait>(db: &C, tenant_id: Uuid, anchors: &[HeldAnchor]) -> Result<VerifyReport, DbErr> {
    const PAGE: u64 = 1000;
    let keyring = signing_keys()?;
    let head_row = head::Entity::find_by_id(tenant_id).one(db).await?;
    // After a retention purge the chain starts at the anchor; the purge itself is a record
    // in the chain naming that anchor, checked below, so the anchor cannot be moved unseen.
    let (anchor_seq, anchor_hash) =
        head_row.as_ref().map_or((0, GENESIS.to_owned()), |h| (h.anchor_seq, h.anchor_hash.clone()));
    let held: std::collections::HashMap<i64, &str> = anchors.iter().map(|a| (a.seq, a.hash.as_str())).collect();
    let mut anchors_checked = 0_i64;
    let mut broken = None;
    // An anchor the purge took away is checked against the purge's own anchor.
    if let Some(h) = held.get(&anchor_seq)
        && anchor_seq > 0
    {
        anchors_checked += 1;
        if *h != anchor_hash {
            broken = Some(BrokenLink {
                seq: anchor_seq,
                record_id: None,
                reason: format!("第 {anchor_seq} 条记录的哈希与上级单位保存的锚点不符（记录被改写）"),
            });
        }
    }
    let mut prev_hash = anchor_hash.clone();
    let mut expected = anchor_seq + 1;
    let mut checked = 0_i64;
    let mut last_purge: Option<(i64, serde_json::Value)> = None;
    let mut coverage = pending::Coverage::default();
    'pages: loop {
        if broken.is_some() {
            break;
        }
        let rows = record::Entity::find()
            .filter(record::Column::TenantId.eq(tenant_id))
            .filter(record::Column::Seq.gte(expected))
            .order_by_asc(record::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        let n = rows.len();
        for r in rows {
            checked += 1;
            let reason = if r.seq != expected {
                Some(format!("缺少第 {expected} 条记录（下一条为第 {} 条）", r.seq))
            } else if r.prev_hash != prev_hash {
                Some("前一条记录的哈希不符（记录被删除、插入或替换）".to_owned())
            } else if chain_hash(&r.prev_hash, &r) != r.hash {
                Some("记录内容与其哈希不符（记录被修改）".to_owned())
            } else {
                match keyring.check(r.key_id.as_deref(), &r.hash, r.mac.as_deref()) {
                    keys::Check::Valid => None,
                    keys::Check::Missing => {
                        Some("记录缺少消息认证码（MAC）：不是由平台写入，或升级后尚未运行 suyuan audit seal".to_owned())
                    }
                    keys::Check::UnknownKey(id) => Some(format!(
                        "记录由密钥 {id} 签名，该密钥未配置（密钥丢失，或轮换后未在 audit_old_keys 中保留旧密钥），无法验证"
                    )),
                    keys::Check::Mismatch => Some(
                        "记录的消息认证码（MAC）不符：记录由不持有审计密钥者写入或重算（删除后重算哈希）".to_owned(),
                    ),
                }
            };
            let reason = reason.or_else(|| {
                held.get(&r.seq).and_then(|h| {
                    anchors_checked += 1;
                    (*h != r.hash).then(|| "记录的哈希与上级单位保存的锚点不符（记录被改写或替换）".to_owned())
                })
            });
            if let Some(reason) = reason {
                broken = Some(BrokenLink { seq: expected, record_id: Some(r.id), reason });
                break 'pages;
            }
            if r.action == PURGE_ACTION {
                last_purge = Some((r.seq, serde_json::from_str(&r.detail).unwrap_or_default()));
            }
            coverage.add(&r.action, &r.detail);
            prev_hash = r.hash;
            expected += 1;
        }
        if (n as u64) < PAGE {
            break;
        }
    }
    if broken.is_none() && anchor_seq > 0 {
        let declared = last_purge
            .as_ref()
            .and_then(|(_, d)| Some((d.get("anchor_seq")?.as_i64()?, d.get("anchor_hash")?.as_str()?.to_owned())));
        if declared != Some((anchor_seq, anchor_hash.clone())) {
            broken = Some(BrokenLink {
                seq: anchor_seq + 1,
                record_id: None,
                reason: format!("链首锚点（第 {anchor_seq} 条）与最近一次到期清理的记录不符（锚点被改动）"),
            });
        }
    }
    // Every trace record of the tenant is accounted for by an ingest entry: chained, still
    // queued, or carried by the last purge for the entries it removed.
    if broken.is_none() {
        if let Some(carried) = last_purge
            .as_ref()
            .and_then(|(_, d)| d.get("ingest"))
            .and_then(|v| serde_json::from_value::<pending::Coverage>(v.clone()).ok())
        {
            coverage.merge(&carried);
        }
        coverage.merge(&pending::queued_coverage(db, tenant_id).await?);
        let stored = pending::records_of(db, tenant_id).await?;
        if stored > coverage.accepted {
            broken = Some(BrokenLink {
                seq: expected,
                record_id: None,
                reason: format!(
                    "有 {} 条追溯记录没有对应的审计记录（库中 {stored} 条，审计记录载明 {} 条）：审计记录在入链前或入链后被删除",
                    stored - coverage.accepted,
                    coverage.accepted
                ),
            });
        }
    }
    let anchored_seq = anchors.iter().map(|a| a.seq).max();
    // A tail cut after the last anchor, with the head rewritten to match: only the anchors
    // held above know the chain was longer.
    if broken.is_none()
        && let Some(top) = anchored_seq
        && top > expected - 1
    {
        broken = Some(BrokenLink {
            seq: expected,
            record_id: None,
            reason: format!("链尾被截断：上级单位保存的锚点为第 {top} 条，本地链只到第 {} 条", expected - 1),
        });
    }
    if broken.is_none()
        && let Some(h) = head_row
        && (h.seq != expected - 1 || h.hash != prev_hash)
    {
        broken = Some(BrokenLink {
            seq: expected,
            record_id: None,
            reason: format!("链尾缺失：应有 {} 条记录，实有 {}", h.seq, expected - 1),
        });
    }
    Ok(VerifyReport {
        tenant_id,
        checked,
        ok: broken.is_none(),
        first_broken: broken,
        anchors_checked,
        anchored_seq,
        verified_at: Utc::now(),
    })
}

/// Signs the records written before audit MACs existed (trust on first use: run once, by the
/// operator, after the upgrade that brought MACs and after `suyuan audit verify` found the
/// chains otherwise intact). Records that carry a MAC are left alone. The number signed.
///
/// # Errors
/// Database failures, or no audit key loaded.
pub async fn seal_unsigned(db: &sea_orm::DatabaseConnection) -> Result<u64, DbErr> {
    let keyring = signing_keys()?;
    let mut sealed = 0;
    loop {
        let rows = record::Entity::find().filter(record::Column::Mac.is_null()).limit(500).all(db).await?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let txn = sea_orm::TransactionTrait::begin(db).await?;
        for r in rows {
            let (key_id, mac) = keyring.sign(&r.hash);
            record::Entity::update_many()
                .col_expr(record::Column::KeyId, Expr::value(key_id))
                .col_expr(record::Column::Mac, Expr::value(mac))
                .filter(record::Column::Id.eq(r.id))
                .exec(&txn)
                .await?;
            sealed += 1;
        }
        txn.commit().await?;
    }
}

/// The action of a refusal recorded in the chain of the tenant it was aimed at (the caller
/// belongs to another tenant; its own chain records `access.denied`).
pub const INBOUND_DENIED_ACTION: &str = "access.denied_inbound";

/// The action of a retention purge's own record.
pub const PURGE_ACTION: &str = "audit.purge";

/// What a retention purge removed from one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// The tenant.
    pub tenant_id: Uuid,
    /// Records removed.
    pub removed: u64,
    /// The chain now starts after this sequence number.
    pub anchor_seq: i64,
}

/// Removes a tenant's audit records older than `before`, keeps the chain verifiable from the
/// new start (the anchor: the last removed record's sequence number and hash) and records
/// the purge itself in the chain, in one transaction. Nothing happens when nothing is old
/// enough. The caller decides `before` (never closer than the retention the settings allow).
///
/// # Errors
/// Database failures (nothing is removed then).
pub async fn purge_before(
    db: &sea_orm::DatabaseConnection,
    tenant_id: Uuid,
    before: chrono::DateTime<Utc>,
) -> Result<Option<Purged>, DbErr> {
    let txn = sea_orm::TransactionTrait::begin(db).await?;
    // Take the chain's write lock before reading anything, as every writer does, so two purges
    // (or a purge and a writer) never interleave.
    lock_chain(&txn, tenant_id).await?;
    let anchor_now = head::Entity::find_by_id(tenant_id).one(&txn).await?.map_or(0, |h| h.anchor_seq);
    let last_old = record::Entity::find()
        .filter(record::Column::TenantId.eq(tenant_id))
        .filter(record::Column::OccurredAt.lt(before))
        .order_by_desc(record::Column::Seq)
        .one(&txn)
        .await?;
    // Nothing old enough, or only what an earlier purge already covered: the anchor never
    // moves backwards.
    let Some(last_old) = last_old.filter(|r| r.seq > anchor_now) else {
        return Ok(None);
    };
    // The ingest entries removed (and those an earlier purge removed) keep accounting for
    // their trace records: the purge's own record carries what they declared.
    let mut carried = record::Entity::find()
        .filter(record::Column::TenantId.eq(tenant_id))
        .filter(record::Column::Action.eq(PURGE_ACTION))
        .order_by_desc(record::Column::Seq)
        .one(&txn)
        .await?
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.detail).ok())
        .and_then(|d| serde_json::from_value::<pending::Coverage>(d.get("ingest")?.clone()).ok())
        .unwrap_or_default();
    let removed_ingests: Vec<(String, String)> = record::Entity::find()
        .select_only()
        .column(record::Column::Action)
        .column(record::Column::Detail)
        .filter(record::Column::TenantId.eq(tenant_id))
        .filter(record::Column::Action.eq(pending::INGEST_ACTION))
        .filter(record::Column::Seq.lte(last_old.seq))
        .into_tuple()
        .all(&txn)
        .await?;
    for (action, detail) in removed_ingests {
        carried.add(&action, &detail);
    }
    let client = ClientInfo::default();
    let detail = serde_json::json!({
        "anchor_seq": last_old.seq,
        "anchor_hash": last_old.hash,
        "before": before.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "ingest": carried,
    });
    record(
        &txn,
        Entry {
            tenant_id,
            actor: Actor { user_id: None, name: "system".to_owned() },
            action: PURGE_ACTION,
            object_type: "audit",
            object_id: tenant_id.to_string(),
            success: true,
            client: &client,
            detail,
        },
    )
    .await?;
    let removed = record::Entity::delete_many()
        .filter(record::Column::TenantId.eq(tenant_id))
        .filter(record::Column::Seq.lte(last_old.seq))
        .exec(&txn)
        .await?
        .rows_affected;
    head::Entity::update_many()
        .col_expr(head::Column::AnchorSeq, Expr::value(last_old.seq))
        .col_expr(head::Column::AnchorHash, Expr::value(last_old.hash.clone()))
        .filter(head::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(%tenant_id, removed, anchor_seq = last_old.seq, "audit records past retention purged");
    Ok(Some(Purged { tenant_id, removed, anchor_seq: last_old.seq }))
}

/// The daily retention job: purges every tenant's records older than `retention_days`.
///
/// # Errors
/// Database failures.
pub async fn purge_expired(db: &sea_orm::DatabaseConnection, retention_days: u32) -> Result<u64, DbErr> {
    let before = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    let mut removed = 0;
    for h in head::Entity::find().all(db).await? {
        if let Some(p) = purge_before(db, h.tenant_id, before).await? {
            removed += p.removed;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod client_ip_tests {
    use super::client_ip;

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn forwarded_headers_count_only_behind_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> =
            ["127.0.0.1/32", "10.0.0.0/8"].iter().map(|s| s.parse().unwrap_or_else(|e| panic!("{e}"))).collect();
        // No trusted proxy in front: the header is whatever the client wrote, ignored.
        assert_eq!(client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &trusted), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(Some(ip("127.0.0.1")), Some("1.2.3.4"), &[]), Some(ip("127.0.0.1")));
        // Behind trusted proxies: the first untrusted hop from the right.
        assert_eq!(client_ip(Some(ip("127.0.0.1")), Some("1.2.3.4"), &trusted), Some(ip("1.2.3.4")));
        assert_eq!(
            client_ip(Some(ip("127.0.0.1")), Some("6.6.6.6, 1.2.3.4, 10.1.2.3"), &trusted),
            Some(ip("1.2.3.4")),
            "a forged leftmost entry is not believed"
        );
        assert_eq!(client_ip(Some(ip("127.0.0.1")), None, &trusted), Some(ip("127.0.0.1")));
    }
}
