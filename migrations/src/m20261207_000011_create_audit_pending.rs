//! Audit entries queued for the chain (issue 18): a trace ingest writes its audit entry here,
//! in its own transaction, without taking the tenant's chain lock; a group-committing writer
//! appends the queued entries to the chain in order, many per transaction, together with what
//! must follow under the chain lock (the statistics deltas and their outbox row).

use sea_orm_migration::prelude::*;

use crate::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditPending {
    Table,
    Id,
    TenantId,
    OccurredAt,
    ActorUserId,
    ActorName,
    Action,
    ObjectType,
    ObjectId,
    Result,
    Ip,
    UserAgent,
    RequestId,
    Detail,
    Followup,
    KeyId,
    Mac,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AuditPending as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(P::TenantId).uuid().not_null())
                    .col(ts(P::OccurredAt))
                    .col(ColumnDef::new(P::ActorUserId).uuid().null())
                    .col(ColumnDef::new(P::ActorName).string_len(100).not_null())
                    .col(ColumnDef::new(P::Action).string_len(64).not_null())
                    .col(ColumnDef::new(P::ObjectType).string_len(64).not_null())
                    .col(ColumnDef::new(P::ObjectId).string_len(100).not_null())
                    .col(ColumnDef::new(P::Result).string_len(16).not_null())
                    .col(ColumnDef::new(P::Ip).string_len(64).null())
                    .col(ColumnDef::new(P::UserAgent).string_len(255).null())
                    .col(ColumnDef::new(P::RequestId).string_len(128).null())
                    .col(ColumnDef::new(P::Detail).text().not_null())
                    // What the writer does with the entry under the chain lock (JSON).
                    .col(ColumnDef::new(P::Followup).text().not_null())
                    .col(ColumnDef::new(P::KeyId).string_len(16).not_null())
                    // HMAC of the queued entry under the audit key: a row written into the
                    // queue by anyone else is not chained as if the platform wrote it.
                    .col(ColumnDef::new(P::Mac).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_pending_tenant")
                    .table(P::Table)
                    .col(P::TenantId)
                    .col(P::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditPending::Table).to_owned()).await
    }
}
