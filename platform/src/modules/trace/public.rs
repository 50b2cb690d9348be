//! The public trace lookup (R-PUB-3): what a consumer sees after scanning a code — only public
//! fields — and how often and since when the code has been queried (a single item's code
//! queried suspiciously often is the usual sign of a copied label). Every query is recorded for
//! the analysis of query behaviour (R-ANA-3) without slowing the answer: queries go to a
//! channel and a background task writes them in batches.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dto::{ACTIONS, PublicStage, PublicTrace};
use super::entity::{code_index, code_query, code_stats, event};
use crate::error::{ApiError, ApiResult};
use crate::modules::subjects::dto::STAGES;

/// Queries of one code above which a single-item code is flagged as suspicious.
pub const SUSPICIOUS_QUERIES: i64 = 20;
/// Queries waiting to be written, at most (more are counted in the log, then dropped).
const QUEUE: usize = 100_000;

/// One public query, on its way to the database.
#[derive(Debug)]
pub struct Query {
    code: String,
    found: bool,
    category: Option<String>,
    subject_type: Option<String>,
    consumer_region: Option<String>,
    at: DateTime<Utc>,
}

/// Where the lookups send their queries.
#[derive(Clone, Debug)]
pub struct QueryLog {
    tx: mpsc::Sender<Query>,
    dropped: std::sync::Arc<AtomicI64>,
}

impl QueryLog {
    /// A log and the receiving end for [`run_writer`].
    #[must_use]
    pub fn new() -> (Self, mpsc::Receiver<Query>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx, dropped: std::sync::Arc::new(AtomicI64::new(0)) }, rx)
    }

    fn record(&self, q: Query) {
        if self.tx.try_send(q).is_err() {
            // Once per thousand, not per query: a flood of lines would add to the overload.
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 1_000 == 1 {
                tracing::warn!(dropped = n, "public query log is full: queries are not being recorded");
            }
        }
    }
}

/// Writes the queued queries in batches (gathered for 200 ms, up to 20 000 at a time) until
/// `stop`, then what is left.
pub async fn run_writer(db: DatabaseConnection, mut rx: mpsc::Receiver<Query>, stop: CancellationToken) {
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            n = rx.recv_many(&mut batch, 1_000) => if n == 0 { break },
        }
        // Take what is queued; when that is little, let a burst gather for a moment first, so
        // a quiet system writes seldom and a busy one writes big batches back to back.
        let mut waited = false;
        loop {
            while batch.len() < 20_000 {
                match rx.try_recv() {
                    Ok(q) => batch.push(q),
                    Err(_) => break,
                }
            }
            if waited || batch.len() >= 1_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            waited = true;
        }
        if let Err(e) = write(&db, std::mem::take(&mut batch)).await {
            tracing::warn!(error = %e, "writing public queries failed");
        }
    }
    rx.close();
    while let Ok(q) = rx.try_recv() {
        batch.push(q);
    }
    if !batch.is_empty()
        && let Err(e) = write(&db, batch).await
    {
        tracing::warn!(error = %e, "writing public queries failed");
    }
}

async fn write(db: &DatabaseConnection, batch: Vec<Query>) -> ApiResult<()> {
    let mut per_code: HashMap<String, (i64, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for q in batch.iter().filter(|q| q.found) {
        let e = per_code.entry(q.code.clone()).or_insert((0, q.at, q.at));
        e.0 += 1;
        e.1 = Ord::min(e.1, q.at);
        e.2 = Ord::max(e.2, q.at);
    }
    let txn = db.begin().await?;
    let rows: Vec<code_query::Model> = batch
        .into_iter()
        .map(|q| code_query::Model {
            id: Uuid::now_v7(),
            code: q.code,
            found: q.found,
            category_code: q.category,
            queried_at: q.at,
            subject_type: q.subject_type,
            consumer_region: q.consumer_region,
        })
        .collect();
    // One statement per table for the whole batch on PostgreSQL (thousands of queries a second).
    super::write::insert::<code_query::Entity>(&txn, rows, "", None).await?;
    let stats: Vec<code_stats::Model> = per_code
        .into_iter()
        .map(|(code, (queries, first_at, last_at))| code_stats::Model { code, queries, first_at, last_at })
        .collect();
    let sum = OnConflict::column(code_stats::Column::Code)
        .values([
            (code_stats::Column::Queries, Expr::cust("trace_code_stats.queries + excluded.queries")),
            (code_stats::Column::LastAt, Expr::cust("excluded.last_at")),
        ])
        .to_owned();
    let pg_sum = "ON CONFLICT (code) DO UPDATE SET queries = trace_code_stats.queries + excluded.queries, \
                  last_at = GREATEST(trace_code_stats.last_at, excluded.last_at)";
    super::write::insert::<code_stats::Entity>(&txn, stats, pg_sum, Some(sum)).await?;
    txn.commit().await?;
    Ok(())
}

/// The public part of a code's records, as cached: everything of the answer but the counts.
#[derive(Debug)]
pub struct TracePart {
    product_name: String,
    category_code: Option<String>,
    origin_name: String,
    origin_division_code: String,
    stages: Vec<PublicStage>,
    single_item: bool,
    /// For the query log only (R-ANA-3), never in the answer: the type of the subject of the
    /// latest record, and that record's region (where the product reached the consumer).
    subject_type: Option<String>,
    consumer_region: String,
    /// The stored count and first query when loaded (a code never queried: the load's time) (the writer adds this replica's queries
    /// to the stored row in batches).
    stored: (i64, DateTime<Utc>),
    /// Queries answered from this cached entry since it was loaded.
    since_load: AtomicI64,
}

/// Answers by code (`None`: no record carries it), in process, for a minute. Concurrent
/// lookups of one cold code wait for one load. An ingest invalidates the codes it wrote on its
/// replica and, through Redis when configured, on every replica; without Redis other replicas
/// see new records within the minute.
pub type TraceCache = moka::future::Cache<String, Option<Arc<TracePart>>>;

/// The Redis channel on which an ingest names the codes whose cached answers are stale, one
/// per line.
pub const INVALIDATE_CHANNEL: &str = "suyuan:trace:invalidate";

/// Drops the cached answers of the codes an ingest wrote, on this replica and (through Redis,
/// when configured) on every other.
pub async fn invalidate(state: &crate::state::AppState, codes: &[String]) {
    if codes.is_empty() {
        return;
    }
    drop_twice(&state.trace_cache, codes.to_vec()).await;
    if let Some(redis) = &state.redis
        && let Err(e) = redis.publish(INVALIDATE_CHANNEL, &codes.join("\n")).await
    {
        // Other replicas then show the old answer until it expires (a minute).
        tracing::warn!(error = %e, "cannot publish trace cache invalidation");
    }
}

/// On a notice from another replica: drops the named codes, or everything when messages may
/// have been missed (`None`).
pub async fn drop_cached(cache: &TraceCache, codes: Option<&str>) {
    match codes {
        Some(codes) => drop_twice(cache, codes.lines().map(str::to_owned).collect()).await,
        None => cache.invalidate_all(),
    }
}

/// Drops the codes now, and once more a moment later: a load that read the records before the
/// ingest committed may still be on its way into the cache.
async fn drop_twice(cache: &TraceCache, codes: Vec<String>) {
    for code in &codes {
        cache.invalidate(code).await;
    }
    let cache = cache.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for code in &codes {
            cache.invalidate(code).await;
        }
    });
}

/// A new cache.
#[must_use]
pub fn new_cache() -> TraceCache {
    moka::future::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(60)).build()
}

async fn load(
    db: &DatabaseConnection,
    metrics: &crate::metrics::Metrics,
    code: &str,
) -> ApiResult<Option<Arc<TracePart>>> {
    metrics.trace_public_loaded();
    // One statement: the records that carry the code, through the code index.
    let events = event::Entity::find()
        .filter(code_index::carried_by(code))
        .order_by_asc(event::Column::EventTime)
        .all(db)
        .await?;
    // The product as the latest record names it; the origin is the first primary production.
    let Some(last) = events.last() else { return Ok(None) };
    let origin = events.iter().find(|e| e.stage == "primary_production").or(events.first());
    let stages = events
        .iter()
        .map(|e| {
            let offset = FixedOffset::east_opt(e.event_offset_minutes * 60)
                .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()));
            let inspection: Option<super::dto::Inspection> =
                e.inspection.as_deref().and_then(|i| serde_json::from_str(i).ok());
            PublicStage {
                stage: crate::modules::subjects::export::label(STAGES, &e.stage).to_owned(),
                action: ACTIONS
                    .iter()
                    .find(|(s, a, _)| *s == e.stage && *a == e.action)
                    .map_or("", |(.., l)| *l)
                    .to_owned(),
                date: e.event_time.with_timezone(&offset).format("%Y-%m-%d").to_string(),
                division_code: e.division_code.clone(),
                test_item: inspection.as_ref().map(|i| i.item.clone()),
                test_passed: inspection.map(|i| i.result == "pass"),
            }
        })
        .collect();
    // One code on many items (a batch code) is queried often by design; an item's code is not.
    let single_item = last.trace_codes.matches('"').count() / 2 == 1 && events.iter().all(|e| e.quantity <= 1.0);
    let stats = code_stats::Entity::find_by_id(code.to_owned()).one(db).await?;
    let subject_type = super::chain::subjects(db, std::slice::from_ref(&last.subject_code))
        .await?
        .remove(&last.subject_code)
        .map(|s| s.kind);
    Ok(Some(Arc::new(TracePart {
        product_name: last.product_name.clone(),
        category_code: last.category_code.clone(),
        origin_name: origin.map(|o| o.subject_name.clone()).unwrap_or_default(),
        origin_division_code: origin.map(|o| o.division_code.clone()).unwrap_or_default(),
        stages,
        single_item,
        subject_type,
        consumer_region: last.division_code.clone(),
        stored: stats.map_or((0, Utc::now()), |s| (s.queries, s.first_at)),
        since_load: AtomicI64::new(0),
    })))
}

/// The public answer for a code (its records from the cache, its count from the database), and
/// the query recorded.
///
/// # Errors
/// 404 when no record carries the code.
pub async fn lookup(state: &crate::state::AppState, code: &str) -> ApiResult<PublicTrace> {
    let (cache, log) = (&state.trace_cache, &state.query_log);
    let now = Utc::now();
    let part = cache
        .try_get_with(code.to_owned(), load(&state.db, &state.metrics, code))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("public trace lookup: {}", e.to_problem(None).title)))?;
    let Some(part) = part else {
        log.record(Query {
            code: code.to_owned(),
            found: false,
            category: None,
            subject_type: None,
            consumer_region: None,
            at: now,
        });
        return Err(ApiError::not_found("未查询到该追溯码的信息"));
    };
    // The count without a database round trip: what was stored at load plus this replica's
    // queries since (the writer stores them; other replicas' recent queries show after a reload).
    let queries = part.stored.0 + part.since_load.fetch_add(1, Ordering::Relaxed) + 1;
    let first = Some(part.stored.1);
    log.record(Query {
        code: code.to_owned(),
        found: true,
        category: part.category_code.clone(),
        subject_type: part.subject_type.clone(),
        consumer_region: Some(part.consumer_region.clone()),
        at: now,
    });
    Ok(PublicTrace {
        code: code.to_owned(),
        product_name: part.product_name.clone(),
        category_code: part.category_code.clone(),
        origin_name: part.origin_name.clone(),
        origin_division_code: part.origin_division_code.clone(),
        stages: part.stages.clone(),
        queries,
        first_queried_at: first,
        warning: (part.single_item && queries > SUSPICIOUS_QUERIES).then(|| {
            format!("该追溯码已被查询 {queries} 次。单件商品的追溯码被多次查询，可能是假冒产品，请谨慎购买并向市场监管部门反映。")
        }),
    })
}
