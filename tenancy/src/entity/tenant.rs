//! A tenant: one agency's platform in the tree.

use sea_orm::entity::prelude::*;

/// The `tenants` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Six-digit division code, unique.
    pub code: String,
    /// The agency's or region's name, e.g. 山东省.
    pub name: String,
    /// `national`, `provincial`, `municipal` or `county`.
    pub level: String,
    /// The parent tenant; `None` only for the root.
    pub parent_id: Option<Uuid>,
    /// Codes from the root down, `100000/370000/370100/`: a subtree is a prefix match.
    pub path: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Contact person at the agency.
    pub contact_name: Option<String>,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// Contact e-mail.
    pub contact_email: Option<String>,
    /// Optional modules switched on, comma-separated (see [`crate::OPTIONAL_MODULES`]).
    pub modules: String,
    /// The parent platform's URL when the parent runs in another deployment; `None` when the
    /// parent is the tenant above in this deployment.
    pub federation_parent_url: Option<String>,
    /// Longitude of the agency's seat (shown as a point on the region maps).
    pub longitude: Option<f64>,
    /// Latitude of the agency's seat.
    pub latitude: Option<f64>,
}

impl Model {
    /// The optional modules switched on.
    #[must_use]
    pub fn optional_modules(&self) -> Vec<String> {
        self.modules.split(',').filter(|s| !s.is_empty()).map(ToOwned::to_owned).collect()
    }
}

/// No relations are navigated through the ORM yet.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
