//! Login sessions of local and SSO users (the token itself is never stored, only its SHA-256).

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    TenantId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Ip,
    UserAgent,
    RevokedAt,
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
                    .table(Sessions::Table)
                    // Hex SHA-256 of the cookie token.
                    .col(ColumnDef::new(Sessions::Id).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                    .col(ColumnDef::new(Sessions::TenantId).uuid().not_null())
                    .col(ts(Sessions::CreatedAt))
                    .col(ts(Sessions::LastSeenAt))
                    // Absolute end of the session, whatever the activity.
                    .col(ts(Sessions::ExpiresAt))
                    .col(ColumnDef::new(Sessions::Ip).string_len(64).null())
                    .col(ColumnDef::new(Sessions::UserAgent).string_len(255).null())
                    .col(ColumnDef::new(Sessions::RevokedAt).timestamp_with_time_zone().null())
                    .foreign_key(&mut fk(
                        "fk_sessions_user",
                        (Sessions::Table, Sessions::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_sessions_user").table(Sessions::Table).col(Sessions::UserId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await
    }
}
