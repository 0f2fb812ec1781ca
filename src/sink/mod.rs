//! Sinks: part-file encoders (CSV, JSON Lines), the snapshot folder, the
//! manifest and the atomic publish.

mod manifest;

pub use manifest::*;
