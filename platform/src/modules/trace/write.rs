//! Writing trace records fast. On PostgreSQL each table gets one statement per batch: the rows
//! travel as one JSON parameter and `jsonb_to_recordset` expands them (`INSERT … SELECT`), so
//! the server neither parses nor plans thousands of bind parameters. On SQLite (in process, no
//! round trips) rows go in multi-row inserts. Both are `ON CONFLICT DO NOTHING` on the
//! idempotency key, answering the ids that were new.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ColumnType, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, Statement,
};
use uuid::Uuid;

use super::entity::{code_index, event, lineage, stats_daily};
use crate::error::{ApiError, ApiResult};

/// Rows per statement on SQLite (under its bind-parameter limit at 27 columns).
const SQLITE_CHUNK: usize = 500;
/// Rows per statement on PostgreSQL (one JSON parameter; bounded to keep it a few MiB).
const PG_CHUNK: usize = 5_000;

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

/// `INSERT INTO table (cols) SELECT cols FROM jsonb_to_recordset($1) … suffix` for entity `E`,
/// its columns read from the entity so the statement follows the schema.
fn pg_statement<E: EntityTrait>(json: String, suffix: &str) -> Statement {
    let cols: Vec<(&str, &str)> = E::Column::iter().map(|c| (c.as_str(), pg_type(c.def().get_column_type()))).collect();
    let names = cols.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let defs = cols.iter().map(|(n, t)| format!("\"{n}\" {t}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "INSERT INTO \"{}\" ({names}) SELECT {names} FROM jsonb_to_recordset($1::jsonb) AS r({defs}) {suffix}",
        E::default().table_name()
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [json.into()])
}

/// Offers every record; answers the ids of those that were new (not seen before under the same
/// tenant and client event id).
///
/// # Errors
/// Database failures.
pub async fn events(txn: &DatabaseTransaction, rows: &[event::Model]) -> ApiResult<Vec<Uuid>> {
    let mut inserted = Vec::with_capacity(rows.len());
    if txn.get_database_backend() == DbBackend::Postgres {
        for chunk in rows.chunks(PG_CHUNK) {
            let json = serde_json::to_string(chunk).map_err(ApiError::internal)?;
            let stmt =
                pg_statement::<event::Entity>(json, "ON CONFLICT (tenant_id, client_event_id) DO NOTHING RETURNING id");
            for row in txn.query_all_raw(stmt).await? {
                inserted.push(row.try_get::<Uuid>("", "id")?);
            }
        }
        return Ok(inserted);
    }
    for chunk in rows.chunks(SQLITE_CHUNK) {
        let keys = event::Entity::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .on_conflict(
                OnConflict::columns([event::Column::TenantId, event::Column::ClientEventId]).do_nothing().to_owned(),
            )
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
    if txn.get_database_backend() == DbBackend::Postgres {
        for chunk in edges.chunks(PG_CHUNK) {
            let json = serde_json::to_string(chunk).map_err(ApiError::internal)?;
            txn.execute_raw(pg_statement::<lineage::Entity>(json, "")).await?;
        }
        for chunk in codes.chunks(PG_CHUNK) {
            let json = serde_json::to_string(chunk).map_err(ApiError::internal)?;
            txn.execute_raw(pg_statement::<code_index::Entity>(json, "")).await?;
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
    if txn.get_database_backend() == DbBackend::Postgres {
        for chunk in deltas.chunks(PG_CHUNK) {
            let json = serde_json::to_string(chunk).map_err(ApiError::internal)?;
            txn.execute_raw(pg_statement::<stats_daily::Entity>(json, SUM)).await?;
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
