//! Business modules, one folder per chapter of the standard.

pub mod admin;
pub mod identity;
