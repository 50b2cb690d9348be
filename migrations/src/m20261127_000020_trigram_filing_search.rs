//! PostgreSQL: trigram indexes (pg_trgm) for the searches by part of a name, node or category
//! (`LIKE '%…%'`), which no B-tree serves. pg_trgm is a trusted extension (PostgreSQL 13+):
//! the database owner may create it. Where the server does not ship it, the migration leaves
//! these searches as table scans and says so in the log. SQLite: nothing (they scan; measured
//! in docs/performance.md).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, column).
const INDEXES: &[(&str, &str, &str)] = &[
    ("idx_enterprises_name_trgm", "enterprises", "name"),
    ("idx_enterprises_categories_trgm", "enterprises", "categories"),
    ("idx_merchants_name_trgm", "merchants", "name"),
    ("idx_merchants_node_name_trgm", "merchants", "node_name"),
    ("idx_merchants_categories_trgm", "merchants", "categories"),
    ("idx_product_filings_name_trgm", "product_filings", "name"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let available = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT 1 AS one FROM pg_available_extensions WHERE name = 'pg_trgm'",
            ))
            .await?
            .is_some();
        if !available {
            tracing::warn!("pg_trgm is not installed on this server: searches by part of a name scan the table");
            return Ok(());
        }
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
        for (name, table, column) in INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (name, ..) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}")).await?;
        }
        Ok(())
    }
}
