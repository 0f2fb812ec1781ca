//! The de-duplication key set: exact, with memory that does not grow at
//! 8 bytes a key (a Bloom filter and a small hash set in memory, sorted runs
//! on disk). See `set.rs` for the design. This file only declares and
//! re-exports.

mod filter;
mod recent;
mod run;
mod set;
mod table;
#[cfg(test)]
mod tests;

pub use set::{KeySet, Limits, RUNS_DIR};
