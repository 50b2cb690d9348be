//! Local user accounts, each belonging to one home tenant.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Username,
    DisplayName,
    PasswordHash,
    MustChangePassword,
    Status,
    FailedLogins,
    LockedUntil,
    PasswordChangedAt,
    CreatedAt,
    UpdatedAt,
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
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::TenantId).uuid().not_null())
                    // Lower-case, unique in the deployment, so a login needs no tenant picker.
                    .col(ColumnDef::new(Users::Username).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(Users::DisplayName).string_len(100).not_null())
                    // argon2id PHC string; NULL for accounts that only sign in through SSO.
                    .col(ColumnDef::new(Users::PasswordHash).string_len(255).null())
                    .col(ColumnDef::new(Users::MustChangePassword).boolean().not_null().default(false))
                    .col(ColumnDef::new(Users::Status).string_len(16).not_null().default("active"))
                    .col(ColumnDef::new(Users::FailedLogins).integer().not_null().default(0))
                    .col(ColumnDef::new(Users::LockedUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Users::PasswordChangedAt).timestamp_with_time_zone().null())
                    .col(ts(Users::CreatedAt))
                    .col(ts(Users::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_users_tenant",
                        (Users::Table, Users::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_users_tenant").table(Users::Table).col(Users::TenantId).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
