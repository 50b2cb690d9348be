//! Single sign-on: each tenant's OpenID Connect provider, pending logins, and the link from a
//! user to their identity at the provider.

use sea_orm_migration::prelude::*;

use crate::{fk, ts};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantSso {
    Table,
    TenantId,
    Issuer,
    ClientId,
    ClientSecret,
    Scopes,
    UserClaim,
    GroupsClaim,
    RoleMapping,
    JitProvisioning,
    Enabled,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SsoLogins {
    Table,
    State,
    TenantId,
    Nonce,
    PkceVerifier,
    ReturnTo,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    SsoSubject,
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
                    .table(TenantSso::Table)
                    .col(ColumnDef::new(TenantSso::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TenantSso::Issuer).string_len(255).not_null())
                    .col(ColumnDef::new(TenantSso::ClientId).string_len(255).not_null())
                    .col(ColumnDef::new(TenantSso::ClientSecret).string_len(255).not_null())
                    .col(ColumnDef::new(TenantSso::Scopes).string_len(255).not_null())
                    .col(ColumnDef::new(TenantSso::UserClaim).string_len(64).not_null())
                    .col(ColumnDef::new(TenantSso::GroupsClaim).string_len(64).not_null())
                    // JSON object: provider group → list of built-in roles.
                    .col(ColumnDef::new(TenantSso::RoleMapping).text().not_null())
                    .col(ColumnDef::new(TenantSso::JitProvisioning).boolean().not_null())
                    .col(ColumnDef::new(TenantSso::Enabled).boolean().not_null())
                    .col(ts(TenantSso::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_tenant_sso_tenant",
                        (TenantSso::Table, TenantSso::TenantId),
                        (Tenants::Table, Tenants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SsoLogins::Table)
                    .col(ColumnDef::new(SsoLogins::State).string_len(128).not_null().primary_key())
                    .col(ColumnDef::new(SsoLogins::TenantId).uuid().not_null())
                    .col(ColumnDef::new(SsoLogins::Nonce).string_len(128).not_null())
                    .col(ColumnDef::new(SsoLogins::PkceVerifier).string_len(128).not_null())
                    .col(ColumnDef::new(SsoLogins::ReturnTo).string_len(255).not_null())
                    .col(ts(SsoLogins::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::SsoSubject).string_len(255).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_users_sso_subject")
                    .table(Users::Table)
                    .col(Users::SsoSubject)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ux_users_sso_subject").table(Users::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::SsoSubject).to_owned()).await?;
        manager.drop_table(Table::drop().table(SsoLogins::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TenantSso::Table).to_owned()).await
    }
}
