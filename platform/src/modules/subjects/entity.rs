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

/// An approved version of a filing.
pub mod version {
    use sea_orm::entity::prelude::*;

    /// The `enterprise_versions` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "enterprise_versions")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The filing.
        pub enterprise_id: Uuid,
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
