//! Enterprise filings (R-SUBJ-1…4): the working copy, the approved versions, and the outbox
//! that carries approved filings to the parent (delivered by the federation issue).

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Enterprises {
    Table,
    Id,
    TenantId,
    Code,
    Name,
    Uscc,
    EnterpriseType,
    Categories,
    Stages,
    LicenceNo,
    Address,
    DivisionCode,
    Longitude,
    Latitude,
    ContactName,
    ContactPhone,
    ContactEmail,
    Status,
    Version,
    Reason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EnterpriseVersions {
    Table,
    Id,
    EnterpriseId,
    Version,
    Data,
    ApprovedAt,
    ApprovedBy,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    OriginTenantId,
    Seq,
    Kind,
    Payload,
    CreatedAt,
    DeliveredAt,
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
                    .table(Enterprises::Table)
                    .col(ColumnDef::new(Enterprises::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Enterprises::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Enterprises::Code).string_len(16).not_null().unique_key())
                    .col(ColumnDef::new(Enterprises::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Enterprises::Uscc).string_len(18).not_null().unique_key())
                    .col(ColumnDef::new(Enterprises::EnterpriseType).string_len(32).not_null())
                    // JSON array of catalogue codes.
                    .col(ColumnDef::new(Enterprises::Categories).text().not_null())
                    // Comma-separated trace stages.
                    .col(ColumnDef::new(Enterprises::Stages).string_len(200).not_null())
                    .col(ColumnDef::new(Enterprises::LicenceNo).string_len(64).null())
                    .col(ColumnDef::new(Enterprises::Address).string_len(200).not_null())
                    .col(ColumnDef::new(Enterprises::DivisionCode).string_len(6).not_null())
                    .col(ColumnDef::new(Enterprises::Longitude).double().null())
                    .col(ColumnDef::new(Enterprises::Latitude).double().null())
                    .col(ColumnDef::new(Enterprises::ContactName).string_len(100).not_null())
                    .col(ColumnDef::new(Enterprises::ContactPhone).string_len(32).not_null())
                    .col(ColumnDef::new(Enterprises::ContactEmail).string_len(255).null())
                    // draft | submitted | approved | rejected | changed
                    .col(ColumnDef::new(Enterprises::Status).string_len(16).not_null())
                    // The last approved version (0: never approved).
                    .col(ColumnDef::new(Enterprises::Version).integer().not_null())
                    .col(ColumnDef::new(Enterprises::Reason).string_len(500).null())
                    .col(ts(Enterprises::CreatedAt))
                    .col(ts(Enterprises::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_enterprises_tenant",
                        (Enterprises::Table, Enterprises::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_enterprises_tenant_status")
                    .table(Enterprises::Table)
                    .col(Enterprises::TenantId)
                    .col(Enterprises::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EnterpriseVersions::Table)
                    .col(ColumnDef::new(EnterpriseVersions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(EnterpriseVersions::EnterpriseId).uuid().not_null())
                    .col(ColumnDef::new(EnterpriseVersions::Version).integer().not_null())
                    .col(ColumnDef::new(EnterpriseVersions::Data).text().not_null())
                    .col(ts(EnterpriseVersions::ApprovedAt))
                    .col(ColumnDef::new(EnterpriseVersions::ApprovedBy).string_len(100).not_null())
                    .foreign_key(&mut fk(
                        "fk_enterprise_versions_enterprise",
                        (EnterpriseVersions::Table, EnterpriseVersions::EnterpriseId),
                        (Enterprises::Table, Enterprises::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_enterprise_versions")
                    .table(EnterpriseVersions::Table)
                    .col(EnterpriseVersions::EnterpriseId)
                    .col(EnterpriseVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Outbox::OriginTenantId).uuid().not_null())
                    .col(ColumnDef::new(Outbox::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Outbox::Kind).string_len(48).not_null())
                    .col(ColumnDef::new(Outbox::Payload).text().not_null())
                    .col(ts(Outbox::CreatedAt))
                    .col(ColumnDef::new(Outbox::DeliveredAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_origin_seq")
                    .table(Outbox::Table)
                    .col(Outbox::OriginTenantId)
                    .col(Outbox::Seq)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(EnterpriseVersions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Enterprises::Table).to_owned()).await
    }
}
