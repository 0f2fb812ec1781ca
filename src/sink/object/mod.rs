//! Snapshots in an S3-compatible bucket: the target URL, the connection,
//! streamed part uploads and the publish protocol for stores without
//! rename. This file only declares and re-exports.

mod store;
mod upload;
mod url;
mod writer;

pub use store::{Bucket, block, check_endpoint, connect, scrub};
pub use upload::{ObjectPart, PART_BYTES};
pub use url::{ObjectUrl, SUPPORTED_SCHEMES, check_template, scheme};
pub use writer::{Existing, ObjectSnapshotWriter, SuccessMarker, check_object_target, manifest_name};
