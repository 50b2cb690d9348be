//! Federation: rolling filings, statistics and changes up the tenant tree and to a parent in
//! another deployment (R-SHAPE-3, R-IF-1, R-REL-2).
//!
//! This crate holds what does not touch the database, so it can be read and tested alone:
//!
//! - [`wire`]: what a child sends its parent (a batch of outbox rows of one origin, in
//!   sequence order) and what the parent answers (its cursor);
//! - [`cursor`]: the parent's rule for applying rows exactly once and in order, and for
//!   noticing a gap;
//! - [`sign`]: the HMAC signature over timestamp and body that authenticates one deployment
//!   to another, with the replay window;
//! - [`backoff`]: exponential back-off with full jitter for deliveries that fail.
//!
//! The outbox, the delivery worker, the inbox and the roll-up tables live in the platform
//! (`platform/src/modules/federation`), which uses these pieces.

pub mod backoff;
pub mod cursor;
pub mod sign;
pub mod wire;
