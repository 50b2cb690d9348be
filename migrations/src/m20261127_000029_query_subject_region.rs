//! Query-behaviour analysis (R-ANA-3, issue 6): each public query also records the type of the
//! subject that last handled the product (a supermarket, a market stall, a producer) and the
//! region where it reached the consumer (the region of the code's latest record).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceCodeQueries {
    Table,
    SubjectType,
    ConsumerRegion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(TraceCodeQueries::SubjectType).string_len(32).null().to_owned(),
            ColumnDef::new(TraceCodeQueries::ConsumerRegion).string_len(6).null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(TraceCodeQueries::Table).add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [TraceCodeQueries::SubjectType, TraceCodeQueries::ConsumerRegion] {
            manager.alter_table(Table::alter().table(TraceCodeQueries::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
