//! Tests of `download.rs`: plain or gzip told by the magic bytes whatever
//! the chunking, line splitting with byte offsets, bad lines, resumed plain
//! streams, `Content-Range`, and a proptest that no input panics.

use std::io::Write;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// One record and the byte offset after its line.
type Line = (Value, u64);

/// The complete lines so far, as records (each checked to be an object
/// with `check_line`), with the byte offset after each; the first line
/// that is not one, with its number.
fn drain(lines: &mut Lines, out: &mut Vec<Line>) -> Result<(), (u64, String)> {
    let mut bad = None;
    lines.drain_unchecked(|line, end, n| match (&bad, check_line(line)) {
        (Some(_), _) => {}
        (None, Ok(())) => out.push((serde_json::from_slice(line).expect("a checked object"), end)),
        (None, Err(detail)) => bad = Some((n, detail)),
    });
    bad.map_or(Ok(()), Err)
}

/// Feeds `raw` in chunks of `chunk` bytes; the records, their end offsets, gzip or not.
fn run(raw: &[u8], chunk: usize) -> Result<(Vec<Line>, Option<bool>), String> {
    let mut lines = Lines::new();
    let mut out = Vec::new();
    for piece in raw.chunks(chunk.max(1)) {
        lines.push(piece)?;
        drain(&mut lines, &mut out).map_err(|(n, d)| format!("line {n}: {d}"))?;
    }
    lines.finish()?;
    drain(&mut lines, &mut out).map_err(|(n, d)| format!("line {n}: {d}"))?;
    Ok((out, lines.gzip()))
}

#[test]
fn plain_and_gzip_by_magic_bytes() {
    let text = b"{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}";
    let two_members = [gz(b"{\"a\":1}\n"), gz(b"{\"a\":2}\n{\"a\":3}\n")].concat();
    // (name, raw bytes, gzip?)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("plain", text.to_vec(), false),
        ("gzip", gz(text), true),
        ("two gzip members", two_members, true),
        ("plain starting with 0x1f only", b"\x1f".to_vec(), false),
    ];
    for (name, raw, gzip) in cases {
        for chunk in [1, 2, 3, 7, 4096] {
            let got = run(&raw, chunk);
            if name.starts_with("plain starting") {
                assert!(got.is_err(), "{name}: a lone control byte is not JSON");
                continue;
            }
            let (records, is_gzip) = got.unwrap_or_else(|e| panic!("{name} by {chunk}: {e}"));
            assert_eq!(is_gzip, Some(gzip), "{name} by {chunk}");
            let values: Vec<_> = records.iter().map(|(v, _)| v.clone()).collect();
            assert_eq!(
                values,
                vec![json!({"a":1}), json!({"a":2}), json!({"a":3})],
                "{name} by {chunk}"
            );
        }
    }
}

#[test]
fn offsets_are_after_each_line() {
    let (records, _) = run(b"{\"a\":1}\n\n{\"b\":22}\n{\"c\":3}", 5).unwrap();
    let ends: Vec<u64> = records.iter().map(|(_, e)| *e).collect();
    // 8 bytes, an empty line (1), 9 bytes, then the last line with the newline `finish` adds.
    assert_eq!(ends, vec![8, 18, 26]);
}

#[test]
fn empty_and_tiny_streams() {
    let cases: [(&[u8], usize); 4] = [(b"", 0), (b"\n", 0), (b"{}", 1), (b"{}\n", 1)];
    for (raw, n) in cases {
        let (records, _) = run(raw, 1).unwrap();
        assert_eq!(records.len(), n, "{raw:?}");
    }
}

#[test]
fn bad_lines_are_named() {
    let cases: [(&[u8], &str); 4] = [
        (b"{\"a\":1}\n[1,2]\n", "line 2: a JSON array"),
        (b"{\"a\":1}\n\n\"x\"\n", "line 3: a JSON string"),
        (b"{\"a\":1\n", "line 1: "),
        (b"<html>\n", "line 1: "),
    ];
    for (raw, want) in cases {
        let err = run(raw, 3).unwrap_err();
        assert!(err.starts_with(want), "{err}");
    }
    let mut cut = gz(b"{\"a\":1}\n{\"a\":2}\n");
    cut.truncate(cut.len() - 6);
    assert!(run(&cut, 4).unwrap_err().contains("gzip"), "a cut gzip stream");
}

#[test]
fn a_resumed_plain_stream_counts_from_its_offset() {
    let mut lines = Lines::plain_from(100, 7);
    let mut out = Vec::new();
    lines.push(b"{\"a\":1}\n[]\n").unwrap();
    let err = drain(&mut lines, &mut out).unwrap_err();
    assert_eq!(out, vec![(json!({"a":1}), 108)]);
    assert_eq!(err.0, 9, "lines continue from the resumed count");
    // A resumed stream is plain even if a byte looks like gzip's magic.
    assert_eq!(Lines::plain_from(5, 0).gzip(), Some(false));
}

#[test]
fn content_range_table() {
    let cases = [
        ("bytes 100-199/200", Some(100)),
        ("bytes 0-0/1", Some(0)),
        ("bytes */200", None),
        ("items 1-2/3", None),
        ("bytes x-1/2", None),
    ];
    for (v, want) in cases {
        assert_eq!(content_range_start(v), want, "{v}");
    }
}

proptest! {
    #[test]
    fn lines_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..16, gzip in any::<bool>()) {
        let raw = if gzip { [&GZIP_MAGIC[..], &raw].concat() } else { raw };
        let _ = run(&raw, chunk);
    }
}
