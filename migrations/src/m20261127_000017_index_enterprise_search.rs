//! Indexes for searching filings by region, type and filing time (R-SUBJ-5).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Enterprises {
    Table,
    TenantId,
    DivisionCode,
    EnterpriseType,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, cols) in [
            ("idx_enterprises_division", vec![Enterprises::DivisionCode]),
            ("idx_enterprises_tenant_type", vec![Enterprises::TenantId, Enterprises::EnterpriseType]),
            ("idx_enterprises_tenant_created", vec![Enterprises::TenantId, Enterprises::CreatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Enterprises::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_enterprises_division", "idx_enterprises_tenant_type", "idx_enterprises_tenant_created"] {
            manager.drop_index(Index::drop().name(name).table(Enterprises::Table).to_owned()).await?;
        }
        Ok(())
    }
}
