//! Federation: rolling filings, statistics and changes up the tenant tree and to a parent in
//! another deployment.
//!
//! **Not built yet.** The transactional outbox, delivery worker, inbox and transports are the
//! subject of the federation issue; this crate exists so the workspace has its final shape.
