//! Response bodies of the dashboard routes. [`Chart`] and [`RegionMap`] are the shapes every
//! chart and map of the web console reads, whatever module feeds them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One key figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct Figure {
    /// Stable key.
    #[schema(example = "descendant_tenants")]
    pub key: String,
    /// Label in Chinese.
    #[schema(example = "下级单位")]
    pub label: String,
    /// The number; `null` when the module that counts it has not landed yet.
    pub value: Option<i64>,
    /// Unit in Chinese.
    #[schema(example = "个")]
    pub unit: String,
    /// A short explanation.
    pub note: String,
}

/// One series of a chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    /// Name shown in the legend.
    pub name: String,
    /// One value per category.
    pub data: Vec<f64>,
}

/// A chart, ready for the console's chart component (which also shows it as a table and
/// offers it as CSV).
#[derive(Debug, Serialize, ToSchema)]
pub struct Chart {
    /// Stable key.
    pub key: String,
    /// `line`, `bar`, `pie` or `ranking` (a horizontal bar chart, largest first).
    #[schema(example = "line")]
    pub kind: String,
    /// Title in Chinese.
    pub title: String,
    /// Unit in Chinese.
    pub unit: String,
    /// Categories (x axis, slices or ranked names).
    pub categories: Vec<String>,
    /// Series.
    pub series: Vec<Series>,
}

/// An item of the caller's own recent activity.
#[derive(Debug, Serialize, ToSchema)]
pub struct Activity {
    /// When.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// Action code, e.g. `user.create`.
    pub action: String,
    /// The action in Chinese.
    pub label: String,
    /// `success` or `failure`.
    pub result: String,
}

/// The dashboard of the caller's tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardResponse {
    /// Tenant code.
    pub tenant_code: String,
    /// Tenant name.
    pub tenant_name: String,
    /// Key figures the caller may see.
    pub figures: Vec<Figure>,
    /// Charts the caller may see.
    pub charts: Vec<Chart>,
    /// The caller's own last actions.
    pub recent: Vec<Activity>,
}

/// Query of the region map.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegionMapQuery {
    /// Division code of the region to draw (default: the caller's tenant). Must lie in the
    /// caller's own region.
    #[param(example = "370000")]
    pub region: Option<String>,
}

/// One sub-region's value.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionValue {
    /// Division code of the sub-region.
    #[schema(example = "370100")]
    pub code: String,
    /// Name from the GB/T 2260 table (a code the table no longer holds: its tenant's name).
    pub name: Option<String>,
    /// The value.
    pub value: f64,
}

/// A point on the map.
#[derive(Debug, Serialize, ToSchema)]
pub struct MapPoint {
    /// Name.
    pub name: String,
    /// Kind (colour group).
    pub kind: String,
    /// Longitude (WGS 84 / GCJ-02 as filed).
    pub longitude: f64,
    /// Latitude.
    pub latitude: f64,
    /// Value (size).
    pub value: f64,
}

/// Data of one region's map: a value per sub-region (choropleth) and points.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionMap {
    /// The region drawn.
    #[schema(example = "370000")]
    pub region: String,
    /// What the values count, in Chinese.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// The region one level up, when the caller may see it (for "back").
    pub parent: Option<String>,
    /// Values by sub-region; sub-regions without a value are 0.
    pub regions: Vec<RegionValue>,
    /// Points.
    pub points: Vec<MapPoint>,
}
