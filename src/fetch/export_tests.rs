//! Tests of `export.rs`: the poll-answer parser (table, and a proptest
//! that it never panics), link joining, the export id and link masking.

use proptest::prelude::*;
use reqwest::Url;

use super::*;

#[test]
fn poll_answers() {
    type Want = Result<(&'static str, Phase, Option<f64>, Option<f64>, Option<&'static str>), &'static str>;
    let done = |l: &str| Phase::Completed {
        download_link: l.to_string(),
    };
    let cases: Vec<(&str, Want)> = vec![
        (
            r#"{"state":"accepted","progress":0}"#,
            Ok(("accepted", Phase::Waiting, Some(0.0), None, None)),
        ),
        (
            r#"{"state":"process","progress":42.5}"#,
            Ok(("process", Phase::Waiting, Some(42.5), None, None)),
        ),
        (
            r#"{"state":"process","progress":"17"}"#,
            Ok(("process", Phase::Waiting, Some(17.0), None, None)),
        ),
        (
            r#"{"state":"process","progress":250}"#,
            Ok(("process", Phase::Waiting, Some(100.0), None, None)),
        ),
        (
            r#"{"state":"process","progress":-3}"#,
            Ok(("process", Phase::Waiting, Some(0.0), None, None)),
        ),
        (
            r#"{"state":"process","progress":"NaN"}"#,
            Ok(("process", Phase::Waiting, None, None, None)),
        ),
        (
            r#"{"state":"process","progress":null}"#,
            Ok(("process", Phase::Waiting, None, None, None)),
        ),
        (
            r#"{"state":"queued"}"#,
            Ok(("queued", Phase::Waiting, None, None, None)),
        ),
        (
            r#"{"state":"completed","progress":100,"download_link":"https://s3/x?sig=1","duration":12.5}"#,
            Ok(("completed", done("https://s3/x?sig=1"), Some(100.0), Some(12.5), None)),
        ),
        (
            r#"{"state":"completed","download_link":"/x","duration":"-1"}"#,
            Ok(("completed", done("/x"), None, None, None)),
        ),
        (
            r#"{"state":"completed","progress":100}"#,
            Err("without a \"download_link\""),
        ),
        (
            r#"{"state":"completed","download_link":""}"#,
            Err("without a \"download_link\""),
        ),
        (
            r#"{"state":"failure","message":"out of quota"}"#,
            Ok(("failure", Phase::Failed, None, None, Some("out of quota"))),
        ),
        (
            r#"{"state":"stopped","detail":{"why":1}}"#,
            Ok(("stopped", Phase::Failed, None, None, Some("{\"why\":1}"))),
        ),
        (
            r#"{"state":"partial_failure_complete","error":"3 shards"}"#,
            Ok(("partial_failure_complete", Phase::Failed, None, None, Some("3 shards"))),
        ),
        (
            r#"{"state":"partial_failure_incomplete"}"#,
            Ok(("partial_failure_incomplete", Phase::Failed, None, None, None)),
        ),
        (r#"{"progress":3}"#, Err("no \"state\"")),
        (r#"{"state":7}"#, Err("no \"state\"")),
        (r#"{"state":""}"#, Err("no \"state\"")),
        ("[]", Err("not a JSON object")),
        ("<html>", Err("not JSON")),
    ];
    for (body, want) in cases {
        let got = parse_poll(body.as_bytes());
        match (got, want) {
            (Ok(a), Ok((state, phase, progress, duration, text))) => {
                assert_eq!(a.state, state, "{body}");
                assert_eq!(a.phase, phase, "{body}");
                assert_eq!(a.progress, progress, "{body}");
                assert_eq!(a.duration, duration, "{body}");
                assert_eq!(a.text.as_deref(), text, "{body}");
            }
            (Err(e), Err(part)) => assert!(e.contains(part), "{body}: {e}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn long_api_text_is_cut() {
    let body = format!(r#"{{"state":"failure","message":"{}"}}"#, "é".repeat(400));
    let text = parse_poll(body.as_bytes()).unwrap().text.unwrap();
    assert!(text.len() <= MAX_TEXT + '…'.len_utf8(), "{}", text.len());
}

#[test]
fn link_joining() {
    let base = Url::parse("https://api.vainu.io").unwrap();
    let local = Url::parse("http://127.0.0.1:8080").unwrap();
    let cases: Vec<(&Url, &str, Result<&str, &str>)> = vec![
        (
            &base,
            "/v3/organizations/async/e1/",
            Ok("https://api.vainu.io/api/v3/organizations/async/e1/"),
        ),
        (
            &base,
            "v3/organizations/async/e1/",
            Ok("https://api.vainu.io/api/v3/organizations/async/e1/"),
        ),
        (
            &base,
            "/api/v3/organizations/async/e1/",
            Ok("https://api.vainu.io/api/v3/organizations/async/e1/"),
        ),
        (
            &base,
            "https://api.vainu.io/api/v3/x/e1/",
            Ok("https://api.vainu.io/api/v3/x/e1/"),
        ),
        (
            &local,
            "http://127.0.0.1:8080/api/v3/x/",
            Ok("http://127.0.0.1:8080/api/v3/x/"),
        ),
        (&local, "/v3/x/?a=1", Ok("http://127.0.0.1:8080/api/v3/x/?a=1")),
        (&base, "https://evil.example/api/v3/x/", Err("not on the API's origin")),
        (&base, "http://api.vainu.io/api/v3/x/", Err("not on the API's origin")),
        (
            &local,
            "http://127.0.0.1:9999/api/v3/x/",
            Err("not on the API's origin"),
        ),
        (&base, "  ", Err("empty")),
    ];
    for (base, link, want) in cases {
        match (join_link(base, link), want) {
            (Ok(url), Ok(w)) => assert_eq!(url.as_str(), w, "{link}"),
            (Err(e), Err(part)) => assert!(e.contains(part), "{link}: {e}"),
            (got, want) => panic!("{link}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn ids_and_masks() {
    let ids = [
        ("/v3/organizations/async/exp000001/", "exp000001"),
        ("https://h/api/v3/async/abc?x=1", "abc"),
        ("abc", "abc"),
        ("/", "(no id)"),
    ];
    for (link, id) in ids {
        assert_eq!(export_id(link), id, "{link}");
    }
    let masks = [
        (
            "https://s3/b/e.jsonl?X-Amz-Signature=abc&X-Amz-Expires=9",
            "https://s3/b/e.jsonl?***",
        ),
        ("https://s3/b/e.jsonl", "https://s3/b/e.jsonl"),
        ("/p?", "/p?***"),
    ];
    for (url, masked) in masks {
        assert_eq!(mask_link(url), masked);
        assert!(!mask_link(url).contains("Signature"));
    }
}

proptest! {
    #[test]
    fn parse_poll_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_poll(&bytes);
    }

    #[test]
    fn parse_poll_never_panics_on_json_shapes(
        state in prop_oneof![Just("completed".to_string()), Just("process".to_string()), ".{0,12}"],
        progress in prop_oneof![Just("1e400".to_string()), Just("\"x\"".to_string()), any::<f64>().prop_map(|f| format!("{f:?}")), any::<i64>().prop_map(|i| i.to_string())],
        link in proptest::option::of(".{0,20}"),
    ) {
        let link = link.map(|l| format!(",\"download_link\":{}", serde_json::Value::String(l))).unwrap_or_default();
        let body = format!("{{\"state\":{},\"progress\":{progress},\"duration\":{progress}{link}}}", serde_json::Value::String(state));
        if let Ok(a) = parse_poll(body.as_bytes()) {
            prop_assert!(a.progress.is_none_or(|p| (0.0..=100.0).contains(&p)));
            prop_assert!(a.duration.is_none_or(|d| d.is_finite() && d >= 0.0));
        }
    }

    #[test]
    fn join_link_never_panics(link in ".{0,40}") {
        let base = Url::parse("https://api.vainu.io").unwrap();
        let _ = join_link(&base, &link);
        let _ = export_id(&link);
        let _ = mask_link(&link);
    }
}
