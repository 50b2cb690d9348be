//! Covering indexes for the filing searches at a million filings (R-SUBJ-5): the region range
//! (and the type) with the tenant, the default sort key and the id, the filing time and the
//! name likewise, so the count and the page's ids come from the index alone; the page's rows
//! are then read by id.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, table, columns) of the new indexes.
const NEW: &[(&str, &str, &[&str])] = &[
    ("idx_enterprises_region_cover", "enterprises", &["division_code", "tenant_id", "code", "id"]),
    ("idx_enterprises_type_cover", "enterprises", &["enterprise_type", "division_code", "tenant_id", "code", "id"]),
    ("idx_enterprises_created_cover", "enterprises", &["created_at", "tenant_id", "id"]),
    ("idx_enterprises_name_cover", "enterprises", &["name", "tenant_id", "id"]),
    ("idx_merchants_region_cover", "merchants", &["division_code", "tenant_id", "code", "id"]),
    ("idx_merchants_type_cover", "merchants", &["merchant_type", "division_code", "tenant_id", "code", "id"]),
];

/// (name, table, columns) of the indexes they replace.
const OLD: &[(&str, &str, &[&str])] = &[
    ("idx_enterprises_division", "enterprises", &["division_code"]),
    ("idx_enterprises_tenant_type", "enterprises", &["tenant_id", "enterprise_type"]),
    ("idx_enterprises_tenant_created", "enterprises", &["tenant_id", "created_at"]),
    ("idx_merchants_division", "merchants", &["division_code"]),
    ("idx_merchants_tenant_type", "merchants", &["tenant_id", "merchant_type"]),
];

async fn create(manager: &SchemaManager<'_>, list: &[(&str, &str, &[&str])]) -> Result<(), DbErr> {
    for (name, table, cols) in list {
        let mut index = Index::create();
        index.name(*name).table(Alias::new(*table));
        for c in *cols {
            index.col(Alias::new(*c));
        }
        manager.create_index(index).await?;
    }
    Ok(())
}

async fn drop(manager: &SchemaManager<'_>, list: &[(&str, &str, &[&str])]) -> Result<(), DbErr> {
    for (name, table, _) in list {
        manager.drop_index(Index::drop().name(*name).table(Alias::new(*table)).to_owned()).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(manager, NEW).await?;
        drop(manager, OLD).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(manager, OLD).await?;
        drop(manager, NEW).await
    }
}
