//! Request and response bodies of the catalogue routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A category as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryResponse {
    /// Id.
    pub id: Uuid,
    /// Parent.
    pub parent_id: Option<Uuid>,
    /// Code.
    #[schema(example = "0101")]
    pub code: String,
    /// Name.
    #[schema(example = "蔬菜")]
    pub name: String,
    /// Depth (1 = one of the seven kinds).
    pub depth: i32,
    /// Owner tenant's division code (`100000` for the national classification).
    pub owner_code: String,
    /// Part of the national classification.
    pub national: bool,
    /// Owned by the caller's tenant (the caller may change it).
    pub own: bool,
    /// The caller's tenant traces it.
    pub selected: bool,
    /// Has sub-categories or is chosen by a tenant: cannot be moved or deleted. (Filings naming
    /// it also forbid that; they are checked when a move or deletion is asked for.)
    pub in_use: bool,
}

/// `POST /api/v1/catalogue`: a category. Tenants other than the national one add
/// sub-categories under a national category (or under their own).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategoryRequest {
    /// Parent; only the national tenant may leave it out (a new kind).
    pub parent_id: Option<Uuid>,
    /// Code: the parent's code and two more digits (`010101` under `0101`); two digits for a kind.
    #[schema(example = "010101")]
    pub code: String,
    /// Name.
    #[schema(example = "叶菜类")]
    pub name: String,
}

/// `PUT /api/v1/catalogue/{id}`: rename, or move under another parent with a new code (only
/// while not in use).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryRequest {
    /// New name.
    pub name: String,
    /// New parent (to move it); the same as now to keep it.
    pub parent_id: Option<Uuid>,
    /// New code when moving; must extend the new parent's code.
    pub code: String,
}

/// `PUT /api/v1/catalogue/selection`: the complete set of categories the caller's tenant traces.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectCategoriesRequest {
    /// Category ids (visible to the tenant).
    pub category_ids: Vec<Uuid>,
}
