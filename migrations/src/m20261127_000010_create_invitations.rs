//! One-time invitation tokens with which a new tenant's first administrator sets a password.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    // SHA-256 (hex) of the token; the token itself is only in the link.
                    .col(ColumnDef::new(Invitations::Id).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(Invitations::UserId).uuid().not_null())
                    .col(ts(Invitations::CreatedAt))
                    .col(ts(Invitations::ExpiresAt))
                    .col(ColumnDef::new(Invitations::UsedAt).timestamp_with_time_zone().null())
                    .foreign_key(&mut fk(
                        "fk_invitations_user",
                        (Invitations::Table, Invitations::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Invitations::Table).to_owned()).await
    }
}
