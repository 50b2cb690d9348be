//! The last passwords of each user, so a new password cannot repeat one of the last five.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasswordHistory {
    Table,
    Id,
    UserId,
    PasswordHash,
    CreatedAt,
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
                    .table(PasswordHistory::Table)
                    .col(ColumnDef::new(PasswordHistory::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PasswordHistory::UserId).uuid().not_null())
                    .col(ColumnDef::new(PasswordHistory::PasswordHash).string_len(255).not_null())
                    .col(ts(PasswordHistory::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_password_history_user",
                        (PasswordHistory::Table, PasswordHistory::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_password_history_user")
                    .table(PasswordHistory::Table)
                    .col(PasswordHistory::UserId)
                    .col(PasswordHistory::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PasswordHistory::Table).to_owned()).await
    }
}
