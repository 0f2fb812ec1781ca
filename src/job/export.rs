//! `[query] mode` and the `[export]` table (phase two): the mode name, and
//! the async export's poll interval and longest wait, range-checked with
//! the file's line like every other number. It does not talk to the API
//! (`fetch::export`) nor run anything (`run::job`'s export child).

use std::time::Duration;

use super::check::Check;
use super::file::{self, RawExport, RawQuery};
use super::model::{Export, QueryMode};

/// Longest `poll_secs`: an hour between two polls.
const MAX_POLL_SECS: i64 = 3600;
/// Longest `max_wait_secs`: a week.
const MAX_WAIT_SECS: i64 = 7 * 86_400;

/// `[query] mode`; `pages` when absent (or invalid: the problem is reported).
pub(crate) fn mode(raw: &RawQuery, c: &mut Check<'_>) -> QueryMode {
    let Some(m) = &raw.mode else {
        return QueryMode::Pages;
    };
    c.choice(
        m,
        "mode in [query]",
        &[("pages", QueryMode::Pages), ("export", QueryMode::Export)],
    )
    .unwrap_or_default()
}

/// `[export]`, defaults filled in.
pub(crate) fn export(raw: &RawExport, c: &mut Check<'_>) -> Export {
    let poll = c.int(
        &raw.poll_secs,
        file::default_poll_secs(),
        "poll_secs in [export]",
        1,
        MAX_POLL_SECS,
        "",
    );
    let max_wait = c.int(
        &raw.max_wait_secs,
        file::default_max_wait_secs(),
        "max_wait_secs in [export]",
        1,
        MAX_WAIT_SECS,
        " (how long to wait for the export to complete)",
    );
    Export {
        poll: Duration::from_secs(poll.unsigned_abs()),
        max_wait: Duration::from_secs(max_wait.unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use crate::job::{LoadOptions, QueryMode, load_with_env};

    const BASE: &str = r#"
[api]
base_url = "http://127.0.0.1:9"
[auth]
client_id = "id"
client_secret = "secret"
[query]
database = "FI"
fields = ["business_id"]
"#;

    fn load(extra_query: &str, tail: &str) -> Result<crate::job::Job, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.toml");
        std::fs::write(&path, format!("{BASE}{extra_query}\n{tail}")).unwrap();
        load_with_env(&path, &LoadOptions::default(), &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn mode_and_export_table() {
        // (query line, tail, Ok((mode, poll, max_wait)) or Err(message part))
        type Want = Result<(QueryMode, u64, u64), &'static str>;
        let cases: &[(&str, &str, Want)] = &[
            ("", "", Ok((QueryMode::Pages, 3, 14_400))),
            ("mode = \"pages\"", "", Ok((QueryMode::Pages, 3, 14_400))),
            ("mode = \"export\"", "", Ok((QueryMode::Export, 3, 14_400))),
            (
                "mode = \"export\"",
                "[export]\npoll_secs = 1\nmax_wait_secs = 60",
                Ok((QueryMode::Export, 1, 60)),
            ),
            ("mode = \"exprt\"", "", Err("did you mean \"export\"")),
            (
                "mode = \"export\"",
                "[export]\npoll_secs = 0",
                Err("poll_secs in [export] must be between 1 and 3600, not 0"),
            ),
            (
                "",
                "[export]\nmax_wait_secs = -5",
                Err("max_wait_secs in [export] must be between 1 and 604800"),
            ),
            (
                "",
                "[export]\nmax_wait_secs = 99999999999999",
                Err("max_wait_secs in [export]"),
            ),
            ("", "[export]\npol_secs = 2", Err("did you mean \"poll_secs\"")),
        ];
        for (query, tail, want) in cases {
            let got = load(query, tail);
            match (want, got) {
                (Ok((mode, poll, wait)), Ok(job)) => {
                    assert_eq!(job.query.mode, *mode, "{query} {tail}");
                    assert_eq!(job.export.poll.as_secs(), *poll, "{query} {tail}");
                    assert_eq!(job.export.max_wait.as_secs(), *wait, "{query} {tail}");
                }
                (Err(part), Err(message)) => assert!(message.contains(part), "{query} {tail}: {message}"),
                (want, got) => panic!("{query} {tail}: want {want:?}, got {:?}", got.map(|j| j.query.mode)),
            }
        }
    }

    #[test]
    fn problems_carry_the_line() {
        // BASE is 9 lines, the query line the 10th, `[export]` the 11th.
        let message = load("mode = \"export\"", "[export]\npoll_secs = 0").unwrap_err();
        assert!(message.contains("j.toml:12: poll_secs in [export]"), "{message}");
    }
}
