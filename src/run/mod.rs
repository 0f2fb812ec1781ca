//! One job through the pipeline (`job.rs`), with what it needs: its
//! identity (run id, start, target), the request it sends, a connected
//! client, the keyset windows past an offset limit, and what it reports. Owns the manifest; what the state and
//! checkpoint files hold is `state`'s; the command line is `commands`'.

mod identity;
mod job;
mod outcome;
mod page;
mod quality;
mod read;
mod request;
mod session;
mod windows;

pub use identity::{new_run_id, resolve_target};
pub use job::run_job;
pub use outcome::{JobOutcome, ProgressMode, RunError, RunOptions, Summary};
pub use page::{PageRows, page_rows, write_decoded, write_page};
pub use read::{PageRead, RunReader, read_body, rows_of};
pub use request::{Effective, effective_filter, request_body};
pub use session::Session;
pub use windows::{Windows, is_offset_refusal, window_capacity, window_filter};
