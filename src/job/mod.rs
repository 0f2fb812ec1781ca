//! Job files: parsing (phase one), validation into a resolved [`Job`] (phase two).

mod api;
mod body;
mod check;
mod deep;
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

pub use body::{BodyFor, body};
pub use error::{LoadError, Problem};
pub use load::{LoadOptions, load, load_with_env};
pub use model::*;
pub use paths::expand_paths;

#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod problem_tests;
