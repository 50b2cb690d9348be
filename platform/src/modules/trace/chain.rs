//! Trace-chain synthesis (R-EMG-3): from a batch or a trace code, every node upstream (where it
//! came from) and downstream (where it went), across tenants and provinces. Each direction is
//! walked by the database in one recursive statement that returns the lineage edges it crossed,
//! with the product and the reporting tenant of each (a recall on PostgreSQL: two such
//! statements at once, each from half of the first edges); the walk is then replayed breadth
//! first here to give every node its depth and to apply the size bound exactly. The answer is a
//! view of what was read, and a large one is sent while it is written. Cycles end at nodes
//! already seen; the same movement reported by both sides (shipped and received) is one flow.
//! Depth and size are bounded, and the answer says when a bound was hit. Visibility (R-SEC-6):
//! inside the caller's subtree every detail; outside it a node shows its name, code, region and
//! responsible tenant, and flows reported there show no quantity.

use foldhash::{HashMap, HashSet};

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Condition, Expr, Query, SelectStatement, UnionType, WithClause,
};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::dto::{ChainFlow, ChainNode, ChainQuery, ChainResponse, NodeId};
use super::entity::{code_index, event, lineage};
use crate::error::{ApiError, ApiResult};
use crate::modules::admin::service::Ctx;
use crate::modules::subjects::entity::{enterprise, merchant};
use suyuan_tenancy::TenantScope;
use suyuan_tenancy::entity::tenant;

/// The deepest walk allowed.
pub const MAX_DEPTH: u32 = 50;
/// The most nodes one answer holds unless asked for more.
pub const DEFAULT_NODES: usize = 5_000;
/// The most nodes one may ask for (a recall across a market).
pub const MAX_NODES: usize = 200_000;
/// Subject codes per describing statement (each is bound twice): under SQLite's limit.
const CHUNK: usize = 5_000;

type Key = (String, String);

/// A lineage edge (with the product of the record that made it) and the path of the tenant that
/// reported it (which decides whether the caller sees its quantity).
#[derive(Debug, FromQueryResult)]
struct Edge {
    id: Uuid,
    tenant_id: Uuid,
    tenant_path: String,
    kind: String,
    from_subject_code: String,
    from_batch: String,
    to_subject_code: String,
    to_batch: String,
    quantity: Option<f64>,
    event_time: chrono::DateTime<chrono::Utc>,
    product_name: String,
    unit: Option<String>,
}

impl Edge {
    /// The (subject, batch) the walk arrives from and goes to.
    fn ends(&self, down: bool) -> ((&str, &str), (&str, &str)) {
        let from = (self.from_subject_code.as_str(), self.from_batch.as_str());
        let to = (self.to_subject_code.as_str(), self.to_batch.as_str());
        if down { (from, to) } else { (to, from) }
    }
}

/// One direction's walk as one statement, over the edges themselves:
///
/// ```sql
/// WITH RECURSIVE w(<edge columns>, d) AS (
///   SELECT l.*, 1 FROM trace_lineage l
///   WHERE (l.from_batch, l.from_subject_code) IN (SELECT batch_no, subject_code FROM trace_events
///                                                 WHERE <start>)
///   UNION SELECT l.*, w.d + 1
///         FROM w JOIN trace_lineage l ON (l.from_batch, l.from_subject_code) = (w.to_batch, w.to_subject_code)
///         WHERE w.d < :depth)
/// SELECT x.*, t.path FROM (SELECT * FROM w LIMIT :cap) x JOIN tenants t ON t.id = x.tenant_id
/// ```
///
/// (`up` swaps from and to). Each row is an edge with the number of steps to its far end, so the
/// edges come back with everything a flow shows and are looked up once. `UNION` drops an (edge,
/// depth) row seen before: a cycle ends at `depth`, and a node reached by several edges at the same
/// depth is walked on once per such edge but yields each onward edge once. The rows are capped
/// (`cap`; the caller treats a full answer as cut short). PostgreSQL computes a recursive query only
/// as far as it is read, so the outer `LIMIT` stops it; SQLite takes the limit inside the
/// recursive query instead.
///
/// `half`: walk only from the first edges whose far end hashes to that half (0 or 1;
/// PostgreSQL only). A recall walks its two halves at once on two connections, so the database
/// uses two cores; a node both halves reach is walked twice, and the replay keeps it once.
///
/// Returns the edges, and whether the cap cut them short.
async fn walk(
    db: &sea_orm::DatabaseConnection,
    start: &Condition,
    down: bool,
    depth: u32,
    cap: u64,
    half: Option<bool>,
) -> ApiResult<(Vec<Edge>, bool)> {
    use lineage::Column as L;
    use sea_orm::sea_query::ExprTrait;
    const COLUMNS: [L; 11] = [
        L::Id,
        L::TenantId,
        L::Kind,
        L::FromSubjectCode,
        L::FromBatch,
        L::ToSubjectCode,
        L::ToBatch,
        L::Quantity,
        L::EventTime,
        L::ProductName,
        L::Unit,
    ];
    let backend = db.get_database_backend();
    let (near, far) = if down {
        ((L::FromBatch, L::FromSubjectCode), (L::ToBatch, L::ToSubjectCode))
    } else {
        ((L::ToBatch, L::ToSubjectCode), (L::FromBatch, L::FromSubjectCode))
    };
    let (w, x, d) = (Alias::new("w"), Alias::new("x"), Alias::new("d"));
    let l = lineage::Entity;
    let depth = i32::try_from(depth).unwrap_or(i32::MAX);

    let mut seed = Query::select();
    for c in COLUMNS {
        seed.column((l, c));
    }
    // On PostgreSQL the lineage indexes are in the "C" collation (migration 030): codes compare
    // as bytes, and the walk's comparisons say so to use them.
    let bytes = |e: Expr| if backend == DbBackend::Postgres { Expr::cust_with_expr(r#"$1 COLLATE "C""#, e) } else { e };
    seed.expr(Expr::cust("1")).from(l).and_where(
        Expr::tuple([Expr::col((l, near.0)), Expr::col((l, near.1))]).in_subquery(
            Query::select()
                .expr(bytes(Expr::col(event::Column::BatchNo)))
                .expr(bytes(Expr::col(event::Column::SubjectCode)))
                .from(event::Entity)
                .cond_where(start.clone())
                .to_owned(),
        ),
    );
    if let Some(half) = half {
        let far_end =
            Expr::cust_with_exprs("mod(hashtext($1 || '|' || $2), 2)", [Expr::col((l, far.1)), Expr::col((l, far.0))]);
        seed.and_where(if half { far_end.ne(0) } else { far_end.eq(0) });
    }
    let mut step = Query::select();
    for c in COLUMNS {
        step.column((l, c));
    }
    step.expr(Expr::col((w.clone(), d.clone())).add(1))
        .from(w.clone())
        .inner_join(
            l,
            Expr::col((l, near.0))
                .eq(bytes(Expr::col((w.clone(), far.0))))
                .and(Expr::col((l, near.1)).eq(bytes(Expr::col((w.clone(), far.1))))),
        )
        .and_where(Expr::col((w.clone(), d.clone())).lt(depth));
    seed.union(UnionType::Distinct, step);
    let mut rows = Query::select();
    rows.column(sea_orm::sea_query::Asterisk).from(w.clone());
    if backend == DbBackend::Postgres {
        rows.limit(cap);
    } else {
        seed.limit(cap);
    }
    let mut names: Vec<Alias> = COLUMNS.iter().map(|c| Alias::new(sea_orm::IdenStatic::as_str(c))).collect();
    names.push(d);
    let cte = CommonTableExpression::new().query(seed).columns(names).table_name(w).to_owned();

    let t = tenant::Entity;
    let mut q = Query::select();
    q.column((x.clone(), sea_orm::sea_query::Asterisk))
        .expr_as(Expr::col((t, tenant::Column::Path)), Alias::new("tenant_path"))
        .from_subquery(rows, x.clone())
        .inner_join(t, Expr::col((t, tenant::Column::Id)).equals((x, L::TenantId)));
    let query = WithClause::new().recursive(true).cte(cte).to_owned().query(q);
    // Read as the database sends them, so decoding overlaps the rest of the walk.
    let mut rows = Edge::find_by_statement(backend.build(&query)).stream(db).await?;
    let mut edges = Vec::new();
    while let Some(edge) = futures_util::TryStreamExt::try_next(&mut rows).await? {
        edges.push(edge);
    }
    let cut = u64::try_from(edges.len()).unwrap_or(u64::MAX) >= cap;
    Ok((edges, cut))
}

/// A lineage edge as the public lookup reads it: its ends and the path of the tenant that
/// reported it.
#[derive(Debug)]
pub(super) struct Link {
    /// The upstream end (subject, batch).
    pub(super) from: Key,
    /// The downstream end.
    pub(super) to: Key,
    /// The reporting tenant's path.
    pub(super) reported_by: String,
    /// When the goods moved (the reported event's time).
    pub(super) at: chrono::DateTime<chrono::Utc>,
}

impl From<Edge> for Link {
    fn from(e: Edge) -> Self {
        Self {
            from: (e.from_subject_code, e.from_batch),
            to: (e.to_subject_code, e.to_batch),
            reported_by: e.tenant_path,
            at: e.event_time,
        }
    }
}

/// The chain's walks, both directions at once, from the (subject, batch) pairs of the records
/// matching `start`, for the public lookup: no caller, no scope (the lookup shows public fields
/// only and decides itself which edges it follows). At most `cap` edges a direction. Returns
/// the edges upstream, the edges downstream, and whether the cap cut either short.
///
/// # Errors
/// Database failures.
pub(super) async fn walk_public(
    db: &sea_orm::DatabaseConnection,
    start: &Condition,
    depth: u32,
    cap: u64,
) -> ApiResult<(Vec<Link>, Vec<Link>, bool)> {
    let ((up, up_cut), (down, down_cut)) =
        tokio::try_join!(walk(db, start, false, depth, cap, None), walk(db, start, true, depth, cap, None))?;
    let links = |edges: Vec<Edge>| edges.into_iter().map(Link::from).collect::<Vec<_>>();
    Ok((links(up), links(down), up_cut || down_cut))
}

/// The walk in one direction, replayed breadth first over the edges the database returned:
/// each new node gets its depth (negative upstream) unless the other direction gave it one, and
/// the edges between kept nodes are kept. Returns why the walk stopped short, if it did.
fn replay(
    starts: &HashSet<Key>,
    edges: Vec<Edge>,
    down: bool,
    depth: u32,
    max_nodes: usize,
    depth_of: &mut HashMap<Key, i32>,
    (kept, kept_ids): &mut (Vec<Edge>, HashSet<Uuid>),
) -> Option<String> {
    // The same edge comes back once per depth it was reached at: the first is enough.
    let mut leaving: HashMap<(&str, &str), Vec<usize>> = HashMap::default();
    let mut ids = HashSet::default();
    for (i, e) in edges.iter().enumerate() {
        if ids.insert(e.id) {
            leaving.entry(e.ends(down).0).or_default().push(i);
        }
    }
    let mut seen: HashSet<(&str, &str)> = starts.iter().map(|(s, b)| (s.as_str(), b.as_str())).collect();
    let mut frontier: Vec<(&str, &str)> = seen.iter().copied().collect();
    let mut keep = vec![false; edges.len()];
    let mut stopped = None;
    let last = i32::try_from(depth).unwrap_or(i32::MAX);
    'levels: for level in 1..=last {
        let mut next = Vec::new();
        for node in &frontier {
            for &i in leaving.get(node).map_or(&[][..], Vec::as_slice) {
                let there = edges[i].ends(down).1;
                if seen.insert(there) {
                    if depth_of.len() >= max_nodes {
                        stopped = Some(format!(
                            "链条超过 {max_nodes} 个节点，只显示了前 {max_nodes} 个；可加大 max_nodes（最多 {MAX_NODES}），或从更靠近的批次开始查询"
                        ));
                        break 'levels;
                    }
                    depth_of.entry((there.0.to_owned(), there.1.to_owned())).or_insert(if down {
                        level
                    } else {
                        -level
                    });
                    next.push(there);
                }
                keep[i] = true;
            }
        }
        frontier = next;
        if frontier.is_empty() {
            break;
        }
        if level == last {
            stopped = Some(format!("已达到查询深度 {depth} 层，链条可能还在继续；可加大 depth（最多 {MAX_DEPTH}）"));
        }
    }
    kept.reserve(edges.len());
    for (e, keep) in edges.into_iter().zip(keep) {
        if keep && kept_ids.insert(e.id) {
            kept.push(e);
        }
    }
    stopped
}

/// A built chain: the nodes, the kept edges and the subjects as they were read. The answer is a
/// view of them ([`Chain::response`]), so a recall's hundreds of thousands of strings are written
/// out, never copied.
pub struct Chain {
    starts: Vec<Key>,
    truncated: Option<String>,
    /// The nodes with their depths, upstream first (by depth, then id).
    nodes: Vec<(Key, i32)>,
    /// The nodes' subjects by code, each with whether it is inside the caller's subtree.
    subjects: HashMap<String, (Subject, bool)>,
    edges: Vec<Edge>,
    /// The flows, oldest first.
    flows: Vec<Flow>,
}

/// A movement: the first of the edges reporting it, and what the reports together say.
struct Flow {
    edge: usize,
    quantity: Option<f64>,
    /// The edge whose quantity (and unit) shows.
    measured: Option<usize>,
    time: chrono::DateTime<chrono::Utc>,
    reports: u32,
}

/// Nodes and flows above which the answer is written on two threads.
pub const LARGE: usize = 10_000;

impl Chain {
    /// Nodes and flows.
    #[must_use]
    pub fn size(&self) -> usize {
        self.nodes.len() + self.flows.len()
    }

    /// The answer: full detail inside the caller's subtree, the public minimum outside.
    #[must_use]
    pub fn response(&self) -> ChainResponse<'_> {
        ChainResponse {
            start: self.starts.iter().map(|k| NodeId(&k.0, &k.1)).collect(),
            truncated: self.truncated.is_some(),
            message: self.truncated.as_deref(),
            nodes: self.nodes.iter().map(|(k, depth)| self.node(k, *depth)).collect(),
            flows: self.flows.iter().map(|f| self.flow(f)).collect(),
        }
    }

    fn node<'a>(&'a self, k: &'a Key, depth: i32) -> ChainNode<'a> {
        let s = self.subjects.get(&k.0);
        let inside = s.is_some_and(|s| s.1);
        let s = s.map(|s| &s.0);
        ChainNode {
            id: NodeId(&k.0, &k.1),
            subject_code: &k.0,
            subject_name: s.map_or("", |s| &s.name),
            subject_type: s.map_or("", |s| &s.kind),
            batch_no: &k.1,
            depth,
            division_code: s.map_or("", |s| &s.division),
            division_name: s.and_then(|s| suyuan_tenancy::division::full_name_of(&s.division)),
            longitude: s.and_then(|s| s.lon),
            latitude: s.and_then(|s| s.lat),
            tenant_code: s.map_or("", |s| &s.tenant_code),
            tenant_name: s.map_or("", |s| &s.tenant_name),
            in_reach: inside,
            contact_name: s.filter(|_| inside).map(|s| s.contact_name.as_str()),
            contact_phone: s.filter(|_| inside).map(|s| s.contact_phone.as_str()),
        }
    }

    fn flow(&self, f: &Flow) -> ChainFlow<'_> {
        let e = &self.edges[f.edge];
        ChainFlow {
            from: NodeId(&e.from_subject_code, &e.from_batch),
            to: NodeId(&e.to_subject_code, &e.to_batch),
            kind: &e.kind,
            product_name: &e.product_name,
            batch_no: &e.to_batch,
            quantity: f.quantity,
            unit: f.measured.and_then(|i| self.edges[i].unit.as_deref()),
            time: f.time,
            reports: f.reports,
        }
    }

    /// The answer as JSON, handed to `send` while it is written (a recall's runs to tens of
    /// megabytes): the nodes in pieces of about a megabyte as they are written, then the flows,
    /// written meanwhile on a second thread, in one piece.
    ///
    /// # Errors
    /// What `send` answers (the client has gone), and serialization failures.
    pub fn write_json(&self, send: &mut dyn FnMut(Vec<u8>) -> std::io::Result<()>) -> std::io::Result<()> {
        use std::io::Write as _;
        let response = self.response();
        let r = &response;
        let flows = || {
            // About 280 bytes a flow: a buffer of about its size, never doubled.
            let mut out = Vec::with_capacity(300 * r.flows.len() + 64);
            serde_json::to_writer(&mut out, &r.flows).map(|()| out)
        };
        let mut out = Pieces { buf: Vec::with_capacity(PIECE + 64 * 1024), send };
        let head_and_nodes = move || -> std::io::Result<Pieces<'_>> {
            // The object `serde_json::to_vec(&r)` writes, field by field.
            out.write_all(br#"{"start":"#)?;
            serde_json::to_writer(&mut out, &r.start)?;
            out.write_all(br#","truncated":"#)?;
            serde_json::to_writer(&mut out, &r.truncated)?;
            out.write_all(br#","message":"#)?;
            serde_json::to_writer(&mut out, &r.message)?;
            out.write_all(br#","nodes":"#)?;
            serde_json::to_writer(&mut out, &r.nodes)?;
            out.write_all(br#","flows":"#)?;
            out.flush()?;
            Ok(out)
        };
        let (out, flows) = at_once(head_and_nodes, flows);
        let out = out?;
        (out.send)(flows?)?;
        (out.send)(b"}".to_vec())
    }
}

/// `here` on this thread and `there` on a second one, at the same time.
fn at_once<A, B: Send>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|threads| {
        let there = threads.spawn(there);
        let here = here();
        (here, there.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// The size of the pieces a large answer is sent in.
const PIECE: usize = 1 << 20;

/// A writer that hands what it is given to `send` in pieces of about [`PIECE`] bytes.
struct Pieces<'a> {
    buf: Vec<u8>,
    send: &'a mut dyn FnMut(Vec<u8>) -> std::io::Result<()>,
}

impl std::io::Write for Pieces<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= PIECE {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE + 64 * 1024));
        (self.send)(piece)
    }
}

/// Builds the chain.
///
/// # Errors
/// 422 naming a bad parameter; 404 when the start is unknown; 403 (also for more than
/// [`DEFAULT_NODES`] nodes without the `trace_chain:recall` permission).
pub async fn chain(ctx: &Ctx<'_>, q: &ChainQuery) -> ApiResult<Chain> {
    let scope = ctx.read_scope("trace_event", "read").await?;
    let direction = q.direction.as_deref().unwrap_or("both");
    if !matches!(direction, "up" | "down" | "both") {
        return Err(ApiError::invalid_field("direction", "unknown", "direction 只能是 up、down 或 both"));
    }
    let depth = q.depth.unwrap_or(20);
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(ApiError::invalid_field("depth", "range", format!("depth 应为 1–{MAX_DEPTH}")));
    }
    let max_nodes = q.max_nodes.unwrap_or(DEFAULT_NODES);
    if !(1..=MAX_NODES).contains(&max_nodes) {
        return Err(ApiError::invalid_field("max_nodes", "range", format!("max_nodes 应为 1–{MAX_NODES}")));
    }
    // A recall (more than the everyday bound) walks a whole market: managers ask for it.
    if max_nodes > DEFAULT_NODES {
        ctx.require_own("trace_chain", "recall").await?;
    }
    // The start: the (subject, batch) pairs of a batch, or of the records carrying a code.
    let mut start = Condition::all();
    match (
        q.batch.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()),
    ) {
        (Some(b), None) => {
            start = start.add(event::Column::BatchNo.eq(b));
            if let Some(s) = q.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                start = start.add(event::Column::SubjectCode.eq(s.to_ascii_uppercase()));
            }
        }
        (None, Some(c)) => start = start.add(code_index::carried_by(c)),
        _ => return Err(ApiError::invalid_field("batch", "required", "请给出批次号 batch 或追溯码 code（二选一）")),
    }
    // The start and both directions' walks at once, on three connections of the pool: the walks
    // start from the same condition, so none waits for another.
    let started = std::time::Instant::now();
    // Walk rows (edge, depth) at most: room for every node at every depth with four edges each
    // (both sides reporting, repeated shipments), and never less than the everyday bound's. A
    // walk that fills it is reported as cut short.
    let cap = u64::try_from(max_nodes.max(DEFAULT_NODES))
        .unwrap_or(u64::MAX)
        .saturating_mul(u64::from(depth) + 1)
        .saturating_mul(4);
    let starts = async {
        event::Entity::find()
            .select_only()
            .column(event::Column::SubjectCode)
            .column(event::Column::BatchNo)
            .filter(start.clone())
            .distinct()
            .into_tuple::<(String, String)>()
            .all(ctx.db)
            .await
            .map_err(ApiError::from)
    };
    // A recall on PostgreSQL walks each direction in two halves at once (see `walk`).
    let halves = max_nodes > DEFAULT_NODES && ctx.db.get_database_backend() == DbBackend::Postgres;
    let along = |down: bool| {
        let start = &start;
        async move {
            if (down && direction == "up") || (!down && direction == "down") {
                return Ok((Vec::new(), false));
            }
            if !halves {
                return walk(ctx.db, start, down, depth, cap, None).await;
            }
            let ((mut edges, cut), (more, more_cut)) = tokio::try_join!(
                walk(ctx.db, start, down, depth, cap, Some(false)),
                walk(ctx.db, start, down, depth, cap, Some(true))
            )?;
            edges.extend(more);
            Ok((edges, cut || more_cut))
        }
    };
    // Whether a start record was reported inside the caller's reach (see `refuse_outside`).
    let reachable = async {
        event::Entity::find()
            .select_only()
            .column(event::Column::TenantId)
            .filter(start.clone())
            .filter(scope.condition(event::Column::TenantId))
            .limit(1)
            .into_tuple::<Uuid>()
            .one(ctx.db)
            .await
            .map_err(ApiError::from)
    };
    let (starts, reachable, down_edges, up_edges) = tokio::try_join!(starts, reachable, along(true), along(false))?;
    let mut starts: Vec<Key> = starts;
    starts.sort_unstable();
    starts.dedup();
    if starts.is_empty() {
        return Err(ApiError::not_found("没有这个批次或追溯码的追溯记录"));
    }
    if reachable.is_none() {
        return Err(refuse_outside(ctx, &start).await);
    }
    let walked = started.elapsed();

    // Each direction's walk replayed breadth first: depths and the node bound.
    let start_set: HashSet<Key> = starts.iter().cloned().collect();
    let mut depth_of: HashMap<Key, i32> = starts.iter().map(|k| (k.clone(), 0)).collect();
    let mut kept = (Vec::new(), HashSet::default());
    let mut truncated = None;
    for (down, (found, cut)) in [(true, down_edges), (false, up_edges)] {
        if let Some(why) = replay(&start_set, found, down, depth, max_nodes, &mut depth_of, &mut kept) {
            truncated.get_or_insert(why);
        }
        if cut {
            truncated.get_or_insert_with(|| {
                format!("链条的流向记录超过 {cap} 条，只显示了一部分；可从更靠近的批次开始查询，或减小 depth")
            });
        }
    }
    let (edges, edge_ids) = kept;
    free_later((start_set, edge_ids), edges.len());

    let replayed = started.elapsed();
    // The subjects are read while the nodes are ordered and the flows merged.
    let codes: HashSet<&str> = depth_of.keys().map(|k| k.0.as_str()).collect();
    let codes: Vec<String> = codes.into_iter().map(str::to_owned).collect();
    let inside = |e: &Edge| scope.covers(e.tenant_id, &e.tenant_path);
    let (subjects, (flows, nodes)) = tokio::try_join!(describe(ctx, &codes, &scope), async {
        if edges.len() <= LARGE {
            return Ok((flows(&edges, inside), in_order(depth_of)));
        }
        // A recall's: on two threads.
        Ok(at_once(|| flows(&edges, inside), || in_order(depth_of)))
    })?;
    tracing::debug!(
        nodes = nodes.len(),
        flows = flows.len(),
        walk_ms = walked.as_secs_f64() * 1e3,
        replay_ms = (replayed - walked).as_secs_f64() * 1e3,
        total_ms = started.elapsed().as_secs_f64() * 1e3,
        "trace chain built"
    );
    Ok(Chain { starts, truncated, nodes, subjects, edges, flows })
}

/// Frees a value of many `items` (a recall's hundred thousand edges or nodes, each with its
/// strings) on the blocking pool, so the answer does not wait for it; a small one is freed here.
pub fn free_later<T: Send + 'static>(value: T, items: usize) {
    if items > 10_000 {
        actix_web::rt::task::spawn_blocking(move || drop(value));
    }
}

/// A subject with its tenant: an enterprise, or a merchant shown at its market (a merchant has
/// no coordinates of its own).
#[derive(Debug, FromQueryResult)]
pub(super) struct Subject {
    code: String,
    pub(super) name: String,
    /// The enterprise's type, or `merchant`.
    pub(super) kind: String,
    division: String,
    lon: Option<f64>,
    lat: Option<f64>,
    contact_name: String,
    contact_phone: String,
    tenant_id: Uuid,
    tenant_code: String,
    tenant_name: String,
    /// The path of the tenant the subject is filed in.
    pub(super) tenant_path: String,
}

/// The subjects of `codes`, enterprises and merchants, in one statement.
fn subjects_query(codes: &[String]) -> SelectStatement {
    use enterprise::Column as E;
    use merchant::Column as M;
    use sea_orm::sea_query::ExprTrait;
    let t = tenant::Entity;
    let market = Alias::new("market");
    let tenant_cols = |q: &mut SelectStatement| {
        q.expr_as(Expr::col((t, tenant::Column::Id)), Alias::new("tenant_id"))
            .expr_as(Expr::col((t, tenant::Column::Code)), Alias::new("tenant_code"))
            .expr_as(Expr::col((t, tenant::Column::Name)), Alias::new("tenant_name"))
            .expr_as(Expr::col((t, tenant::Column::Path)), Alias::new("tenant_path"));
    };
    let (en, me) = (enterprise::Entity, merchant::Entity);
    let mut q = Query::select();
    q.expr_as(Expr::col((en, E::Code)), Alias::new("code"))
        .expr_as(Expr::col((en, E::Name)), Alias::new("name"))
        .expr_as(Expr::col((en, E::EnterpriseType)), Alias::new("kind"))
        .expr_as(Expr::col((en, E::DivisionCode)), Alias::new("division"))
        .expr_as(Expr::col((en, E::Longitude)), Alias::new("lon"))
        .expr_as(Expr::col((en, E::Latitude)), Alias::new("lat"))
        .expr_as(Expr::col((en, E::ContactName)), Alias::new("contact_name"))
        .expr_as(Expr::col((en, E::ContactPhone)), Alias::new("contact_phone"));
    tenant_cols(&mut q);
    q.from(en)
        .inner_join(t, Expr::col((t, tenant::Column::Id)).equals((en, E::TenantId)))
        .and_where(Expr::col((en, E::Code)).is_in(codes.iter().cloned()));
    let mut m = Query::select();
    m.column((me, M::Code))
        .column((me, M::Name))
        .expr(Expr::val("merchant"))
        .column((me, M::DivisionCode))
        .column((market.clone(), E::Longitude))
        .column((market.clone(), E::Latitude))
        .column((me, M::ContactName))
        .column((me, M::ContactPhone));
    tenant_cols(&mut m);
    m.from(me)
        .inner_join(t, Expr::col((t, tenant::Column::Id)).equals((me, M::TenantId)))
        .join_as(
            sea_orm::sea_query::JoinType::LeftJoin,
            en,
            market.clone(),
            Expr::col((market, E::Code)).equals((me, M::NodeCode)),
        )
        .and_where(Expr::col((me, M::Code)).is_in(codes.iter().cloned()));
    q.union(UnionType::All, m);
    q
}

/// The enterprises and merchants among `codes`, by code: one statement per 5 000 codes.
///
/// # Errors
/// Database failures.
pub(super) async fn subjects(
    db: &sea_orm::DatabaseConnection,
    codes: &[String],
) -> ApiResult<HashMap<String, Subject>> {
    let backend = db.get_database_backend();
    let mut out: HashMap<String, Subject> = HashMap::default();
    for chunk in codes.chunks(CHUNK) {
        for s in Subject::find_by_statement(backend.build(&subjects_query(chunk))).all(db).await? {
            out.insert(s.code.clone(), s);
        }
    }
    Ok(out)
}

/// The refusal of a chain that starts outside the caller's reach. A chain crosses provinces
/// (§6.5.3), but who may start one is decided by where its start was reported: an agency
/// rebuilds chains from its own and its subtree's records (and sees the outside parts with
/// public fields only), never another province's supply chain from that province's batch,
/// which would show its enterprises' trade (§10.3, commercial secrets). An emergency event that
/// grants a wider start belongs to the emergency chapter, not built yet. The refusal is
/// recorded against the tenant whose record was the start.
async fn refuse_outside(ctx: &Ctx<'_>, start: &Condition) -> ApiError {
    let refused = ApiError::forbidden(
        "这个批次或追溯码的追溯记录不在本单位及下级单位的数据中；链条只能从本辖区上报的记录开始查询",
    );
    let owner = event::Entity::find()
        .select_only()
        .column(event::Column::TenantId)
        .filter(start.clone())
        .limit(1)
        .into_tuple::<Uuid>()
        .one(ctx.db)
        .await;
    let target = match owner {
        Ok(Some(id)) => tenant::Entity::find_by_id(id).one(ctx.db).await.ok().flatten(),
        _ => None,
    };
    let target = target.unwrap_or_else(|| ctx.who.tenant.clone());
    match ctx.deny(&target, "trace_chain", "read", refused).await {
        Ok(refused) | Err(refused) => refused,
    }
}

/// The subjects of `codes`, each with whether it is inside `scope`.
async fn describe(ctx: &Ctx<'_>, codes: &[String], scope: &TenantScope) -> ApiResult<HashMap<String, (Subject, bool)>> {
    Ok(subjects(ctx.db, codes)
        .await?
        .into_iter()
        .map(|(code, s)| {
            let inside = scope.covers(s.tenant_id, &s.tenant_path);
            (code, (s, inside))
        })
        .collect())
}

/// The nodes in the answer's order: upstream first (by depth), then by id.
fn in_order(depth_of: HashMap<Key, i32>) -> Vec<(Key, i32)> {
    let mut nodes: Vec<(Key, i32)> = depth_of.into_iter().collect();
    nodes.sort_unstable_by(|(a, da), (b, db)| (da, NodeId(&a.0, &a.1)).cmp(&(db, NodeId(&b.0, &b.1))));
    nodes
}

/// The flows: one per movement (a shipment reported by both sides is one), with, when reported
/// `inside` the caller's reach, the quantity and its unit (the largest reported in the unit
/// reported first; reports in another unit are not compared) and the earliest time; oldest
/// first.
fn flows(edges: &[Edge], inside: impl Fn(&Edge) -> bool) -> Vec<Flow> {
    type Movement<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
    let mut merged: HashMap<Movement<'_>, usize> = HashMap::default();
    merged.reserve(edges.len());
    let mut out: Vec<Flow> = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        let quantity = if inside(e) { e.quantity } else { None };
        let movement = (
            e.from_subject_code.as_str(),
            e.from_batch.as_str(),
            e.to_subject_code.as_str(),
            e.to_batch.as_str(),
            e.kind.as_str(),
        );
        let at = *merged.entry(movement).or_insert_with(|| {
            out.push(Flow { edge: i, quantity: None, measured: None, time: e.event_time, reports: 0 });
            out.len() - 1
        });
        let flow = &mut out[at];
        // Reports of one movement may name the product differently: the name that sorts first
        // shows, whatever order the walk returned them in.
        if e.product_name < edges[flow.edge].product_name {
            flow.edge = i;
        }
        flow.reports += 1;
        flow.time = std::cmp::Ord::min(flow.time, e.event_time);
        match (flow.quantity, quantity, flow.measured) {
            (None, Some(b), _) => (flow.quantity, flow.measured) = (Some(b), Some(i)),
            (Some(a), Some(b), Some(m)) if b > a && edges[m].unit == e.unit => {
                (flow.quantity, flow.measured) = (Some(b), Some(i));
            }
            _ => {}
        }
    }
    let order = |f: &Flow| {
        let e = &edges[f.edge];
        (f.time, NodeId(&e.from_subject_code, &e.from_batch), NodeId(&e.to_subject_code, &e.to_batch), e.kind.as_str())
    };
    out.sort_unstable_by(|a, b| order(a).cmp(&order(b)));
    out
}

/// The flow table's columns (流量流向表).
pub const FLOW_HEADER: [&str; 15] = [
    "流出主体编码",
    "流出主体",
    "流出地区代码",
    "流出地区",
    "流入主体编码",
    "流入主体",
    "流入地区代码",
    "流入地区",
    "类型",
    "产品",
    "批次",
    "数量",
    "单位",
    "时间（北京时间 UTC+8）",
    "报告条数",
];

/// The flow table's rows, oldest first: both ends by subject code and name and by division
/// code and name, the product, the batch at the receiving end, the quantity and its unit code (blank outside
/// the caller's reach) and the time in China time (the heading says so).
#[must_use]
pub fn flow_rows(chain: &ChainResponse<'_>) -> Vec<Vec<String>> {
    let nodes: HashMap<NodeId<'_>, &ChainNode<'_>> = chain.nodes.iter().map(|n| (n.id, n)).collect();
    let end = |id: NodeId<'_>| match nodes.get(&id) {
        Some(n) => [
            n.subject_code.to_owned(),
            n.subject_name.to_owned(),
            n.division_code.to_owned(),
            n.division_name.clone().unwrap_or_default(),
        ],
        None => [id.0.to_owned(), String::new(), String::new(), String::new()],
    };
    chain
        .flows
        .iter()
        .map(|f| {
            let [from_code, from_name, from_region, from_region_name] = end(f.from);
            let [to_code, to_name, to_region, to_region_name] = end(f.to);
            vec![
                from_code,
                from_name,
                from_region,
                from_region_name,
                to_code,
                to_name,
                to_region,
                to_region_name,
                if f.kind == "process" { "加工投入".to_owned() } else { "销售流通".to_owned() },
                f.product_name.to_owned(),
                f.batch_no.to_owned(),
                f.quantity.map(|q| q.to_string()).unwrap_or_default(),
                f.unit.unwrap_or_default().to_owned(),
                crate::web::when(&f.time),
                f.reports.to_string(),
            ]
        })
        .collect()
}

/// The chain for the flow map: every node with coordinates as a point, every flow between two
/// such nodes as a line (from → to), with the table's fields as properties.
#[must_use]
pub fn to_geojson(chain: &ChainResponse<'_>) -> geojson::FeatureCollection {
    use geojson::{Feature, Geometry};
    let at: HashMap<NodeId<'_>, [f64; 2]> =
        chain.nodes.iter().filter_map(|n| Some((n.id, [n.longitude?, n.latitude?]))).collect();
    let mut features = Vec::with_capacity(chain.nodes.len() + chain.flows.len());
    for n in &chain.nodes {
        let Some(p) = at.get(&n.id) else { continue };
        let mut f = Feature::from(Geometry::new_point(*p));
        f.set_property("kind", "node");
        f.set_property("id", n.id.to_string());
        f.set_property("name", n.subject_name);
        f.set_property("subject_type", n.subject_type);
        f.set_property("batch_no", n.batch_no);
        f.set_property("depth", n.depth);
        f.set_property("subject_code", n.subject_code);
        f.set_property("division_code", n.division_code);
        f.set_property("division_name", n.division_name.clone());
        f.set_property("tenant_name", n.tenant_name);
        f.set_property("in_reach", n.in_reach);
        features.push(f);
    }
    for flow in &chain.flows {
        let (Some(a), Some(b)) = (at.get(&flow.from), at.get(&flow.to)) else { continue };
        let mut f = Feature::from(Geometry::new_line_string([*a, *b]));
        f.set_property("kind", flow.kind);
        f.set_property("from", flow.from.to_string());
        f.set_property("to", flow.to.to_string());
        f.set_property("product_name", flow.product_name);
        f.set_property("batch_no", flow.batch_no);
        f.set_property("quantity", flow.quantity);
        f.set_property("unit", flow.unit);
        f.set_property("time", flow.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        features.push(f);
    }
    geojson::FeatureCollection::new(features)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(code: &str, inside: bool) -> (String, (Subject, bool)) {
        let s = Subject {
            code: code.to_owned(),
            name: format!("主体\"{code}\""),
            kind: "producer".to_owned(),
            division: "370783".to_owned(),
            lon: Some(118.7),
            lat: None,
            contact_name: "张三".to_owned(),
            contact_phone: "0536-1234567".to_owned(),
            tenant_id: Uuid::nil(),
            tenant_code: "SD".to_owned(),
            tenant_name: "山东省".to_owned(),
            tenant_path: "/CN/SD/".to_owned(),
        };
        (code.to_owned(), (s, inside))
    }

    /// A chain of `n` nodes in a row (subjects alternating inside and outside), every edge a flow.
    fn row(n: usize) -> Chain {
        let key = |i: usize| (format!("S{}", i % 7), format!("B-{i}"));
        let edges: Vec<Edge> = (1..n)
            .map(|i| Edge {
                id: Uuid::new_v4(),
                tenant_id: Uuid::nil(),
                tenant_path: "/CN/".to_owned(),
                kind: if i % 2 == 0 { "ship" } else { "process" }.to_owned(),
                from_subject_code: key(i - 1).0,
                from_batch: key(i - 1).1,
                to_subject_code: key(i).0,
                to_batch: key(i).1,
                quantity: (i % 3 != 0).then_some(1.5),
                event_time: chrono::DateTime::from_timestamp(1_790_000_000 + i64::try_from(i).unwrap_or(0), 0)
                    .unwrap_or_default(),
                product_name: "寿光番茄".to_owned(),
                unit: Some("kg".to_owned()),
            })
            .collect();
        let flows = (0..edges.len())
            .map(|i| Flow {
                edge: i,
                quantity: edges[i].quantity,
                measured: Some(i),
                time: edges[i].event_time,
                reports: 1,
            })
            .collect();
        Chain {
            starts: vec![key(0)],
            truncated: (n > 100).then(|| "已达到查询深度".to_owned()),
            nodes: (0..n).map(|i| (key(i), i32::try_from(i).unwrap_or(0))).collect(),
            subjects: (0..6).map(|i| subject(&format!("S{i}"), i % 2 == 0)).collect(),
            edges,
            flows,
        }
    }

    #[test]
    fn the_json_written_in_pieces_is_the_answer_serialized_whole() {
        for n in [10, 20_000] {
            let chain = row(n);
            let mut pieces = Vec::new();
            chain
                .write_json(&mut |piece| {
                    pieces.push(piece);
                    Ok(())
                })
                .expect("written");
            // A large answer goes out in pieces: its nodes (about 7 MB here) in several.
            assert!(n < LARGE || pieces.len() > 5, "{} pieces", pieces.len());
            let written: serde_json::Value = serde_json::from_slice(&pieces.concat()).expect("one JSON value");
            let whole = serde_json::to_value(chain.response()).expect("serialized");
            assert_eq!(written, whole);
            // The view says what the DTO's fields say: a node outside hides its contact, one
            // without a subject (S6) is blank.
            assert_eq!(whole["nodes"][0]["id"], "S0|B-0");
            assert_eq!(whole["nodes"][0]["contact_phone"], "0536-1234567");
            assert_eq!(whole["nodes"][1]["contact_phone"], serde_json::Value::Null);
            assert_eq!(
                (whole["nodes"][6]["subject_name"].as_str(), whole["nodes"][6]["in_reach"].as_bool()),
                (Some(""), Some(false))
            );
            assert_eq!(whole["flows"][0]["from"], "S0|B-0");
            assert_eq!(whole["flows"].as_array().map(Vec::len), Some(n - 1));
        }
        // A client that has gone stops the writing.
        let mut sent = 0;
        let gone = row(20_000).write_json(&mut |_| {
            sent += 1;
            if sent > 1 { Err(std::io::Error::other("the client has gone")) } else { Ok(()) }
        });
        assert_eq!((gone.is_err(), sent), (true, 2));
    }

    #[test]
    fn a_movement_reported_twice_is_one_flow_whatever_the_order() {
        let now = chrono::Utc::now();
        // The caller's reach: Shandong and below.
        let inside = |e: &Edge| e.tenant_path.starts_with("100000/370000/");
        let report = |path: &str, product: &str, quantity: f64, minutes: i64| Edge {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            tenant_path: path.to_owned(),
            kind: "ship".to_owned(),
            from_subject_code: "F1".to_owned(),
            from_batch: "B1".to_owned(),
            to_subject_code: "M1".to_owned(),
            to_batch: "B1".to_owned(),
            quantity: Some(quantity),
            event_time: now + chrono::Duration::minutes(minutes),
            product_name: product.to_owned(),
            unit: Some("kg".to_owned()),
        };
        // Shipped (reported in Shandong) and received (reported in Jiangsu, outside the reach).
        let shipped = || report("100000/370000/370100/", "寿光番茄", 100.0, 5);
        let received = || report("100000/320000/", "番茄", 250.0, 0);
        for edges in [vec![shipped(), received()], vec![received(), shipped()]] {
            let flows = flows(&edges, inside);
            assert_eq!(flows.len(), 1);
            let f = &flows[0];
            assert_eq!(f.reports, 2);
            assert_eq!(f.time, now, "the earliest report");
            assert_eq!(f.quantity, Some(100.0), "the quantity reported outside the reach is not shown");
            assert_eq!(edges[f.edge].product_name, "寿光番茄", "the name that sorts first (by bytes), in either order");
        }
    }

    #[test]
    fn a_flow_reported_in_two_units_keeps_the_first_units_quantity() {
        let now = chrono::Utc::now();
        let report = |quantity: f64, unit: Option<&str>, minutes: i64| Edge {
            id: Uuid::new_v4(),
            tenant_id: Uuid::nil(),
            tenant_path: "100000/".to_owned(),
            kind: "ship".to_owned(),
            from_subject_code: "F1".to_owned(),
            from_batch: "B1".to_owned(),
            to_subject_code: "M1".to_owned(),
            to_batch: "B1".to_owned(),
            quantity: Some(quantity),
            event_time: now + chrono::Duration::minutes(minutes),
            product_name: "番茄".to_owned(),
            unit: unit.map(str::to_owned),
        };
        let edges = [report(100.0, Some("kg"), 0), report(500.0, Some("箱"), 1), report(120.0, Some("kg"), 2)];
        let flows = flows(&edges, |_| true);
        let f = &flows[0];
        assert_eq!((f.quantity, f.measured.map(|i| edges[i].unit.as_deref())), (Some(120.0), Some(Some("kg"))));
    }

    #[test]
    fn node_ids_sort_as_their_strings() {
        let ids = [("AB", "x"), ("AB1", "a"), ("A", "zz"), ("AB", "w"), ("B", "")];
        let mut by_id: Vec<NodeId<'_>> = ids.iter().map(|(s, b)| NodeId(s, b)).collect();
        by_id.sort();
        let mut by_string: Vec<String> = ids.iter().map(|(s, b)| format!("{s}|{b}")).collect();
        by_string.sort();
        assert_eq!(by_id.iter().map(ToString::to_string).collect::<Vec<_>>(), by_string);
    }
}
