//! The public trace lookup (R-PUB-3): what a consumer sees after scanning a code — only public
//! fields — and how often and since when the code has been queried (a single item's code
//! queried suspiciously often is the usual sign of a copied label). Every query is recorded for
//! the analysis of query behaviour (R-ANA-3) without slowing the answer: queries go to a
//! channel and a background task writes them in batches.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dto::{PublicStage, PublicTrace};
use super::entity::{code_index, code_query, code_stats, event};
use crate::error::{ApiError, ApiResult};
use crate::pg_txn::PgTxn;

/// Queries of one code above which a single-item code is flagged as suspicious.
pub const SUSPICIOUS_QUERIES: i64 = 20;
/// Queries waiting to be written, at most (more are counted in the log, then dropped).
const QUEUE: usize = 100_000;

/// One public query, on its way to the database: the code, and what the cache holds for it
/// when found (its category, subject type and region are read from there when written).
#[derive(Debug)]
pub struct Query {
    code: Arc<str>,
    part: Option<Arc<TracePart>>,
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
    let mut per_code: HashMap<&str, (i64, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for q in batch.iter().filter(|q| q.part.is_some()) {
        let e = per_code.entry(&q.code).or_insert((0, q.at, q.at));
        e.0 += 1;
        e.1 = Ord::min(e.1, q.at);
        e.2 = Ord::max(e.2, q.at);
    }
    let stats: Vec<code_stats::Model> = per_code
        .into_iter()
        .map(|(code, (queries, first_at, last_at))| code_stats::Model {
            code: code.to_owned(),
            queries,
            first_at,
            last_at,
        })
        .collect();
    if db.get_database_backend() == DbBackend::Postgres {
        // `COPY`: about half the database's work of an `INSERT` on the cores that also answer
        // the queries, and written straight from the cached entries.
        let txn = PgTxn::begin(db.get_postgres_connection_pool()).await?;
        let mut lines = Vec::with_capacity(batch.len() * 96);
        for q in &batch {
            copy_line(&mut lines, q);
        }
        txn.copy_in(COPY_QUERIES, &lines).await?;
        add_counts(&txn, stats).await?;
        txn.commit().await?;
        return Ok(());
    }
    let rows: Vec<code_query::Model> = batch
        .iter()
        .map(|q| code_query::Model {
            id: Uuid::now_v7(),
            code: q.code.to_string(),
            found: q.part.is_some(),
            category_code: q.part.as_ref().and_then(|p| p.public.category_code.clone()),
            queried_at: q.at,
            subject_type: q.part.as_ref().and_then(|p| p.subject_type.clone()),
            consumer_region: q.part.as_ref().map(|p| p.consumer_region.clone()),
        })
        .collect();
    let txn = db.begin().await?;
    super::write::insert::<code_query::Entity>(&txn, rows, "", None).await?;
    add_counts(&txn, stats).await?;
    txn.commit().await?;
    Ok(())
}

/// Adds each code's queries to its stored count (a new code inserted).
async fn add_counts(txn: &impl ConnectionTrait, stats: Vec<code_stats::Model>) -> ApiResult<()> {
    let sum = OnConflict::column(code_stats::Column::Code)
        .values([
            (code_stats::Column::Queries, Expr::cust("trace_code_stats.queries + excluded.queries")),
            (code_stats::Column::LastAt, Expr::cust("excluded.last_at")),
        ])
        .to_owned();
    let pg_sum = "ON CONFLICT (code) DO UPDATE SET queries = trace_code_stats.queries + excluded.queries, \
                  last_at = GREATEST(trace_code_stats.last_at, excluded.last_at)";
    super::write::insert::<code_stats::Entity>(txn, stats, pg_sum, Some(sum)).await
}

/// The columns [`copy_line`] writes.
const COPY_QUERIES: &str =
    "COPY trace_code_queries (id, code, found, category_code, queried_at, subject_type, consumer_region) FROM STDIN";

/// One query as a line of `COPY`'s text format: tab-separated, `\N` for NULL.
fn copy_line(buf: &mut Vec<u8>, q: &Query) {
    use super::write::{copy_text_value as text, copy_time};
    let part = q.part.as_deref();
    buf.extend_from_slice(Uuid::now_v7().hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
    buf.push(b'\t');
    text(buf, Some(&q.code));
    buf.extend_from_slice(if part.is_some() { b"\tt\t" } else { b"\tf\t" });
    text(buf, part.and_then(|p| p.public.category_code.as_deref()));
    buf.push(b'\t');
    copy_time(buf, q.at);
    buf.push(b'\t');
    text(buf, part.and_then(|p| p.subject_type.as_deref()));
    buf.push(b'\t');
    text(buf, part.map(|p| p.consumer_region.as_str()));
    buf.push(b'\n');
}

/// The public part of a code's records, as cached: everything of the answer but the counts.
#[derive(Debug)]
pub struct TracePart {
    code: Arc<str>,
    public: PublicPart,
    /// The answer's JSON up to its counts (`{"code":…,"stages":[…],`), written once at load:
    /// a cached answer is this plus a few bytes, not a tree cloned and serialized again.
    head: String,
    /// The first query as the answer's JSON writes it.
    first_json: String,
    single_item: bool,
    /// For the query log only (R-ANA-3), never in the answer: the type of the subject of the
    /// latest record, and that record's region (where the product reached the consumer).
    subject_type: Option<String>,
    consumer_region: String,
    /// The stored count and first query when loaded (a code never queried: the load's time);
    /// the writer adds this replica's queries to the stored row in batches.
    stored: (i64, DateTime<Utc>),
    /// Queries answered from this cached entry since it was loaded.
    since_load: AtomicI64,
}

/// The fields of [`PublicTrace`] between its code and its counts, in its order.
#[derive(Debug, Serialize)]
struct PublicPart {
    product_name: String,
    category_code: Option<String>,
    origin_name: String,
    origin_division_code: String,
    stages: Vec<PublicStage>,
}

/// The JSON head of an answer: the code, then the public part.
#[derive(Serialize)]
struct Head<'a> {
    code: &'a str,
    #[serde(flatten)]
    public: &'a PublicPart,
}

impl TracePart {
    fn new(
        code: &str,
        public: PublicPart,
        single_item: bool,
        subject_type: Option<String>,
        consumer_region: String,
        stored: (i64, DateTime<Utc>),
    ) -> serde_json::Result<Self> {
        let mut head = serde_json::to_string(&Head { code, public: &public })?;
        head.pop(); // the closing brace: the counts follow
        head.push(',');
        Ok(Self {
            code: Arc::from(code),
            public,
            head,
            first_json: serde_json::to_string(&stored.1)?,
            single_item,
            subject_type,
            consumer_region,
            stored,
            since_load: AtomicI64::new(0),
        })
    }

    fn warning(&self, queries: i64) -> Option<String> {
        (self.single_item && queries > SUSPICIOUS_QUERIES).then(|| {
            format!("该追溯码已被查询 {queries} 次。单件商品的追溯码被多次查询，可能是假冒产品，请谨慎购买并向市场监管部门反映。")
        })
    }

    /// The answer with `queries` (for pages).
    fn answer(&self, queries: i64) -> PublicTrace {
        let p = &self.public;
        PublicTrace {
            code: self.code.to_string(),
            product_name: p.product_name.clone(),
            category_code: p.category_code.clone(),
            origin_name: p.origin_name.clone(),
            origin_division_code: p.origin_division_code.clone(),
            stages: p.stages.clone(),
            queries,
            first_queried_at: Some(self.stored.1),
            warning: self.warning(queries),
        }
    }

    /// The same answer as JSON: the cached head and the counts.
    fn answer_json(&self, queries: i64) -> serde_json::Result<String> {
        let warning = serde_json::to_string(&self.warning(queries))?;
        let mut body = String::with_capacity(self.head.len() + 64 + warning.len());
        body.push_str(&self.head);
        // Writing to a String cannot fail.
        let _ = write!(
            body,
            "\"queries\":{queries},\"first_queried_at\":{first},\"warning\":{warning}}}",
            first = self.first_json
        );
        Ok(body)
    }
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
    let labels = super::reference::ensure(db).await?;
    let stages: Vec<PublicStage> = events
        .iter()
        .map(|e| {
            let offset = FixedOffset::east_opt(e.event_offset_minutes * 60)
                .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()));
            let inspection: Option<super::dto::Inspection> =
                e.inspection.as_deref().and_then(|i| serde_json::from_str(i).ok());
            PublicStage {
                // What happened, as the labels (reference data) say it.
                stage: labels.stage_label(&e.stage).to_owned(),
                action: labels.action_label(&e.stage, &e.action).to_owned(),
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
    let public = PublicPart {
        product_name: last.product_name.clone(),
        category_code: last.category_code.clone(),
        origin_name: origin.map(|o| o.subject_name.clone()).unwrap_or_default(),
        origin_division_code: origin.map(|o| o.division_code.clone()).unwrap_or_default(),
        stages,
    };
    let stored = stats.map_or((0, Utc::now()), |s| (s.queries, s.first_at));
    let part = TracePart::new(code, public, single_item, subject_type, last.division_code.clone(), stored)
        .map_err(ApiError::internal)?;
    Ok(Some(Arc::new(part)))
}

/// A code's cached part and its count with this query, the query recorded.
///
/// # Errors
/// 404 when no record carries the code.
async fn count(state: &crate::state::AppState, code: &str) -> ApiResult<(Arc<TracePart>, i64)> {
    let (cache, log) = (&state.trace_cache, &state.query_log);
    let at = Utc::now();
    let part = cache
        .try_get_with_by_ref(code, load(&state.db, &state.metrics, code))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("public trace lookup: {}", e.to_problem(None).title)))?;
    let Some(part) = part else {
        log.record(Query { code: Arc::from(code), part: None, at });
        return Err(ApiError::not_found("未查询到该追溯码的信息"));
    };
    // The count without a database round trip: what was stored at load plus this replica's
    // queries since (the writer stores them; other replicas' recent queries show after a reload).
    let queries = part.stored.0 + part.since_load.fetch_add(1, Ordering::Relaxed) + 1;
    log.record(Query { code: part.code.clone(), part: Some(part.clone()), at });
    Ok((part, queries))
}

/// The public answer for a code (its records and stored count from the cache, plus this
/// replica's queries since), and the query recorded.
///
/// # Errors
/// 404 when no record carries the code.
pub async fn lookup(state: &crate::state::AppState, code: &str) -> ApiResult<PublicTrace> {
    let (part, queries) = count(state, code).await?;
    Ok(part.answer(queries))
}

/// [`lookup`] as the JSON of [`PublicTrace`], written from the cached head and the counts.
///
/// # Errors
/// As [`lookup`].
pub async fn lookup_json(state: &crate::state::AppState, code: &str) -> ApiResult<String> {
    let (part, queries) = count(state, code).await?;
    part.answer_json(queries).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(single_item: bool) -> TracePart {
        let stage = |item: Option<&str>| PublicStage {
            stage: "产品检测".to_owned(),
            action: "检测".to_owned(),
            date: "2026-11-20".to_owned(),
            division_code: "370783".to_owned(),
            test_item: item.map(str::to_owned),
            test_passed: item.map(|_| true),
        };
        let public = PublicPart {
            product_name: "寿光\"番茄\"\\ 一级".to_owned(),
            category_code: None,
            origin_name: "寿光示范蔬菜集团".to_owned(),
            origin_division_code: "370783".to_owned(),
            stages: vec![stage(None), stage(Some("农药残留"))],
        };
        let first = DateTime::parse_from_rfc3339("2026-12-01T08:30:00.123456Z").unwrap().with_timezone(&Utc);
        TracePart::new("SG-0001", public, single_item, Some("market".to_owned()), "370104".to_owned(), (7, first))
            .unwrap()
    }

    #[test]
    fn the_cached_json_is_the_answer_serialized() {
        for (single_item, queries) in [(false, 8), (true, 8), (true, SUSPICIOUS_QUERIES + 1)] {
            let p = part(single_item);
            let fast: serde_json::Value = serde_json::from_str(&p.answer_json(queries).unwrap()).unwrap();
            assert_eq!(fast, serde_json::to_value(p.answer(queries)).unwrap());
            assert_eq!(fast["warning"].is_string(), single_item && queries > SUSPICIOUS_QUERIES, "{fast}");
        }
    }

    #[test]
    fn a_copy_line_escapes_text_and_writes_nulls() {
        let mut p = part(false);
        p.public.category_code = Some("a\tb\\c\nd".to_owned());
        let at = DateTime::parse_from_rfc3339("2026-12-06T04:05:06.5+08:00").unwrap().with_timezone(&Utc);
        let mut buf = Vec::new();
        copy_line(&mut buf, &Query { code: Arc::from("SG-0001"), part: Some(Arc::new(p)), at });
        copy_line(&mut buf, &Query { code: Arc::from("NO-0001"), part: None, at });
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(Uuid::parse_str(lines[0][0]).is_ok());
        assert_eq!(
            lines[0][1..],
            ["SG-0001", "t", "a\\tb\\\\c\\nd", "2026-12-05 20:05:06.500000+00", "market", "370104"]
        );
        assert_eq!(lines[1][1..], ["NO-0001", "f", "\\N", "2026-12-05 20:05:06.500000+00", "\\N", "\\N"]);
    }
}
