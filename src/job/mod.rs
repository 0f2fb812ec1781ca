//! Job files: parsing (phase one), validation into a resolved [`Job`] (phase two).

mod api;
mod check;
mod error;
mod export;
mod file;
mod interpolate;
mod keys;
mod load;
mod model;
mod output;
mod paths;
mod read;
mod validate;

pub use error::{LoadError, Problem};
pub(crate) use keys::nearest;
pub use load::{LoadOptions, load, load_with_env};
pub use model::*;
pub use paths::expand_paths;

#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod problem_tests;
