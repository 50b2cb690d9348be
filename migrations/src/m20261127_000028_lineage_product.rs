//! The product on the lineage edge (issue 6): a chain's flows name their product, and reading it
//! from the edge instead of joining each edge's record (one random read into the partitioned
//! records per edge) halves a recall's reads. Existing edges take their record's product.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceLineage {
    Table,
    ProductName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TraceLineage::Table)
                    .add_column(ColumnDef::new(TraceLineage::ProductName).string_len(100).not_null().default(""))
                    .to_owned(),
            )
            .await?;
        let backfill = if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            "UPDATE trace_lineage l SET product_name = e.product_name FROM trace_events e \
             WHERE e.id = l.event_id AND e.event_time = l.event_time"
        } else {
            "UPDATE trace_lineage SET product_name = coalesce((SELECT e.product_name FROM trace_events e \
             WHERE e.id = trace_lineage.event_id), '')"
        };
        manager.get_connection().execute_unprepared(backfill).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(TraceLineage::Table).drop_column(TraceLineage::ProductName).to_owned())
            .await
    }
}
