//! The trace tables.

/// A trace record.
pub mod event {
    use sea_orm::entity::prelude::*;

    /// The `trace_events` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_events")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The reporting tenant.
        pub tenant_id: Uuid,
        /// The connected system's own id of the record (idempotency key).
        pub client_event_id: String,
        /// Stage.
        pub stage: String,
        /// Action within the stage.
        pub action: String,
        /// The reporting subject's code.
        pub subject_code: String,
        /// Its name.
        pub subject_name: String,
        /// Product filing code.
        pub product_code: Option<String>,
        /// Product name.
        pub product_name: String,
        /// Catalogue code (from the product filing).
        pub category_code: Option<String>,
        /// Batch number.
        pub batch_no: String,
        /// JSON array of trace codes.
        pub trace_codes: String,
        /// Quantity.
        pub quantity: f64,
        /// Unit.
        pub unit: String,
        /// Unit price.
        pub price: Option<f64>,
        /// Amount.
        pub amount: Option<f64>,
        /// When it happened.
        pub event_time: DateTimeUtc,
        /// Its zone, minutes east of UTC.
        pub event_offset_minutes: i32,
        /// When the platform received it.
        pub recorded_at: DateTimeUtc,
        /// Where (division code).
        pub division_code: String,
        /// Longitude.
        pub longitude: Option<f64>,
        /// Latitude.
        pub latitude: Option<f64>,
        /// The counterpart's code.
        pub counterpart_code: Option<String>,
        /// The counterpart's name.
        pub counterpart_name: Option<String>,
        /// JSON array of inputs.
        pub inputs: String,
        /// JSON inspection result.
        pub inspection: Option<String>,
        /// JSON object of further key data elements.
        pub extra: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An edge between two batches.
pub mod lineage {
    use sea_orm::entity::prelude::*;

    /// The `trace_lineage` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_lineage")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The reporting tenant.
        pub tenant_id: Uuid,
        /// The record that made it.
        pub event_id: Uuid,
        /// `process` or `ship`.
        pub kind: String,
        /// From subject.
        pub from_subject_code: String,
        /// From batch.
        pub from_batch: String,
        /// To subject.
        pub to_subject_code: String,
        /// To batch.
        pub to_batch: String,
        /// Quantity moved.
        pub quantity: Option<f64>,
        /// When.
        pub event_time: DateTimeUtc,
        /// The product of the record that made the edge (the flow's product).
        pub product_name: String,
        /// The unit of `quantity` (a code of `trace_units`); none when not reported.
        pub unit: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Which record carries a trace code.
pub mod code_index {
    use sea_orm::entity::prelude::*;
    use sea_orm::sea_query::{Query, SimpleExpr};

    /// The records that carry `code`, as a condition on `trace_events.id`: through the code
    /// index, never a scan of the records' code lists.
    #[must_use]
    pub fn carried_by(code: &str) -> SimpleExpr {
        super::event::Column::Id.in_subquery(
            Query::select().column(Column::EventId).from(Entity).and_where(Column::Code.eq(code)).to_owned(),
        )
    }

    /// The `trace_code_index` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_code_index")]
    pub struct Model {
        /// The code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// The record.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        /// The record's tenant.
        pub tenant_id: Uuid,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// How often a code was queried.
pub mod code_stats {
    use sea_orm::entity::prelude::*;

    /// The `trace_code_stats` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_code_stats")]
    pub struct Model {
        /// The code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// Public queries so far.
        pub queries: i64,
        /// The first.
        pub first_at: DateTimeUtc,
        /// The last.
        pub last_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One public query (R-ANA-3).
pub mod code_query {
    use sea_orm::entity::prelude::*;

    /// The `trace_code_queries` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_code_queries")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The code asked for.
        pub code: String,
        /// Whether it was found.
        pub found: bool,
        /// The product's category, when found.
        pub category_code: Option<String>,
        /// When.
        pub queried_at: DateTimeUtc,
        /// The type of the subject that last handled the product (`retailer`, `market`,
        /// `merchant`, …), when found.
        pub subject_type: Option<String>,
        /// Where the product reached the consumer: the region of the code's latest record (the
        /// sale), when found. The consumer's own location is not known.
        pub consumer_region: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A run of platform-issued trace codes.
pub mod code_issue {
    use sea_orm::entity::prelude::*;

    /// The `trace_code_issues` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_code_issues")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The issuing tenant.
        pub tenant_id: Uuid,
        /// The subject the codes belong to (their prefix).
        pub subject_code: String,
        /// `item` (one code per item) or `batch` (one code for a batch).
        pub kind: String,
        /// The product filing, when given.
        pub product_code: Option<String>,
        /// The batch, when given (always for `batch`).
        pub batch_no: Option<String>,
        /// The first serial.
        pub first_serial: i64,
        /// How many codes.
        pub count: i32,
        /// When.
        pub issued_at: DateTimeUtc,
        /// By whom.
        pub issued_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Trace statistics of a tenant for a day, stage, category and region.
pub mod stats_daily {
    use sea_orm::entity::prelude::*;

    /// The `trace_stats_daily` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "trace_stats_daily")]
    pub struct Model {
        /// The reporting tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        /// `YYYY-MM-DD` where it happened.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        /// Stage.
        #[sea_orm(primary_key, auto_increment = false)]
        pub stage: String,
        /// Catalogue code, or empty.
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_code: String,
        /// Division code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub division_code: String,
        /// The unit the quantity is counted in: a convertible unit's base (kg, L), any other
        /// unit itself; empty for records whose unit is not in the list (not stated).
        #[sea_orm(primary_key, auto_increment = false)]
        pub unit: String,
        /// Records.
        pub records: i64,
        /// Sum of their quantities in `unit`.
        pub quantity: f64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A claim of a trace code by a subject not linked into the code's lineage.
pub mod code_anomaly {
    use sea_orm::entity::prelude::*;

    /// The `trace_code_anomalies` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_code_anomalies")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The code.
        pub code: String,
        /// `unlinked_claim`: a record carries the code, but its subject is not linked into the
        /// lineage of the code's owner.
        pub kind: String,
        /// The record.
        pub event_id: Uuid,
        /// The record's subject.
        pub claiming_subject_code: String,
        /// The tenant that reported the record.
        pub claiming_tenant_id: Uuid,
        /// The code's owner: the subject whose records the public answer starts from.
        pub owner_subject_code: String,
        /// The tenant that reported the owner's first record carrying the code.
        pub owner_tenant_id: Uuid,
        /// When the claim was found.
        pub detected_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
