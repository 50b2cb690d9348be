//! Audit entries queued for the chain, and the group-committing writer that chains them.
//!
//! A trace ingest must not hold its tenant's chain lock until it commits: that serialises
//! every write of the tenant (one commit at a time, a few hundred a second). Instead the
//! ingest writes its audit entry into `audit_pending` inside its own transaction — so an ingest
//! answered 200 has its entry durably queued, or nothing was written at all — and the writer
//! appends the queued entries to the tenant's chain in order, as many as are waiting, in one
//! transaction under the chain lock, together with what must be numbered under that lock (the
//! statistics deltas and their outbox row for the parent).
//!
//! Tamper evidence:
//! - each queued entry carries an HMAC under the audit key ([`super::keys`]); an entry written
//!   into the queue by anyone else is not chained as the platform's: the writer chains an
//!   `audit.pending_rejected` failure in its place and applies nothing of it;
//! - a queued entry deleted before it was chained leaves trace records that no audit entry
//!   accounts for: [`super::verify`] counts the records the ingest entries declare against the
//!   records stored ([`Coverage`]);
//! - once chained, an entry is covered by the chain's hashes, MACs and anchors like any other.
//!
//! Whatever reads the log, the daily figures or the outbox first calls [`settle`] or
//! [`settle_all`], so it sees every entry answered before it (the writer usually got there
//! within milliseconds).

use std::collections::BTreeMap;

use chrono::{SecondsFormat, SubsecRound as _, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait as _, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::entity::{head, record};
use super::{Actor, ClientInfo, Entry, chain_hash, lock_chain, signing_keys};
use crate::modules::trace::entity::stats_daily;

/// The action of a trace ingest's audit entry (queued, then chained).
pub const INGEST_ACTION: &str = "trace_event.ingest";

/// The action chained in place of a queued entry whose MAC does not hold.
pub const REJECTED_ACTION: &str = "audit.pending_rejected";

/// Entries chained per transaction at most (the rest in the next one, at once).
const GROUP: u64 = 500;

/// Stored rows.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// The `audit_pending` row: an audit entry queued for its tenant's chain.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_pending")]
    pub struct Model {
        /// The id the chained record will carry.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The tenant whose chain will hold it.
        pub tenant_id: Uuid,
        /// When.
        pub occurred_at: DateTimeUtc,
        /// Who (a user), if known.
        pub actor_user_id: Option<Uuid>,
        /// Who, as shown.
        pub actor_name: String,
        /// What.
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
        /// What the writer does with it under the chain lock ([`super::Followup`], JSON).
        pub followup: String,
        /// The audit key that made [`Model::mac`].
        pub key_id: String,
        /// HMAC-SHA256 of the queued entry ([`super::entry_hash`]).
        pub mac: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity as pending;

/// What follows a queued entry under the chain lock, in the writer's transaction.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Followup {
    /// Outbox rows for the parent (kind, payload), numbered without gaps under the lock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<(String, serde_json::Value)>,
    /// Statistics deltas summed into the daily figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<stats_daily::Model>,
}

/// Wakes the writer of this process.
static WAKE: Notify = Notify::const_new();

/// Tells the writer that entries were queued (call it after the queuing transaction commits).
pub fn wake() {
    WAKE.notify_one();
}

/// After an ingest of `tenant_id` committed, before it answers. On SQLite (one writer at a
/// time, so a background writer gains nothing) the request chains the tenant's queued entries
/// itself: a background commit between another request's first read and first write would make
/// that request's transaction fail, as SQLite cannot move a reader's snapshot forward. On
/// PostgreSQL the writer is woken. With the writer off (`audit_writer = false`) entries stay
/// queued until a reader settles them.
pub async fn after_ingest(db: &DatabaseConnection, tenant_id: Uuid, writer: bool) {
    if !writer {
        return;
    }
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        if let Err(e) = settle(db, tenant_id).await {
            tracing::warn!(error = %e, "chaining the ingest's audit entry failed; the writer retries");
            wake();
        }
    } else {
        wake();
    }
}

/// SHA-256 of a queued entry's fields, the text its MAC signs.
#[must_use]
pub fn entry_hash(p: &pending::Model) -> String {
    let canonical = serde_json::json!([
        p.id,
        p.tenant_id,
        p.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        p.actor_user_id,
        p.actor_name,
        p.action,
        p.object_type,
        p.object_id,
        p.result,
        p.ip,
        p.user_agent,
        p.request_id,
        p.detail,
        p.followup,
    ]);
    let mut h = Sha256::new();
    h.update(b"suyuan-audit-pending\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Queues `entry` for its tenant's chain, in the caller's transaction, without the chain lock;
/// `followup` is applied when it is chained. Call [`wake`] once the transaction commits.
///
/// # Errors
/// Database failures (the caller's transaction then rolls back with the change), or no audit
/// key loaded.
pub async fn queue<C: ConnectionTrait>(db: &C, entry: Entry<'_>, followup: &Followup) -> Result<(), DbErr> {
    let mut row = pending::Model {
        id: Uuid::now_v7(),
        tenant_id: entry.tenant_id,
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
        followup: serde_json::to_string(followup).map_err(|e| DbErr::Custom(format!("audit followup: {e}")))?,
        key_id: String::new(),
        mac: String::new(),
    };
    let (key_id, mac) = signing_keys()?.sign(&entry_hash(&row));
    row.key_id = key_id;
    row.mac = mac;
    pending::Entity::insert(pending::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

/// Chains every entry queued for `tenant_id` (in the order queued), applying their followups,
/// in transactions of up to 500 entries. The number chained.
///
/// # Errors
/// Database failures (nothing of that group is chained then), or no audit key loaded.
pub async fn settle(db: &DatabaseConnection, tenant_id: Uuid) -> Result<u64, DbErr> {
    let mut chained = 0;
    loop {
        let n = settle_group(db, tenant_id).await?;
        chained += n;
        if n < GROUP {
            return Ok(chained);
        }
    }
}

/// [`settle`] for every tenant with queued entries. The number chained.
///
/// # Errors
/// Database failures, or no audit key loaded.
pub async fn settle_all(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let tenants: Vec<Uuid> =
        pending::Entity::find().select_only().column(pending::Column::TenantId).distinct().into_tuple().all(db).await?;
    let mut chained = 0;
    for t in tenants {
        chained += settle(db, t).await?;
    }
    Ok(chained)
}

/// One transaction of [`settle`]: the chain lock, the queued entries (up to [`GROUP`]), their
/// records in one statement, the head, the followups, the queue emptied of them.
async fn settle_group(db: &DatabaseConnection, tenant_id: Uuid) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    // Whoever holds the lock first chains; a second settler then finds the queue empty.
    lock_chain(&txn, tenant_id).await?;
    let rows = pending::Entity::find()
        .filter(pending::Column::TenantId.eq(tenant_id))
        .order_by_asc(pending::Column::OccurredAt)
        .order_by_asc(pending::Column::Id)
        .limit(GROUP)
        .all(&txn)
        .await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let keyring = signing_keys()?;
    let current = head::Entity::find_by_id(tenant_id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit head".to_owned()))?;
    let (mut seq, mut prev) = (current.seq, current.hash);
    let mut records = Vec::with_capacity(rows.len());
    let mut outbox: Vec<(String, serde_json::Value)> = Vec::new();
    let mut stats: BTreeMap<String, stats_daily::Model> = BTreeMap::new();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    for p in rows {
        seq += 1;
        let genuine = keyring.check(Some(&p.key_id), &entry_hash(&p), Some(&p.mac)) == super::keys::Check::Valid;
        let followup = if genuine { serde_json::from_str::<Followup>(&p.followup).ok() } else { None };
        let mut r = match followup {
            Some(f) => {
                outbox.extend(f.outbox);
                for d in f.stats {
                    add_delta(&mut stats, d);
                }
                record::Model {
                    id: p.id,
                    tenant_id,
                    seq,
                    occurred_at: p.occurred_at,
                    actor_user_id: p.actor_user_id,
                    actor_name: p.actor_name,
                    action: p.action,
                    object_type: p.object_type,
                    object_id: p.object_id,
                    result: p.result,
                    ip: p.ip,
                    user_agent: p.user_agent,
                    request_id: p.request_id,
                    detail: p.detail,
                    prev_hash: prev.clone(),
                    hash: String::new(),
                    key_id: None,
                    mac: None,
                }
            }
            None => {
                tracing::error!(%tenant_id, id = %p.id, action = %p.action, "a queued audit entry fails its MAC: refused");
                rejected(tenant_id, seq, &prev, &p)
            }
        };
        r.hash = chain_hash(&prev, &r);
        let (key_id, mac) = keyring.sign(&r.hash);
        r.key_id = Some(key_id);
        r.mac = Some(mac);
        prev.clone_from(&r.hash);
        records.push(record::ActiveModel::from(r));
    }
    let n = records.len() as u64;
    // 19 columns a record: 500 records stay under SQLite's 32 766 parameters.
    record::Entity::insert_many(records).exec_without_returning(&txn).await?;
    head::Entity::update_many()
        .col_expr(head::Column::Seq, Expr::value(seq))
        .col_expr(head::Column::Hash, Expr::value(prev))
        .filter(head::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    let failed = |e: crate::error::ApiError| DbErr::Custom(e.to_problem(None).title);
    if !outbox.is_empty() {
        crate::modules::subjects::service::write_outbox_many(&txn, tenant_id, &outbox).await.map_err(failed)?;
    }
    if !stats.is_empty() {
        crate::modules::trace::write::stats(&txn, stats.into_values().collect()).await.map_err(failed)?;
    }
    pending::Entity::delete_many().filter(pending::Column::Id.is_in(ids)).exec(&txn).await?;
    txn.commit().await?;
    Ok(n)
}

/// Sums a delta into `into`, keyed by everything but its sums (whatever keys the daily
/// figures have): one upsert per key, however many entries the group holds.
fn add_delta(into: &mut BTreeMap<String, stats_daily::Model>, d: stats_daily::Model) {
    let key = serde_json::to_string(&stats_daily::Model { records: 0, quantity: 0.0, ..d.clone() }).unwrap_or_default();
    match into.get_mut(&key) {
        Some(sum) => {
            sum.records += d.records;
            sum.quantity += d.quantity;
        }
        None => {
            into.insert(key, d);
        }
    }
}

/// The record chained in place of a queued entry that fails its MAC: what it claimed, as a
/// failure of the system, with none of its followups.
fn rejected(tenant_id: Uuid, seq: i64, prev: &str, p: &pending::Model) -> record::Model {
    let detail = serde_json::json!({
        "reason": "待入链审计记录的消息认证码（MAC）不符：不是由平台写入或已被改动，未予采信",
        "claimed": {
            "occurred_at": p.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "actor_name": p.actor_name,
            "action": p.action,
            "object_id": p.object_id,
            "detail": p.detail,
        },
    });
    let client = ClientInfo::default();
    let actor = Actor { user_id: None, name: "system".to_owned() };
    record::Model {
        id: p.id,
        tenant_id,
        seq,
        occurred_at: Utc::now().trunc_subsecs(6),
        actor_user_id: actor.user_id,
        actor_name: actor.name,
        action: REJECTED_ACTION.to_owned(),
        object_type: "audit_pending".to_owned(),
        object_id: p.id.to_string(),
        result: "failure".to_owned(),
        ip: client.ip,
        user_agent: client.user_agent,
        request_id: None,
        detail: detail.to_string(),
        prev_hash: prev.to_owned(),
        hash: String::new(),
        key_id: None,
        mac: None,
    }
}

/// The writer: chains queued entries as soon as they are queued (woken by [`wake`]), and once
/// a second for entries queued by other replicas or left by a stopped process. Entries queued
/// while it writes go in its next transaction: under load each transaction chains many.
pub async fn run_writer(db: DatabaseConnection, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = WAKE.notified() => {}
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        if let Err(e) = settle_all(&db).await {
            tracing::warn!(error = %e, "chaining queued audit entries failed; retrying");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // What was answered before the stop is chained before the process ends, when it can be.
    if let Err(e) = settle_all(&db).await {
        tracing::warn!(error = %e, "queued audit entries left for the next start");
    }
}

/// What a tenant's ingest entries account for: the trace records they declare accepted.
/// [`super::verify`] compares it with the tenant's records stored (every trace record is written
/// by an ingest, whose entry names how many it accepted; the demo's seed records one entry too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The records the entries declare accepted.
    pub accepted: i64,
}

impl Coverage {
    /// Adds an entry of `action` with `detail` (JSON text): only ingest entries count.
    pub fn add(&mut self, action: &str, detail: &str) {
        if action != INGEST_ACTION {
            return;
        }
        let Ok(d) = serde_json::from_str::<serde_json::Value>(detail) else { return };
        self.accepted += d.get("accepted").and_then(serde_json::Value::as_i64).unwrap_or(0);
    }

    /// Adds another coverage.
    pub fn merge(&mut self, other: &Self) {
        self.accepted += other.accepted;
    }
}

/// The coverage of the entries still queued for `tenant_id`.
///
/// # Errors
/// Database failures.
pub async fn queued_coverage<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> Result<Coverage, DbErr> {
    let rows: Vec<(String, String)> = pending::Entity::find()
        .select_only()
        .column(pending::Column::Action)
        .column(pending::Column::Detail)
        .filter(pending::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut c = Coverage::default();
    for (action, detail) in rows {
        c.add(&action, &detail);
    }
    Ok(c)
}

/// The trace records of `tenant_id`.
///
/// # Errors
/// Database failures.
pub async fn records_of<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> Result<i64, DbErr> {
    use crate::modules::trace::entity::event;
    let n = event::Entity::find().filter(event::Column::TenantId.eq(tenant_id)).count(db).await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(stage: &str, unit: &str, records: i64, quantity: f64) -> stats_daily::Model {
        stats_daily::Model {
            tenant_id: Uuid::nil(),
            day: "2026-12-07".to_owned(),
            stage: stage.to_owned(),
            category_code: String::new(),
            division_code: "370104".to_owned(),
            unit: unit.to_owned(),
            records,
            quantity,
        }
    }

    #[test]
    fn deltas_of_one_key_are_summed_and_other_keys_kept_apart() {
        let mut sums = BTreeMap::new();
        add_delta(&mut sums, delta("sale", "kg", 1, 10.0));
        add_delta(&mut sums, delta("sale", "kg", 2, 5.0));
        add_delta(&mut sums, delta("sale", "箱", 1, 4.0));
        add_delta(&mut sums, delta("transport", "kg", 1, 1.0));
        let mut got: Vec<(String, String, i64, f64)> =
            sums.into_values().map(|d| (d.stage, d.unit, d.records, d.quantity)).collect();
        got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let want = |s: &str, u: &str, r: i64, q: f64| (s.to_owned(), u.to_owned(), r, q);
        assert_eq!(got, vec![want("sale", "kg", 3, 15.0), want("sale", "箱", 1, 4.0), want("transport", "kg", 1, 1.0)]);
    }

    #[test]
    fn coverage_counts_what_ingest_entries_accepted() {
        let mut c = Coverage::default();
        c.add(INGEST_ACTION, r#"{"accepted":3,"duplicates":1}"#);
        c.add(INGEST_ACTION, r#"{"accepted":2,"recorded_at":"2026-12-07T09:00:00Z"}"#);
        c.add("user.create", r#"{"accepted":9}"#);
        c.add(INGEST_ACTION, "not json");
        assert_eq!(c.accepted, 5);
    }
}
