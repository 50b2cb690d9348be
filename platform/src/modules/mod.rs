//! Business modules, one folder per chapter of the standard.

pub mod admin;
pub mod dashboard;
pub mod federation;
pub mod identity;
pub mod products;
pub mod subjects;
pub mod trace;
