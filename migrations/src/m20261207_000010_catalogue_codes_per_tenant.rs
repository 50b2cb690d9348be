//! Catalogue codes per tenant (issue 17, finding 6): a sub-category code was unique across the
//! whole deployment, so the first province to add `010901` kept every other province from
//! using it. A code is now unique within one line of tenants (a tenant, the tenants above it
//! and those below it; the service checks that), so sibling provinces number their own
//! sub-categories freely. The table keeps a unique key per (tenant, code) and an index on the
//! code.
//!
//! PostgreSQL drops the column's unique constraint. SQLite cannot drop a column constraint:
//! the table is rebuilt. Dropping the old table would cascade to `tenant_categories` (its
//! foreign key deletes a tenant's choices with the category), so those rows are set aside and
//! put back after the rename; the rebuild runs in one transaction.

use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE "tenant_categories_keep" AS SELECT "tenant_id", "category_id" FROM "tenant_categories";
DELETE FROM "tenant_categories";
CREATE TABLE "product_categories_new" (
    "id" uuid_text NOT NULL PRIMARY KEY,
    "tenant_id" uuid_text NOT NULL,
    "parent_id" uuid_text NULL,
    "code" varchar(16) NOT NULL,
    "name" varchar(100) NOT NULL,
    "depth" integer NOT NULL,
    "created_at" timestamp_with_timezone_text NOT NULL,
    "updated_at" timestamp_with_timezone_text NOT NULL,
    CONSTRAINT "fk_product_categories_tenant" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE
);
INSERT INTO "product_categories_new"
    SELECT "id", "tenant_id", "parent_id", "code", "name", "depth", "created_at", "updated_at" FROM "product_categories";
DROP TABLE "product_categories";
ALTER TABLE "product_categories_new" RENAME TO "product_categories";
CREATE INDEX "idx_product_categories_parent" ON "product_categories" ("parent_id");
INSERT INTO "tenant_categories" SELECT "tenant_id", "category_id" FROM "tenant_categories_keep";
DROP TABLE "tenant_categories_keep";
"#;

const COMMON_UP: &str = r#"
CREATE INDEX "idx_product_categories_code" ON "product_categories" ("code");
CREATE UNIQUE INDEX "ux_product_categories_tenant_code" ON "product_categories" ("tenant_id", "code");
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    r#"ALTER TABLE "product_categories" DROP CONSTRAINT IF EXISTS "product_categories_code_key""#,
                )
                .await?;
                db.execute_unprepared(COMMON_UP).await?;
            }
            _ => {
                let txn = db.begin().await?;
                txn.execute_unprepared(SQLITE_UP).await?;
                txn.execute_unprepared(COMMON_UP).await?;
                txn.commit().await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to one namespace: refused while two tenants share a code (the old schema cannot
        // hold them).
        let db = manager.get_connection();
        db.execute_unprepared(r#"DROP INDEX IF EXISTS "ux_product_categories_tenant_code""#).await?;
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(r#"DROP INDEX IF EXISTS "idx_product_categories_code""#).await?;
                db.execute_unprepared(
                    r#"ALTER TABLE "product_categories" ADD CONSTRAINT "product_categories_code_key" UNIQUE ("code")"#,
                )
                .await?;
            }
            _ => {
                // SQLite: a unique index stands in for the column constraint.
                db.execute_unprepared(r#"DROP INDEX IF EXISTS "idx_product_categories_code""#).await?;
                db.execute_unprepared(
                    r#"CREATE UNIQUE INDEX "idx_product_categories_code" ON "product_categories" ("code")"#,
                )
                .await?;
            }
        }
        Ok(())
    }
}
