//! Tamper evidence that the database alone cannot forge (issue 17): each audit record carries
//! a keyed MAC of its chain hash and the id of the key that made it (the key lives outside the
//! database); each chain head remembers how far it was last published to the parent; the
//! parent keeps the chain heads its children published (anchors).

use sea_orm_migration::prelude::*;

use crate::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    KeyId,
    Mac,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    PublishedSeq,
}

#[derive(DeriveIden)]
enum AuditAnchors {
    Table,
    HolderTenantId,
    ChainTenantId,
    SourceCode,
    Seq,
    Hash,
    Mac,
    KeyId,
    HeadAt,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Null for records written before this migration: the platform seals them at its next
        // start (trust on first use), then every record carries a MAC.
        for mut column in [
            ColumnDef::new(AuditLog::KeyId).string_len(16).null().to_owned(),
            ColumnDef::new(AuditLog::Mac).string_len(64).null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(AuditLog::Table).add_column(&mut column).to_owned()).await?;
        }
        let mut published = ColumnDef::new(AuditHeads::PublishedSeq).big_integer().not_null().default(0).to_owned();
        manager.alter_table(Table::alter().table(AuditHeads::Table).add_column(&mut published).to_owned()).await?;
        use AuditAnchors as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    // The tenant (here) that holds the anchor: the parent, or a tenant above it.
                    .col(ColumnDef::new(A::HolderTenantId).uuid().not_null())
                    // The chain's tenant as its own deployment names it.
                    .col(ColumnDef::new(A::ChainTenantId).uuid().not_null())
                    .col(ColumnDef::new(A::SourceCode).string_len(6).not_null())
                    .col(ColumnDef::new(A::Seq).big_integer().not_null())
                    .col(ColumnDef::new(A::Hash).string_len(64).not_null())
                    .col(ColumnDef::new(A::Mac).string_len(64).not_null())
                    .col(ColumnDef::new(A::KeyId).string_len(16).not_null())
                    .col(ts(A::HeadAt))
                    .col(ts(A::ReceivedAt))
                    .primary_key(Index::create().col(A::HolderTenantId).col(A::ChainTenantId).col(A::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_anchors_chain")
                    .table(A::Table)
                    .col(A::ChainTenantId)
                    .col(A::Seq)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditAnchors::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(AuditHeads::Table).drop_column(AuditHeads::PublishedSeq).to_owned())
            .await?;
        for column in [AuditLog::Mac, AuditLog::KeyId] {
            manager.alter_table(Table::alter().table(AuditLog::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
