//! Authorization policies (casbin model, built-in role tree, enforcer and route guard).
//!
//! **Not built yet.** The casbin model and the guard are the subject of the tenants/identity
//! issue; this crate exists so the workspace has its final shape.
