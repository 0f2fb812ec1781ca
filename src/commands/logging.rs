//! Logging on stderr with tracing: text or JSON lines; `-q` errors only,
//! default info, `-v` debug, `-vv` trace. `RUST_LOG` overrides. Colour
//! (ANSI escapes) only when stderr is a terminal and `NO_COLOR` is unset or
//! empty, so `orgsync run > log 2>&1` writes a plain log file. It does not
//! decide what is logged.

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormat};

pub fn init_logging(args: &LogArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "orgsync=info,warn",
        (false, 1) => "orgsync=debug,info",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let colour = use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_ansi(colour)
        .with_target(false);
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Colour on a terminal only, and never when `NO_COLOR` is set to a
/// non-empty value (no-color.org).
fn use_colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_table() {
        let cases: &[(bool, Option<&str>, bool)] = &[
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (true, Some("false"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, want) in cases {
            assert_eq!(
                use_colour(*terminal, no_color.map(OsStr::new)),
                *want,
                "terminal {terminal}, NO_COLOR {no_color:?}"
            );
        }
    }
}
