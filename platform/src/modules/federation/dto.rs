//! Request and response bodies of the federation routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Issue a credential to a child tenant that runs in another deployment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// The child tenant (directly below the caller's) the remote deployment reports as.
    pub tenant_id: Uuid,
}

/// A credential; the secret only in the answer that issued it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialResponse {
    /// Key id (sent as `x-suyuan-federation-key`).
    pub key_id: String,
    /// The child tenant.
    pub tenant_id: Uuid,
    /// Its code.
    pub tenant_code: String,
    /// Its name.
    pub tenant_name: String,
    /// The shared secret: shown once, give it to the child's administrator.
    pub secret: Option<String>,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// By.
    pub created_by: String,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where this deployment's root tenant reports: a parent platform in another deployment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRequest {
    /// The parent platform's address, `https://…`; empty to stop reporting upward. Its host
    /// must be reachable under the operator's `outbound_allow`; otherwise 422 with rule
    /// `not_allowed`.
    pub parent_url: String,
    /// The key id the parent issued.
    pub key_id: String,
    /// The secret the parent issued.
    pub secret: String,
}

/// How a link exchanges: continuously, or once per period (R-SUBJ-4 "定期交换").
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// `continuous` (every change at once) or `periodic`.
    pub mode: String,
    /// The period in seconds for `periodic` (60 to 86 400).
    pub interval_secs: Option<i32>,
}

/// A child → parent link as its operators see it (R-OPS-1).
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStatus {
    /// The sending tenant.
    pub tenant_id: Uuid,
    /// Its code.
    pub tenant_code: String,
    /// Its name.
    pub tenant_name: String,
    /// `local` (parent in this deployment) or `http`.
    pub transport: String,
    /// The parent's name, or the parent platform's address.
    pub parent: String,
    /// `continuous` or `periodic`.
    pub mode: String,
    /// The period of a periodic link.
    pub interval_secs: i32,
    /// The last sequence number written.
    pub last_seq: i64,
    /// The last sequence number the parent acknowledged.
    pub delivered_seq: i64,
    /// Rows waiting.
    pub backlog: i64,
    /// Age of the oldest waiting row, seconds (0 without backlog).
    pub lag_secs: i64,
    /// Failures in a row.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The last acknowledged delivery.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The next try.
    pub next_attempt_at: DateTime<Utc>,
}

/// What a parent has received from one origin.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxStatus {
    /// The receiving tenant.
    pub receiver_tenant_id: Uuid,
    /// The origin's code.
    pub origin_code: String,
    /// Its name.
    pub origin_name: String,
    /// The last sequence number applied.
    pub cursor: i64,
    /// When the origin wrote that row.
    pub last_row_at: Option<DateTime<Utc>>,
    /// When it was applied here.
    pub updated_at: DateTime<Utc>,
    /// Rows parked.
    pub parked: i64,
}

/// The federation overview of the caller's subtree.
#[derive(Debug, Serialize, ToSchema)]
pub struct FederationStatus {
    /// Links sending upward.
    pub links: Vec<LinkStatus>,
    /// What the tenants of the subtree receive from below.
    pub inbox: Vec<InboxStatus>,
    /// The lag past which administrators are alerted, seconds.
    pub lag_alert_secs: u64,
}

/// A row a parent could not apply.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedRow {
    /// Id.
    pub id: Uuid,
    /// The receiving tenant.
    pub receiver_tenant_id: Uuid,
    /// The origin.
    pub origin_tenant_id: Uuid,
    /// Sequence number.
    pub seq: i64,
    /// Kind.
    pub kind: String,
    /// Where it happened first.
    pub source_code: String,
    /// Why it was not applied.
    pub reason: String,
    /// When.
    pub parked_at: DateTime<Utc>,
}

/// One region's rolled-up figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionFigures {
    /// Division code of the region (a child of the tenant, or the tenant itself for its own).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Filings received (latest versions, not withdrawn).
    pub filings: i64,
    /// Trace records.
    pub records: i64,
    /// Quantities traced, one figure per stage and unit: quantities of different stages (the
    /// same goods harvested, shipped and received) or units are never added up.
    pub quantities: Vec<QuantityFigure>,
}

/// The quantity of one stage in one unit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuantityFigure {
    /// Stage code.
    #[schema(example = "primary_production")]
    pub stage: String,
    /// Its label.
    #[schema(example = "初级生产")]
    pub stage_label: String,
    /// Unit code: a convertible unit's base (t and g are counted as `kg`, mL as `L`), any other
    /// unit itself (`箱`); empty for records kept from before units were checked (not stated).
    #[schema(example = "kg")]
    pub unit: String,
    /// Its name (千克; 未注明单位 when empty).
    #[schema(example = "千克")]
    pub unit_name: String,
    /// Records counted.
    pub records: i64,
    /// Their quantities, summed in `unit`.
    pub quantity: f64,
}

impl QuantityFigure {
    /// The figure as a page shows it: `初级生产 2000 千克`.
    #[must_use]
    pub fn text(&self) -> String {
        let q = format!("{:.3}", self.quantity);
        let q = q.trim_end_matches('0').trim_end_matches('.');
        format!("{} {q} {}", self.stage_label, self.unit_name)
    }
}

/// A region's figures from the caller's roll-up, per sub-region one level down.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollupResponse {
    /// The region (the caller's own, or one inside it).
    pub region: String,
    /// Its sums.
    pub total: RegionFigures,
    /// Per sub-region (and the region's own line, "本级"), most records first.
    pub regions: Vec<RegionFigures>,
    /// The same as charts for the console (records and filings by region).
    pub charts: Vec<crate::modules::dashboard::dto::Chart>,
}

/// The incremental roll-up against a recompute from the raw rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecomputeReport {
    /// The tenant.
    pub tenant_code: String,
    /// Roll-up rows compared.
    pub rows: usize,
    /// Changes below still on their way up (the figures may differ until they arrive).
    pub waiting: i64,
    /// Rows that differ (source, day, stage, category, region, incremental, recomputed).
    pub differences: Vec<String>,
    /// Whether the differences were repaired.
    pub repaired: bool,
}

crate::page_type!(
    /// A page of parked rows.
    ParkedPage,
    ParkedRow
);
crate::page_type!(
    /// A page of federation credentials.
    CredentialPage,
    CredentialResponse
);
