//! Code anomalies (R-PUB-3, R-EMG-3): a record carrying a trace code, reported for a subject that
//! is not linked into the lineage of the code's owner (a counterfeit or diversion signal). The
//! public answer leaves such records out; the supervisors of the claiming tenant and of the
//! owner's tenant (and the tenants above them) see the claim here. One row per record and code.

use sea_orm_migration::prelude::*;

use crate::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceCodeAnomalies {
    Table,
    Id,
    Code,
    Kind,
    EventId,
    ClaimingSubjectCode,
    ClaimingTenantId,
    OwnerSubjectCode,
    OwnerTenantId,
    DetectedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TraceCodeAnomalies as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(A::Code).string_len(128).not_null())
                    .col(ColumnDef::new(A::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(A::EventId).uuid().not_null())
                    .col(ColumnDef::new(A::ClaimingSubjectCode).string_len(64).not_null())
                    .col(ColumnDef::new(A::ClaimingTenantId).uuid().not_null())
                    .col(ColumnDef::new(A::OwnerSubjectCode).string_len(64).not_null())
                    .col(ColumnDef::new(A::OwnerTenantId).uuid().not_null())
                    .col(ts(A::DetectedAt))
                    .to_owned(),
            )
            .await?;
        // One row per claim: a lookup that finds it again writes nothing.
        manager
            .create_index(
                Index::create()
                    .name("uq_trace_code_anomalies_code_event")
                    .table(A::Table)
                    .col(A::Code)
                    .col(A::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_trace_code_anomalies_claiming", A::ClaimingTenantId),
            ("idx_trace_code_anomalies_owner", A::OwnerTenantId),
        ] {
            manager
                .create_index(Index::create().name(name).table(A::Table).col(col).col(A::DetectedAt).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TraceCodeAnomalies::Table).to_owned()).await
    }
}
