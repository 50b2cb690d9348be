//! Suyuan (溯源): the important-product traceability management platform.
//!
//! The library behind the `suyuan` binary. [`app::Application`] builds the server the same
//! way for the binary and for tests.

pub mod app;
pub mod audit;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod jobs;
pub mod kv;
pub mod limits;
pub mod mail;
pub mod methods;
pub mod metrics;
pub mod modules;
pub mod openapi;
pub mod ops;
pub mod outbound;
pub mod paging;
pub mod pg_txn;
pub mod request_id;
pub mod secret;
pub mod state;
pub mod telemetry;
pub mod validate;
pub mod web;

pub use app::Application;
pub use config::Settings;
