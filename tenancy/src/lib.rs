//! The tenant tree of a Suyuan deployment.
//!
//! Tenants are government agencies keyed by their GB/T 2260 administrative division code:
//! the national platform (`100000`), provinces (`370000`), cities (`370100`) and counties
//! (`370102`). [`DivisionCode`] parses and checks codes and decides which code may sit under
//! which; [`entity::tenant`] is the stored row.

pub mod division;
pub mod entity;

pub use division::{DivisionCode, DivisionError, TenantLevel};
