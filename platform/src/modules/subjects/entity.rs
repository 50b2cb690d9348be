//! The filing tables.

/// An enterprise filing (the working copy).
pub mod enterprise {
    use sea_orm::entity::prelude::*;

    /// The `enterprises` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "enterprises")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The filing tenant.
        pub tenant_id: Uuid,
        /// Platform-issued enterprise code.
        pub code: String,
        /// Name.
        pub name: String,
        /// Unified social credit code.
        pub uscc: String,
        /// Enterprise type.
        pub enterprise_type: String,
        /// JSON array of catalogue codes.
        pub categories: String,
        /// Comma-separated trace stages.
        pub stages: String,
        /// Production/operation licence number.
        pub licence_no: Option<String>,
        /// Address.
        pub address: String,
        /// Division code of the address.
        pub division_code: String,
        /// Longitude.
        pub longitude: Option<f64>,
        /// Latitude.
        pub latitude: Option<f64>,
        /// Contact person.
        pub contact_name: String,
        /// Contact phone.
        pub contact_phone: String,
        /// Contact e-mail.
        pub contact_email: Option<String>,
        /// `draft`, `submitted`, `approved`, `rejected` or `changed`.
        pub status: String,
        /// The last approved version (0: never approved).
        pub version: i32,
        /// Reason of the last rejection.
        pub reason: Option<String>,
        /// Created.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An approved version of a filing of any kind.
pub mod filing_version {
    use sea_orm::entity::prelude::*;

    /// The `filing_versions` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "filing_versions")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// `enterprise`, `merchant` or `product`.
        pub kind: String,
        /// The filing.
        pub filing_id: Uuid,
        /// 1, 2, …
        pub version: i32,
        /// The filing as approved (JSON).
        pub data: String,
        /// When.
        pub approved_at: DateTimeUtc,
        /// By whom.
        pub approved_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A tenant's change-control rule of one field (R-SUBJ-4).
pub mod filing_rule {
    use sea_orm::entity::prelude::*;

    /// The `filing_rules` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "filing_rules")]
    pub struct Model {
        /// Tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        /// Kind of filing.
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        /// Field.
        #[sea_orm(primary_key, auto_increment = false)]
        pub field: String,
        /// `operator` or `manager`.
        pub editable_by: String,
        /// A change sends an approved filing back to review.
        pub needs_review: bool,
        /// Set.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An individual merchant filing (个体经营户).
pub mod merchant {
    use sea_orm::entity::prelude::*;

    /// The `merchants` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "merchants")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The filing tenant.
        pub tenant_id: Uuid,
        /// Platform-issued merchant code.
        pub code: String,
        /// Name (the stall's or the owner's).
        pub name: String,
        /// Merchant type.
        pub merchant_type: String,
        /// Credit code of a registered individual business.
        pub uscc: Option<String>,
        /// JSON array of catalogue codes.
        pub categories: String,
        /// The node enterprise (market).
        pub node_enterprise_id: Uuid,
        /// Its code.
        pub node_code: String,
        /// Its name.
        pub node_name: String,
        /// Stall number.
        pub stall_no: Option<String>,
        /// Division code (the market's).
        pub division_code: String,
        /// Contact person.
        pub contact_name: String,
        /// Contact phone.
        pub contact_phone: String,
        /// Review status.
        pub status: String,
        /// Last approved version.
        pub version: i32,
        /// Reason of the last rejection.
        pub reason: Option<String>,
        /// Created.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A product filing (R-PROD-2).
pub mod product {
    use sea_orm::entity::prelude::*;

    /// The `product_filings` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "product_filings")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The filing tenant.
        pub tenant_id: Uuid,
        /// Platform-issued product code.
        pub code: String,
        /// Name.
        pub name: String,
        /// Catalogue code.
        pub category_code: String,
        /// Brand.
        pub brand: Option<String>,
        /// Specification.
        pub specification: Option<String>,
        /// Unit.
        pub unit: String,
        /// Shelf life in days.
        pub shelf_life_days: Option<i32>,
        /// GS1 GTIN.
        pub gtin: Option<String>,
        /// The producing enterprise.
        pub enterprise_id: Uuid,
        /// Its code.
        pub enterprise_code: String,
        /// Its name.
        pub enterprise_name: String,
        /// Division code (the enterprise's).
        pub division_code: String,
        /// Review status.
        pub status: String,
        /// Last approved version.
        pub version: i32,
        /// Reason of the last rejection.
        pub reason: Option<String>,
        /// Created.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A bulk import (R-IF-3).
pub mod import_job {
    use sea_orm::entity::prelude::*;

    /// The `import_jobs` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "import_jobs")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant.
        pub tenant_id: Uuid,
        /// Kind of filing.
        pub kind: String,
        /// The uploaded file's name.
        pub file_name: String,
        /// `dry_run`, `all_or_nothing` or `good_rows`.
        pub mode: String,
        /// `running`, `done` or `failed`.
        pub status: String,
        /// Data rows in the file.
        pub total_rows: i64,
        /// Rows checked so far.
        pub processed_rows: i64,
        /// Rows without problems.
        pub good_rows: i64,
        /// Rows with problems.
        pub bad_rows: i64,
        /// Rows written.
        pub imported_rows: i64,
        /// JSON array of the first problems.
        pub errors: String,
        /// Who.
        pub created_by: String,
        /// Started.
        pub created_at: DateTimeUtc,
        /// Ended.
        pub finished_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A change to deliver to the parent (delivery: the federation issue).
pub mod outbox {
    use sea_orm::entity::prelude::*;

    /// The `outbox` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The tenant where the change happened.
        pub origin_tenant_id: Uuid,
        /// Sequence per origin, from 1, without gaps.
        pub seq: i64,
        /// `filing.created`, `filing.changed`, …
        pub kind: String,
        /// JSON.
        pub payload: String,
        /// Written.
        pub created_at: DateTimeUtc,
        /// Delivered to the parent.
        pub delivered_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
