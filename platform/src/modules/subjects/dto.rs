//! Request and response bodies of the filing routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::entity::enterprise;

/// Enterprise types (R-SUBJ-1).
pub const ENTERPRISE_TYPES: &[(&str, &str)] = &[
    ("producer", "生产企业"),
    ("processor", "加工企业"),
    ("wholesaler", "批发企业"),
    ("market", "批发市场"),
    ("retailer", "零售企业"),
    ("catering", "餐饮企业"),
    ("logistics", "物流企业"),
    ("laboratory", "检测机构"),
    ("other", "其他"),
];

/// Trace stages of the standard (Annex A).
pub const STAGES: &[(&str, &str)] = &[
    ("primary_production", "初级生产"),
    ("processing", "生产加工"),
    ("transport", "产品运输"),
    ("testing", "产品检测"),
    ("sale", "产品消费或使用"),
];

/// `POST /api/v1/enterprises` and `PUT /api/v1/enterprises/{id}`: an enterprise filing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseRequest {
    /// Name.
    #[schema(example = "寿光市蔬菜产业集团有限公司")]
    pub name: String,
    /// Unified social credit code (GB 32100, check character verified).
    #[schema(example = "91350100M000100Y43")]
    pub uscc: String,
    /// One of `producer`, `processor`, `wholesaler`, `market`, `retailer`, `catering`,
    /// `logistics`, `laboratory`, `other`.
    pub enterprise_type: String,
    /// Catalogue codes of its business categories (visible to the tenant).
    #[schema(example = json!(["0101"]))]
    pub categories: Vec<String>,
    /// Trace stages it operates in: `primary_production`, `processing`, `transport`,
    /// `testing`, `sale`.
    pub stages: Vec<String>,
    /// Production/operation licence number.
    pub licence_no: Option<String>,
    /// Address.
    pub address: String,
    /// Division code of the address (inside the filing tenant's region).
    #[schema(example = "370783")]
    pub division_code: String,
    /// Longitude (both or neither).
    pub longitude: Option<f64>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Contact e-mail.
    pub contact_email: Option<String>,
    /// Submit for review at once (otherwise it stays a draft).
    #[serde(default)]
    pub submit: bool,
}

/// An enterprise filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseResponse {
    /// Id.
    pub id: Uuid,
    /// The filing tenant.
    pub tenant_id: Uuid,
    /// Platform-issued code, unique nationwide (`E` + division code + serial + check).
    #[schema(example = "E3707830000013")]
    pub code: String,
    /// Name.
    pub name: String,
    /// Unified social credit code.
    pub uscc: String,
    /// Type.
    pub enterprise_type: String,
    /// Catalogue codes.
    pub categories: Vec<String>,
    /// Trace stages.
    pub stages: Vec<String>,
    /// Licence number.
    pub licence_no: Option<String>,
    /// Address.
    pub address: String,
    /// Division code.
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
    /// `draft`, `submitted`, `approved`, `rejected` or `changed` (an approved filing edited
    /// since, waiting to be submitted again).
    pub status: String,
    /// The last approved version (0: never approved).
    pub version: i32,
    /// Reason of the last rejection.
    pub reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<enterprise::Model> for EnterpriseResponse {
    fn from(e: enterprise::Model) -> Self {
        Self {
            id: e.id,
            tenant_id: e.tenant_id,
            code: e.code,
            name: e.name,
            uscc: e.uscc,
            enterprise_type: e.enterprise_type,
            categories: serde_json::from_str(&e.categories).unwrap_or_default(),
            stages: e.stages.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            licence_no: e.licence_no,
            address: e.address,
            division_code: e.division_code,
            longitude: e.longitude,
            latitude: e.latitude,
            contact_name: e.contact_name,
            contact_phone: e.contact_phone,
            contact_email: e.contact_email,
            status: e.status,
            version: e.version,
            reason: e.reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Search of filings (R-SUBJ-5): every filter optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseQuery {
    /// Status: `draft`, `submitted`, `approved`, `rejected`, `changed`.
    pub status: Option<String>,
    /// Region: a division code; the filings of it and every region below it.
    #[param(example = "370700")]
    pub region: Option<String>,
    /// Enterprise type.
    pub enterprise_type: Option<String>,
    /// A catalogue code among the business categories.
    pub category: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    /// Start of the enterprise code.
    pub code: Option<String>,
    /// Filed from this time (inclusive).
    pub filed_from: Option<DateTime<Utc>>,
    /// Filed before this time.
    pub filed_to: Option<DateTime<Utc>>,
    /// `code` (default), `name` or `created_at`; `-` in front for descending.
    pub sort: Option<String>,
    /// Page, from 1.
    pub page: Option<u64>,
    /// Rows per page, 1–200 (default 20).
    pub page_size: Option<u64>,
    /// Export only: `csv` (default) or `xlsx`.
    pub format: Option<String>,
}

/// A page of filings.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterprisePage {
    /// The filings.
    pub items: Vec<EnterpriseResponse>,
    /// Page, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Filings matching the filters.
    pub total: u64,
}

/// An approved version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    /// 1, 2, …
    pub version: i32,
    /// When it was approved.
    pub approved_at: DateTime<Utc>,
    /// By whom.
    pub approved_by: String,
    /// The filing as approved.
    pub data: serde_json::Value,
    /// Fields that changed from the previous version (`[]` for the first).
    pub changed_fields: Vec<String>,
}

/// `POST /api/v1/enterprises/{id}/reject`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectFilingRequest {
    /// Why, told to the filer.
    pub reason: String,
}
