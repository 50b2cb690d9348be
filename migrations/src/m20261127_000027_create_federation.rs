//! Federation (issue 7): at the child, one delivery link per tenant that sends its outbox up;
//! at the parent, the credentials it issued to children in other deployments, the inbox
//! cursor per origin, rows it could not apply (parked), the read model of the children's
//! filings, and the rolled-up statistics; plus the signatures seen inside the replay window.

use sea_orm_migration::prelude::*;

use crate::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FederationLinks {
    Table,
    OriginTenantId,
    DeliveredSeq,
    Mode,
    IntervalSecs,
    NextAttemptAt,
    Attempts,
    LastError,
    LastErrorAt,
    LastSuccessAt,
    LeaseOwner,
    LeaseUntil,
    RemoteKeyId,
    RemoteSecret,
    AlertedAt,
}

#[derive(DeriveIden)]
enum FederationCredentials {
    Table,
    KeyId,
    TenantId,
    Secret,
    CreatedAt,
    CreatedBy,
    RevokedAt,
}

#[derive(DeriveIden)]
enum FederationInbox {
    Table,
    OriginTenantId,
    ReceiverTenantId,
    ChildTenantId,
    OriginCode,
    OriginName,
    Cursor,
    LastRowAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FederationParked {
    Table,
    Id,
    ReceiverTenantId,
    OriginTenantId,
    Seq,
    Kind,
    SourceCode,
    Payload,
    Reason,
    ParkedAt,
}

#[derive(DeriveIden)]
enum FederationFilings {
    Table,
    ReceiverTenantId,
    FilingType,
    FilingCode,
    SourceCode,
    SourceName,
    Version,
    Status,
    Data,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FederationRollup {
    Table,
    HolderTenantId,
    SourceCode,
    Day,
    Stage,
    CategoryCode,
    DivisionCode,
    Records,
    Quantity,
}

#[derive(DeriveIden)]
enum FederationRollupTotals {
    Table,
    HolderTenantId,
    SourceCode,
    Records,
    Quantity,
    Filings,
}

#[derive(DeriveIden)]
enum FederationReplay {
    Table,
    Signature,
    SeenAt,
}

fn text_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}

fn ts_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use FederationLinks as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(ColumnDef::new(L::OriginTenantId).uuid().not_null().primary_key())
                    // The last sequence number the parent acknowledged.
                    .col(ColumnDef::new(L::DeliveredSeq).big_integer().not_null().default(0))
                    // `continuous` (every change at once) or `periodic` (every `interval_secs`).
                    .col(ColumnDef::new(L::Mode).string_len(16).not_null().default("continuous"))
                    .col(ColumnDef::new(L::IntervalSecs).integer().not_null().default(3600))
                    .col(ts(L::NextAttemptAt))
                    .col(ColumnDef::new(L::Attempts).integer().not_null().default(0))
                    .col(text_null(L::LastError))
                    .col(ts_null(L::LastErrorAt))
                    .col(ts_null(L::LastSuccessAt))
                    // The replica delivering it, until when.
                    .col(ColumnDef::new(L::LeaseOwner).string_len(64).null())
                    .col(ts_null(L::LeaseUntil))
                    // The credential the parent deployment issued (HTTP links only).
                    .col(ColumnDef::new(L::RemoteKeyId).string_len(64).null())
                    .col(ColumnDef::new(L::RemoteSecret).string_len(128).null())
                    .col(ts_null(L::AlertedAt))
                    .to_owned(),
            )
            .await?;
        use FederationCredentials as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::KeyId).string_len(64).not_null().primary_key())
                    // The child tenant (in this deployment) the remote deployment reports as.
                    .col(ColumnDef::new(C::TenantId).uuid().not_null())
                    .col(ColumnDef::new(C::Secret).string_len(128).not_null())
                    .col(ts(C::CreatedAt))
                    .col(ColumnDef::new(C::CreatedBy).string_len(100).not_null())
                    .col(ts_null(C::RevokedAt))
                    .to_owned(),
            )
            .await?;
        use FederationInbox as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(ColumnDef::new(I::OriginTenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(I::ReceiverTenantId).uuid().not_null())
                    .col(ColumnDef::new(I::ChildTenantId).uuid().not_null())
                    .col(ColumnDef::new(I::OriginCode).string_len(6).not_null())
                    .col(ColumnDef::new(I::OriginName).string_len(100).not_null())
                    .col(ColumnDef::new(I::Cursor).big_integer().not_null())
                    .col(ts_null(I::LastRowAt))
                    .col(ts(I::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        use FederationParked as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(P::ReceiverTenantId).uuid().not_null())
                    .col(ColumnDef::new(P::OriginTenantId).uuid().not_null())
                    .col(ColumnDef::new(P::Seq).big_integer().not_null())
                    .col(ColumnDef::new(P::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(P::SourceCode).string_len(16).not_null())
                    .col(ColumnDef::new(P::Payload).text().not_null())
                    .col(ColumnDef::new(P::Reason).text().not_null())
                    .col(ts(P::ParkedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_federation_parked_origin_seq")
                    .table(P::Table)
                    .col(P::OriginTenantId)
                    .col(P::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        use FederationFilings as F;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .col(ColumnDef::new(F::ReceiverTenantId).uuid().not_null())
                    .col(ColumnDef::new(F::FilingType).string_len(16).not_null())
                    .col(ColumnDef::new(F::FilingCode).string_len(64).not_null())
                    .col(ColumnDef::new(F::SourceCode).string_len(6).not_null())
                    .col(ColumnDef::new(F::SourceName).string_len(100).not_null())
                    .col(ColumnDef::new(F::Version).integer().not_null())
                    // `active` or `withdrawn`.
                    .col(ColumnDef::new(F::Status).string_len(16).not_null())
                    .col(ColumnDef::new(F::Data).text().not_null())
                    .col(ts(F::UpdatedAt))
                    .primary_key(Index::create().col(F::ReceiverTenantId).col(F::FilingType).col(F::FilingCode))
                    .to_owned(),
            )
            .await?;
        // The roll-up counts a holder's filings per source (and names the sources) from the
        // index alone.
        manager
            .create_index(
                Index::create()
                    .name("idx_federation_filings_receiver_source")
                    .table(F::Table)
                    .col(F::ReceiverTenantId)
                    .col(F::SourceCode)
                    .col(F::Status)
                    .to_owned(),
            )
            .await?;
        use FederationRollup as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    // Whose figure: the tenant that received it from below.
                    .col(ColumnDef::new(R::HolderTenantId).uuid().not_null())
                    // The tenant below where the records were made.
                    .col(ColumnDef::new(R::SourceCode).string_len(6).not_null())
                    .col(ColumnDef::new(R::Day).string_len(10).not_null())
                    .col(ColumnDef::new(R::Stage).string_len(32).not_null())
                    .col(ColumnDef::new(R::CategoryCode).string_len(16).not_null())
                    .col(ColumnDef::new(R::DivisionCode).string_len(6).not_null())
                    .col(ColumnDef::new(R::Records).big_integer().not_null())
                    .col(ColumnDef::new(R::Quantity).double().not_null())
                    .primary_key(
                        Index::create()
                            .col(R::HolderTenantId)
                            .col(R::SourceCode)
                            .col(R::Day)
                            .col(R::Stage)
                            .col(R::CategoryCode)
                            .col(R::DivisionCode),
                    )
                    .to_owned(),
            )
            .await?;
        // The same figures summed per source only: what a dashboard reads (one row per tenant
        // below), kept in step with the detail in the same statement batch.
        use FederationRollupTotals as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(ColumnDef::new(T::HolderTenantId).uuid().not_null())
                    .col(ColumnDef::new(T::SourceCode).string_len(6).not_null())
                    .col(ColumnDef::new(T::Records).big_integer().not_null())
                    .col(ColumnDef::new(T::Quantity).double().not_null())
                    // Filings held in the read model (not withdrawn).
                    .col(ColumnDef::new(T::Filings).big_integer().not_null())
                    .primary_key(Index::create().col(T::HolderTenantId).col(T::SourceCode))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FederationReplay::Table)
                    .col(ColumnDef::new(FederationReplay::Signature).string_len(64).not_null().primary_key())
                    .col(ts(FederationReplay::SeenAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            FederationReplay::Table.into_iden(),
            FederationRollupTotals::Table.into_iden(),
            FederationRollup::Table.into_iden(),
            FederationFilings::Table.into_iden(),
            FederationParked::Table.into_iden(),
            FederationInbox::Table.into_iden(),
            FederationCredentials::Table.into_iden(),
            FederationLinks::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
