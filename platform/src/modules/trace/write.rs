//! Writing trace records fast. On PostgreSQL each table gets one statement per batch: one typed
//! array per column, expanded by `UNNEST` (`INSERT … SELECT`), so the server neither parses
//! nor plans thousands of bind parameters, and nothing is turned into JSON and back. On SQLite
//! (in process, no round trips) rows go in multi-row inserts. Both are `ON CONFLICT DO NOTHING` on the
//! idempotency key, answering the ids that were new.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ColumnType, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, ModelTrait, Statement, Value,
};
use uuid::Uuid;

use super::entity::{code_index, event, lineage, stats_daily};
use crate::error::ApiResult;

/// Rows per statement on SQLite (under its bind-parameter limit at 27 columns).
const SQLITE_CHUNK: usize = 500;
/// Rows per statement on PostgreSQL (one array per column; bounded to keep them a few MiB). Few
/// statements matter over TCP: each large one may wait ~40 ms for a delayed ACK (sqlx 0.9.0).
const PG_CHUNK: usize = 20_000;

fn pg_type(t: &ColumnType) -> &'static str {
    match t {
        ColumnType::Uuid => "uuid",
        ColumnType::Double | ColumnType::Float => "float8",
        ColumnType::Integer => "int4",
        ColumnType::BigInteger => "int8",
        ColumnType::Boolean => "bool",
        ColumnType::TimestampWithTimeZone => "timestamptz",
        _ => "text",
    }
}

/// Stands for NULL in a text array (sea-query binds arrays without NULL elements). It cannot
/// pass the ingest's checks (control characters); a chunk holding it anyway goes the slow way.
const NULL_TEXT: &str = "\u{1}NULL\u{1}";

/// `INSERT INTO table (cols) SELECT … FROM UNNEST($1::type[], …) suffix` for entity `E`: one
/// typed array per column, bound in PostgreSQL's binary format; nullable columns carry NaN or
/// [`NULL_TEXT`] for NULL and are turned back with `NULLIF`. The columns are read from the
/// entity, so the statement follows the schema. `None` when a value collides with the marker.
fn pg_unnest<E: EntityTrait>(rows: &[E::Model], suffix: &str) -> Option<Statement> {
    let cols: Vec<E::Column> = E::Column::iter().collect();
    let names = cols.iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ");
    let mut select = Vec::with_capacity(cols.len());
    let mut arrays = Vec::with_capacity(cols.len());
    let mut values = Vec::with_capacity(cols.len());
    for (i, c) in (1..).zip(&cols) {
        let def = c.def();
        let ty = pg_type(def.get_column_type());
        let name = format!("\"{}\"", c.as_str());
        arrays.push(format!("${i}::{ty}[]"));
        let mut column: Vec<Value> = Vec::with_capacity(rows.len());
        for m in rows {
            column.push(match m.get(*c) {
                Value::Double(None) => Value::Double(Some(f64::NAN)),
                Value::String(None) => Value::String(Some(NULL_TEXT.to_owned())),
                Value::String(Some(v)) if v == NULL_TEXT => return None,
                v => v,
            });
        }
        select.push(match (def.is_null(), ty) {
            (true, "float8") => format!("NULLIF({name}, 'NaN'::float8)"),
            (true, "text") => format!("NULLIF({name}, chr(1) || 'NULL' || chr(1))"),
            _ => name,
        });
        let kind = column.first().map_or(sea_orm::sea_query::ArrayType::String, Value::array_type);
        values.push(Value::Array(kind, Some(Box::new(column))));
    }
    let sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {select} FROM UNNEST({arrays}) AS r({names}) {suffix}",
        table = E::default().table_name(),
        select = select.join(", "),
        arrays = arrays.join(", "),
    );
    Some(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
}

/// On PostgreSQL, the statements writing `rows` in chunks; `None` elsewhere, or when a value
/// collides with the NULL marker (then the rows go the portable way).
fn pg_plan<E: EntityTrait>(txn: &DatabaseTransaction, rows: &[E::Model], suffix: &str) -> Option<Vec<Statement>> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    rows.chunks(PG_CHUNK).map(|chunk| pg_unnest::<E>(chunk, suffix)).collect()
}

/// Inserts `rows` on PostgreSQL through `UNNEST` (one statement per chunk, `suffix` after it);
/// `false` when the database is not PostgreSQL or a value collides with the NULL marker, and the
/// caller then writes them the portable way.
///
/// # Errors
/// Database failures.
pub async fn pg_insert<E: EntityTrait>(db: &impl ConnectionTrait, rows: &[E::Model], suffix: &str) -> ApiResult<bool> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let Some(statements) = rows.chunks(PG_CHUNK).map(|chunk| pg_unnest::<E>(chunk, suffix)).collect::<Option<Vec<_>>>()
    else {
        return Ok(false);
    };
    for stmt in statements {
        db.execute_raw(stmt).await?;
    }
    Ok(true)
}

/// Offers every record; answers the ids of those that were new (not seen before under the same
/// tenant and client event id).
///
/// # Errors
/// Database failures.
pub async fn events(txn: &DatabaseTransaction, rows: &[event::Model]) -> ApiResult<Vec<Uuid>> {
    let mut inserted = Vec::with_capacity(rows.len());
    // PostgreSQL's records are partitioned by month: the unique index holds the event time.
    let conflict = "ON CONFLICT (tenant_id, client_event_id, event_time) DO NOTHING RETURNING id";
    if let Some(statements) = pg_plan::<event::Entity>(txn, rows, conflict) {
        for stmt in statements {
            for row in txn.query_all_raw(stmt).await? {
                inserted.push(row.try_get::<Uuid>("", "id")?);
            }
        }
        return Ok(inserted);
    }
    for chunk in rows.chunks(SQLITE_CHUNK) {
        let keys = event::Entity::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .on_conflict(if txn.get_database_backend() == DbBackend::Postgres {
                OnConflict::columns([event::Column::TenantId, event::Column::ClientEventId, event::Column::EventTime])
                    .do_nothing()
                    .to_owned()
            } else {
                OnConflict::columns([event::Column::TenantId, event::Column::ClientEventId]).do_nothing().to_owned()
            })
            .exec_with_returning_keys(txn)
            .await;
        match keys {
            Ok(keys) => inserted.extend(keys),
            Err(sea_orm::DbErr::RecordNotInserted) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(inserted)
}

/// Writes the new records' lineage edges and trace-code index rows.
///
/// # Errors
/// Database failures.
pub async fn edges_and_codes(
    txn: &DatabaseTransaction,
    edges: Vec<lineage::Model>,
    codes: Vec<code_index::Model>,
) -> ApiResult<()> {
    if let (Some(e), Some(c)) =
        (pg_plan::<lineage::Entity>(txn, &edges, ""), pg_plan::<code_index::Entity>(txn, &codes, ""))
    {
        for stmt in e.into_iter().chain(c) {
            txn.execute_raw(stmt).await?;
        }
        return Ok(());
    }
    for chunk in edges.chunks(SQLITE_CHUNK * 2) {
        lineage::Entity::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in codes.chunks(SQLITE_CHUNK * 4) {
        code_index::Entity::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Adds statistics deltas to the daily figures (a new key is inserted, a known one summed).
///
/// # Errors
/// Database failures.
pub async fn stats(txn: &DatabaseTransaction, deltas: Vec<stats_daily::Model>) -> ApiResult<()> {
    const SUM: &str = "ON CONFLICT (tenant_id, day, stage, category_code, division_code) DO UPDATE SET \
        records = trace_stats_daily.records + excluded.records, \
        quantity = trace_stats_daily.quantity + excluded.quantity";
    if let Some(statements) = pg_plan::<stats_daily::Entity>(txn, &deltas, SUM) {
        for stmt in statements {
            txn.execute_raw(stmt).await?;
        }
        return Ok(());
    }
    use stats_daily::Column as C;
    for chunk in deltas.chunks(SQLITE_CHUNK) {
        stats_daily::Entity::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .on_conflict(
                OnConflict::columns([C::TenantId, C::Day, C::Stage, C::CategoryCode, C::DivisionCode])
                    .values([
                        (C::Records, sea_orm::sea_query::Expr::cust("trace_stats_daily.records + excluded.records")),
                        (C::Quantity, sea_orm::sea_query::Expr::cust("trace_stats_daily.quantity + excluded.quantity")),
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// PostgreSQL: creates the monthly partitions of trace records missing from this month to
/// three months ahead; the number created.
///
/// # Errors
/// Database failures.
pub async fn ensure_partitions(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i32> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT suyuan_trace_partitions((now() AT TIME ZONE 'UTC')::date, 3) AS made",
        ))
        .await?;
    let made = row.map(|r| r.try_get::<i32>("", "made")).transpose()?.unwrap_or(0);
    if made > 0 {
        tracing::info!(made, "trace record partitions created");
    }
    Ok(made)
}
