//! The Suyuan schema as sea-orm migrations, one file per change, for SQLite and PostgreSQL.
//!
//! Rules (see `migrations/README.md`): identifiers are `DeriveIden` enums local to each file,
//! never live entity code; a migration once released is never edited — add a new one.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tenants;
mod m20261127_000002_create_users;
mod m20261127_000003_create_sessions;
mod m20261127_000004_create_roles_policies_audit;
mod m20261127_000005_create_api_keys;
mod m20261127_000006_create_password_history;
mod m20261127_000007_create_sso;
mod m20261127_000008_create_tenant_roles;
mod m20261127_000009_add_tenant_profile;
mod m20261127_000010_create_invitations;
mod m20261127_000011_add_tenant_location;
mod m20261127_000012_add_audit_anchor;
mod m20261127_000013_add_sso_link;
mod m20261127_000014_create_tenant_applications;
mod m20261127_000015_create_product_catalogue;
mod m20261127_000016_create_enterprise_filings;
mod m20261127_000017_index_enterprise_search;
mod m20261127_000018_create_merchants_products;
mod m20261127_000019_cover_filing_search;
mod m20261127_000020_trigram_filing_search;
mod m20261127_000021_create_trace_events;
mod m20261127_000022_create_trace_codes;
mod m20261127_000023_create_trace_code_issues;
mod m20261127_000024_create_trace_stats;
mod m20261127_000025_trace_write_path;
mod m20261127_000026_partition_trace_events;
mod m20261127_000027_create_federation;
mod m20261127_000028_lineage_product;
mod m20261127_000029_query_subject_region;
mod m20261127_000030_lineage_c_collation;
mod m20261207_000001_add_audit_mac_anchors;
mod m20261207_000010_catalogue_codes_per_tenant;
mod m20261207_000011_create_audit_pending;
mod m20261207_000018_create_code_anomalies;
mod m20261207_000050_units_and_labels;

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tenants::Migration),
            Box::new(m20261127_000002_create_users::Migration),
            Box::new(m20261127_000003_create_sessions::Migration),
            Box::new(m20261127_000004_create_roles_policies_audit::Migration),
            Box::new(m20261127_000005_create_api_keys::Migration),
            Box::new(m20261127_000006_create_password_history::Migration),
            Box::new(m20261127_000007_create_sso::Migration),
            Box::new(m20261127_000008_create_tenant_roles::Migration),
            Box::new(m20261127_000009_add_tenant_profile::Migration),
            Box::new(m20261127_000010_create_invitations::Migration),
            Box::new(m20261127_000011_add_tenant_location::Migration),
            Box::new(m20261127_000012_add_audit_anchor::Migration),
            Box::new(m20261127_000013_add_sso_link::Migration),
            Box::new(m20261127_000014_create_tenant_applications::Migration),
            Box::new(m20261127_000015_create_product_catalogue::Migration),
            Box::new(m20261127_000016_create_enterprise_filings::Migration),
            Box::new(m20261127_000017_index_enterprise_search::Migration),
            Box::new(m20261127_000018_create_merchants_products::Migration),
            Box::new(m20261127_000019_cover_filing_search::Migration),
            Box::new(m20261127_000020_trigram_filing_search::Migration),
            Box::new(m20261127_000021_create_trace_events::Migration),
            Box::new(m20261127_000022_create_trace_codes::Migration),
            Box::new(m20261127_000023_create_trace_code_issues::Migration),
            Box::new(m20261127_000024_create_trace_stats::Migration),
            Box::new(m20261127_000025_trace_write_path::Migration),
            Box::new(m20261127_000026_partition_trace_events::Migration),
            Box::new(m20261127_000027_create_federation::Migration),
            Box::new(m20261127_000028_lineage_product::Migration),
            Box::new(m20261127_000029_query_subject_region::Migration),
            Box::new(m20261127_000030_lineage_c_collation::Migration),
            Box::new(m20261207_000001_add_audit_mac_anchors::Migration),
            Box::new(m20261207_000010_catalogue_codes_per_tenant::Migration),
            Box::new(m20261207_000011_create_audit_pending::Migration),
            Box::new(m20261207_000018_create_code_anomalies::Migration),
            Box::new(m20261207_000050_units_and_labels::Migration),
        ]
    }
}

/// A timestamp column with time zone (TEXT in SQLite, timestamptz in PostgreSQL).
pub(crate) fn ts(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().to_owned()
}

/// A foreign key `name` from `from.col` to `to.col`.
pub(crate) fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).on_delete(on_delete).to_owned()
}
