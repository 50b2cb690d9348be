//! Stored rows of the tenancy crate.

pub mod tenant;
