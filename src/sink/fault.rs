//! Failure injection for tests of late failures, through the real binary:
//! `ORGSYNC_FAULT=<stage>:<action>` makes the run fail (`fail`: an I/O error
//! naming the stage) or raise a signal at itself (`sigterm`, `sigint`) when
//! it reaches `<stage>`. Stages: `last-part` (before the last part is
//! closed), `manifest` (before `_manifest.json` is written), `publish`
//! (after `_SUCCESS`, before the rename), `published` (right after the
//! rename). Unset (always, outside tests) it does nothing. It never
//! touches files itself.

use std::io;

/// The environment variable that names a fault.
pub const FAULT_VAR: &str = "ORGSYNC_FAULT";

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fail,
    Signal(i32),
}

/// Parses `<stage>:<action>`; `None` for anything else.
fn parse(spec: &str) -> Option<(&str, Action)> {
    let (stage, action) = spec.split_once(':')?;
    let action = match action {
        "fail" => Action::Fail,
        "sigterm" => Action::Signal(libc::SIGTERM),
        "sigint" => Action::Signal(libc::SIGINT),
        _ => return None,
    };
    Some((stage, action))
}

/// The run reached `stage`: an injected error, a signal raised, or (the
/// normal case) nothing.
pub fn at(stage: &str) -> io::Result<()> {
    let Some(spec) = std::env::var_os(FAULT_VAR) else {
        return Ok(());
    };
    let spec = spec.to_string_lossy();
    match parse(&spec) {
        Some((s, Action::Fail)) if s == stage => {
            Err(io::Error::other(format!("failure injected by {FAULT_VAR}={spec}")))
        }
        Some((s, Action::Signal(signal))) if s == stage => {
            tracing::warn!(stage, "raising a signal injected by {FAULT_VAR}");
            // SAFETY: raise(3) with a valid signal number; the run's handler
            // (or the default action) takes it from there.
            unsafe {
                libc::raise(signal);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        let cases = [
            ("manifest:fail", Some(("manifest", Action::Fail))),
            ("published:sigterm", Some(("published", Action::Signal(libc::SIGTERM)))),
            ("publish:sigint", Some(("publish", Action::Signal(libc::SIGINT)))),
            ("publish", None),
            ("publish:explode", None),
            ("", None),
        ];
        for (spec, want) in cases {
            assert_eq!(parse(spec), want, "{spec}");
        }
    }
}
