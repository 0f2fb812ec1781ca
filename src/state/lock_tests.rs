use super::*;
use proptest::prelude::*;

fn holder(run: &str) -> Holder {
    Holder {
        pid: 4242,
        run_id: run.to_string(),
        started_at: "2026-11-30T10:30:00Z".to_string(),
        job: "fi".to_string(),
    }
}

#[test]
fn holder_line_table() {
    let cases: &[(&str, Option<Holder>)] = &[
        (
            "pid=4242 run_id=R1 started_at=2026-11-30T10:30:00Z job=fi\n",
            Some(holder("R1")),
        ),
        // Order and unknown keys do not matter.
        (
            "job=fi x=y started_at=2026-11-30T10:30:00Z run_id=R1 pid=4242",
            Some(holder("R1")),
        ),
        ("", None),
        ("\n", None),
        ("pid=4242 run_id=R1 started_at=2026-11-30T10:30:00Z", None),
        ("pid=-1 run_id=R1 started_at=2026-11-30T10:30:00Z job=fi", None),
        ("pid=99999999999 run_id=R1 started_at=s job=fi", None),
        ("pid=1 run_id started_at=s job=fi", None),
        ("garbage", None),
    ];
    for (text, want) in cases {
        assert_eq!(Holder::parse(text), *want, "{text:?}");
    }
    let h = holder("R 2");
    assert_eq!(
        Holder::parse(&h.line()).unwrap().run_id,
        "R_2",
        "whitespace cannot split a value"
    );
    assert_eq!(Holder::parse(&holder("R1").line()), Some(holder("R1")), "round trip");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn holder_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Holder::parse(&text);
    }

    #[test]
    fn holder_parse_never_panics_on_near_lines(
        pid in "[0-9-]{0,12}", run in "\\PC{0,20}", at in "\\PC{0,20}", job in "\\PC{0,12}"
    ) {
        let _ = Holder::parse(&format!("pid={pid} run_id={run} started_at={at} job={job}"));
    }

    #[test]
    fn holder_round_trips(pid in any::<u32>(), run in "[A-Za-z0-9-]{1,30}", job in "[a-z0-9_-]{1,20}") {
        let h = Holder { pid, run_id: run, started_at: "2026-01-01T00:00:00Z".into(), job };
        prop_assert_eq!(Holder::parse(&h.line()), Some(h));
    }
}

#[test]
fn a_second_lock_of_the_same_key_is_busy_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let key = LockKey::Job("fi".into());
    let first = acquire(dir.path(), &key, &holder("R1")).unwrap();
    let err = acquire(dir.path(), &key, &holder("R2")).unwrap_err();
    assert_eq!(err.exit(), Exit::Busy);
    let text = err.to_string();
    for part in [
        "job fi",
        "pid 4242",
        "run R1",
        "started 2026-11-30T10:30:00Z",
        "job-fi.lock",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
    assert!(!text.contains('\n'), "one line: {text}");
    // Another key is free.
    let other = acquire(dir.path(), &LockKey::Job("se".into()), &holder("R3")).unwrap();
    drop(first);
    let again = acquire(dir.path(), &key, &holder("R4")).unwrap();
    assert_eq!(
        Holder::parse(&fs::read_to_string(again.path()).unwrap()),
        Some(holder("R4")),
        "the new holder's line replaced the old one"
    );
    drop((other, again));
}

#[test]
fn set_holder_rewrites_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = LockKey::Job("fi".into());
    let mut guard = acquire(dir.path(), &key, &holder("a-much-longer-provisional-run-id")).unwrap();
    guard.set_holder(&holder("R9")).unwrap();
    let text = fs::read_to_string(guard.path()).unwrap();
    assert_eq!(text, holder("R9").line(), "no tail of the longer line left");
}

#[test]
fn two_spellings_of_one_target_share_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("out/a")).unwrap();
    let state = dir.path().join("state");
    let plain = LockKey::Target(dir.path().join("out/snap"));
    let dotted = LockKey::Target(dir.path().join("out/a/../snap"));
    assert_eq!(lock_path(&state, &plain), lock_path(&state, &dotted));
    let _held = acquire(&state, &plain, &holder("R1")).unwrap();
    let err = acquire(&state, &dotted, &holder("R2")).unwrap_err();
    assert!(matches!(err, LockError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("out/snap"), "{err}");
    assert_ne!(
        lock_path(&state, &plain),
        lock_path(&state, &LockKey::Target(dir.path().join("out/other")))
    );
}

#[test]
fn an_unusable_state_folder_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    fs::write(&file, b"not a folder").unwrap();
    let err = acquire(&file, &LockKey::Job("fi".into()), &holder("R1")).unwrap_err();
    assert!(matches!(err, LockError::Io { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Failed);
}

#[test]
fn a_bucket_target_is_locked_by_its_url_wherever_the_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let url = LockKey::Target(PathBuf::from("s3://exports/daily/fi"));
    assert_eq!(
        resolve(Path::new("s3://exports/daily/fi")),
        PathBuf::from("s3://exports/daily/fi")
    );
    let _held = acquire(&state, &url, &holder("R1")).unwrap();
    let err = acquire(
        &state,
        &LockKey::Target(PathBuf::from("s3://exports/daily/fi")),
        &holder("R2"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("s3://exports/daily/fi"), "{err}");
    assert_ne!(
        lock_path(&state, &url),
        lock_path(&state, &LockKey::Target(PathBuf::from("s3://exports/daily/se")))
    );
}
