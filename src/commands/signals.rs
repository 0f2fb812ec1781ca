//! One SIGINT / SIGTERM listener for a whole `orgsync run` invocation,
//! installed before the first job starts and kept until the last ends, so
//! a signal is never missed between jobs: one that arrives while a job is
//! finishing or publishing (when nothing awaits it) is still seen before
//! the next job starts. [`Signals::received`] answers at once and exactly
//! (an atomic set inside the signal handler itself);
//! [`Signals::wait`] wakes a task that races a running job. It does not
//! decide what a signal means for a job: `run.rs` does.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::exit::Exit;

/// The first of SIGINT / SIGTERM this process received (0: none yet).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The run's signal listener.
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Starts listening for SIGINT and SIGTERM (from now on they no longer
    /// end the process by themselves).
    pub(crate) fn install() -> io::Result<Signals> {
        let interrupt = signal(SignalKind::interrupt())?;
        let terminate = signal(SignalKind::terminate())?;
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let record = move || {
                let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
            };
            // SAFETY: the action only does an atomic compare-exchange, which
            // is async-signal-safe; it allocates, locks and blocks nothing.
            unsafe { signal_hook_registry::register(sig, record) }?;
        }
        Ok(Signals { interrupt, terminate })
    }

    /// The signal received so far, if any (exact: set by the handler).
    pub(crate) fn received(&self) -> Option<Exit> {
        exit_for(RECEIVED.load(Ordering::SeqCst))
    }

    /// Resolves when SIGINT or SIGTERM has arrived (at once if one already
    /// has), with the exit code it means. Cancel-safe.
    pub(crate) async fn wait(&mut self) -> Exit {
        if let Some(exit) = self.received() {
            return exit;
        }
        let woken = tokio::select! {
            _ = self.interrupt.recv() => Exit::Interrupted,
            _ = self.terminate.recv() => Exit::Terminated,
        };
        // The handler saw the first signal; prefer its record.
        self.received().unwrap_or(woken)
    }
}

fn exit_for(signal: i32) -> Option<Exit> {
    match signal {
        libc::SIGINT => Some(Exit::Interrupted),
        libc::SIGTERM => Some(Exit::Terminated),
        _ => None,
    }
}

/// `SIGINT` / `SIGTERM`, for messages.
pub(crate) fn signal_name(exit: Exit) -> &'static str {
    match exit {
        Exit::Terminated => "SIGTERM",
        _ => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_numbers_table() {
        let cases = [
            (0, None),
            (libc::SIGINT, Some(Exit::Interrupted)),
            (libc::SIGTERM, Some(Exit::Terminated)),
            (libc::SIGHUP, None),
        ];
        for (sig, want) in cases {
            assert_eq!(exit_for(sig), want, "{sig}");
        }
        assert_eq!(signal_name(Exit::Terminated), "SIGTERM");
        assert_eq!(signal_name(Exit::Interrupted), "SIGINT");
    }
}
