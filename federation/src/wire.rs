//! The federation wire format (JSON over HTTP, or passed in memory by the local transport).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The kinds of change that travel up.
pub const KINDS: &[&str] = &["filing.created", "filing.changed", "filing.withdrawn", "statistics.delta"];

/// The tenant a batch comes from: the child as its own deployment knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The child tenant's id in its own deployment.
    pub tenant_id: Uuid,
    /// Its six-digit division code.
    pub code: String,
    /// Its name, e.g. 山东省.
    pub name: String,
}

/// Where a change happened first: the tenant whose filing or records it is (a grandchild's
/// change is relayed by the child, and still names the grandchild).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Division code of the tenant where it happened.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// One outbox row of the origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Sequence number per origin, from 1, without gaps.
    pub seq: i64,
    /// One of [`KINDS`].
    pub kind: String,
    /// Where it happened first.
    pub source: Source,
    /// The change (a filing version, or statistics deltas: records and quantity per day, stage,
    /// category, region and unit — a quantity is only ever added to one of the same stage and
    /// unit; a delta without `unit`, from a sender that predates units, counts as not stated).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// When the sender committed this row (a relayed row: when the relay did).
    pub created_at: DateTime<Utc>,
    /// When the change was committed where it happened (for a relayed row, further down):
    /// the roll-up's freshness is measured from here.
    pub committed_at: DateTime<Utc>,
}

/// A batch of one origin's rows, in sequence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Push {
    /// The child that sends.
    pub origin: Origin,
    /// Rows, ascending by `seq` (the parent stops at the first gap).
    pub rows: Vec<Row>,
}

/// What the parent answers: how far it has applied this origin's rows. The child continues
/// after `cursor`, whatever it sent: a gap or a lost answer is mended by sending again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ack {
    /// The last sequence number applied (or parked) at the parent.
    pub cursor: i64,
    /// Rows applied by this request.
    pub applied: usize,
    /// Rows received before, ignored.
    pub duplicates: usize,
    /// Rows the parent could not apply, kept with the reason for its operators.
    pub parked: usize,
    /// Rows after a gap, not applied: the child sends again from `cursor + 1`.
    pub after_gap: usize,
}
