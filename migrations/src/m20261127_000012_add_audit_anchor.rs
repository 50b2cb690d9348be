//! Where a tenant's audit chain starts after a retention purge: the sequence number and hash
//! of the last purged record. Verification starts there.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    AnchorSeq,
    AnchorHash,
}

/// The hash before the first record of a chain.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in [
            ColumnDef::new(AuditHeads::AnchorSeq).big_integer().not_null().default(0).to_owned(),
            ColumnDef::new(AuditHeads::AnchorHash).string_len(64).not_null().default(GENESIS).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(AuditHeads::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [AuditHeads::AnchorHash, AuditHeads::AnchorSeq] {
            manager.alter_table(Table::alter().table(AuditHeads::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
