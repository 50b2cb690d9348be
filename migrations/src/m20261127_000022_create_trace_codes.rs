//! Trace codes (R-PUB-3, R-ANA-3): which records carry a code (written with the records), how
//! often and since when each code was queried by the public, and every query for the analysis
//! of query behaviour.

use sea_orm_migration::prelude::*;

use crate::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceCodeIndex {
    Table,
    Code,
    EventId,
    TenantId,
}

#[derive(DeriveIden)]
enum TraceCodeStats {
    Table,
    Code,
    Queries,
    FirstAt,
    LastAt,
}

#[derive(DeriveIden)]
enum TraceCodeQueries {
    Table,
    Id,
    Code,
    Found,
    CategoryCode,
    QueriedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TraceCodeIndex::Table)
                    .col(ColumnDef::new(TraceCodeIndex::Code).string_len(128).not_null())
                    .col(ColumnDef::new(TraceCodeIndex::EventId).uuid().not_null())
                    .col(ColumnDef::new(TraceCodeIndex::TenantId).uuid().not_null())
                    .primary_key(Index::create().col(TraceCodeIndex::Code).col(TraceCodeIndex::EventId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TraceCodeStats::Table)
                    .col(ColumnDef::new(TraceCodeStats::Code).string_len(128).not_null().primary_key())
                    .col(ColumnDef::new(TraceCodeStats::Queries).big_integer().not_null())
                    .col(ts(TraceCodeStats::FirstAt))
                    .col(ts(TraceCodeStats::LastAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TraceCodeQueries::Table)
                    .col(ColumnDef::new(TraceCodeQueries::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TraceCodeQueries::Code).string_len(128).not_null())
                    .col(ColumnDef::new(TraceCodeQueries::Found).boolean().not_null())
                    .col(ColumnDef::new(TraceCodeQueries::CategoryCode).string_len(16).null())
                    .col(ts(TraceCodeQueries::QueriedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_trace_code_queries_time")
                    .table(TraceCodeQueries::Table)
                    .col(TraceCodeQueries::QueriedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TraceCodeQueries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TraceCodeStats::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TraceCodeIndex::Table).to_owned()).await
    }
}
