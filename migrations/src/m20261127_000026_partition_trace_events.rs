//! Trace records partitioned by month on PostgreSQL (R-SEC-5, issue 6): declarative range
//! partitions on `event_time` (UTC months), named `trace_events_yYYYYmMM`, plus a default
//! partition for what falls outside them (records older than the first month). The function
//! `suyuan_trace_partitions(from, ahead)` creates the missing months from `from` to `ahead`
//! months past the current one; this migration calls it for the months holding records, and a
//! background job calls it daily so the coming months exist before their records arrive.
//!
//! A unique index on a partitioned table must hold the partition key, so idempotency on
//! PostgreSQL is on (tenant, client event id, event time): a retried record (the same record)
//! is still recognised; the same client id reused for a record of another time is a new record.
//! SQLite keeps the plain table and (tenant, client event id).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &str = "
ALTER TABLE trace_events ADD PRIMARY KEY (id, event_time);
CREATE UNIQUE INDEX ux_trace_events_client ON trace_events (tenant_id, client_event_id, event_time);
CREATE INDEX idx_trace_events_tenant_time ON trace_events (tenant_id, event_time);
CREATE INDEX idx_trace_events_batch ON trace_events (batch_no);
CREATE INDEX idx_trace_events_division_time ON trace_events (division_code, event_time);
";

const FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION suyuan_trace_partitions(from_day date, ahead integer) RETURNS integer AS $$
DECLARE
  m date := date_trunc('month', from_day)::date;
  last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => ahead))::date;
  made integer := 0;
  part text;
BEGIN
  WHILE m <= last LOOP
    part := format('trace_events_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
    IF to_regclass(part) IS NULL THEN
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF trace_events FOR VALUES FROM (%L) TO (%L)',
          part, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        made := made + 1;
      EXCEPTION WHEN others THEN
        -- The default partition already holds records of that month: they stay there, and
        -- the months after it are still made.
        RAISE WARNING 'trace partition % not created: %', part, SQLERRM;
      END;
    END IF;
    m := (m + interval '1 month')::date;
  END LOOP;
  RETURN made;
END
$$ LANGUAGE plpgsql
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared("ALTER TABLE trace_events RENAME TO trace_events_plain").await?;
        db.execute_unprepared(
            "CREATE TABLE trace_events (LIKE trace_events_plain INCLUDING DEFAULTS INCLUDING CONSTRAINTS) \
             PARTITION BY RANGE (event_time)",
        )
        .await?;
        db.execute_unprepared("CREATE TABLE trace_events_default PARTITION OF trace_events DEFAULT").await?;
        db.execute_unprepared(FUNCTION).await?;
        // The months holding records (from the oldest; at most ten years back), and three ahead.
        db.execute_unprepared(
            "SELECT suyuan_trace_partitions((GREATEST(COALESCE((SELECT min(event_time) FROM trace_events_plain), now()), \
             now() - interval '10 years') AT TIME ZONE 'UTC')::date, 3)",
        )
        .await?;
        db.execute_unprepared("INSERT INTO trace_events SELECT * FROM trace_events_plain").await?;
        db.execute_unprepared("DROP TABLE trace_events_plain").await?;
        db.execute_unprepared(INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared("ALTER TABLE trace_events RENAME TO trace_events_partitioned").await?;
        db.execute_unprepared(
            "CREATE TABLE trace_events (LIKE trace_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        )
        .await?;
        db.execute_unprepared("INSERT INTO trace_events SELECT * FROM trace_events_partitioned").await?;
        db.execute_unprepared("DROP TABLE trace_events_partitioned CASCADE").await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS suyuan_trace_partitions(date, integer)").await?;
        db.execute_unprepared(
            "ALTER TABLE trace_events ADD PRIMARY KEY (id);
             CREATE UNIQUE INDEX ux_trace_events_client ON trace_events (tenant_id, client_event_id);
             CREATE INDEX idx_trace_events_tenant_time ON trace_events (tenant_id, event_time);
             CREATE INDEX idx_trace_events_batch ON trace_events (batch_no);
             CREATE INDEX idx_trace_events_division_time ON trace_events (division_code, event_time);",
        )
        .await?;
        Ok(())
    }
}
