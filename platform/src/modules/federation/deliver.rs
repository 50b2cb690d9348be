//! The delivery worker: sends each link's pending outbox rows to the parent, in sequence
//! order, a batch at a time, and moves the link's cursor to what the parent acknowledged.
//!
//! Links are claimed with a lease (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so any number
//! of replicas share the work and never send one origin's rows twice at once). A failure is
//! recorded on the link and retried after an exponential back-off with jitter. A new outbox
//! row wakes the worker ([`Federation::wake`], across replicas through Redis when configured);
//! otherwise it looks every second.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use suyuan_federation::wire::{Ack, Origin, Push, Row, Source};
use suyuan_federation::{backoff, sign};
use suyuan_tenancy::entity::tenant;
use tokio::sync::Notify;

use super::entity::link;
use crate::modules::subjects::entity::outbox;
use crate::outbound::Outbound;
use crate::state::AppState;

/// Rows per push.
pub const BATCH: u64 = 500;
/// How long a claimed link is held by one replica, from the start of its delivery: longer than
/// the slowest HTTP delivery (three tries of at most 30 s, with their back-off).
const LEASE: Duration = Duration::from_secs(120);
/// Links claimed per round.
const CLAIM: u64 = 4;
/// The Redis channel that wakes the workers of every replica.
pub const WAKE_CHANNEL: &str = "suyuan:federation:wake";

/// The federation runtime: the worker's wake-up and its HTTP client.
#[derive(Clone)]
pub struct Federation {
    notify: Arc<Notify>,
    owner: Arc<str>,
    http: Outbound,
}

impl Federation {
    /// A runtime named after this replica, sending through the allow-listed client.
    #[must_use]
    pub fn new(http: Outbound) -> Self {
        Self { notify: Arc::new(Notify::new()), owner: uuid::Uuid::now_v7().to_string().into(), http }
    }

    /// Wakes this replica's worker (a change was committed, or "sync now").
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Waits for [`Federation::wake`] or `every`, whichever comes first.
    pub async fn idle(&self, every: Duration) {
        tokio::select! {
            () = self.notify.notified() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Wakes the workers of this replica and, through Redis, of the others (in the background:
/// the request that committed a change does not wait for it).
pub fn wake_all(state: &AppState) {
    state.federation.wake();
    if let Some(redis) = state.redis.clone() {
        tokio::spawn(async move {
            if let Err(e) = redis.publish(WAKE_CHANNEL, "1").await {
                tracing::debug!(error = %e, "federation: wake-up not published");
            }
        });
    }
}

/// Gives every tenant with a parent (here or in another deployment) its delivery link.
///
/// # Errors
/// Database failures.
pub async fn ensure_links(db: &DatabaseConnection) -> anyhow::Result<()> {
    use link::Column as L;
    let with_parent = Query::select()
        .column(tenant::Column::Id)
        .exprs([Expr::val(0), Expr::val("continuous"), Expr::val(3600), Expr::val(Utc::now()), Expr::val(0)])
        .from(tenant::Entity)
        .cond_where(
            Condition::any()
                .add(tenant::Column::ParentId.is_not_null())
                .add(tenant::Column::FederationParentUrl.is_not_null()),
        )
        .to_owned();
    let insert = Query::insert()
        .into_table(link::Entity)
        .columns([L::OriginTenantId, L::DeliveredSeq, L::Mode, L::IntervalSecs, L::NextAttemptAt, L::Attempts])
        .select_from(with_parent)?
        .on_conflict(OnConflict::column(L::OriginTenantId).do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Claims up to [`CLAIM`] links that are due and have rows to send.
async fn claim(db: &DatabaseConnection, owner: &str) -> anyhow::Result<Vec<link::Model>> {
    let now = Utc::now();
    let update = claim_statement(db.get_database_backend(), owner, now, now + chrono::Duration::from_std(LEASE)?);
    let stmt = db.get_database_backend().build(&update);
    Ok(link::Entity::find().from_raw_sql(stmt).all(db).await?)
}

/// The claim: leases the due links with rows to send, answering them; on PostgreSQL the links
/// another replica is claiming at this moment are skipped (`FOR UPDATE SKIP LOCKED`).
fn claim_statement(
    backend: DbBackend,
    owner: &str,
    now: chrono::DateTime<Utc>,
    lease_until: chrono::DateTime<Utc>,
) -> sea_orm::sea_query::UpdateStatement {
    // Here only: its `min`/`max` would shadow the integers' elsewhere in this file.
    use link::Column as L;
    use sea_orm::sea_query::ExprTrait as _;
    let has_rows = Query::select()
        .expr(Expr::val(1))
        .from(outbox::Entity)
        .and_where(
            Expr::col((outbox::Entity, outbox::Column::OriginTenantId)).equals((link::Entity, L::OriginTenantId)),
        )
        .and_where(Expr::col((outbox::Entity, outbox::Column::Seq)).gt(Expr::col((link::Entity, L::DeliveredSeq))))
        .to_owned();
    let mut due = Query::select()
        .column(L::OriginTenantId)
        .from(link::Entity)
        .and_where(L::NextAttemptAt.lte(now))
        .cond_where(Condition::any().add(L::LeaseUntil.is_null()).add(L::LeaseUntil.lt(now)))
        .and_where(Expr::exists(has_rows))
        .order_by(L::NextAttemptAt, Order::Asc)
        .limit(CLAIM)
        .to_owned();
    if backend == DbBackend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Query::update()
        .table(link::Entity)
        .values([(L::LeaseOwner, owner.into()), (L::LeaseUntil, Some(lease_until).into())])
        .and_where(L::OriginTenantId.in_subquery(due))
        .returning_all()
        .to_owned()
}

/// One round: claims the due links and delivers a batch of each. The rows acknowledged.
///
/// # Errors
/// Database failures while claiming (a failing link is recorded on the link instead).
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    // Statistics deltas wait in the audit queue until their entries are chained (audit::pending).
    crate::audit::pending::settle_all(&state.db).await?;
    let links = claim(&state.db, &state.federation.owner).await?;
    let mut acknowledged = 0;
    for l in links {
        let origin = l.origin_tenant_id;
        // The lease runs from now for this link: the ones before it may have taken a while.
        if !renew(&state.db, &l).await? {
            continue;
        }
        match deliver(state, &l).await {
            Ok((ack, sent)) => {
                acknowledged += usize::try_from(ack.cursor - l.delivered_seq).unwrap_or(0);
                finish(state, &l, Ok((ack, sent))).await?;
            }
            Err(e) => {
                tracing::warn!(%origin, error = %format!("{e:#}"), "federation: delivery failed");
                finish(state, &l, Err(e)).await?;
            }
        }
    }
    Ok(acknowledged)
}

/// Extends this replica's lease on `l`; `false` when another replica holds it now.
async fn renew(db: &DatabaseConnection, l: &link::Model) -> anyhow::Result<bool> {
    let until = Utc::now() + chrono::Duration::from_std(LEASE)?;
    let done = link::Entity::update_many()
        .col_expr(link::Column::LeaseUntil, Expr::value(Some(until)))
        .filter(link::Column::OriginTenantId.eq(l.origin_tenant_id))
        .filter(link::Column::LeaseOwner.eq(l.lease_owner.clone()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Sends the next batch of one link. The parent's answer and the number of rows sent.
async fn deliver(state: &AppState, l: &link::Model) -> anyhow::Result<(Ack, usize)> {
    let db = &state.db;
    let origin = tenant::Entity::find_by_id(l.origin_tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the link's tenant is gone"))?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::OriginTenantId.eq(origin.id))
        .filter(outbox::Column::Seq.gt(l.delivered_seq))
        .order_by_asc(outbox::Column::Seq)
        .limit(BATCH)
        .all(db)
        .await?;
    let push = to_push(&origin, rows);
    let sent = push.rows.len();
    let ack = if let Some(url) = upstream_url(&origin) {
        let (Some(key), Some(secret)) = (&l.remote_key_id, &l.remote_secret) else {
            anyhow::bail!("未配置上级平台发放的接入凭证");
        };
        send_http(&state.federation.http, url, key, secret, &push).await?
    } else {
        let parent_id = origin.parent_id.ok_or_else(|| anyhow::anyhow!("no parent"))?;
        let parent = tenant::Entity::find_by_id(parent_id)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the parent tenant is gone"))?;
        super::inbox::apply(db, &state.metrics, "local", &parent, &origin, &push)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?
    };
    state.metrics.federation_rows("sent", sent);
    Ok((ack, sent))
}

/// The parent platform's address when `t` reports to another deployment: only a deployment's
/// root does (a tenant with a parent here reports to it, whatever its profile says).
#[must_use]
pub fn upstream_url(t: &tenant::Model) -> Option<&str> {
    t.federation_parent_url.as_deref().filter(|_| t.parent_id.is_none())
}

/// The wire form of outbox rows: a relayed row names where it happened first (`source` in its
/// payload); the origin's own rows name the origin.
#[must_use]
pub fn to_push(origin: &tenant::Model, rows: Vec<outbox::Model>) -> Push {
    let own = Source { code: origin.code.clone(), name: origin.name.clone() };
    let rows = rows
        .into_iter()
        .map(|r| {
            let mut payload: serde_json::Value = serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null);
            let source = payload
                .as_object_mut()
                .and_then(|o| o.remove("source"))
                .and_then(|s| serde_json::from_value::<Source>(s).ok())
                .unwrap_or_else(|| own.clone());
            let committed_at = payload
                .as_object_mut()
                .and_then(|o| o.remove("committed_at"))
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or(r.created_at);
            Row { seq: r.seq, kind: r.kind, source, payload, created_at: r.created_at, committed_at }
        })
        .collect();
    Push { origin: Origin { tenant_id: origin.id, code: origin.code.clone(), name: origin.name.clone() }, rows }
}

/// What the link records (and the status shows) when the parent could not be reached or gave
/// an answer that is not an acknowledgement: one sentence, whatever happened, so that it tells
/// neither a closed port from a live one nor anything of what the far end said. The cause is
/// logged at debug level.
pub const UNREACHABLE: &str = "无法连接上级平台（地址不可达、不在 outbound_allow 允许范围内，或答复不是本平台的确认）";
/// The parent, speaking this platform's protocol, refused the credential.
pub const CREDENTIAL_REFUSED: &str = "上级平台拒绝了本平台的接入凭证，请核对凭证编号和密钥";
/// The parent, speaking this platform's protocol, refused the push.
pub const PUSH_REFUSED: &str = "上级平台拒绝了推送的数据，请与上级平台的运维人员核对";

/// The largest acknowledgement read from a parent.
const ACK_LIMIT: usize = 64 * 1024;

/// POSTs a push to the parent deployment through the allow-listed client (no redirect
/// followed), signed, with a few quick retries (back-off with jitter) for network failures and
/// 5xx answers; a 4xx answer is not retried. The error is one of the fixed sentences above.
async fn send_http(http: &Outbound, url: &str, key: &str, secret: &str, push: &Push) -> anyhow::Result<Ack> {
    let body = serde_json::to_vec(push)?;
    let endpoint = format!("{}/api/v1/federation/inbox", url.trim_end_matches('/'));
    let mut last = UNREACHABLE;
    for attempt in 0..3u32 {
        if attempt > 0 {
            let jitter: f64 = rand::random();
            tokio::time::sleep(backoff::delay(attempt - 1, Duration::from_millis(200), Duration::from_secs(5), jitter))
                .await;
        }
        // A fresh timestamp, so a fresh signature: the parent refuses one it has seen.
        let ts = Utc::now().timestamp().to_string();
        let signature = sign::sign(secret.as_bytes(), &ts, &body);
        let request = http
            .requests()
            .post(&endpoint)
            .header(sign::KEY_HEADER, key)
            .header(sign::TIMESTAMP_HEADER, &ts)
            .header(sign::SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .build()?;
        let answer = match http.send(request, ACK_LIMIT).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::debug!(error = %format!("{:#}", anyhow::Error::from(e)), "federation: parent not reached");
                last = UNREACHABLE;
                continue;
            }
        };
        let status = answer.status;
        if status.is_success() {
            match serde_json::from_slice::<Ack>(&answer.body) {
                Ok(ack) => return Ok(ack),
                Err(e) => {
                    tracing::debug!(%status, error = %e, "federation: the parent's answer is not an acknowledgement");
                    anyhow::bail!(UNREACHABLE);
                }
            }
        }
        // Only the parent's own problem documents are told apart (their stable code goes to the
        // debug log, never their text to the status); any other answer is "unreachable".
        let code = answer
            .is_json()
            .then(|| serde_json::from_slice::<serde_json::Value>(&answer.body).ok())
            .flatten()
            .and_then(|p| p["code"].as_str().map(|c| c.chars().take(64).collect::<String>()));
        tracing::debug!(%status, code = code.as_deref().unwrap_or("-"), "federation: the parent refused the push");
        last = match (status.as_u16(), &code) {
            (401 | 403, Some(_)) => CREDENTIAL_REFUSED,
            (409 | 422, Some(_)) => PUSH_REFUSED,
            _ => UNREACHABLE,
        };
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    Err(anyhow::anyhow!(last))
}

/// Records a round's outcome on the link and releases it.
async fn finish(state: &AppState, l: &link::Model, outcome: anyhow::Result<(Ack, usize)>) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut update = link::Entity::update_many()
        .col_expr(link::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(link::Column::LeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None));
    match outcome {
        Ok((ack, sent)) => {
            let max_sent = l.delivered_seq + i64::try_from(sent).unwrap_or(0);
            // The parent's cursor, whatever was sent: behind it after a gap (the rows are sent
            // again), never past what exists here.
            let cursor = ack.cursor.min(max_sent.max(l.delivered_seq)).max(0);
            let full = u64::try_from(sent).unwrap_or(0) >= BATCH;
            let next = if l.mode == "periodic" && !full && ack.after_gap == 0 {
                now + chrono::Duration::seconds(i64::from(l.interval_secs.max(1)))
            } else {
                now
            };
            if cursor > l.delivered_seq {
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(now)))
                    .filter(outbox::Column::OriginTenantId.eq(l.origin_tenant_id))
                    .filter(outbox::Column::Seq.gt(l.delivered_seq))
                    .filter(outbox::Column::Seq.lte(cursor))
                    .exec(&state.db)
                    .await?;
            }
            // A parent that has more of this origin's rows than were ever sent: this platform's
            // data was restored from an older backup, and its new rows would be taken for
            // duplicates. Kept on the link for the operators.
            let ahead = (ack.cursor > max_sent).then(|| {
                format!(
                    "上级平台已收到序号 {}，超过本平台已发出的 {max_sent}：本平台数据可能从较早的备份恢复，新数据会被当作重复，请与上级平台核对",
                    ack.cursor
                )
            });
            update = update
                .col_expr(link::Column::DeliveredSeq, Expr::value(cursor))
                .col_expr(link::Column::Attempts, Expr::value(0))
                .col_expr(link::Column::LastSuccessAt, Expr::value(Some(now)))
                .col_expr(link::Column::LastError, Expr::value(ahead.clone()))
                .col_expr(link::Column::LastErrorAt, Expr::value(ahead.map(|_| now)))
                .col_expr(link::Column::NextAttemptAt, Expr::value(next));
        }
        Err(e) => {
            let attempts = l.attempts.saturating_add(1);
            let wait = backoff::delay(
                u32::try_from(attempts - 1).unwrap_or(0),
                Duration::from_secs(1),
                Duration::from_secs(300),
                rand::random(),
            );
            let message: String = format!("{e:#}").chars().take(500).collect();
            update = update
                .col_expr(link::Column::Attempts, Expr::value(attempts))
                .col_expr(link::Column::LastError, Expr::value(Some(message)))
                .col_expr(link::Column::LastErrorAt, Expr::value(Some(now)))
                .col_expr(link::Column::NextAttemptAt, Expr::value(now + chrono::Duration::from_std(wait)?));
        }
    }
    update
        .filter(link::Column::OriginTenantId.eq(l.origin_tenant_id))
        .filter(link::Column::LeaseOwner.eq(l.lease_owner.clone()))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// The worker: delivers until nothing is due, then waits for a wake-up or a second.
pub async fn worker(state: AppState, stop: tokio_util::sync::CancellationToken) {
    // A new tenant gets its link before its first change is looked for: the count of tenants
    // is read each round (cheap), the links written only when it moved.
    let mut tenants_seen = u64::MAX;
    loop {
        match tenant::Entity::find().count(&state.db).await {
            Ok(n) if n != tenants_seen => match ensure_links(&state.db).await {
                Ok(()) => tenants_seen = n,
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "federation: links not refreshed"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "federation: tenants not counted"),
        }
        loop {
            match run_once(&state).await {
                Ok(0) => break,
                Ok(_) => {
                    if stop.is_cancelled() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "federation: delivery round failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.federation.idle(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_skip_the_links_another_is_claiming_on_postgresql() {
        let now = Utc::now();
        let sql = |b: DbBackend| b.build(&claim_statement(b, "r1", now, now)).to_string();
        let pg = sql(DbBackend::Postgres);
        assert!(pg.contains("FOR UPDATE SKIP LOCKED") && pg.contains("RETURNING"), "{pg}");
        let lite = sql(DbBackend::Sqlite);
        assert!(!lite.contains("FOR UPDATE") && lite.contains("RETURNING"), "{lite}");
    }
}
