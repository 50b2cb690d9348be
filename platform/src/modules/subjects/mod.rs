//! §6.2 Traceability subjects (enterprises and individual merchants).
//!
//! Built so far: the unified social credit code check of GB 32100 ([`uscc`]), which enterprise
//! filings use. Filings themselves (registration, review, change control, search, map,
//! statistics) are not built yet; they are the filings issue.

pub mod uscc;
