//! The catalogue tables.

/// A product category.
pub mod category {
    use sea_orm::entity::prelude::*;

    /// The `product_categories` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "product_categories")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Owner: the national tenant for the overall classification.
        pub tenant_id: Uuid,
        /// Parent category.
        pub parent_id: Option<Uuid>,
        /// Code; extends the parent's by two digits. Unique per tenant, and along a line of tenants
        /// (a tenant, those above and those below it): siblings may use the same code.
        pub code: String,
        /// Name.
        pub name: String,
        /// 1 for the seven kinds, 2 below them, …
        pub depth: i32,
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

/// A category a tenant traces.
pub mod selection {
    use sea_orm::entity::prelude::*;

    /// The `tenant_categories` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenant_categories")]
    pub struct Model {
        /// Tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        /// Category.
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: Uuid,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
