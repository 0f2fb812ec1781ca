//! Tests of the problems `load_with_env` reports: each kind with its line
//! and message, several at once, the https rule, auth keys per method, and
//! values from variables never shown. Helpers are in `load_tests.rs`.

use serde_json::json;

use super::load_tests::{CREDS, Fixture, default_env, env_of, minimal, problems};

/// Each case: extra TOML after `minimal` (which is 6 lines), the expected
/// line and a fragment of the one problem.
#[test]
fn each_problem_kind_has_its_line_and_message() {
    let fx = Fixture::new();
    let cases: &[(&str, Option<usize>, &str)] = &[
        ("[query]x", Some(7), "invalid TOML"),
        (
            "page_size = \"100\"\n",
            Some(7),
            "page_size in [query] must be an integer, not a string",
        ),
        (
            "page_size = 500\n",
            Some(7),
            "page_size in [query] must be between 1 and 100, not 500",
        ),
        ("page_size = 0\n", Some(7), "must be between 1 and 100, not 0"),
        (
            "page_sise = 5\n",
            Some(7),
            "unknown key \"page_sise\" in [query] (did you mean \"page_size\"?)",
        ),
        (
            "key = \"nme\"\n",
            Some(7),
            "key = \"nme\" in [query] must be one of fields",
        ),
        (
            "extra = { limit = 5 }\n",
            Some(7),
            "extra.limit in [query] is a body key orgsync sets itself",
        ),
        (
            "filter = { \"?ALL\" = [] }\nfilter_file = \"x.json\"\n",
            Some(8),
            "either filter or filter_file",
        ),
        ("filter = \"?ALL\"\n", Some(7), "filter in [query] must be a table"),
        (
            "list = \"x\"\nfilter = { \"?ALL\" = [] }\n",
            Some(8),
            "set either list or filter/filter_file in [query], not both",
        ),
        ("list = \" \"\n", Some(7), "list in [query] must not be empty"),
        ("extra = { list = 5 }\n", Some(7), "extra.list in [query] is a body key"),
        (
            "list = \"x\"\n[incremental]\nfield = \"modifications.basic\"\nstart = \"2024-01-01\"\n",
            Some(8),
            "[incremental] cannot be used with list = \"x\" in [query]",
        ),
        (
            "max_offset = 1000\n",
            Some(7),
            "max_offset in [query] needs order and key set to the same unique field",
        ),
        (
            "order = \"business_id\"\nkey = \"business_id\"\nmax_offset = -5\n",
            Some(9),
            "max_offset in [query] must be at least 0, not -5",
        ),
        (
            "[retries]\nmax_attempts = 2\n",
            Some(7),
            "unknown section [retries] (did you mean [retry]?)",
        ),
        (
            "[output]\nformat = \"parqet\"\n",
            Some(8),
            "format in [output] = \"parqet\" is not valid: use one of parquet, csv, jsonl (did you mean \"parquet\"?)",
        ),
        (
            "[output]\nformat = \"csv\"\ncompression = \"snappy\"\n",
            Some(9),
            "compression in [output] (format csv) = \"snappy\" is not valid: use one of none, gzip, zstd",
        ),
        ("[output]\npath = \"x/{jobb}\"\n", Some(8), "unknown placeholder {jobb}"),
        ("[output]\npath = \"\"\n", Some(8), "path in [output] must not be empty"),
        (
            "[output]\nrows_per_file = 0\n",
            Some(8),
            "rows_per_file in [output] must be between 1 and 1000000000, not 0",
        ),
        ("[output]\nschema = \"nope.toml\"\n", Some(8), "schema file"),
        (
            "[rate_limit]\nrequests_per_second = 0\n",
            Some(8),
            "requests_per_second in [rate_limit] must be a number above 0 and at most 10000, not 0",
        ),
        (
            "[rate_limit]\nrequests_per_second = 10000.5\n",
            Some(8),
            "must be a number above 0 and at most 10000, not 10000.5",
        ),
        (
            "[rate_limit]\nrequests_per_second = 1e300\n",
            Some(8),
            "must be a number above 0 and at most 10000",
        ),
        (
            "[rate_limit]\nburst = 1001\n",
            Some(8),
            "burst in [rate_limit] must be between 1 and 1000, not 1001",
        ),
        (
            "[retry]\nmax_attempts = 101\n",
            Some(8),
            "max_attempts in [retry] must be between 1 and 100, not 101",
        ),
        (
            "[retry]\ninitial_delay_ms = 60001\n",
            Some(8),
            "initial_delay_ms in [retry] must be between 0 and 60000, not 60001",
        ),
        (
            "[retry]\nmax_delay_secs = 9223372036854775807\n",
            Some(8),
            "max_delay_secs in [retry] must be between 0 and 3600",
        ),
        (
            "[retry]\nmax_elapsed_secs = 86401\n",
            Some(8),
            "max_elapsed_secs in [retry] must be between 0 and 86400, not 86401",
        ),
        (
            "[api]\ntimeout_secs = 3601\n",
            Some(8),
            "timeout_secs in [api] must be between 1 and 3600, not 3601",
        ),
        (
            "[incremental]\nfield = \"modifications.basic\"\nstart = \"2024-01-01\"\nlag_secs = 31536001\n",
            Some(10),
            "lag_secs in [incremental] must be between 0 and 31536000, not 31536001",
        ),
        (
            "[output]\nrows_per_file = 1000000001\n",
            Some(8),
            "rows_per_file in [output] must be between 1 and 1000000000",
        ),
        (
            "[output]\non_count_mismatch = \"fial\"\n",
            Some(8),
            "on_count_mismatch in [output] = \"fial\" is not valid: use one of warn, fail (did you mean \"fail\"?)",
        ),
        (
            "[rate_limit]\nrequests_per_second = nan\n",
            Some(8),
            "must be a number above 0 and at most 10000, not NaN",
        ),
        (
            "[rate_limit]\nburst = 0\n",
            Some(8),
            "burst in [rate_limit] must be between 1 and 1000, not 0",
        ),
        (
            "[rate_limit]\nconcurrency = 65\n",
            Some(8),
            "concurrency in [rate_limit] must be between 1 and 64",
        ),
        (
            "[retry]\nmax_attempts = 0\n",
            Some(8),
            "max_attempts in [retry] must be between 1 and 100, not 0",
        ),
        (
            "[retry]\ninitial_delay_ms = -1\n",
            Some(8),
            "initial_delay_ms in [retry] must be between 0 and 60000, not -1",
        ),
        (
            "[api]\ntimeout_secs = 0\n",
            Some(8),
            "timeout_secs in [api] must be between 1 and 3600, not 0",
        ),
        (
            "[api]\nbase_url = \"https://h.test/?x=1\"\n",
            Some(8),
            "must not have a query",
        ),
        (
            "[api]\nbase_url = \"not a url\"\n",
            Some(8),
            "base_url in [api] is not a valid URL",
        ),
        (
            "[api]\npath = \"https://other.test/x\"\n",
            Some(8),
            "must be a path on base_url",
        ),
        ("[api]\nrecords = \"\"\n", Some(8), "records in [api] must not be empty"),
        (
            "[incremental]\nstart = \"2024-01-01\"\n",
            Some(7),
            "missing required key \"field\" in [incremental]",
        ),
        (
            "[incremental]\nfield = \"m\"\nstart = \"yesterday\"\n",
            Some(9),
            "is not a zone-less ISO 8601 datetime",
        ),
        (
            "[incremental]\nfield = \"m\"\nstart = \"2024-01-01\"\nlag_secs = -5\n",
            Some(10),
            "lag_secs in [incremental] must be between 0 and 31536000, not -5",
        ),
        (
            "[api]\nbase_url = 5\n",
            Some(8),
            "base_url in [api] must be a string, not an integer",
        ),
        ("timeout = 5\n", Some(7), "unknown key \"timeout\" in [query]"),
    ];
    for (extra, line, fragment) in cases {
        let got = problems(fx.load("p.toml", &minimal(extra), &default_env()));
        assert_eq!(got.len(), 1, "{extra:?}: {got:?}");
        assert_eq!(got[0].0, *line, "{extra:?}: {got:?}");
        assert!(got[0].1.contains(fragment), "{extra:?}: {got:?}");
    }
}

#[test]
fn query_problems() {
    let fx = Fixture::new();
    let cases: &[(&str, Option<usize>, &str)] = &[
        (
            "[query]\nfields = [\"a\"]\n",
            Some(1),
            "missing required key \"database\" in [query]",
        ),
        (
            "[query]\ndatabase = \"fi\"\nfields = [\"a\"]\n",
            Some(2),
            "use one of FI, SE, NO, DK, NL (did you mean \"FI\"?)",
        ),
        (
            "[query]\ndatabase = \"FI\"\n",
            Some(1),
            "missing required key \"fields\" in [query]",
        ),
        (
            "[query]\ndatabase = \"FI\"\nfields = []\n",
            Some(3),
            "fields in [query] is empty",
        ),
        (
            "[query]\ndatabase = \"FI\"\nfields = [\"a\", 3]\n",
            Some(3),
            "item 2 is an integer",
        ),
        (
            "[query]\ndatabase = \"FI\"\nfields = [\n\"a\",\n\"b..c\"]\n",
            Some(5),
            "field \"b..c\" in [query] is not a dotted path",
        ),
        (
            "[query]\ndatabase = \"FI\"\nfields = [\n\"a\",\n\"a\"]\n",
            Some(5),
            "field \"a\" is listed twice",
        ),
        ("query = 5\n", Some(1), "[query] must be a table"),
        ("", None, "missing required key \"database\" in [query]"),
    ];
    for (q, line, fragment) in cases {
        let text = format!("{q}{CREDS}");
        let got = problems(fx.load("q.toml", &text, &default_env()));
        assert!(
            got.iter().any(|(l, m)| l == line && m.contains(fragment)),
            "{q:?}: {got:?}"
        );
    }
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let fx = Fixture::new();
    let text = r#"name = "ok"
[api]
timeout_secs = "soon"
[auth]
client_id = "${ID}"
client_secret = "${NOT_SET}"
[query]
database = "XX"
fields = ["business_id"]
page_sise = 100
page_size = 101
[output]
format = "parqet"
[retries]
"#;
    let err = fx.load("many.toml", text, &default_env()).expect_err("invalid");
    let lines: Vec<Option<usize>> = err.problems.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        [Some(3), Some(6), Some(8), Some(10), Some(11), Some(13), Some(14)],
        "{err}"
    );
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 7);
    let file = fx.dir.path().join("many.toml");
    assert!(shown.lines().all(|l| l.starts_with(&format!("{}:", file.display()))));
}

#[test]
fn filter_file_good_bad_and_missing() {
    let fx = Fixture::new();
    fx.write("jobs/queries/good.json", "{\"?ALL\": [{\"?EQ\": {\"a\": 1}}]}");
    fx.write("jobs/queries/bad.json", "{\n  \"?ALL\": [,]\n}");
    fx.write("jobs/queries/list.json", "[]");
    let good = minimal("filter_file = \"queries/good.json\"\n");
    let job = fx.load("jobs/f.toml", &good, &default_env()).expect("good filter");
    assert_eq!(job.query.filter, json!({"?ALL": [{"?EQ": {"a": 1}}]}));

    let cases: &[(&str, &str)] = &[
        (
            "queries/bad.json",
            "bad.json is not valid JSON: expected value at line 2",
        ),
        ("queries/list.json", "list.json must hold a JSON object"),
        ("queries/missing.json", "cannot read filter_file"),
    ];
    for (file, fragment) in cases {
        let text = minimal(&format!("filter_file = \"{file}\"\n"));
        let got = problems(fx.load("jobs/f.toml", &text, &default_env()));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, Some(7));
        assert!(got[0].1.contains(fragment), "{got:?}");
    }
}

#[test]
fn https_is_required_unless_the_host_is_loopback() {
    let fx = Fixture::new();
    let cases: &[(&str, bool)] = &[
        ("http://127.0.0.1:1234", true),
        ("http://127.8.9.10", true),
        ("http://localhost:8080", true),
        ("http://[::1]:9000", true),
        ("https://example.com", true),
        ("http://example.com", false),
        ("http://10.0.0.1", false),
        ("ftp://example.com", false),
    ];
    for (url, ok) in cases {
        let text = minimal(&format!("[api]\nbase_url = \"{url}\"\n"));
        let got = fx.load("h.toml", &text, &default_env());
        assert_eq!(got.is_ok(), *ok, "{url}: {got:?}");
        if !ok {
            let got = problems(got);
            assert_eq!(got[0].0, Some(8), "{url}");
            assert!(got[0].1.starts_with("base_url in [api] must"), "{got:?}");
        }
    }
    let plain = problems(fx.load(
        "h.toml",
        &minimal("[api]\nbase_url = \"http://example.com\"\n"),
        &default_env(),
    ));
    assert!(plain[0].1.contains("clear text"), "{plain:?}");

    // An absolute token_url is held to the same rule.
    let text = format!(
        "{}token_url = \"http://auth.example.com/token\"\n[query]\ndatabase = \"FI\"\nfields = [\"a\"]\n",
        CREDS
    );
    let got = problems(fx.load("t.toml", &text, &default_env()));
    assert_eq!(got[0].0, Some(4));
    assert!(got[0].1.starts_with("token_url in [auth] must use https://"), "{got:?}");
}

#[test]
fn auth_keys_must_fit_the_method() {
    let fx = Fixture::new();
    let q = "[query]\ndatabase = \"FI\"\nfields = [\"a\"]\n";
    let jwt = format!("[auth]\nmethod = \"jwt_refresh\"\nrefresh_token = \"r\"\nclient_id = \"x\"\nscope = \"s\"\n{q}");
    let got = problems(fx.load("a.toml", &jwt, &default_env()));
    assert_eq!(
        got,
        [
            (
                Some(4),
                "client_id in [auth] is not used with method = \"jwt_refresh\": remove it".to_string()
            ),
            (
                Some(5),
                "scope in [auth] is not used with method = \"jwt_refresh\": remove it".to_string()
            ),
        ]
    );
    let cc = format!("{CREDS}refresh_token = \"r\"\n{q}");
    let got = problems(fx.load("a.toml", &cc, &default_env()));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, Some(4));
    assert!(
        got[0]
            .1
            .starts_with("refresh_token in [auth] is not used with method = \"client_credentials\"")
    );

    let missing = format!("[auth]\nscope = \"x\"\n{q}");
    let got = problems(fx.load("a.toml", &missing, &default_env()));
    assert_eq!(
        got,
        [
            (Some(1), "missing required key \"client_id\" in [auth]".to_string()),
            (Some(1), "missing required key \"client_secret\" in [auth]".to_string()),
        ]
    );
    let typo = format!("[auth]\nmethod = \"client_credential\"\n{q}");
    let got = problems(fx.load("a.toml", &typo, &default_env()));
    assert!(got[0].1.contains("(did you mean \"client_credentials\"?)"), "{got:?}");
}

#[test]
fn values_from_variables_are_never_shown_in_messages() {
    let fx = Fixture::new();
    let env = env_of(&[("ID", "i"), ("SECRET", "s"), ("V", "hunter2")]);
    let cases: &[(&str, &str)] = &[
        (
            "database = \"${V}\"\nfields = [\"a\"]\n",
            "database = (value from ${VAR}, not shown) in [query] is not valid",
        ),
        (
            "database = \"FI\"\nfields = [\"a\", \"hunter3\", \"${V}\", \"${V}\"]\n",
            "field (value from ${VAR}, not shown) is listed twice",
        ),
        (
            "database = \"FI\"\nfields = [\"a\"]\nkey = \"x${V}\"\n",
            "key = (value from ${VAR}, not shown) in [query] must be one of fields",
        ),
        (
            "database = \"FI\"\nfields = [\"a\"]\n[output]\nformat = \"${V}\"\n",
            "format in [output] = (value from ${VAR}, not shown) is not valid",
        ),
    ];
    for (q, want) in cases {
        let text = format!("{CREDS}[query]\n{q}");
        let err = fx.load("v.toml", &text, &env).expect_err(q);
        let shown = err.to_string();
        assert!(shown.contains(want), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
