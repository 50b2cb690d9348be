//! The parent's inbox: applies a child's rows exactly once and in order (the rule is
//! [`suyuan_federation::cursor`]), keeps the read model of the filings below and the rolled-up
//! statistics, parks what it cannot apply, and relays everything to its own parent through its
//! own outbox — in one transaction with the cursor, so a crash never applies twice or loses.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use suyuan_federation::cursor;
use suyuan_federation::wire::{Ack, Push, Row};
use suyuan_tenancy::division::DivisionCode;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::entity::{filing, inbox, parked, rollup, rollup_total};
use crate::audit;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// Most rows in one push.
pub const MAX_ROWS: usize = 1000;

/// Applies `push` from `child` (a tenant of this deployment: the origin itself for a local
/// child, or the tenant a remote deployment reports as) at its parent `receiver`; `via`
/// (`local` or `http`) labels the freshness metric.
///
/// # Errors
/// 403 when `child` is not the receiver's or the origin is bound to another child; 409 when
/// the child already reports under another origin; 422 for a push too large; database
/// failures (nothing applied; the child sends again).
pub async fn apply(
    db: &DatabaseConnection,
    metrics: &Metrics,
    via: &str,
    receiver: &tenant::Model,
    child: &tenant::Model,
    push: &Push,
) -> ApiResult<Ack> {
    if child.parent_id != Some(receiver.id) {
        return Err(ApiError::forbidden(format!("{} 不是 {} 的下级单位，不能向其上报", child.name, receiver.name)));
    }
    if push.rows.len() > MAX_ROWS {
        return Err(ApiError::invalid_field("rows", "too_many", format!("一次最多上报 {MAX_ROWS} 条")));
    }
    let txn = db.begin().await?;
    // The receiver's lock: its relayed outbox rows are numbered without gaps, and two
    // deliveries of one origin (two replicas, a retry) apply one after the other.
    audit::lock_chain(&txn, receiver.id).await?;
    let now = Utc::now();
    let at = match inbox::Entity::find_by_id(push.origin.tenant_id).one(&txn).await? {
        Some(row) if row.child_tenant_id != child.id || row.receiver_tenant_id != receiver.id => {
            return Err(ApiError::forbidden("该来源已绑定其他下级单位，拒绝上报"));
        }
        Some(row) => row.cursor,
        None if inbox::Entity::find().filter(inbox::Column::ChildTenantId.eq(child.id)).one(&txn).await?.is_some() => {
            // One source of rows per child: a second one (a reinstalled child platform, a
            // made-up origin) would start again at sequence 1 and count everything twice.
            return Err(ApiError::conflict(format!(
                "{} 已由另一个来源上报；如对方平台重新安装，请联系上级平台管理员处理",
                child.name
            )));
        }
        None => {
            inbox::ActiveModel {
                origin_tenant_id: Set(push.origin.tenant_id),
                receiver_tenant_id: Set(receiver.id),
                child_tenant_id: Set(child.id),
                origin_code: Set(push.origin.code.chars().take(6).collect()),
                origin_name: Set(push.origin.name.chars().take(100).collect()),
                cursor: Set(0),
                last_row_at: Set(None),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            0
        }
    };
    let by_seq: HashMap<i64, &Row> = push.rows.iter().rev().map(|r| (r.seq, r)).collect();
    let (plan, duplicates, after_gap) = cursor::plan(at, push.rows.iter().map(|r| r.seq).collect());
    let relay = receiver.parent_id.is_some() || receiver.federation_parent_url.is_some();
    let (mut applied, mut parked_rows) = (0, 0);
    let mut last_row_at = None;
    let child_region = DivisionCode::parse_stored(&child.code).map_err(ApiError::internal)?;
    // Statistics of the whole push are summed and written at once, and so are the relayed rows.
    let mut figures: BTreeMap<RollupKey, (i64, f64)> = BTreeMap::new();
    let mut relayed = Vec::new();
    for seq in &plan {
        let Some(row) = by_seq.get(seq) else { continue };
        last_row_at = Some(row.created_at);
        // Delivered inside this deployment, not over HTTP (a remote push may name any origin).
        let from_local = via == "local";
        if let Err(reason) = apply_row(&txn, receiver.id, &child_region, from_local, row, now, &mut figures).await? {
            park(&txn, receiver.id, push.origin.tenant_id, row, &reason, now).await?;
            parked_rows += 1;
            continue;
        }
        applied += 1;
        // Up the tree: the same change, still naming the tenant where it happened.
        if relay {
            let mut payload = row.payload.clone();
            if let Some(obj) = payload.as_object_mut() {
                obj.insert("source".into(), serde_json::to_value(&row.source).map_err(ApiError::internal)?);
                obj.insert("committed_at".into(), serde_json::to_value(row.committed_at).map_err(ApiError::internal)?);
            }
            relayed.push((row.kind.clone(), payload));
        }
    }
    add_rollup(&txn, receiver.id, figures).await?;
    crate::modules::subjects::service::write_outbox_many(&txn, receiver.id, &relayed).await?;
    let cursor = plan.last().copied().unwrap_or(at);
    if cursor != at {
        inbox::Entity::update_many()
            .col_expr(inbox::Column::Cursor, Expr::value(cursor))
            .col_expr(inbox::Column::LastRowAt, Expr::value(last_row_at))
            .col_expr(inbox::Column::UpdatedAt, Expr::value(now))
            .col_expr(inbox::Column::OriginName, Expr::value(push.origin.name.chars().take(100).collect::<String>()))
            .filter(inbox::Column::OriginTenantId.eq(push.origin.tenant_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    let done = Utc::now();
    for seq in &plan {
        if let Some(row) = by_seq.get(seq) {
            metrics.federation_freshness(via, (done - row.committed_at).as_seconds_f64().max(0.0));
        }
    }
    metrics.federation_rows("applied", applied);
    metrics.federation_rows("duplicate", duplicates);
    metrics.federation_rows("parked", parked_rows);
    if after_gap > 0 {
        tracing::info!(origin = %push.origin.code, cursor, after_gap, "federation: rows after a gap wait to be sent again");
    }
    Ok(Ack { cursor, applied, duplicates, parked: parked_rows, after_gap })
}

/// A filing version as it travels (the outbox payload of `filing.*`).
#[derive(serde::Deserialize)]
struct FilingChange {
    #[serde(rename = "type")]
    filing_type: String,
    version: i32,
    filing: serde_json::Value,
}

/// Statistics deltas as they travel (the outbox payload of `statistics.delta`).
#[derive(serde::Deserialize)]
struct StatisticsDelta {
    deltas: Vec<Delta>,
}

#[derive(serde::Deserialize)]
struct Delta {
    day: String,
    stage: String,
    category_code: String,
    division_code: String,
    /// The unit the quantity is counted in; absent from a child not yet upgraded: not stated.
    #[serde(default)]
    unit: String,
    records: i64,
    quantity: f64,
}

/// A roll-up row's key: source, day, stage, category, region, unit.
pub type RollupKey = (String, String, String, String, String, String);

/// Applies one row: a filing at once, statistics summed into `figures` (written by the caller
/// for the whole push). The outer `Err` is a database failure (the push fails and is sent
/// again); the inner `Err` is a row that can never be applied (parked with the reason).
async fn apply_row(
    txn: &DatabaseTransaction,
    receiver: Uuid,
    child_region: &DivisionCode,
    from_local: bool,
    row: &Row,
    now: chrono::DateTime<Utc>,
    figures: &mut BTreeMap<RollupKey, (i64, f64)>,
) -> ApiResult<Result<(), String>> {
    // A child speaks for its own region only: a change naming a tenant outside it is parked.
    match DivisionCode::parse_stored(&row.source.code) {
        Ok(source) if source.is_within(child_region) => {}
        _ => return Ok(Err(format!("来源地区 {} 不在下级单位 {} 的辖区内", row.source.code, child_region))),
    }
    if row.source.name.chars().count() > 100 {
        return Ok(Err("来源单位名称过长".into()));
    }
    match row.kind.as_str() {
        "filing.created" | "filing.changed" | "filing.withdrawn" => {
            let change: FilingChange = match serde_json::from_value(row.payload.clone()) {
                Ok(c) => c,
                Err(e) => return Ok(Err(format!("备案内容无法读取：{e}"))),
            };
            let Some(code) = change.filing.get("code").and_then(|c| c.as_str()).filter(|c| !c.is_empty()) else {
                return Ok(Err("备案内容缺少编码（code）".into()));
            };
            if code.len() > 64 || change.version < 1 {
                return Ok(Err(format!("备案编码或版本不合规：{code} / {}", change.version)));
            }
            if !["enterprise", "merchant", "product"].contains(&change.filing_type.as_str()) {
                return Ok(Err(format!("未知的备案类型：{}", change.filing_type)));
            }
            let status = if row.kind == "filing.withdrawn" { "withdrawn" } else { "active" };
            let held =
                filing::Entity::find_by_id((receiver, change.filing_type.clone(), code.to_owned())).one(txn).await?;
            // A filing held from another region is not this child's to change.
            if let Some(h) = &held
                && !DivisionCode::parse_stored(&h.source_code).is_ok_and(|s| s.is_within(child_region))
            {
                return Ok(Err(format!(
                    "备案 {code} 属于 {}（{}），不在该下级单位辖区内",
                    h.source_name, h.source_code
                )));
            }
            // The count of filings per source moves when one appears, is withdrawn or returns
            // (an older version arriving late changes nothing).
            let was_active = held.as_ref().map(|h| h.status == "active");
            let newer = held.as_ref().is_none_or(|h| h.version <= change.version);
            let moved = match (was_active, status == "active") {
                (None, true) | (Some(false), true) if newer => 1,
                (Some(true), false) if newer => -1,
                _ => 0,
            };
            if moved != 0 {
                let source =
                    held.as_ref().map_or_else(|| row.source.code.chars().take(6).collect(), |h| h.source_code.clone());
                let total = rollup_total::Model {
                    holder_tenant_id: receiver,
                    source_code: source,
                    records: 0,
                    quantity: 0.0,
                    filings: moved,
                };
                add_totals(txn, vec![total]).await?;
            }
            let model = filing::ActiveModel {
                receiver_tenant_id: Set(receiver),
                filing_type: Set(change.filing_type.clone()),
                filing_code: Set(code.to_owned()),
                source_code: Set(row.source.code.chars().take(6).collect()),
                source_name: Set(row.source.name.chars().take(100).collect()),
                version: Set(change.version),
                status: Set(status.to_owned()),
                data: Set(change.filing.to_string()),
                updated_at: Set(now),
            };
            // A version the parent holds already, or an older one, changes nothing.
            let newer = OnConflict::columns([
                filing::Column::ReceiverTenantId,
                filing::Column::FilingType,
                filing::Column::FilingCode,
            ])
            .update_columns([
                filing::Column::SourceCode,
                filing::Column::SourceName,
                filing::Column::Version,
                filing::Column::Status,
                filing::Column::Data,
                filing::Column::UpdatedAt,
            ])
            .action_and_where(Expr::cust("federation_filings.version <= excluded.version"))
            .to_owned();
            filing::Entity::insert(model).on_conflict(newer).exec_without_returning(txn).await?;
            Ok(Ok(()))
        }
        "statistics.delta" => {
            let delta: StatisticsDelta = match serde_json::from_value(row.payload.clone()) {
                Ok(d) => d,
                Err(e) => return Ok(Err(format!("统计增量无法读取：{e}"))),
            };
            let source: String = row.source.code.chars().take(6).collect();
            // Checked whole first: a bad delta parks the row and adds nothing.
            for d in &delta.deltas {
                let fits = d.day.len() == 10
                    && d.stage.len() <= 32
                    && d.category_code.len() <= 16
                    && d.unit.len() <= 16
                    && DivisionCode::parse_stored(&d.division_code).is_ok()
                    && d.records >= 0
                    && d.quantity.is_finite()
                    && d.quantity >= 0.0;
                if !fits {
                    return Ok(Err(format!(
                        "统计增量不合规：{} {} {} {} {}/{}",
                        d.day, d.stage, d.category_code, d.division_code, d.records, d.quantity
                    )));
                }
            }
            let keys: Vec<RollupKey> = delta
                .deltas
                .iter()
                .map(|d| {
                    (
                        source.clone(),
                        d.day.clone(),
                        d.stage.clone(),
                        d.category_code.clone(),
                        d.division_code.clone(),
                        d.unit.clone(),
                    )
                })
                .collect();
            let overflows = keys
                .iter()
                .zip(&delta.deltas)
                .any(|(k, d)| figures.get(k).map_or(0, |f| f.0).checked_add(d.records).is_none());
            if overflows {
                return Ok(Err("统计增量超出范围".into()));
            }
            for (k, d) in keys.into_iter().zip(delta.deltas) {
                let f = figures.entry(k).or_insert((0, 0.0));
                f.0 += d.records;
                f.1 += d.quantity;
            }
            Ok(Ok(()))
        }
        super::anchors::KIND => super::anchors::keep(txn, receiver, from_local, row, now).await,
        other => Ok(Err(format!("未知的变更类型：{other}"))),
    }
}

/// Adds `holder`'s figures (records, quantity) to the roll-up, summing into rows that exist,
/// and their sums per source to the totals.
///
/// # Errors
/// Database failures.
pub async fn add_rollup(
    db: &impl ConnectionTrait,
    holder: Uuid,
    figures: BTreeMap<RollupKey, (i64, f64)>,
) -> ApiResult<()> {
    let rows: Vec<rollup::Model> = figures
        .into_iter()
        .map(|((source_code, day, stage, category_code, division_code, unit), (records, quantity))| rollup::Model {
            holder_tenant_id: holder,
            source_code,
            day,
            stage,
            category_code,
            division_code,
            unit,
            records,
            quantity,
        })
        .collect();
    let mut totals: BTreeMap<(Uuid, String), (i64, f64)> = BTreeMap::new();
    for r in &rows {
        let t = totals.entry((r.holder_tenant_id, r.source_code.clone())).or_insert((0, 0.0));
        t.0 += r.records;
        t.1 += r.quantity;
    }
    let totals: Vec<rollup_total::Model> = totals
        .into_iter()
        .map(|((holder_tenant_id, source_code), (records, quantity))| rollup_total::Model {
            holder_tenant_id,
            source_code,
            records,
            quantity,
            filings: 0,
        })
        .collect();
    add_totals(db, totals).await?;
    use rollup::Column as C;
    let keys = [C::HolderTenantId, C::SourceCode, C::Day, C::Stage, C::CategoryCode, C::DivisionCode, C::Unit];
    crate::modules::trace::write::add_up::<rollup::Entity>(db, rows, &keys, &[C::Records, C::Quantity]).await
}

/// Adds to the totals per source (records, quantity, filings).
///
/// # Errors
/// Database failures.
pub async fn add_totals(db: &impl ConnectionTrait, totals: Vec<rollup_total::Model>) -> ApiResult<()> {
    use rollup_total::Column as T;
    let sums = [T::Records, T::Quantity, T::Filings];
    crate::modules::trace::write::add_up::<rollup_total::Entity>(db, totals, &[T::HolderTenantId, T::SourceCode], &sums)
        .await
}

async fn park(
    txn: &DatabaseTransaction,
    receiver: Uuid,
    origin: Uuid,
    row: &Row,
    reason: &str,
    now: chrono::DateTime<Utc>,
) -> ApiResult<()> {
    tracing::warn!(%origin, seq = row.seq, kind = %row.kind, reason, "federation: row parked");
    parked::ActiveModel {
        id: Set(Uuid::now_v7()),
        receiver_tenant_id: Set(receiver),
        origin_tenant_id: Set(origin),
        seq: Set(row.seq),
        kind: Set(row.kind.chars().take(32).collect()),
        source_code: Set(row.source.code.chars().take(16).collect()),
        payload: Set(row.payload.to_string()),
        reason: Set(reason.to_owned()),
        parked_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}
