//! Trace-chain synthesis (R-EMG-3): from a batch or a trace code, every node upstream (where it
//! came from) and downstream (where it went), across tenants and provinces, by walking the
//! lineage edges breadth first. Cycles end at nodes already seen; the same movement reported by
//! both sides (shipped and received) is one flow. Depth and size are bounded, and the answer
//! says when a bound was hit. Visibility (R-SEC-6): inside the caller's subtree every detail;
//! outside it a node shows its name, code, region and responsible tenant, and flows reported
//! there show no quantity.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::dto::{ChainFlow, ChainNode, ChainQuery, ChainResponse};
use super::entity::{code_index, event, lineage};
use crate::error::{ApiError, ApiResult};
use crate::modules::admin::service::Ctx;
use crate::modules::subjects::entity::{enterprise, merchant};
use suyuan_tenancy::entity::tenant;

/// The deepest walk allowed.
pub const MAX_DEPTH: u32 = 50;
/// The most nodes one answer holds unless asked for more.
pub const DEFAULT_NODES: usize = 5_000;
/// The most nodes one may ask for (a recall across a market).
pub const MAX_NODES: usize = 200_000;
/// Values per `IN (…)` list: under both databases' bind-parameter limits.
const CHUNK: usize = 5_000;

type Key = (String, String);

/// (subject, batch) pairs per level query: two parameters each, under SQLite's limit.
const PAIRS: usize = 2_000;

/// A lineage edge with the product of the record that made it.
#[derive(Debug, FromQueryResult)]
struct Edge {
    id: Uuid,
    tenant_id: Uuid,
    kind: String,
    from_subject_code: String,
    from_batch: String,
    to_subject_code: String,
    to_batch: String,
    quantity: Option<f64>,
    event_time: chrono::DateTime<chrono::Utc>,
    product_name: String,
}

/// One level of the walk: the edges leaving (`down`) or entering the given (subject, batch)
/// nodes, matched on both (the index's columns: a batch number alone is shared by every
/// holder of a shipped batch), with the product of the record that made each, in one query.
async fn edges_at(db: &sea_orm::DatabaseConnection, nodes: &[Key], down: bool) -> ApiResult<Vec<Edge>> {
    use lineage::Column as L;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let (batch, subject) = if down { (L::FromBatch, L::FromSubjectCode) } else { (L::ToBatch, L::ToSubjectCode) };
    let (l, e) = (lineage::Entity, event::Entity);
    let mut q = Query::select();
    for c in [
        L::Id,
        L::TenantId,
        L::Kind,
        L::FromSubjectCode,
        L::FromBatch,
        L::ToSubjectCode,
        L::ToBatch,
        L::Quantity,
        L::EventTime,
    ] {
        q.column((l, c));
    }
    q.expr_as(Expr::col((e, event::Column::ProductName)), Alias::new("product_name"))
        .from(l)
        // The record's time is the edge's: on PostgreSQL the join finds its monthly partition.
        .inner_join(
            e,
            Expr::col((e, event::Column::Id))
                .equals((l, L::EventId))
                .and(Expr::col((e, event::Column::EventTime)).equals((l, L::EventTime))),
        )
        .and_where(if nodes.len() > 200 && db.get_database_backend() == sea_orm::DbBackend::Postgres {
            // A wide level (a recall's hold 100 000 nodes): two array parameters, one statement
            // text whatever the size, and no planning of thousands of literals. A narrow level
            // (an everyday chain's) plans fastest as a short list of pairs.
            let array = |v: Vec<sea_orm::Value>| sea_orm::Value::Array(sea_orm::sea_query::ArrayType::String, Some(Box::new(v)));
            Expr::cust_with_values(
                format!(
                    "(\"trace_lineage\".\"{}\", \"trace_lineage\".\"{}\") IN (SELECT * FROM UNNEST(CAST($1 AS text[]), CAST($2 AS text[])))",
                    sea_orm::IdenStatic::as_str(&batch),
                    sea_orm::IdenStatic::as_str(&subject)
                ),
                [
                    array(nodes.iter().map(|(_, b)| b.clone().into()).collect()),
                    array(nodes.iter().map(|(s, _)| s.clone().into()).collect()),
                ],
            )
        } else {
            Expr::tuple([Expr::col((l, batch)), Expr::col((l, subject))])
                .in_tuples(nodes.iter().map(|(s, b)| (b.clone(), s.clone())))
        });
    let stmt = sea_orm::ConnectionTrait::get_database_backend(db).build(&q);
    Ok(Edge::find_by_statement(stmt).all(db).await?)
}

fn key_id(k: &Key) -> String {
    format!("{}|{}", k.0, k.1)
}

/// Builds the chain.
///
/// # Errors
/// 422 naming a bad parameter; 404 when the start is unknown; 403.
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
    // The start: the (subject, batch) pairs of a batch, or of the records carrying a code.
    let mut start_q =
        event::Entity::find().select_only().column(event::Column::SubjectCode).column(event::Column::BatchNo);
    match (
        q.batch.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()),
    ) {
        (Some(b), None) => {
            start_q = start_q.filter(event::Column::BatchNo.eq(b));
            if let Some(s) = q.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                start_q = start_q.filter(event::Column::SubjectCode.eq(s.to_ascii_uppercase()));
            }
        }
        (None, Some(c)) => {
            start_q = start_q.filter(code_index::carried_by(c));
        }
        _ => return Err(ApiError::invalid_field("batch", "required", "请给出批次号 batch 或追溯码 code（二选一）")),
    }
    let starts: HashSet<Key> =
        start_q.distinct().into_tuple::<(String, String)>().all(ctx.db).await?.into_iter().collect();
    if starts.is_empty() {
        return Err(ApiError::not_found("没有这个批次或追溯码的追溯记录"));
    }

    // Walk: breadth first, each direction on its own, one query per level.
    let mut depth_of: HashMap<Key, i32> = starts.iter().map(|k| (k.clone(), 0)).collect();
    let mut edges: HashMap<Uuid, Edge> = HashMap::new();
    let mut truncated = None;
    for down in [true, false] {
        if (down && direction == "up") || (!down && direction == "down") {
            continue;
        }
        let mut frontier: VecDeque<Key> = starts.iter().cloned().collect();
        let mut seen: HashSet<Key> = starts.clone();
        for level in 1..=i32::try_from(depth).unwrap_or(20) {
            if frontier.is_empty() {
                break;
            }
            let at: Vec<Key> = frontier.drain(..).collect();
            let mut found = Vec::new();
            for chunk in at.chunks(PAIRS) {
                found.extend(edges_at(ctx.db, chunk, down).await?);
            }
            for e in found {
                // The far end of the edge (the near end is a node of this level).
                let there = if down {
                    (e.to_subject_code.clone(), e.to_batch.clone())
                } else {
                    (e.from_subject_code.clone(), e.from_batch.clone())
                };
                edges.insert(e.id, e);
                if seen.insert(there.clone()) {
                    if depth_of.len() >= max_nodes {
                        truncated = Some(format!(
                            "链条超过 {max_nodes} 个节点，只显示了前 {max_nodes} 个；可加大 max_nodes（最多 {MAX_NODES}），或从更靠近的批次开始查询"
                        ));
                        break;
                    }
                    depth_of.entry(there.clone()).or_insert(if down { level } else { -level });
                    frontier.push_back(there);
                }
            }
            if truncated.is_some() {
                break;
            }
            if level == i32::try_from(depth).unwrap_or(20) && !frontier.is_empty() {
                truncated =
                    Some(format!("已达到查询深度 {depth} 层，链条可能还在继续；可加大 depth（最多 {MAX_DEPTH}）"));
            }
        }
    }

    // Who is inside the caller's reach.
    let reach: HashSet<Uuid> =
        tenant::Entity::find().filter(scope.tenants()).all(ctx.db).await?.into_iter().map(|t| t.id).collect();
    let nodes = describe(ctx, &depth_of, &reach).await?;
    let flows = flows(edges.into_values().collect(), &reach);
    Ok(ChainResponse {
        start: starts.iter().map(key_id).collect(),
        truncated: truncated.is_some(),
        message: truncated,
        nodes,
        flows,
    })
}

/// The nodes with their subjects: full detail inside `reach`, the public minimum outside.
async fn describe(ctx: &Ctx<'_>, depth_of: &HashMap<Key, i32>, reach: &HashSet<Uuid>) -> ApiResult<Vec<ChainNode>> {
    struct Subject {
        name: String,
        kind: String,
        division: String,
        lon: Option<f64>,
        lat: Option<f64>,
        contact: (String, String),
        tenant: Uuid,
    }
    let codes: Vec<String> = depth_of.keys().map(|k| k.0.clone()).collect::<HashSet<_>>().into_iter().collect();
    let mut subjects: HashMap<String, Subject> = HashMap::new();
    // Merchants have no coordinates of their own: they are shown at their market.
    let mut markets: HashMap<String, String> = HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        for e in
            enterprise::Entity::find().filter(enterprise::Column::Code.is_in(chunk.iter().cloned())).all(ctx.db).await?
        {
            subjects.insert(
                e.code,
                Subject {
                    name: e.name,
                    kind: e.enterprise_type,
                    division: e.division_code,
                    lon: e.longitude,
                    lat: e.latitude,
                    contact: (e.contact_name, e.contact_phone),
                    tenant: e.tenant_id,
                },
            );
        }
        let merchants =
            merchant::Entity::find().filter(merchant::Column::Code.is_in(chunk.iter().cloned())).all(ctx.db).await?;
        for m in merchants {
            markets.insert(m.code.clone(), m.node_code.clone());
            subjects.insert(
                m.code,
                Subject {
                    name: m.name,
                    kind: "merchant".to_owned(),
                    division: m.division_code,
                    lon: None,
                    lat: None,
                    contact: (m.contact_name, m.contact_phone),
                    tenant: m.tenant_id,
                },
            );
        }
    }
    let missing: Vec<String> = markets.values().filter(|c| !subjects.contains_key(*c)).cloned().collect();
    let mut market_at: HashMap<String, (Option<f64>, Option<f64>)> = HashMap::new();
    for chunk in missing.chunks(CHUNK) {
        let rows: Vec<(String, Option<f64>, Option<f64>)> = enterprise::Entity::find()
            .select_only()
            .column(enterprise::Column::Code)
            .column(enterprise::Column::Longitude)
            .column(enterprise::Column::Latitude)
            .filter(enterprise::Column::Code.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(ctx.db)
            .await?;
        market_at.extend(rows.into_iter().map(|(c, lon, lat)| (c, (lon, lat))));
    }
    for (merchant, market) in &markets {
        let at = subjects.get(market).map(|s| (s.lon, s.lat)).or_else(|| market_at.get(market).copied());
        if let (Some((lon, lat)), Some(s)) = (at, subjects.get_mut(merchant)) {
            (s.lon, s.lat) = (lon, lat);
        }
    }
    let tenant_ids: Vec<Uuid> = subjects.values().map(|s| s.tenant).collect::<HashSet<_>>().into_iter().collect();
    let tenants: HashMap<Uuid, (String, String)> = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(tenant_ids))
        .all(ctx.db)
        .await?
        .into_iter()
        .map(|t| (t.id, (t.code, t.name)))
        .collect();
    let mut out: Vec<ChainNode> = depth_of
        .iter()
        .map(|(k, d)| {
            let s = subjects.get(&k.0);
            let inside = s.is_some_and(|s| reach.contains(&s.tenant));
            let t = s.and_then(|s| tenants.get(&s.tenant));
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
                tenant_code: t.map(|t| t.0.clone()).unwrap_or_default(),
                tenant_name: t.map(|t| t.1.clone()).unwrap_or_default(),
                in_reach: inside,
                contact_name: s.filter(|_| inside).map(|s| s.contact.0.clone()),
                contact_phone: s.filter(|_| inside).map(|s| s.contact.1.clone()),
            }
        })
        .collect();
    out.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    Ok(out)
}

/// The flows: one per movement (a shipment reported by both sides is one), with the product
/// and, when reported inside `reach`, the quantity.
fn flows(edges: Vec<Edge>, reach: &HashSet<Uuid>) -> Vec<ChainFlow> {
    let mut merged: BTreeMap<(String, String, String), ChainFlow> = BTreeMap::new();
    for e in edges {
        let from = key_id(&(e.from_subject_code.clone(), e.from_batch.clone()));
        let to = key_id(&(e.to_subject_code.clone(), e.to_batch.clone()));
        let quantity = if reach.contains(&e.tenant_id) { e.quantity } else { None };
        let flow = merged.entry((from.clone(), to.clone(), e.kind.clone())).or_insert_with(|| ChainFlow {
            from,
            to,
            kind: e.kind.clone(),
            product_name: e.product_name.clone(),
            batch_no: e.to_batch.clone(),
            quantity: None,
            time: e.event_time,
            reports: 0,
        });
        flow.reports += 1;
        flow.time = flow.time.min(e.event_time);
        flow.quantity = match (flow.quantity, quantity) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let mut out: Vec<ChainFlow> = merged.into_values().collect();
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.from.cmp(&b.from)));
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
