//! Job files: parsing (phase one), validation into a resolved [`Job`] (phase two).

mod model;

pub use model::*;
