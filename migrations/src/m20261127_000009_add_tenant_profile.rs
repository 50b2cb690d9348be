//! A tenant's contact, the optional modules it switched on (R-SHAPE-4) and where it reports
//! upward when its parent runs in another deployment.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    ContactName,
    ContactPhone,
    ContactEmail,
    Modules,
    FederationParentUrl,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            ColumnDef::new(Tenants::ContactName).string_len(100).null().to_owned(),
            ColumnDef::new(Tenants::ContactPhone).string_len(32).null().to_owned(),
            ColumnDef::new(Tenants::ContactEmail).string_len(255).null().to_owned(),
            // Comma-separated optional modules switched on.
            ColumnDef::new(Tenants::Modules).string_len(255).not_null().default("").to_owned(),
            ColumnDef::new(Tenants::FederationParentUrl).string_len(255).null().to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Tenants::FederationParentUrl,
            Tenants::Modules,
            Tenants::ContactEmail,
            Tenants::ContactPhone,
            Tenants::ContactName,
        ] {
            manager.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
