//! Custom roles a tenant defines inside the built-in role tree.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantRoles {
    Table,
    Id,
    TenantId,
    Name,
    Label,
    Inherits,
    CreatedAt,
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
                    .table(TenantRoles::Table)
                    .col(ColumnDef::new(TenantRoles::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TenantRoles::TenantId).uuid().not_null())
                    .col(ColumnDef::new(TenantRoles::Name).string_len(64).not_null())
                    .col(ColumnDef::new(TenantRoles::Label).string_len(100).not_null())
                    // Comma-separated built-in roles it sits under (and inherits).
                    .col(ColumnDef::new(TenantRoles::Inherits).string_len(255).not_null())
                    .col(ts(TenantRoles::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_tenant_roles_tenant",
                        (TenantRoles::Table, TenantRoles::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_tenant_roles_name")
                    .table(TenantRoles::Table)
                    .col(TenantRoles::TenantId)
                    .col(TenantRoles::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TenantRoles::Table).to_owned()).await
    }
}
