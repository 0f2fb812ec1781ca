//! Response bytes -> Arrow columns in one pass: [`PageDecoder`], compiled
//! once per snapshot from its columns (and the dedup key), turns a page (a
//! bare array, an envelope, or JSON Lines) into a [`DecodedBatch`]. The
//! `serde_json::Value` path stays as the reference and the fallback. This
//! file only declares and re-exports.

mod batch;
mod error;
mod scan;
mod seed;
mod stage;
mod trie;

pub use batch::{DecodePath, DecodedBatch, PageDecoder, decode_values, line_values};
pub use error::DecodeError;

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod encode_tests;
#[cfg(test)]
mod table_tests;
