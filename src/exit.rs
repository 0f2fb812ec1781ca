//! Exit codes of SPEC section 2, and the trait every top-level error uses to
//! pick one. The binary's edge (`main.rs`) is the only place that exits.

use std::process::ExitCode;

/// The process exit codes orgsync promises (SPEC section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every job succeeded.
    Ok = 0,
    /// A run failed: retries exhausted, I/O, bad data.
    Failed = 1,
    /// Invalid invocation, job or schema file; an existing target.
    Invalid = 2,
    /// Credentials rejected by the token endpoint.
    Credentials = 3,
    /// The API rejected the request (a 4xx other than 401/408/429).
    Rejected = 4,
    /// Another run of the same job, or writing the same target, is going.
    Busy = 5,
    /// Interrupted by SIGINT.
    Interrupted = 130,
    /// Terminated by SIGTERM.
    Terminated = 143,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Errors that know which exit code they mean.
pub trait ExitStatus {
    fn exit(&self) -> Exit;
}
