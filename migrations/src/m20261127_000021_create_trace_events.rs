//! Trace records (R-ARCH-1): one row per record a connected system pushes — who, what (product,
//! batch, trace codes, quantity), when, where, the counterpart, the inputs of a processing step,
//! the inspection result of a test — and the lineage edges between batches that chain synthesis
//! walks. Idempotent on (tenant, client event id). Partitioning by month on PostgreSQL is not
//! built yet (issue 6).

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceEvents {
    Table,
    Id,
    TenantId,
    ClientEventId,
    Stage,
    Action,
    SubjectCode,
    SubjectName,
    ProductCode,
    ProductName,
    CategoryCode,
    BatchNo,
    TraceCodes,
    Quantity,
    Unit,
    Price,
    Amount,
    EventTime,
    EventOffsetMinutes,
    RecordedAt,
    DivisionCode,
    Longitude,
    Latitude,
    CounterpartCode,
    CounterpartName,
    Inputs,
    Inspection,
    Extra,
}

#[derive(DeriveIden)]
enum TraceLineage {
    Table,
    Id,
    TenantId,
    EventId,
    Kind,
    FromSubjectCode,
    FromBatch,
    ToSubjectCode,
    ToBatch,
    Quantity,
    EventTime,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TraceEvents::Table)
                    .col(ColumnDef::new(TraceEvents::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TraceEvents::TenantId).uuid().not_null())
                    .col(ColumnDef::new(TraceEvents::ClientEventId).string_len(64).not_null())
                    .col(ColumnDef::new(TraceEvents::Stage).string_len(32).not_null())
                    .col(ColumnDef::new(TraceEvents::Action).string_len(32).not_null())
                    .col(ColumnDef::new(TraceEvents::SubjectCode).string_len(16).not_null())
                    .col(ColumnDef::new(TraceEvents::SubjectName).string_len(100).not_null())
                    .col(ColumnDef::new(TraceEvents::ProductCode).string_len(16).null())
                    .col(ColumnDef::new(TraceEvents::ProductName).string_len(100).not_null())
                    .col(ColumnDef::new(TraceEvents::CategoryCode).string_len(16).null())
                    .col(ColumnDef::new(TraceEvents::BatchNo).string_len(64).not_null())
                    // JSON array of trace codes.
                    .col(ColumnDef::new(TraceEvents::TraceCodes).text().not_null())
                    .col(ColumnDef::new(TraceEvents::Quantity).double().not_null())
                    .col(ColumnDef::new(TraceEvents::Unit).string_len(16).not_null())
                    .col(ColumnDef::new(TraceEvents::Price).double().null())
                    .col(ColumnDef::new(TraceEvents::Amount).double().null())
                    .col(ts(TraceEvents::EventTime))
                    // The zone the event was recorded in (minutes east of UTC).
                    .col(ColumnDef::new(TraceEvents::EventOffsetMinutes).integer().not_null())
                    .col(ts(TraceEvents::RecordedAt))
                    .col(ColumnDef::new(TraceEvents::DivisionCode).string_len(6).not_null())
                    .col(ColumnDef::new(TraceEvents::Longitude).double().null())
                    .col(ColumnDef::new(TraceEvents::Latitude).double().null())
                    .col(ColumnDef::new(TraceEvents::CounterpartCode).string_len(16).null())
                    .col(ColumnDef::new(TraceEvents::CounterpartName).string_len(100).null())
                    // JSON array of {batch_no, product_code, quantity} consumed by processing.
                    .col(ColumnDef::new(TraceEvents::Inputs).text().not_null())
                    // JSON {item, result, report_no} of a test.
                    .col(ColumnDef::new(TraceEvents::Inspection).text().null())
                    // JSON object of further key data elements.
                    .col(ColumnDef::new(TraceEvents::Extra).text().null())
                    .foreign_key(&mut fk(
                        "fk_trace_events_tenant",
                        (TraceEvents::Table, TraceEvents::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            ("ux_trace_events_client", &["tenant_id", "client_event_id"][..], true),
            ("idx_trace_events_tenant_time", &["tenant_id", "event_time"][..], false),
            ("idx_trace_events_tenant_batch", &["tenant_id", "batch_no"][..], false),
            ("idx_trace_events_batch", &["batch_no"][..], false),
            ("idx_trace_events_division_time", &["division_code", "event_time"][..], false),
        ] {
            let mut index = Index::create();
            index.name(name).table(TraceEvents::Table);
            for c in cols {
                index.col(Alias::new(*c));
            }
            if unique {
                index.unique();
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(TraceLineage::Table)
                    .col(ColumnDef::new(TraceLineage::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TraceLineage::TenantId).uuid().not_null())
                    .col(ColumnDef::new(TraceLineage::EventId).uuid().not_null())
                    // process (input batch → output batch) | ship (seller → buyer)
                    .col(ColumnDef::new(TraceLineage::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(TraceLineage::FromSubjectCode).string_len(16).not_null())
                    .col(ColumnDef::new(TraceLineage::FromBatch).string_len(64).not_null())
                    .col(ColumnDef::new(TraceLineage::ToSubjectCode).string_len(16).not_null())
                    .col(ColumnDef::new(TraceLineage::ToBatch).string_len(64).not_null())
                    .col(ColumnDef::new(TraceLineage::Quantity).double().null())
                    .col(ts(TraceLineage::EventTime))
                    .foreign_key(&mut fk(
                        "fk_trace_lineage_event",
                        (TraceLineage::Table, TraceLineage::EventId),
                        (TraceEvents::Table, TraceEvents::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_trace_lineage_from", [TraceLineage::FromBatch, TraceLineage::FromSubjectCode]),
            ("idx_trace_lineage_to", [TraceLineage::ToBatch, TraceLineage::ToSubjectCode]),
        ] {
            let mut index = Index::create();
            index.name(name).table(TraceLineage::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TraceLineage::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TraceEvents::Table).to_owned()).await
    }
}
