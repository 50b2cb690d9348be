//! A pending single sign-on may link the provider's identity to a signed-in local account
//! instead of signing in.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SsoLogins {
    Table,
    LinkUserId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SsoLogins::Table)
                    .add_column(ColumnDef::new(SsoLogins::LinkUserId).uuid().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(SsoLogins::Table).drop_column(SsoLogins::LinkUserId).to_owned()).await
    }
}
