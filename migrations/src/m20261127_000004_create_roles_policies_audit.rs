//! Role assignments, the casbin policy rules, and the hash-chained audit log.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    TenantId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PolicyRules {
    Table,
    Id,
    Ptype,
    V0,
    V1,
    V2,
    V3,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    Seq,
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
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    TenantId,
    Seq,
    Hash,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
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
                    .table(UserRoles::Table)
                    .col(ColumnDef::new(UserRoles::UserId).uuid().not_null())
                    .col(ColumnDef::new(UserRoles::TenantId).uuid().not_null())
                    .col(ColumnDef::new(UserRoles::Role).string_len(64).not_null())
                    .col(ts(UserRoles::CreatedAt))
                    .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::TenantId).col(UserRoles::Role))
                    .foreign_key(&mut fk(
                        "fk_user_roles_user",
                        (UserRoles::Table, UserRoles::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_user_roles_tenant",
                        (UserRoles::Table, UserRoles::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PolicyRules::Table)
                    .col(ColumnDef::new(PolicyRules::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(PolicyRules::Ptype).string_len(8).not_null())
                    .col(ColumnDef::new(PolicyRules::V0).string_len(64).not_null())
                    .col(ColumnDef::new(PolicyRules::V1).string_len(64).not_null())
                    .col(ColumnDef::new(PolicyRules::V2).string_len(64).not_null().default(""))
                    .col(ColumnDef::new(PolicyRules::V3).string_len(64).not_null().default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(ColumnDef::new(AuditLog::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AuditLog::TenantId).uuid().not_null())
                    // Position in the tenant's chain, from 1.
                    .col(ColumnDef::new(AuditLog::Seq).big_integer().not_null())
                    .col(ts(AuditLog::OccurredAt))
                    .col(ColumnDef::new(AuditLog::ActorUserId).uuid().null())
                    .col(ColumnDef::new(AuditLog::ActorName).string_len(100).not_null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::ObjectType).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::ObjectId).string_len(100).not_null())
                    .col(ColumnDef::new(AuditLog::Result).string_len(16).not_null())
                    .col(ColumnDef::new(AuditLog::Ip).string_len(64).null())
                    .col(ColumnDef::new(AuditLog::UserAgent).string_len(255).null())
                    .col(ColumnDef::new(AuditLog::RequestId).string_len(128).null())
                    .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                    .col(ColumnDef::new(AuditLog::PrevHash).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_audit_log_tenant_seq")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_log_tenant_time")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHeads::Table)
                    .col(ColumnDef::new(AuditHeads::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AuditHeads::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditHeads::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditHeads::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditLog::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PolicyRules::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(UserRoles::Table).to_owned()).await
    }
}
