//! Applications of agencies to join the tenant tree, decided by the tenant above them.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantApplications {
    Table,
    Id,
    ParentId,
    Code,
    Name,
    ContactName,
    ContactPhone,
    ContactEmail,
    AdminUsername,
    AdminDisplayName,
    Status,
    Reason,
    TenantId,
    CreatedAt,
    DecidedAt,
    DecidedBy,
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
                    .table(TenantApplications::Table)
                    .col(ColumnDef::new(TenantApplications::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TenantApplications::ParentId).uuid().not_null())
                    .col(ColumnDef::new(TenantApplications::Code).string_len(6).not_null())
                    .col(ColumnDef::new(TenantApplications::Name).string_len(100).not_null())
                    .col(ColumnDef::new(TenantApplications::ContactName).string_len(100).not_null())
                    .col(ColumnDef::new(TenantApplications::ContactPhone).string_len(32).not_null())
                    .col(ColumnDef::new(TenantApplications::ContactEmail).string_len(255).not_null())
                    .col(ColumnDef::new(TenantApplications::AdminUsername).string_len(64).not_null())
                    .col(ColumnDef::new(TenantApplications::AdminDisplayName).string_len(100).not_null())
                    // pending | approved | rejected
                    .col(ColumnDef::new(TenantApplications::Status).string_len(16).not_null())
                    .col(ColumnDef::new(TenantApplications::Reason).string_len(500).null())
                    .col(ColumnDef::new(TenantApplications::TenantId).uuid().null())
                    .col(ts(TenantApplications::CreatedAt))
                    .col(ColumnDef::new(TenantApplications::DecidedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(TenantApplications::DecidedBy).string_len(100).null())
                    .foreign_key(&mut fk(
                        "fk_tenant_applications_parent",
                        (TenantApplications::Table, TenantApplications::ParentId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tenant_applications_parent_status")
                    .table(TenantApplications::Table)
                    .col(TenantApplications::ParentId)
                    .col(TenantApplications::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TenantApplications::Table).to_owned()).await
    }
}
