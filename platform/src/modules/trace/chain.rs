//! Trace-chain synthesis (R-EMG-3): from a batch or a trace code, every node upstream (where it
//! came from) and downstream (where it went), across tenants and provinces. Each direction is
//! walked by the database in one recursive statement that returns the lineage edges it crossed,
//! with the product and the reporting tenant of each; the walk is then replayed breadth first
//! here to give every node its depth and to apply the size bound exactly. Cycles end at nodes
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

use super::dto::{ChainFlow, ChainNode, ChainQuery, ChainResponse};
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
async fn walk(
    db: &sea_orm::DatabaseConnection,
    start: &Condition,
    down: bool,
    depth: u32,
    cap: u64,
) -> ApiResult<Vec<Edge>> {
    use lineage::Column as L;
    use sea_orm::sea_query::ExprTrait;
    const COLUMNS: [L; 10] = [
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
    seed.expr(Expr::cust("1")).from(l).and_where(
        Expr::tuple([Expr::col((l, near.0)), Expr::col((l, near.1))]).in_subquery(
            Query::select()
                .column(event::Column::BatchNo)
                .column(event::Column::SubjectCode)
                .from(event::Entity)
                .cond_where(start.clone())
                .to_owned(),
        ),
    );
    let mut step = Query::select();
    for c in COLUMNS {
        step.column((l, c));
    }
    step.expr(Expr::col((w.clone(), d.clone())).add(1))
        .from(w.clone())
        .inner_join(
            l,
            Expr::col((l, near.0)).equals((w.clone(), far.0)).and(Expr::col((l, near.1)).equals((w.clone(), far.1))),
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
    Ok(Edge::find_by_statement(backend.build(&query)).all(db).await?)
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
    kept: &mut HashMap<Uuid, Edge>,
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
        if keep {
            kept.insert(e.id, e);
        }
    }
    stopped
}

fn key_id(k: &Key) -> String {
    format!("{}|{}", k.0, k.1)
}

/// Builds the chain.
///
/// # Errors
/// 422 naming a bad parameter; 404 when the start is unknown; 403 (also for more than
/// [`DEFAULT_NODES`] nodes without the `trace_chain:recall` permission).
pub async fn chain(ctx: &Ctx<'_>, q: &ChainQuery) -> ApiResult<ChainResponse> {
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
    let along = |down: bool| {
        let start = &start;
        async move {
            if (down && direction == "up") || (!down && direction == "down") {
                return Ok(Vec::new());
            }
            walk(ctx.db, start, down, depth, cap).await
        }
    };
    let (starts, down_edges, up_edges) = tokio::try_join!(starts, along(true), along(false))?;
    let starts: HashSet<Key> = starts.into_iter().collect();
    if starts.is_empty() {
        return Err(ApiError::not_found("没有这个批次或追溯码的追溯记录"));
    }

    // Each direction's walk replayed breadth first: depths and the node bound.
    let mut depth_of: HashMap<Key, i32> = starts.iter().map(|k| (k.clone(), 0)).collect();
    let mut edges: HashMap<Uuid, Edge> = HashMap::default();
    let mut truncated = None;
    for (down, found) in [(true, down_edges), (false, up_edges)] {
        let cut = u64::try_from(found.len()).unwrap_or(u64::MAX) >= cap;
        if let Some(why) = replay(&starts, found, down, depth, max_nodes, &mut depth_of, &mut edges) {
            truncated.get_or_insert(why);
        }
        if cut {
            truncated.get_or_insert_with(|| {
                format!("链条的流向记录超过 {cap} 条，只显示了一部分；可从更靠近的批次开始查询，或减小 depth")
            });
        }
    }

    let walked = started.elapsed();
    let nodes = describe(ctx, &depth_of, &scope).await?;
    let edges: Vec<Edge> = edges.into_values().collect();
    let flows = flows(&edges, &scope);
    let count = edges.len();
    free_later(edges, count);
    tracing::debug!(
        nodes = nodes.len(),
        flows = flows.len(),
        walk_ms = walked.as_secs_f64() * 1e3,
        total_ms = started.elapsed().as_secs_f64() * 1e3,
        "trace chain built"
    );
    Ok(ChainResponse {
        start: starts.iter().map(key_id).collect(),
        truncated: truncated.is_some(),
        message: truncated,
        nodes,
        flows,
    })
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
    name: String,
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
    tenant_path: String,
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

/// The nodes with their subjects: full detail inside `scope`, the public minimum outside.
async fn describe(ctx: &Ctx<'_>, depth_of: &HashMap<Key, i32>, scope: &TenantScope) -> ApiResult<Vec<ChainNode>> {
    let codes: Vec<String> = depth_of.keys().map(|k| k.0.clone()).collect::<HashSet<_>>().into_iter().collect();
    let subjects = subjects(ctx.db, &codes).await?;
    let mut out: Vec<ChainNode> = depth_of
        .iter()
        .map(|(k, d)| {
            let s = subjects.get(&k.0);
            let inside = s.is_some_and(|s| scope.covers(s.tenant_id, &s.tenant_path));
            ChainNode {
                id: key_id(k),
                subject_code: k.0.clone(),
                subject_name: s.map(|s| s.name.clone()).unwrap_or_default(),
                subject_type: s.map(|s| s.kind.clone()).unwrap_or_default(),
                batch_no: k.1.clone(),
                depth: *d,
                division_code: s.map(|s| s.division.clone()).unwrap_or_default(),
                longitude: s.and_then(|s| s.lon),
                latitude: s.and_then(|s| s.lat),
                tenant_code: s.map(|s| s.tenant_code.clone()).unwrap_or_default(),
                tenant_name: s.map(|s| s.tenant_name.clone()).unwrap_or_default(),
                in_reach: inside,
                contact_name: s.filter(|_| inside).map(|s| s.contact_name.clone()),
                contact_phone: s.filter(|_| inside).map(|s| s.contact_phone.clone()),
            }
        })
        .collect();
    out.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    Ok(out)
}

/// The flows: one per movement (a shipment reported by both sides is one), with the product
/// and, when reported inside `scope`, the quantity; oldest first.
fn flows(edges: &[Edge], scope: &TenantScope) -> Vec<ChainFlow> {
    type Movement<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
    let mut merged: HashMap<Movement<'_>, ChainFlow> = HashMap::default();
    merged.reserve(edges.len());
    for e in edges {
        let quantity = if scope.covers(e.tenant_id, &e.tenant_path) { e.quantity } else { None };
        let movement = (
            e.from_subject_code.as_str(),
            e.from_batch.as_str(),
            e.to_subject_code.as_str(),
            e.to_batch.as_str(),
            e.kind.as_str(),
        );
        let flow = merged.entry(movement).or_insert_with(|| ChainFlow {
            from: format!("{}|{}", e.from_subject_code, e.from_batch),
            to: format!("{}|{}", e.to_subject_code, e.to_batch),
            kind: e.kind.clone(),
            product_name: e.product_name.clone(),
            batch_no: e.to_batch.clone(),
            quantity: None,
            time: e.event_time,
            reports: 0,
        });
        flow.reports += 1;
        flow.time = std::cmp::Ord::min(flow.time, e.event_time);
        flow.quantity = match (flow.quantity, quantity) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let mut out: Vec<ChainFlow> = merged.into_values().collect();
    out.sort_unstable_by(|a, b| (a.time, &a.from, &a.to, &a.kind).cmp(&(b.time, &b.from, &b.to, &b.kind)));
    out
}

/// The flow table's columns (流量流向表).
pub const FLOW_HEADER: [&str; 10] =
    ["流出主体", "流出地区", "流入主体", "流入地区", "类型", "产品", "批次", "数量", "时间", "报告条数"];

/// The flow table's rows, oldest first: names and regions of both ends, the product, the batch
/// at the receiving end, the quantity (blank outside the caller's reach) and the time.
#[must_use]
pub fn flow_rows(chain: &ChainResponse) -> Vec<Vec<String>> {
    let nodes: HashMap<&str, &ChainNode> = chain.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let name = |id: &str| nodes.get(id).map_or_else(|| id.to_owned(), |n| n.subject_name.clone());
    let region = |id: &str| nodes.get(id).map(|n| n.division_code.clone()).unwrap_or_default();
    chain
        .flows
        .iter()
        .map(|f| {
            vec![
                name(&f.from),
                region(&f.from),
                name(&f.to),
                region(&f.to),
                if f.kind == "process" { "加工投入".to_owned() } else { "销售流通".to_owned() },
                f.product_name.clone(),
                f.batch_no.clone(),
                f.quantity.map(|q| q.to_string()).unwrap_or_default(),
                crate::web::when(&f.time),
                f.reports.to_string(),
            ]
        })
        .collect()
}

/// The chain for the flow map: every node with coordinates as a point, every flow between two
/// such nodes as a line (from → to), with the table's fields as properties.
#[must_use]
pub fn to_geojson(chain: &ChainResponse) -> geojson::FeatureCollection {
    use geojson::{Feature, Geometry};
    let at: HashMap<&str, [f64; 2]> =
        chain.nodes.iter().filter_map(|n| Some((n.id.as_str(), [n.longitude?, n.latitude?]))).collect();
    let mut features = Vec::with_capacity(chain.nodes.len() + chain.flows.len());
    for n in &chain.nodes {
        let Some(p) = at.get(n.id.as_str()) else { continue };
        let mut f = Feature::from(Geometry::new_point(*p));
        f.set_property("kind", "node");
        f.set_property("id", n.id.clone());
        f.set_property("name", n.subject_name.clone());
        f.set_property("subject_type", n.subject_type.clone());
        f.set_property("batch_no", n.batch_no.clone());
        f.set_property("depth", n.depth);
        f.set_property("division_code", n.division_code.clone());
        f.set_property("tenant_name", n.tenant_name.clone());
        f.set_property("in_reach", n.in_reach);
        features.push(f);
    }
    for flow in &chain.flows {
        let (Some(a), Some(b)) = (at.get(flow.from.as_str()), at.get(flow.to.as_str())) else { continue };
        let mut f = Feature::from(Geometry::new_line_string([*a, *b]));
        f.set_property("kind", flow.kind.clone());
        f.set_property("from", flow.from.clone());
        f.set_property("to", flow.to.clone());
        f.set_property("product_name", flow.product_name.clone());
        f.set_property("batch_no", flow.batch_no.clone());
        f.set_property("quantity", flow.quantity);
        f.set_property("time", flow.time.to_rfc3339());
        features.push(f);
    }
    geojson::FeatureCollection::new(features)
}
