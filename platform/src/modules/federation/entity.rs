//! The federation tables (migration 027).

/// At the child: one delivery link per tenant that sends its outbox up.
pub mod link {
    use sea_orm::entity::prelude::*;

    /// The `federation_links` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_links")]
    pub struct Model {
        /// The tenant whose outbox this link delivers.
        #[sea_orm(primary_key, auto_increment = false)]
        pub origin_tenant_id: Uuid,
        /// The last sequence number the parent acknowledged.
        pub delivered_seq: i64,
        /// `continuous` or `periodic`.
        pub mode: String,
        /// The period of a `periodic` link.
        pub interval_secs: i32,
        /// Not before this time (back-off after a failure, the next period).
        pub next_attempt_at: DateTimeUtc,
        /// Failures in a row.
        pub attempts: i32,
        /// The last failure's message.
        pub last_error: Option<String>,
        /// When it failed.
        pub last_error_at: Option<DateTimeUtc>,
        /// The last acknowledged delivery.
        pub last_success_at: Option<DateTimeUtc>,
        /// The replica delivering it now.
        pub lease_owner: Option<String>,
        /// Until when that replica holds it.
        pub lease_until: Option<DateTimeUtc>,
        /// HTTP links: the key id of the credential the parent issued.
        pub remote_key_id: Option<String>,
        /// HTTP links: its secret.
        pub remote_secret: Option<String>,
        /// When the lag alert was sent (cleared when the backlog is gone).
        pub alerted_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: a credential issued to a child running in another deployment.
pub mod credential {
    use sea_orm::entity::prelude::*;

    /// The `federation_credentials` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_credentials")]
    pub struct Model {
        /// Key id, sent in the clear.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_id: String,
        /// The child tenant (in this deployment) the remote deployment reports as.
        pub tenant_id: Uuid,
        /// The shared secret (hex).
        pub secret: String,
        /// Issued.
        pub created_at: DateTimeUtc,
        /// Issued by.
        pub created_by: String,
        /// Revoked.
        pub revoked_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: how far each origin's rows are applied.
pub mod inbox {
    use sea_orm::entity::prelude::*;

    /// The `federation_inbox` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_inbox")]
    pub struct Model {
        /// The sending tenant's id in its own deployment.
        #[sea_orm(primary_key, auto_increment = false)]
        pub origin_tenant_id: Uuid,
        /// The tenant here that receives.
        pub receiver_tenant_id: Uuid,
        /// The child tenant here the origin is (itself, for a local child).
        pub child_tenant_id: Uuid,
        /// The origin's division code.
        pub origin_code: String,
        /// Its name.
        pub origin_name: String,
        /// The last sequence number applied or parked.
        pub cursor: i64,
        /// When the origin committed that row.
        pub last_row_at: Option<DateTimeUtc>,
        /// Last apply.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: a row it could not apply, kept for its operators.
pub mod parked {
    use sea_orm::entity::prelude::*;

    /// The `federation_parked` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_parked")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The tenant here that received it.
        pub receiver_tenant_id: Uuid,
        /// The sender.
        pub origin_tenant_id: Uuid,
        /// Its sequence number.
        pub seq: i64,
        /// Its kind.
        pub kind: String,
        /// Where it happened first.
        pub source_code: String,
        /// The row as received (JSON).
        pub payload: String,
        /// Why it was not applied.
        pub reason: String,
        /// When.
        pub parked_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: the latest version of every filing below it.
pub mod filing {
    use sea_orm::entity::prelude::*;

    /// The `federation_filings` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_filings")]
    pub struct Model {
        /// The tenant holding the copy.
        #[sea_orm(primary_key, auto_increment = false)]
        pub receiver_tenant_id: Uuid,
        /// `enterprise`, `merchant` or `product`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub filing_type: String,
        /// The filing's code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub filing_code: String,
        /// Division code of the tenant where it was filed.
        pub source_code: String,
        /// That tenant's name.
        pub source_name: String,
        /// Its version.
        pub version: i32,
        /// `active` or `withdrawn`.
        pub status: String,
        /// The filing's content (JSON).
        pub data: String,
        /// Applied.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: trace statistics received from below, per source tenant and dimension.
pub mod rollup {
    use sea_orm::entity::prelude::*;

    /// The `federation_rollup` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_rollup")]
    pub struct Model {
        /// Whose figure.
        #[sea_orm(primary_key, auto_increment = false)]
        pub holder_tenant_id: Uuid,
        /// The tenant below where the records were made.
        #[sea_orm(primary_key, auto_increment = false)]
        pub source_code: String,
        /// `YYYY-MM-DD`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        /// Stage.
        #[sea_orm(primary_key, auto_increment = false)]
        pub stage: String,
        /// Product category (empty: none).
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_code: String,
        /// Where it happened.
        #[sea_orm(primary_key, auto_increment = false)]
        pub division_code: String,
        /// The unit the quantity is counted in (see `trace_stats_daily`); empty: not stated.
        #[sea_orm(primary_key, auto_increment = false)]
        pub unit: String,
        /// Records.
        pub records: i64,
        /// Quantity.
        pub quantity: f64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: the roll-up summed per source (one row per tenant below).
pub mod rollup_total {
    use sea_orm::entity::prelude::*;

    /// The `federation_rollup_totals` row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_rollup_totals")]
    pub struct Model {
        /// Whose figure.
        #[sea_orm(primary_key, auto_increment = false)]
        pub holder_tenant_id: Uuid,
        /// The tenant below where the records were made.
        #[sea_orm(primary_key, auto_increment = false)]
        pub source_code: String,
        /// Records.
        pub records: i64,
        /// Quantity, of every stage and unit added up: kept for the recompute's check, never
        /// shown (the roll-up reads quantities per stage and unit from `federation_rollup`).
        pub quantity: f64,
        /// Filings held in the read model (not withdrawn).
        pub filings: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// At the parent: signatures seen inside the replay window.
pub mod replay {
    use sea_orm::entity::prelude::*;

    /// The `federation_replay` row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federation_replay")]
    pub struct Model {
        /// The signature (hex).
        #[sea_orm(primary_key, auto_increment = false)]
        pub signature: String,
        /// First seen.
        pub seen_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
