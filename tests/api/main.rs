//! End-to-end HTTP tests: one binary, one module per feature.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod auth;
mod errors;
mod health;
mod openapi;
