//! The tenant tree of a Suyuan deployment.
//!
//! Tenants are government agencies keyed by their GB/T 2260 administrative division code:
//! the national platform (`100000`), provinces (`370000`), cities (`370100`) and counties
//! (`370102`). [`DivisionCode`] parses and checks codes and decides which code may sit under
//! which; [`entity::tenant`] is the stored row.

pub mod division;
pub mod entity;
pub mod scope;

pub use division::{DivisionCode, DivisionError, TenantLevel};
pub use scope::{Reach, TenantScope};

/// Modules every tenant has (§6.1 应): subjects, products, data quality, emergency, analysis.
pub const REQUIRED_MODULES: &[(&str, &str)] = &[
    ("subjects", "追溯主体管理"),
    ("products", "重要产品管理"),
    ("quality", "数据质量管理"),
    ("emergency", "追溯应急管理"),
    ("analysis", "追溯数据分析"),
];

/// Modules a tenant may switch on (§6.1 可): system building, run monitoring, public services.
pub const OPTIONAL_MODULES: &[(&str, &str)] =
    &[("system", "体系建设管理"), ("monitoring", "运行监测管理"), ("public", "公共服务管理")];
