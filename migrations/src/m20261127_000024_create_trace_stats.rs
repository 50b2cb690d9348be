//! Trace statistics per tenant, day, stage, product category and region (issue 6): the ingest
//! adds its deltas in the same transaction as the records, so figures are read from a small
//! table instead of counting the records, and the same deltas go to the parent (issue 7).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceStatsDaily {
    Table,
    TenantId,
    Day,
    Stage,
    CategoryCode,
    DivisionCode,
    Records,
    Quantity,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TraceStatsDaily::Table)
                    .col(ColumnDef::new(TraceStatsDaily::TenantId).uuid().not_null())
                    // The day where it happened (the record's own zone), `YYYY-MM-DD`.
                    .col(ColumnDef::new(TraceStatsDaily::Day).string_len(10).not_null())
                    .col(ColumnDef::new(TraceStatsDaily::Stage).string_len(32).not_null())
                    // Empty when the record names no product filing.
                    .col(ColumnDef::new(TraceStatsDaily::CategoryCode).string_len(16).not_null())
                    .col(ColumnDef::new(TraceStatsDaily::DivisionCode).string_len(6).not_null())
                    .col(ColumnDef::new(TraceStatsDaily::Records).big_integer().not_null())
                    .col(ColumnDef::new(TraceStatsDaily::Quantity).double().not_null())
                    .primary_key(
                        Index::create()
                            .col(TraceStatsDaily::TenantId)
                            .col(TraceStatsDaily::Day)
                            .col(TraceStatsDaily::Stage)
                            .col(TraceStatsDaily::CategoryCode)
                            .col(TraceStatsDaily::DivisionCode),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TraceStatsDaily::Table).to_owned()).await
    }
}
