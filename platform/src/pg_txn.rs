//! A PostgreSQL transaction on a sqlx connection of the pool, usable by sea-orm code (it is a
//! [`ConnectionTrait`]) and able to `COPY … FROM STDIN` too, which sea-orm's own transaction
//! cannot. The trace-record ingest writes its records through it: `COPY` fills a partitioned
//! table a page at a time, where an `INSERT` goes row by row.

use sea_orm::sqlx::{self, AssertSqlSafe, PgPool, Postgres};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, mpsc};

/// An open transaction; dropped without [`PgTxn::commit`], it is rolled back.
#[derive(Debug)]
pub struct PgTxn {
    tx: Mutex<sqlx::Transaction<'static, Postgres>>,
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

/// The statement for sqlx, its text and values moved in (an ingest's arrays are not copied).
fn query(stmt: Statement) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    let values = stmt.values.unwrap_or(sea_orm::Values(Vec::new()));
    sqlx::query_with(AssertSqlSafe(stmt.sql), SqlxValues(values))
}

/// Whether `e` is PostgreSQL's unique violation (23505).
#[must_use]
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e, DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
        if e.as_database_error().and_then(sqlx::error::DatabaseError::code).as_deref() == Some("23505"))
}

impl PgTxn {
    /// Begins a transaction on a connection of `pool`.
    ///
    /// # Errors
    /// When no connection can be had.
    pub async fn begin(pool: &PgPool) -> Result<Self, DbErr> {
        Ok(Self { tx: Mutex::new(pool.begin().await.map_err(exec_err)?) })
    }

    /// `statement` (a `COPY … FROM STDIN`) with `data`, in the statement's format; the rows
    /// copied.
    ///
    /// # Errors
    /// What PostgreSQL refused (a unique violation among them); the transaction is then
    /// aborted up to its last savepoint.
    pub async fn copy_in(&self, statement: &str, data: &[u8]) -> Result<u64, DbErr> {
        let mut tx = self.tx.lock().await;
        let mut copy = tx.copy_in_raw(statement).await.map_err(exec_err)?;
        // In pieces of up to a MiB: the protocol's messages stay small.
        for piece in data.chunks(1 << 20) {
            if let Err(e) = copy.send(piece).await {
                // Ends the COPY so the connection can go on (to a savepoint, or back to the pool).
                let _ = copy.abort("send failed").await;
                return Err(exec_err(e));
            }
        }
        copy.finish().await.map_err(exec_err)
    }

    /// `statement` (a `COPY … FROM STDIN`) with its data as it comes from `pieces`, sent on while the sender makes the next ones (so PostgreSQL writes while the
    /// caller checks and encodes); finished when the sender is dropped. The rows copied.
    ///
    /// # Errors
    /// As [`PgTxn::copy_in`].
    pub async fn copy_in_from(&self, statement: &str, mut pieces: mpsc::Receiver<Vec<u8>>) -> Result<u64, DbErr> {
        let mut tx = self.tx.lock().await;
        let mut copy = tx.copy_in_raw(statement).await.map_err(exec_err)?;
        while let Some(piece) = pieces.recv().await {
            if let Err(e) = copy.send(piece).await {
                let _ = copy.abort("send failed").await;
                return Err(exec_err(e));
            }
        }
        copy.finish().await.map_err(exec_err)
    }

    /// Commits.
    ///
    /// # Errors
    /// When PostgreSQL refuses (a deferred constraint, a lost connection).
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.into_inner().commit().await.map_err(exec_err)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for PgTxn {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut tx = self.tx.lock().await;
        query(stmt).execute(&mut **tx).await.map(Into::into).map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut tx = self.tx.lock().await;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(&mut **tx).await.map(Into::into).map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut tx = self.tx.lock().await;
        query(stmt).fetch_optional(&mut **tx).await.map(|r| r.map(Into::into)).map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut tx = self.tx.lock().await;
        let rows = query(stmt).fetch_all(&mut **tx).await.map_err(query_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
