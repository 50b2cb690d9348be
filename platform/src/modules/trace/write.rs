//! Writing trace records fast. On PostgreSQL a batch's records, lineage edges and code-index
//! rows go in by `COPY` in the binary format, inside the request's transaction (`PgTxn`); the
//! records as they are checked (see the ingest), behind a savepoint that lets a batch holding
//! records received before fall back to `INSERT … ON CONFLICT DO NOTHING`. Other tables get one
//! statement per batch: one typed array per column, expanded by `UNNEST` (`INSERT … SELECT`), so
//! the server neither parses nor plans thousands of bind parameters. On SQLite (in process, no
//! round trips) rows go in multi-row inserts. The inserts are `ON CONFLICT DO NOTHING` on the
//! idempotency key, answering the ids that were new.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ColumnType, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, ModelTrait, Statement, Value,
};
use uuid::Uuid;

use super::entity::{code_index, event, lineage, stats_daily};
use crate::error::ApiResult;
use crate::pg_txn::PgTxn;

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

/// `INSERT INTO table (cols) SELECT unnest($1::type[]), … suffix` for entity `E`: one typed
/// array per column, bound in PostgreSQL's binary format, expanded in step in the select list
/// (a set-returning function there is evaluated row by row; `FROM UNNEST(…)` would first copy
/// every row into a tuple store: about a third slower for a thousand records); nullable columns
/// carry NaN or [`NULL_TEXT`] for NULL and are turned back with `NULLIF`. The columns are read
/// from the entity, so the statement follows the schema. `None` when a value collides with the
/// marker.
fn pg_unnest<E: EntityTrait>(rows: &[E::Model], suffix: &str) -> Option<Statement> {
    let cols: Vec<E::Column> = E::Column::iter().collect();
    let names = cols.iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ");
    let mut select = Vec::with_capacity(cols.len());
    let mut values = Vec::with_capacity(cols.len());
    for (i, c) in (1..).zip(&cols) {
        let def = c.def();
        let ty = pg_type(def.get_column_type());
        let mut column: Vec<Value> = Vec::with_capacity(rows.len());
        for m in rows {
            column.push(match m.get(*c) {
                Value::Double(None) => Value::Double(Some(f64::NAN)),
                Value::String(None) => Value::String(Some(NULL_TEXT.to_owned())),
                Value::String(Some(v)) if v == NULL_TEXT => return None,
                v => v,
            });
        }
        let unnest = format!("unnest(${i}::{ty}[])");
        select.push(match (def.is_null(), ty) {
            (true, "float8") => format!("NULLIF({unnest}, 'NaN'::float8)"),
            (true, "text") => format!("NULLIF({unnest}, chr(1) || 'NULL' || chr(1))"),
            _ => unnest,
        });
        let kind = column.first().map_or(sea_orm::sea_query::ArrayType::String, Value::array_type);
        values.push(Value::Array(kind, Some(Box::new(column))));
    }
    let sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {select} {suffix}",
        table = E::default().table_name(),
        select = select.join(", "),
    );
    Some(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
}

/// SQLite: `INSERT INTO table (cols) VALUES (?, …), … suffix` for `rows` of `E`, each value
/// taken from its model once. sea-orm's `insert_many` wraps every value in an expression and
/// copies it again when it writes the statement: for a batch's tens of thousands of values that
/// was most of the allocator's quarter of the SQLite ingest's request thread (`perf`).
fn sqlite_values<E: EntityTrait>(rows: &[E::Model], suffix: &str) -> Statement {
    let cols: Vec<E::Column> = E::Column::iter().collect();
    let names = cols.iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ");
    let row = format!("({})", vec!["?"; cols.len()].join(", "));
    let mut sql = String::with_capacity(64 + names.len() + rows.len() * (row.len() + 2) + suffix.len());
    sql.push_str(&format!("INSERT INTO \"{}\" ({names}) VALUES ", E::default().table_name()));
    for i in 0..rows.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    if !suffix.is_empty() {
        sql.push(' ');
        sql.push_str(suffix);
    }
    let mut values = Vec::with_capacity(rows.len() * cols.len());
    for m in rows {
        values.extend(cols.iter().map(|c| m.get(*c)));
    }
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// `rows` in pieces for multi-row statements: `max` rows each, then what is left in powers of
/// two, so that only a few statement texts ever recur. The driver keeps every statement text it
/// prepared (up to 100 per connection); a new piece size in every batch filled that cache with
/// statements of thousands of parameters (the SQLite server held 400 MiB after a million public
/// queries).
fn pieces<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let n = if rest.len() >= max { max } else { 1 << rest.len().checked_ilog2()? };
        let (piece, more) = rest.split_at(n);
        rest = more;
        Some(piece)
    })
}

/// On PostgreSQL, the statements writing `rows` in chunks; `None` elsewhere, or when a value
/// collides with the NULL marker (then the rows go the portable way).
fn pg_plan<E: EntityTrait>(db: &impl ConnectionTrait, rows: &[E::Model], suffix: &str) -> Option<Vec<Statement>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    rows.chunks(PG_CHUNK).map(|chunk| pg_unnest::<E>(chunk, suffix)).collect()
}

/// Inserts `rows` of `E`: on PostgreSQL through `UNNEST`, one statement per chunk with
/// `pg_suffix` after it; elsewhere (or when a value collides with the NULL marker) as multi-row
/// inserts with `on_conflict`, in chunks under SQLite's bind-parameter limit.
///
/// # Errors
/// Database failures.
pub async fn insert<E>(
    db: &impl ConnectionTrait,
    rows: Vec<E::Model>,
    pg_suffix: &str,
    on_conflict: Option<OnConflict>,
) -> ApiResult<()>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    if rows.is_empty() || pg_insert::<E>(db, &rows, pg_suffix).await? {
        return Ok(());
    }
    let per = (30_000 / E::Column::iter().count()).max(1);
    for chunk in pieces(&rows, per) {
        if on_conflict.is_none() && db.get_database_backend() == DbBackend::Sqlite {
            db.execute_raw(sqlite_values::<E>(chunk, "")).await?;
            continue;
        }
        let mut q = E::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model));
        if let Some(c) = &on_conflict {
            q = q.on_conflict(c.clone());
        }
        q.exec_without_returning(db).await?;
    }
    Ok(())
}

/// Inserts `rows`, adding their `sums` columns into the row that already holds the same
/// `keys` (daily figures, roll-ups): one statement per chunk, as [`insert`].
///
/// # Errors
/// Database failures.
pub async fn add_up<E>(
    db: &impl ConnectionTrait,
    rows: Vec<E::Model>,
    keys: &[E::Column],
    sums: &[E::Column],
) -> ApiResult<()>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    use sea_orm::sea_query::Expr;
    let table = E::default().table_name().to_owned();
    let added = |c: &E::Column| format!("{c} = {table}.{c} + excluded.{c}", c = c.as_str());
    let on_conflict = OnConflict::columns(keys.iter().copied())
        .values(sums.iter().map(|c| (*c, Expr::cust(format!("{table}.{c} + excluded.{c}", c = c.as_str())))))
        .to_owned();
    let pg_suffix = format!(
        "ON CONFLICT ({}) DO UPDATE SET {}",
        keys.iter().map(IdenStatic::as_str).collect::<Vec<_>>().join(", "),
        sums.iter().map(added).collect::<Vec<_>>().join(", ")
    );
    insert::<E>(db, rows, &pg_suffix, Some(on_conflict)).await
}

/// [`insert`] on PostgreSQL; `false` (nothing written) elsewhere or on a marker collision.
async fn pg_insert<E: EntityTrait>(db: &impl ConnectionTrait, rows: &[E::Model], suffix: &str) -> ApiResult<bool> {
    let Some(statements) = pg_plan::<E>(db, rows, suffix) else {
        return Ok(false);
    };
    for stmt in statements {
        db.execute_raw(stmt).await?;
    }
    Ok(true)
}

/// `COPY "table" (cols) FROM STDIN` in the binary format for entity `E` (its columns in their
/// order). Binary rather than text: PostgreSQL parses no uuids, times or numbers (a sixth less
/// of its time for the records, measured with `psql`).
#[must_use]
pub fn copy_statement<E: EntityTrait>() -> String {
    let names = E::Column::iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ");
    format!("COPY \"{}\" ({names}) FROM STDIN (FORMAT binary)", E::default().table_name())
}

/// The start of `COPY`'s binary data: its signature, no flags, no header extension.
pub const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of `COPY`'s binary data: a tuple of -1 fields.
pub const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Appends `rows` of `E` to `buf` as tuples of `COPY`'s binary format (each field its length
/// and its value as PostgreSQL sends it: a uuid's 16 bytes, numbers big-endian, a time in
/// microseconds since 2000, text as UTF-8); `false` when a value has a type this does not
/// write (then `buf` may hold part of a tuple, and the rows go by `INSERT`).
pub fn copy_rows<E: EntityTrait>(rows: &[E::Model], buf: &mut Vec<u8>) -> bool {
    fn field(buf: &mut Vec<u8>, value: &[u8]) {
        // A field is far below 2 GiB (the checks bound every text).
        buf.extend_from_slice(&i32::try_from(value.len()).unwrap_or(i32::MAX).to_be_bytes());
        buf.extend_from_slice(value);
    }
    let cols: Vec<E::Column> = E::Column::iter().collect();
    let Ok(count) = i16::try_from(cols.len()) else { return false };
    for m in rows {
        buf.extend_from_slice(&count.to_be_bytes());
        for c in &cols {
            match m.get(*c) {
                v if !v.is_some() => buf.extend_from_slice(&(-1_i32).to_be_bytes()),
                Value::Uuid(Some(u)) => field(buf, u.as_bytes()),
                Value::String(Some(v)) => field(buf, v.as_bytes()),
                Value::Double(Some(v)) => field(buf, &v.to_be_bytes()),
                Value::Int(Some(v)) => field(buf, &v.to_be_bytes()),
                Value::BigInt(Some(v)) => field(buf, &v.to_be_bytes()),
                Value::Bool(Some(v)) => field(buf, &[u8::from(v)]),
                Value::ChronoDateTimeUtc(Some(t)) => {
                    field(buf, &(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes());
                }
                _ => return false,
            }
        }
    }
    true
}

/// The statement and data copying `rows` of `E` in, or `None` when [`copy_rows`] cannot.
fn copy_data<E: EntityTrait>(rows: &[E::Model]) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(COPY_HEADER.len() + rows.len() * 40 * E::Column::iter().count());
    buf.extend_from_slice(COPY_HEADER);
    copy_rows::<E>(rows, &mut buf).then(|| {
        buf.extend_from_slice(COPY_TRAILER);
        (copy_statement::<E>(), buf)
    })
}

/// A time for `COPY`'s text format, in UTC to the microsecond (digits written directly: a
/// format string would be parsed again for every value).
pub fn copy_time(buf: &mut Vec<u8>, t: chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, Timelike};
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_micros()
    );
}

/// Text for `COPY`'s text format (`None`: `\N`, NULL): backslash, tab, newline and carriage
/// return escaped.
pub fn copy_text_value(buf: &mut Vec<u8>, v: Option<&str>) {
    let Some(v) = v else {
        buf.extend_from_slice(b"\\N");
        return;
    };
    for b in v.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b => buf.push(b),
        }
    }
}

/// The lineage edges' and code-index rows' `COPY` (statement and data, `None` where
/// [`copy_rows`] cannot write a value), encoded ahead of writing them.
pub struct Encoded {
    edges: Option<(String, Vec<u8>)>,
    codes: Option<(String, Vec<u8>)>,
}

impl Encoded {
    /// Encodes `edges` and `codes`; they must be written as they are now.
    #[must_use]
    pub fn new(edges: &[lineage::Model], codes: &[code_index::Model]) -> Self {
        Self { edges: copy_data::<lineage::Entity>(edges), codes: copy_data::<code_index::Entity>(codes) }
    }
}

/// Copies `rows` in by their encoded `data` (PostgreSQL); `false` (nothing written) when there
/// is none: a value's type is not written by [`copy_rows`].
async fn copy_encoded<M>(txn: &PgTxn, rows: &[M], data: Option<(String, Vec<u8>)>) -> Result<bool, sea_orm::DbErr> {
    if rows.is_empty() {
        return Ok(true);
    }
    let Some((statement, data)) = data else { return Ok(false) };
    txn.copy_in(&statement, &data).await?;
    Ok(true)
}

/// The transaction an ingest writes in: sea-orm's, or on PostgreSQL one that can also `COPY`.
pub trait IngestTxn: ConnectionTrait {
    /// The `COPY`-capable transaction, on PostgreSQL.
    fn copier(&self) -> Option<&PgTxn> {
        None
    }
}

impl IngestTxn for DatabaseTransaction {}

impl IngestTxn for PgTxn {
    fn copier(&self) -> Option<&PgTxn> {
        Some(self)
    }
}

/// The savepoint the records' `COPY` sits behind (see [`copied_events`]).
pub const COPY_SAVEPOINT: &str = "copy_events";

/// On PostgreSQL, after the records were streamed into `COPY` behind savepoint
/// [`COPY_SAVEPOINT`] (`whole`: every one of `rows` was sent): answers the ids of the new ones.
/// When none was received before (the usual case) the copy is all there is. When one was, the
/// unique index refused the copy; the transaction goes back to the savepoint and the records
/// are offered by [`events`], which lets through only the new ones. So it does when not every
/// row could be sent.
///
/// # Errors
/// Database failures (the copy's other errors among them).
pub async fn copied_events(
    pg: &PgTxn,
    rows: &[event::Model],
    copied: Result<u64, sea_orm::DbErr>,
    whole: bool,
) -> ApiResult<Vec<Uuid>> {
    match copied {
        Ok(_) if whole => {
            pg.execute_unprepared(&format!("RELEASE SAVEPOINT {COPY_SAVEPOINT}")).await?;
            return Ok(rows.iter().map(|r| r.id).collect());
        }
        Ok(_) => {}
        Err(e) if crate::pg_txn::is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    pg.execute_unprepared(&format!("ROLLBACK TO SAVEPOINT {COPY_SAVEPOINT}")).await?;
    events(pg, rows).await
}

/// Offers every record by `INSERT … ON CONFLICT DO NOTHING`; answers the ids of those that were
/// new (not seen before under the same tenant and client event id).
///
/// # Errors
/// Database failures.
pub async fn events(txn: &impl ConnectionTrait, rows: &[event::Model]) -> ApiResult<Vec<Uuid>> {
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
    for chunk in pieces(rows, SQLITE_CHUNK) {
        if txn.get_database_backend() == DbBackend::Sqlite {
            let stmt = sqlite_values::<event::Entity>(
                chunk,
                "ON CONFLICT (tenant_id, client_event_id) DO NOTHING RETURNING id",
            );
            for row in txn.query_all_raw(stmt).await? {
                inserted.push(row.try_get::<Uuid>("", "id")?);
            }
            continue;
        }
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

/// Writes the new records' lineage edges and trace-code index rows; on PostgreSQL by `COPY`,
/// with `encoded` when they were encoded ahead (see [`Encoded`]), else encoded here.
///
/// # Errors
/// Database failures.
pub async fn edges_and_codes(
    txn: &impl IngestTxn,
    edges: Vec<lineage::Model>,
    codes: Vec<code_index::Model>,
    encoded: Option<Encoded>,
) -> ApiResult<()> {
    // Rows of records new in this transaction: nothing can be there before them.
    let (edges, codes) = match txn.copier() {
        Some(pg) => {
            let Encoded { edges: e, codes: c } = encoded.unwrap_or_else(|| Encoded::new(&edges, &codes));
            (
                if copy_encoded(pg, &edges, e).await? { Vec::new() } else { edges },
                if copy_encoded(pg, &codes, c).await? { Vec::new() } else { codes },
            )
        }
        None => (edges, codes),
    };
    insert::<lineage::Entity>(txn, edges, "", None).await?;
    insert::<code_index::Entity>(txn, codes, "", None).await
}

/// Adds statistics deltas to the daily figures (a new key is inserted, a known one summed).
///
/// # Errors
/// Database failures.
pub async fn stats(txn: &impl ConnectionTrait, deltas: Vec<stats_daily::Model>) -> ApiResult<()> {
    use stats_daily::Column as C;
    let keys = [C::TenantId, C::Day, C::Stage, C::CategoryCode, C::DivisionCode, C::Unit];
    add_up::<stats_daily::Entity>(txn, deltas, &keys, &[C::Records, C::Quantity]).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_rows_in_few_sizes() {
        let mut sizes = std::collections::BTreeSet::new();
        for n in 0..3_000 {
            let rows: Vec<usize> = (0..n).collect();
            let mut seen = Vec::new();
            for piece in pieces(&rows, 500) {
                sizes.insert(piece.len());
                seen.extend_from_slice(piece);
            }
            assert_eq!(seen, rows, "every row once, in order");
        }
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]);
    }

    #[test]
    fn copy_data_is_binary_tuples_with_nulls_and_times() {
        let at = chrono::DateTime::parse_from_rfc3339("2000-01-01T08:00:01.25+08:00").unwrap().to_utc();
        let id = Uuid::now_v7();
        let edge = lineage::Model {
            id,
            tenant_id: id,
            event_id: id,
            kind: "ship".to_owned(),
            from_subject_code: "E1".to_owned(),
            from_batch: "B\t1\\2\n".to_owned(),
            to_subject_code: "E2".to_owned(),
            to_batch: "B1".to_owned(),
            quantity: None,
            event_time: at,
            product_name: "寿光番茄".to_owned(),
            unit: None,
        };
        let (statement, data) =
            copy_data::<lineage::Entity>(&[edge.clone(), lineage::Model { quantity: Some(1.5), ..edge }]).unwrap();
        assert!(statement.starts_with("COPY \"trace_lineage\" (\"id\", "), "{statement}");
        assert!(statement.ends_with("FROM STDIN (FORMAT binary)"), "{statement}");
        assert!(data.starts_with(COPY_HEADER) && data.ends_with(COPY_TRAILER));
        // Read the tuples back: a field count, then each field's length and bytes.
        let body = &data[COPY_HEADER.len()..data.len() - COPY_TRAILER.len()];
        let mut pos = 0;
        let mut take = |n: usize| {
            pos += n;
            body[pos - n..pos].to_vec()
        };
        let cols: Vec<lineage::Column> = lineage::Column::iter().collect();
        let mut tuples = Vec::new();
        for _ in 0..2 {
            let count = i16::from_be_bytes(take(2).try_into().unwrap());
            assert_eq!(usize::try_from(count).unwrap(), cols.len());
            let fields: Vec<Option<Vec<u8>>> = (0..count)
                .map(|_| {
                    let len = i32::from_be_bytes(take(4).try_into().unwrap());
                    usize::try_from(len).ok().map(&mut take)
                })
                .collect();
            tuples.push(fields);
        }
        assert_eq!(pos, body.len(), "two rows, nothing else");
        assert_eq!(tuples.len(), 2, "two rows");
        let at_col = |c: lineage::Column| cols.iter().position(|x| x.as_str() == c.as_str()).unwrap();
        let first = &tuples[0];
        assert_eq!(first[at_col(lineage::Column::Id)].as_deref(), Some(&id.as_bytes()[..]));
        assert_eq!(first[at_col(lineage::Column::FromBatch)].as_deref(), Some("B\t1\\2\n".as_bytes()), "text as it is");
        assert_eq!(first[at_col(lineage::Column::Quantity)], None, "NULL");
        assert_eq!(first[at_col(lineage::Column::ProductName)].as_deref(), Some("寿光番茄".as_bytes()));
        let time = i64::from_be_bytes(first[at_col(lineage::Column::EventTime)].clone().unwrap().try_into().unwrap());
        assert_eq!(time, 1_250_000, "microseconds after 2000-01-01 00:00 UTC");
        let q = tuples[1][at_col(lineage::Column::Quantity)].clone().unwrap();
        assert_eq!(f64::from_be_bytes(q.try_into().unwrap()), 1.5);
    }
}
