//! Where a tenant's agency sits (longitude/latitude), drawn as a point on the region maps.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Longitude,
    Latitude,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in [
            ColumnDef::new(Tenants::Longitude).double().null().to_owned(),
            ColumnDef::new(Tenants::Latitude).double().null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tenants::Latitude, Tenants::Longitude] {
            manager.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
