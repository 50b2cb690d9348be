//! Users, passwords and (with the identity issue) sessions, SSO and API keys.

pub mod entity;
pub mod password;
