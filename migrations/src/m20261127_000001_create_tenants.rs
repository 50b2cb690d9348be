//! Tenants: national, provincial, municipal and county agencies in one tree.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Code,
    Name,
    Level,
    ParentId,
    Path,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(ColumnDef::new(Tenants::Id).uuid().not_null().primary_key())
                    // GB/T 2260 six-digit administrative division code; 100000 is the national level.
                    .col(ColumnDef::new(Tenants::Code).string_len(6).not_null().unique_key())
                    .col(ColumnDef::new(Tenants::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Tenants::Level).string_len(16).not_null())
                    .col(ColumnDef::new(Tenants::ParentId).uuid().null())
                    // Codes from the root down, joined by '/', ending in '/': subtree = prefix match.
                    .col(ColumnDef::new(Tenants::Path).string_len(255).not_null())
                    .col(ColumnDef::new(Tenants::Status).string_len(16).not_null().default("active"))
                    .col(ts(Tenants::CreatedAt))
                    .col(ts(Tenants::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_tenants_parent",
                        (Tenants::Table, Tenants::ParentId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_tenants_path").table(Tenants::Table).col(Tenants::Path).to_owned())
            .await?;
        manager
            .create_index(
                Index::create().name("ix_tenants_parent").table(Tenants::Table).col(Tenants::ParentId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Tenants::Table).to_owned()).await
    }
}
