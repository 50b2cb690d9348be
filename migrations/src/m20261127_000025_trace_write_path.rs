//! The trace-record write path on PostgreSQL (issue 6): records, lineage edges and code-index
//! rows are written only by the ingest, in one transaction with each other, so the per-row
//! foreign-key triggers (record → tenant, edge → record) checked what the transaction already
//! guarantees — at a third of the cost of writing a record. They go on PostgreSQL. SQLite keeps
//! them (it cannot drop a constraint without rebuilding the table, and an embedded install is
//! not where ingest throughput matters most).
//!
//! The search by batch within a tenant uses the batch index (a batch number is selective on its
//! own), so the (tenant, batch) index goes too: one index less to maintain per record.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("ALTER TABLE trace_events DROP CONSTRAINT IF EXISTS fk_trace_events_tenant").await?;
            db.execute_unprepared("ALTER TABLE trace_lineage DROP CONSTRAINT IF EXISTS fk_trace_lineage_event").await?;
        }
        manager
            .drop_index(
                Index::drop().name("idx_trace_events_tenant_batch").table(Alias::new("trace_events")).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_trace_events_tenant_batch")
                    .table(Alias::new("trace_events"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("batch_no"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "ALTER TABLE trace_events ADD CONSTRAINT fk_trace_events_tenant FOREIGN KEY (tenant_id) \
                 REFERENCES tenants (id) ON DELETE RESTRICT",
            )
            .await?;
            db.execute_unprepared(
                "ALTER TABLE trace_lineage ADD CONSTRAINT fk_trace_lineage_event FOREIGN KEY (event_id) \
                 REFERENCES trace_events (id) ON DELETE CASCADE",
            )
            .await?;
        }
        Ok(())
    }
}
