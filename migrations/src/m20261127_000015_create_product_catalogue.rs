//! The product catalogue (R-PROD-1): the national classification and the sub-categories that
//! tenants add under it, and which categories each tenant traces.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProductCategories {
    Table,
    Id,
    TenantId,
    ParentId,
    Code,
    Name,
    Depth,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantCategories {
    Table,
    TenantId,
    CategoryId,
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
                    .table(ProductCategories::Table)
                    .col(ColumnDef::new(ProductCategories::Id).uuid().not_null().primary_key())
                    // The tenant that owns it: the national tenant for the overall classification.
                    .col(ColumnDef::new(ProductCategories::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ProductCategories::ParentId).uuid().null())
                    // Unique nationwide; a child's code extends its parent's by two digits.
                    .col(ColumnDef::new(ProductCategories::Code).string_len(16).not_null().unique_key())
                    .col(ColumnDef::new(ProductCategories::Name).string_len(100).not_null())
                    .col(ColumnDef::new(ProductCategories::Depth).integer().not_null())
                    .col(ts(ProductCategories::CreatedAt))
                    .col(ts(ProductCategories::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_product_categories_tenant",
                        (ProductCategories::Table, ProductCategories::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_product_categories_parent")
                    .table(ProductCategories::Table)
                    .col(ProductCategories::ParentId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantCategories::Table)
                    .col(ColumnDef::new(TenantCategories::TenantId).uuid().not_null())
                    .col(ColumnDef::new(TenantCategories::CategoryId).uuid().not_null())
                    .primary_key(Index::create().col(TenantCategories::TenantId).col(TenantCategories::CategoryId))
                    .foreign_key(&mut fk(
                        "fk_tenant_categories_tenant",
                        (TenantCategories::Table, TenantCategories::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_tenant_categories_category",
                        (TenantCategories::Table, TenantCategories::CategoryId),
                        (ProductCategories::Table, ProductCategories::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TenantCategories::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ProductCategories::Table).to_owned()).await
    }
}
