//! The public trace lookup (R-PUB-3): what a consumer sees after scanning a code — only public
//! fields — and how often and since when the code has been queried (a single item's code
//! queried suspiciously often is the usual sign of a copied label). Every query is recorded for
//! the analysis of query behaviour (R-ANA-3) without slowing the answer: queries go to a
//! channel and a background task writes them in batches.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dto::{PublicStage, PublicTrace};
use super::entity::{code_anomaly, code_index, code_query, code_stats, event};
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

/// Answers by code (`None`: no record carries it), in process, for a minute, and which codes'
/// answers each lineage node (subject, batch) went into. Concurrent lookups of one cold code
/// wait for one load. An ingest invalidates the codes it wrote and the answers that read the
/// nodes it wrote (a later record on the farm's lot changes the answer of every code printed
/// downstream of it), on its replica and, through Redis when configured, on every replica;
/// without Redis other replicas see new records within the minute.
#[derive(Clone, Debug)]
pub struct TraceCache {
    codes: moka::future::Cache<String, Option<Arc<TracePart>>>,
    /// Node → the codes whose cached answers read it. Kept while loads read the node and a
    /// minute after the last (longer than any answer that read it lives); dropped when the node
    /// is written (the answers that read it go with it, and their reloads read it anew).
    by_node: moka::future::Cache<Node, Readers>,
}

/// The codes whose answers read a node.
type Readers = Arc<std::sync::Mutex<HashSet<Arc<str>>>>;

/// Readers of one node above which those whose answers have left the cache are pruned.
const READERS: usize = 10_000;

/// A lineage node: (subject code, batch).
pub type Node = (String, String);

/// What an ingest wrote that cached answers may have read: the codes its new records carry,
/// and the nodes of its new records and lineage edges.
#[derive(Debug, Default)]
pub struct Written {
    /// Trace codes, sorted, once each.
    pub codes: Vec<String>,
    /// (subject, batch) nodes, sorted, once each.
    pub nodes: Vec<Node>,
}

/// The Redis channel on which an ingest names the codes whose cached answers are stale, one
/// per line, and the nodes it wrote, one per line as `\u{1}subject\u{1}batch`.
pub const INVALIDATE_CHANNEL: &str = "suyuan:trace:invalidate";

/// Drops the cached answers an ingest made stale, on this replica and (through Redis, when
/// configured) on every other; then, in the background, looks for unlinked claims among the
/// codes it wrote (see [`check_claims`]).
pub async fn invalidate(state: &crate::state::AppState, written: &Written) {
    if written.codes.is_empty() && written.nodes.is_empty() {
        return;
    }
    drop_twice(&state.trace_cache, written.codes.clone(), written.nodes.clone()).await;
    if let Some(redis) = &state.redis {
        let message = notice(written);
        if let Err(e) = redis.publish(INVALIDATE_CHANNEL, &message).await {
            // Other replicas then show the old answer until it expires (a minute).
            tracing::warn!(error = %e, "cannot publish trace cache invalidation");
        }
    }
    if !written.codes.is_empty() {
        let (db, codes) = (state.db.clone(), written.codes.clone());
        tokio::spawn(async move {
            if let Err(e) = check_claims(&db, &codes).await {
                tracing::warn!(error = %e, "checking the claims of ingested codes failed");
            }
        });
    }
}

/// The line that asks every replica to drop every cached answer.
const DROP_ALL: &str = "\u{1}*";

/// The Redis message naming what an ingest wrote: codes one per line, nodes as
/// `\u{1}subject\u{1}batch`, or [`DROP_ALL`] for a node that cannot be written on one line.
fn notice(written: &Written) -> String {
    let mut message = written.codes.join("\n");
    for (subject, batch) in &written.nodes {
        if !message.is_empty() {
            message.push('\n');
        }
        if subject.contains(['\n', '\u{1}']) || batch.contains(['\n', '\u{1}']) {
            message.push_str(DROP_ALL);
            continue;
        }
        let _ = write!(message, "\u{1}{subject}\u{1}{batch}");
    }
    message
}

/// A notice read back: the codes and nodes, or `None` for "drop everything".
fn read_notice(message: &str) -> Option<(Vec<String>, Vec<Node>)> {
    let (mut codes, mut nodes) = (Vec::new(), Vec::new());
    for line in message.lines() {
        match line.strip_prefix('\u{1}') {
            None => codes.push(line.to_owned()),
            Some("*") => return None,
            Some(node) => {
                if let Some((subject, batch)) = node.split_once('\u{1}') {
                    nodes.push((subject.to_owned(), batch.to_owned()));
                }
            }
        }
    }
    Some((codes, nodes))
}

/// On a notice from another replica: drops the named codes and the answers that read the named
/// nodes, or everything when messages may have been missed (`None`).
pub async fn drop_cached(cache: &TraceCache, message: Option<&str>) {
    match message.and_then(read_notice) {
        Some((codes, nodes)) => drop_twice(cache, codes, nodes).await,
        None => cache.codes.invalidate_all(),
    }
}

/// Drops the codes and the answers that read the nodes now, and once more a moment later: a
/// load that read the records before the ingest committed may still be on its way into the
/// cache.
async fn drop_twice(cache: &TraceCache, codes: Vec<String>, nodes: Vec<Node>) {
    cache.drop_now(&codes, &nodes).await;
    let cache = cache.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cache.drop_now(&codes, &nodes).await;
    });
}

impl TraceCache {
    async fn drop_now(&self, codes: &[String], nodes: &[Node]) {
        for code in codes {
            self.codes.invalidate(code).await;
        }
        for node in nodes {
            let Some(readers) = self.by_node.remove(node).await else { continue };
            let readers: Vec<Arc<str>> = readers.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default();
            for code in readers {
                self.codes.invalidate(&*code).await;
            }
        }
    }

    /// Notes that `code`'s answer read `nodes`.
    async fn read(&self, code: &Arc<str>, nodes: impl IntoIterator<Item = Node>) {
        for node in nodes {
            let readers = self.by_node.get_with(node, async { Readers::default() }).await;
            let Ok(mut readers) = readers.lock() else { continue };
            if readers.len() >= READERS {
                readers.retain(|c| self.codes.contains_key(&**c));
            }
            readers.insert(code.clone());
        }
    }
}

/// A new cache.
#[must_use]
pub fn new_cache() -> TraceCache {
    let ttl = Duration::from_secs(60);
    TraceCache {
        codes: moka::future::Cache::builder().max_capacity(100_000).time_to_live(ttl).build(),
        by_node: moka::future::Cache::builder().max_capacity(1_000_000).time_to_idle(ttl).build(),
    }
}

/// How many steps the public answer walks the lineage, and the most edges it reads each way.
const DEPTH: u32 = 20;
const EDGES: u64 = 20_000;

/// A code's lineage as the public sees it (the rule is in docs/api-design.md, "The public
/// answer and the lineage"):
///
/// - the **owner** is the subject of the code (a platform code's own subject when its records
///   carry the code), else the subject of the first record received that carries it;
/// - the **linked** nodes are the owner's nodes carrying the code and every node reached from
///   them, upstream and downstream, through lineage edges that the side already reached vouches
///   for: an edge is followed from a node only when it was reported by the tenant the node's
///   subject is filed in or by a tenant above it. An edge that another tenant reported about
///   someone else's batch (a "shipment to" or "receipt from" it) leads nowhere;
/// - a record carrying the code at a node that is not linked is an **unlinked claim**.
struct Lineage {
    /// The owner's first record carrying the code.
    owner: event::Model,
    /// The records the answer shows, oldest first.
    shown: Vec<event::Model>,
    /// The linked records carrying the code, oldest first.
    carrying: Vec<event::Model>,
    /// The records carrying the code at nodes that are not linked.
    unlinked: Vec<event::Model>,
    /// Whether the walk was cut short (then nothing is called unlinked).
    cut: bool,
    /// The nodes the answer read.
    nodes: Vec<Node>,
}

/// The records at `nodes`, oldest first: one statement per 300 nodes (the batches through their
/// index, then the pairs).
async fn records_at(db: &DatabaseConnection, nodes: &[Node]) -> ApiResult<Vec<event::Model>> {
    use sea_orm::sea_query::{ExprTrait, ValueTuple};
    let mut out = Vec::new();
    for chunk in nodes.chunks(300) {
        let tuples = chunk.iter().map(|(s, b)| ValueTuple::Two(s.clone().into(), b.clone().into()));
        let mut batches: Vec<&str> = chunk.iter().map(|n| n.1.as_str()).collect();
        batches.sort_unstable();
        batches.dedup();
        out.extend(
            event::Entity::find()
                .filter(event::Column::BatchNo.is_in(batches))
                .filter(
                    Expr::tuple([Expr::col(event::Column::SubjectCode), Expr::col(event::Column::BatchNo)])
                        .in_tuples(tuples),
                )
                .all(db)
                .await?,
        );
    }
    out.sort_by_key(|a| (a.event_time, a.id));
    Ok(out)
}

/// The codes a record carries.
fn codes_of(e: &event::Model) -> Vec<String> {
    serde_json::from_str(&e.trace_codes).unwrap_or_default()
}

/// Reads `code`'s lineage; `None` when no record carries the code.
async fn lineage(db: &DatabaseConnection, code: &str) -> ApiResult<Option<Lineage>> {
    use super::chain::Link;
    // One statement: the records that carry the code, through the code index, in the order
    // the platform received them.
    let records = event::Entity::find()
        .filter(code_index::carried_by(code))
        .order_by_asc(event::Column::RecordedAt)
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?;
    let Some(first) = records.first() else { return Ok(None) };
    let issued_to = super::codes::parse_platform_code(code).map(|(subject, _)| subject);
    let owner = issued_to.and_then(|s| records.iter().find(|e| e.subject_code == s)).unwrap_or(first).clone();
    let start = sea_orm::Condition::all()
        .add(code_index::carried_by(code))
        .add(event::Column::SubjectCode.eq(owner.subject_code.clone()));
    let (up, down, cut) = super::chain::walk_public(db, &start, DEPTH, EDGES).await?;
    let starts: HashSet<Node> = records
        .iter()
        .filter(|e| e.subject_code == owner.subject_code)
        .map(|e| (e.subject_code.clone(), e.batch_no.clone()))
        .collect();
    // Where each subject is filed: an edge is followed from a node only when the tenant that
    // reported it is that subject's tenant or above it.
    let mut codes: HashSet<&str> = starts.iter().map(|n| n.0.as_str()).collect();
    for l in up.iter().chain(&down) {
        codes.insert(&l.from.0);
        codes.insert(&l.to.0);
    }
    let codes: Vec<String> = codes.into_iter().map(str::to_owned).collect();
    let filed = super::chain::subjects(db, &codes).await?;
    let vouches =
        |subject: &str, l: &Link| filed.get(subject).is_some_and(|s| s.tenant_path.starts_with(&l.reported_by));
    let mut depth: HashMap<Node, i32> = starts.iter().map(|n| (n.clone(), 0)).collect();
    // When each downstream node was reached: its records from before the goods arrived are no
    // part of this product's history (a receiver cannot backdate a harvest into it).
    let mut linked_at: HashMap<Node, chrono::DateTime<Utc>> = HashMap::new();
    for (edges, down) in [(&up, false), (&down, true)] {
        let mut leaving: HashMap<&Node, Vec<&Link>> = HashMap::new();
        for l in edges.iter() {
            leaving.entry(if down { &l.from } else { &l.to }).or_default().push(l);
        }
        let mut frontier: Vec<Node> = starts.iter().cloned().collect();
        for level in 1..=i32::try_from(DEPTH).unwrap_or(i32::MAX) {
            let mut next = Vec::new();
            for node in &frontier {
                for l in leaving.get(node).map_or(&[][..], Vec::as_slice) {
                    let there = if down { &l.to } else { &l.from };
                    if vouches(&node.0, l) && !depth.contains_key(there) {
                        depth.insert(there.clone(), if down { level } else { -level });
                        if down {
                            linked_at.insert(there.clone(), l.at);
                        }
                        next.push(there.clone());
                    } else if down && let Some(t) = linked_at.get_mut(there) {
                        // Reached at one level by several movements: from the earliest.
                        if vouches(&node.0, l) && l.at < *t {
                            *t = l.at;
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
    }
    let node_of = |e: &event::Model| (e.subject_code.clone(), e.batch_no.clone());
    let before_arrival = |e: &event::Model| linked_at.get(&node_of(e)).is_some_and(|t| e.event_time < *t);
    let (carrying, unlinked): (Vec<event::Model>, Vec<event::Model>) =
        records.into_iter().partition(|e| depth.contains_key(&node_of(e)) && !before_arrival(e));
    // The answer's nodes: the code's batch and everything upstream of it, and the nodes where
    // linked records carry the code downstream.
    let mut nodes: Vec<Node> = depth.iter().filter(|(_, d)| **d <= 0).map(|(n, _)| n.clone()).collect();
    nodes.extend(carrying.iter().map(node_of));
    nodes.sort_unstable();
    nodes.dedup();
    let on_path: HashSet<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
    let carried: HashSet<Uuid> = carrying.iter().map(|e| e.id).collect();
    let shown: Vec<event::Model> = records_at(db, &nodes)
        .await?
        .into_iter()
        .filter(|e| {
            if carried.contains(&e.id) {
                return true;
            }
            if before_arrival(e) {
                return false;
            }
            let upstream = depth.get(&node_of(e)).is_some_and(|d| *d < 0);
            // A record about other items of the batch (it carries other codes) belongs to their
            // answers, unless it is of the lots the product was made from.
            let other_items = !upstream && !codes_of(e).is_empty();
            // A movement to or from a subject off the product's path is another lot's.
            let off_path = e.counterpart_code.as_deref().is_some_and(|c| !on_path.contains(c));
            !other_items && !off_path
        })
        .collect();
    let mut carrying = carrying;
    carrying.sort_by_key(|a| (a.event_time, a.id));
    Ok(Some(Lineage { owner, shown, carrying, unlinked, cut, nodes }))
}

/// Keeps the unlinked claims of `code` as anomalies (once each).
async fn keep_anomalies(db: &DatabaseConnection, code: &str, l: &Lineage) -> ApiResult<()> {
    if l.cut || l.unlinked.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows: Vec<code_anomaly::Model> = l
        .unlinked
        .iter()
        .map(|e| code_anomaly::Model {
            id: Uuid::now_v7(),
            code: code.to_owned(),
            kind: ANOMALY_UNLINKED.to_owned(),
            event_id: e.id,
            claiming_subject_code: e.subject_code.clone(),
            claiming_tenant_id: e.tenant_id,
            owner_subject_code: l.owner.subject_code.clone(),
            owner_tenant_id: l.owner.tenant_id,
            detected_at: now,
        })
        .collect();
    let ignore =
        OnConflict::columns([code_anomaly::Column::Code, code_anomaly::Column::EventId]).do_nothing().to_owned();
    super::write::insert::<code_anomaly::Entity>(db, rows, "ON CONFLICT (code, event_id) DO NOTHING", Some(ignore))
        .await
}

/// The kind of anomaly: a record carries the code, its subject is not linked into the lineage.
pub const ANOMALY_UNLINKED: &str = "unlinked_claim";

/// Looks for unlinked claims among codes just written: those carried by records of more than
/// one tenant (a claim by the owner's own tenant is found when the code is looked up), one
/// code at a time, so the check never holds more than one connection.
///
/// # Errors
/// Database failures.
pub async fn check_claims(db: &DatabaseConnection, codes: &[String]) -> ApiResult<()> {
    use sea_orm::{QuerySelect, sea_query::ExprTrait};
    for chunk in codes.chunks(500) {
        let shared: Vec<String> = code_index::Entity::find()
            .select_only()
            .column(code_index::Column::Code)
            .filter(code_index::Column::Code.is_in(chunk.iter().cloned()))
            .group_by(code_index::Column::Code)
            .having(Expr::col(code_index::Column::TenantId).count_distinct().gt(1))
            .into_tuple()
            .all(db)
            .await?;
        for code in shared {
            if let Some(l) = lineage(db, &code).await? {
                keep_anomalies(db, &code, &l).await?;
            }
        }
    }
    Ok(())
}

async fn load(
    db: &DatabaseConnection,
    metrics: &crate::metrics::Metrics,
    cache: &TraceCache,
    code: &str,
) -> ApiResult<Option<Arc<TracePart>>> {
    metrics.trace_public_loaded();
    let Some(lineage) = lineage(db, code).await? else { return Ok(None) };
    if let Err(e) = keep_anomalies(db, code, &lineage).await {
        // The answer does not wait for it: the claim is found again at the next load.
        tracing::warn!(error = %e, code, "keeping code anomalies failed");
    }
    let Lineage { shown, carrying, nodes, .. } = lineage;
    // The product as the latest linked record carrying the code names it; the origin is the
    // first primary production on the way (else the earliest record shown).
    let Some(last) = carrying.last() else { return Ok(None) };
    let origin = shown.iter().find(|e| e.stage == "primary_production").or(shown.first());
    let labels = super::reference::ensure(db).await?;
    let stages: Vec<PublicStage> = shown
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
    let single_item = last.trace_codes.matches('"').count() / 2 == 1 && carrying.iter().all(|e| e.quantity <= 1.0);
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
    cache.read(&part.code, nodes).await;
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
        .codes
        .try_get_with_by_ref(code, load(&state.db, &state.metrics, cache, code))
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
    fn a_notice_names_codes_and_nodes_and_reads_back() {
        let node = |s: &str, b: &str| (s.to_owned(), b.to_owned());
        let written = Written {
            codes: vec!["SG-0001".to_owned(), "SG-0002".to_owned()],
            nodes: vec![node("E370783000000150", "A1"), node("E370102000000007", "P 1/2")],
        };
        assert_eq!(read_notice(&notice(&written)), Some((written.codes.clone(), written.nodes.clone())));
        let only_nodes = Written { codes: Vec::new(), nodes: vec![node("E1", "B1")] };
        assert_eq!(read_notice(&notice(&only_nodes)), Some((Vec::new(), only_nodes.nodes.clone())));
        // A batch that cannot be written on one line drops everything.
        let odd = Written { codes: vec!["C".to_owned()], nodes: vec![node("E1", "B\n1")] };
        assert_eq!(read_notice(&notice(&odd)), None);
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
