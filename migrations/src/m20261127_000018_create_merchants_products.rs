//! Individual merchant filings and product filings (R-SUBJ-1, R-PROD-2), one version table for
//! every kind of filing (the enterprise versions move into it), per-tenant change control
//! (R-SUBJ-4) and import jobs (R-IF-3).

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Merchants {
    Table,
    Id,
    TenantId,
    Code,
    Name,
    MerchantType,
    Uscc,
    Categories,
    NodeEnterpriseId,
    NodeCode,
    NodeName,
    StallNo,
    DivisionCode,
    ContactName,
    ContactPhone,
    Status,
    Version,
    Reason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProductFilings {
    Table,
    Id,
    TenantId,
    Code,
    Name,
    CategoryCode,
    Brand,
    Specification,
    Unit,
    ShelfLifeDays,
    Gtin,
    EnterpriseId,
    EnterpriseCode,
    EnterpriseName,
    DivisionCode,
    Status,
    Version,
    Reason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FilingVersions {
    Table,
    Id,
    Kind,
    FilingId,
    Version,
    Data,
    ApprovedAt,
    ApprovedBy,
}

#[derive(DeriveIden)]
enum FilingRules {
    Table,
    TenantId,
    Kind,
    Field,
    EditableBy,
    NeedsReview,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
    TenantId,
    Kind,
    FileName,
    Mode,
    Status,
    TotalRows,
    ProcessedRows,
    GoodRows,
    BadRows,
    ImportedRows,
    Errors,
    CreatedBy,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Enterprises {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

fn tenant_fk(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    fk(name, (table, col), (Tenants::Table, Tenants::Id), ForeignKeyAction::Restrict)
}

/// The columns every filing shares: its review state.
fn review_cols(t: &mut TableCreateStatement, status: impl IntoIden, version: impl IntoIden, reason: impl IntoIden) {
    // draft | submitted | approved | rejected | changed
    t.col(ColumnDef::new(status).string_len(16).not_null());
    // The last approved version (0: never approved).
    t.col(ColumnDef::new(version).integer().not_null());
    t.col(ColumnDef::new(reason).string_len(500).null());
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut merchants = Table::create();
        merchants
            .table(Merchants::Table)
            .col(ColumnDef::new(Merchants::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(Merchants::TenantId).uuid().not_null())
            .col(ColumnDef::new(Merchants::Code).string_len(16).not_null().unique_key())
            .col(ColumnDef::new(Merchants::Name).string_len(100).not_null())
            .col(ColumnDef::new(Merchants::MerchantType).string_len(32).not_null())
            .col(ColumnDef::new(Merchants::Uscc).string_len(18).null())
            .col(ColumnDef::new(Merchants::Categories).text().not_null())
            .col(ColumnDef::new(Merchants::NodeEnterpriseId).uuid().not_null())
            // The node's code and name as filed (resolved from its filing).
            .col(ColumnDef::new(Merchants::NodeCode).string_len(16).not_null())
            .col(ColumnDef::new(Merchants::NodeName).string_len(100).not_null())
            .col(ColumnDef::new(Merchants::StallNo).string_len(32).null())
            .col(ColumnDef::new(Merchants::DivisionCode).string_len(6).not_null())
            .col(ColumnDef::new(Merchants::ContactName).string_len(100).not_null())
            .col(ColumnDef::new(Merchants::ContactPhone).string_len(32).not_null());
        review_cols(&mut merchants, Merchants::Status, Merchants::Version, Merchants::Reason);
        merchants
            .col(ts(Merchants::CreatedAt))
            .col(ts(Merchants::UpdatedAt))
            .foreign_key(&mut tenant_fk("fk_merchants_tenant", Merchants::Table, Merchants::TenantId))
            .foreign_key(&mut fk(
                "fk_merchants_node",
                (Merchants::Table, Merchants::NodeEnterpriseId),
                (Enterprises::Table, Enterprises::Id),
                ForeignKeyAction::Restrict,
            ));
        manager.create_table(merchants).await?;

        let mut products = Table::create();
        products
            .table(ProductFilings::Table)
            .col(ColumnDef::new(ProductFilings::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(ProductFilings::TenantId).uuid().not_null())
            .col(ColumnDef::new(ProductFilings::Code).string_len(16).not_null().unique_key())
            .col(ColumnDef::new(ProductFilings::Name).string_len(100).not_null())
            .col(ColumnDef::new(ProductFilings::CategoryCode).string_len(16).not_null())
            .col(ColumnDef::new(ProductFilings::Brand).string_len(100).null())
            .col(ColumnDef::new(ProductFilings::Specification).string_len(100).null())
            .col(ColumnDef::new(ProductFilings::Unit).string_len(16).not_null())
            .col(ColumnDef::new(ProductFilings::ShelfLifeDays).integer().null())
            .col(ColumnDef::new(ProductFilings::Gtin).string_len(14).null())
            .col(ColumnDef::new(ProductFilings::EnterpriseId).uuid().not_null())
            .col(ColumnDef::new(ProductFilings::EnterpriseCode).string_len(16).not_null())
            .col(ColumnDef::new(ProductFilings::EnterpriseName).string_len(100).not_null())
            .col(ColumnDef::new(ProductFilings::DivisionCode).string_len(6).not_null());
        review_cols(&mut products, ProductFilings::Status, ProductFilings::Version, ProductFilings::Reason);
        products
            .col(ts(ProductFilings::CreatedAt))
            .col(ts(ProductFilings::UpdatedAt))
            .foreign_key(&mut tenant_fk("fk_product_filings_tenant", ProductFilings::Table, ProductFilings::TenantId))
            .foreign_key(&mut fk(
                "fk_product_filings_enterprise",
                (ProductFilings::Table, ProductFilings::EnterpriseId),
                (Enterprises::Table, Enterprises::Id),
                ForeignKeyAction::Restrict,
            ));
        manager.create_table(products).await?;

        // Search indexes: tenant first (every query is scoped), then the filter.
        for (name, table, cols) in [
            ("idx_merchants_tenant_status", "merchants", vec!["tenant_id", "status"]),
            ("idx_merchants_tenant_type", "merchants", vec!["tenant_id", "merchant_type"]),
            ("idx_merchants_tenant_created", "merchants", vec!["tenant_id", "created_at"]),
            ("idx_merchants_node", "merchants", vec!["node_enterprise_id"]),
            ("idx_merchants_division", "merchants", vec!["division_code"]),
            ("idx_product_filings_tenant_status", "product_filings", vec!["tenant_id", "status"]),
            ("idx_product_filings_tenant_category", "product_filings", vec!["tenant_id", "category_code"]),
            ("idx_product_filings_tenant_created", "product_filings", vec!["tenant_id", "created_at"]),
            ("idx_product_filings_enterprise", "product_filings", vec!["enterprise_id"]),
            ("idx_product_filings_division", "product_filings", vec!["division_code"]),
            ("idx_product_filings_gtin", "product_filings", vec!["gtin"]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new(table));
            for c in cols {
                index.col(Alias::new(c));
            }
            manager.create_index(index).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(FilingVersions::Table)
                    .col(ColumnDef::new(FilingVersions::Id).uuid().not_null().primary_key())
                    // enterprise | merchant | product
                    .col(ColumnDef::new(FilingVersions::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(FilingVersions::FilingId).uuid().not_null())
                    .col(ColumnDef::new(FilingVersions::Version).integer().not_null())
                    .col(ColumnDef::new(FilingVersions::Data).text().not_null())
                    .col(ts(FilingVersions::ApprovedAt))
                    .col(ColumnDef::new(FilingVersions::ApprovedBy).string_len(100).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_filing_versions")
                    .table(FilingVersions::Table)
                    .col(FilingVersions::FilingId)
                    .col(FilingVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The enterprise versions move into the shared table.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO filing_versions (id, kind, filing_id, version, data, approved_at, approved_by) \
                 SELECT id, 'enterprise', enterprise_id, version, data, approved_at, approved_by FROM enterprise_versions",
            )
            .await?;
        manager.drop_table(Table::drop().table(Alias::new("enterprise_versions")).to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table(FilingRules::Table)
                    .col(ColumnDef::new(FilingRules::TenantId).uuid().not_null())
                    .col(ColumnDef::new(FilingRules::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(FilingRules::Field).string_len(32).not_null())
                    // operator | manager
                    .col(ColumnDef::new(FilingRules::EditableBy).string_len(16).not_null())
                    .col(ColumnDef::new(FilingRules::NeedsReview).boolean().not_null())
                    .col(ts(FilingRules::UpdatedAt))
                    .primary_key(
                        Index::create().col(FilingRules::TenantId).col(FilingRules::Kind).col(FilingRules::Field),
                    )
                    .foreign_key(&mut tenant_fk("fk_filing_rules_tenant", FilingRules::Table, FilingRules::TenantId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ImportJobs::Table)
                    .col(ColumnDef::new(ImportJobs::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ImportJobs::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ImportJobs::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(ImportJobs::FileName).string_len(200).not_null())
                    // dry_run | all_or_nothing | good_rows
                    .col(ColumnDef::new(ImportJobs::Mode).string_len(16).not_null())
                    // running | done | failed
                    .col(ColumnDef::new(ImportJobs::Status).string_len(16).not_null())
                    .col(ColumnDef::new(ImportJobs::TotalRows).big_integer().not_null())
                    .col(ColumnDef::new(ImportJobs::ProcessedRows).big_integer().not_null())
                    .col(ColumnDef::new(ImportJobs::GoodRows).big_integer().not_null())
                    .col(ColumnDef::new(ImportJobs::BadRows).big_integer().not_null())
                    .col(ColumnDef::new(ImportJobs::ImportedRows).big_integer().not_null())
                    // JSON array of {row, column, rule, message}, the first 1 000.
                    .col(ColumnDef::new(ImportJobs::Errors).text().not_null())
                    .col(ColumnDef::new(ImportJobs::CreatedBy).string_len(100).not_null())
                    .col(ts(ImportJobs::CreatedAt))
                    .col(ColumnDef::new(ImportJobs::FinishedAt).timestamp_with_time_zone().null())
                    .foreign_key(&mut tenant_fk("fk_import_jobs_tenant", ImportJobs::Table, ImportJobs::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_import_jobs_tenant_created")
                    .table(ImportJobs::Table)
                    .col(ImportJobs::TenantId)
                    .col(ImportJobs::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ImportJobs::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(FilingRules::Table).to_owned()).await?;
        // The enterprise versions go back to their own table.
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("enterprise_versions"))
                    .col(ColumnDef::new(FilingVersions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Alias::new("enterprise_id")).uuid().not_null())
                    .col(ColumnDef::new(FilingVersions::Version).integer().not_null())
                    .col(ColumnDef::new(FilingVersions::Data).text().not_null())
                    .col(ts(FilingVersions::ApprovedAt))
                    .col(ColumnDef::new(FilingVersions::ApprovedBy).string_len(100).not_null())
                    .foreign_key(&mut fk(
                        "fk_enterprise_versions_enterprise",
                        (Alias::new("enterprise_versions"), Alias::new("enterprise_id")),
                        (Enterprises::Table, Enterprises::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_enterprise_versions")
                    .table(Alias::new("enterprise_versions"))
                    .col(Alias::new("enterprise_id"))
                    .col(FilingVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO enterprise_versions (id, enterprise_id, version, data, approved_at, approved_by) \
                 SELECT id, filing_id, version, data, approved_at, approved_by FROM filing_versions WHERE kind = 'enterprise'",
            )
            .await?;
        manager.drop_table(Table::drop().table(FilingVersions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ProductFilings::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Merchants::Table).to_owned()).await
    }
}
