//! orgsync: export Vainu organization data into warehouse-ready snapshots.
//!
//! The modules follow the pipeline: [`job`] (load and validate job files) ->
//! [`auth`] (tokens) -> [`fetch`] (HTTP client, pager) -> [`sink`] (part
//! files, manifest, atomic publish). [`run`] wires one job through them;
//! [`sandbox`] is the simulated API the tests and `make run` use.

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod decode;
mod diagnostics;
pub mod exit;
pub mod fetch;
pub mod http;
pub mod job;
mod json;
pub mod progress;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod secret;
pub mod sink;
pub mod state;

#[cfg(test)]
mod parser_proptests;
