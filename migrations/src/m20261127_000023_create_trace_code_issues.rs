//! Platform-issued trace codes (issue 6): each issue is a run of serials of one subject — one
//! code per item, or one code for a batch — kept as a range rather than a row per code.

use sea_orm_migration::prelude::*;

use crate::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceCodeIssues {
    Table,
    Id,
    TenantId,
    SubjectCode,
    Kind,
    ProductCode,
    BatchNo,
    FirstSerial,
    Count,
    IssuedAt,
    IssuedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TraceCodeIssues::Table)
                    .col(ColumnDef::new(TraceCodeIssues::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TraceCodeIssues::TenantId).uuid().not_null())
                    .col(ColumnDef::new(TraceCodeIssues::SubjectCode).string_len(16).not_null())
                    .col(ColumnDef::new(TraceCodeIssues::Kind).string_len(8).not_null())
                    .col(ColumnDef::new(TraceCodeIssues::ProductCode).string_len(16).null())
                    .col(ColumnDef::new(TraceCodeIssues::BatchNo).string_len(64).null())
                    .col(ColumnDef::new(TraceCodeIssues::FirstSerial).big_integer().not_null())
                    .col(ColumnDef::new(TraceCodeIssues::Count).integer().not_null())
                    .col(ts(TraceCodeIssues::IssuedAt))
                    .col(ColumnDef::new(TraceCodeIssues::IssuedBy).string_len(100).not_null())
                    .to_owned(),
            )
            .await?;
        // Resolution finds the issue holding a serial: the subject's issues by first serial.
        manager
            .create_index(
                Index::create()
                    .name("idx_trace_code_issues_subject_serial")
                    .table(TraceCodeIssues::Table)
                    .col(TraceCodeIssues::SubjectCode)
                    .col(TraceCodeIssues::FirstSerial)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TraceCodeIssues::Table).to_owned()).await
    }
}
