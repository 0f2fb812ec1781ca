//! The lease of a lock object in a bucket (`--state-dir s3://...`): what
//! the object holds (pid, run id, host, job, started_at, renewed_at as
//! JSON), its parser (never panics on what another process or a person
//! left there), the lease length (60 s, or `ORGSYNC_LOCK_LEASE_SECS`), and
//! the one decision a run makes about a lock it finds: held by a live run,
//! stale (its renewal is older than the lease: take it over), or its own.
//! Pure: no I/O, no clock of its own; `remote_lock.rs` does the requests.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::lock::Holder;

/// The lease when `ORGSYNC_LOCK_LEASE_SECS` is not set: a lock whose
/// renewal is older than this is taken over.
pub const DEFAULT_LEASE_SECS: u64 = 60;

/// The environment variable that shortens (or lengthens) the lease.
pub const LEASE_ENV: &str = "ORGSYNC_LOCK_LEASE_SECS";

/// The longest lease accepted: a day.
const MAX_LEASE_SECS: u64 = 86_400;

/// What a lock object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub pid: u32,
    pub run_id: String,
    pub host: String,
    pub job: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC: when the holder last renewed the lease.
    pub renewed_at: String,
}

impl LeaseRecord {
    /// A record for `holder` on `host`, renewed `now`.
    pub fn new(holder: &Holder, host: &str, now: DateTime<Utc>) -> LeaseRecord {
        LeaseRecord {
            pid: holder.pid,
            run_id: holder.run_id.clone(),
            host: host.to_string(),
            job: holder.job.clone(),
            started_at: holder.started_at.clone(),
            renewed_at: stamp(now),
        }
    }

    /// The record in a lock object; `None` for anything else (empty, torn,
    /// not JSON, missing fields, a pid out of range). Never panics.
    pub fn parse(bytes: &[u8]) -> Option<LeaseRecord> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The holder, for the exit-5 message.
    pub fn holder(&self) -> Holder {
        Holder {
            pid: self.pid,
            run_id: self.run_id.clone(),
            started_at: self.started_at.clone(),
            job: format!("{} on host {}", self.job, self.host),
        }
    }

    /// When it was last renewed, if that parses.
    pub fn renewed(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.renewed_at)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// `now` as the records write it.
pub fn stamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What a run makes of a lock object it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A live run holds it: stop with exit 5.
    Held,
    /// Its renewal is older than the lease: take it over.
    Stale,
    /// It is this run's own (same run id, host and pid).
    Own,
}

/// Judges a lock object: `record` its parsed content (`None` if it did not
/// parse), `written_at` the store's last-modified time of the object (used
/// when the record has no readable renewal time), `me` this run's record.
/// A lock with no readable time at all counts as held: the store always
/// gives a last-modified time, so that is a store that cannot be trusted.
pub fn judge(
    record: Option<&LeaseRecord>,
    written_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    lease: Duration,
    me: &LeaseRecord,
) -> Verdict {
    if let Some(r) = record
        && r.run_id == me.run_id
        && r.host == me.host
        && r.pid == me.pid
    {
        return Verdict::Own;
    }
    let renewed = record.and_then(LeaseRecord::renewed).or(written_at);
    let Some(renewed) = renewed else {
        return Verdict::Held;
    };
    let lease = TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
    // A renewal in the future (clock skew) is younger than any lease.
    match now.signed_duration_since(renewed) > lease {
        true => Verdict::Stale,
        false => Verdict::Held,
    }
}

/// The lease from `ORGSYNC_LOCK_LEASE_SECS`'s value (`None`: the default):
/// whole seconds, 1 to 86,400.
pub fn lease_from(value: Option<&str>) -> Result<Duration, String> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Duration::from_secs(DEFAULT_LEASE_SECS));
    };
    match text.parse::<u64>() {
        Ok(secs) if (1..=MAX_LEASE_SECS).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "{LEASE_ENV}={text:?} is not a lease: give whole seconds from 1 to {MAX_LEASE_SECS} \
             (default {DEFAULT_LEASE_SECS})"
        )),
    }
}

/// How often a holder renews: a third of the lease (at least 100 ms), so
/// two renewals can fail before the lock goes stale.
pub fn renew_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// This machine's host name (`HOSTNAME`, else the kernel's), for the record.
pub fn host_name() -> String {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.trim().is_empty()
    {
        return h.trim().to_string();
    }
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() + TimeDelta::seconds(secs)
    }

    fn record(run_id: &str, pid: u32, renewed: DateTime<Utc>) -> LeaseRecord {
        LeaseRecord {
            pid,
            run_id: run_id.into(),
            host: "pod-a".into(),
            job: "fi".into(),
            started_at: stamp(at(-600)),
            renewed_at: stamp(renewed),
        }
    }

    /// name, the record found, the object's last-modified, the verdict.
    type Case = (&'static str, Option<LeaseRecord>, Option<DateTime<Utc>>, Verdict);

    #[test]
    fn judge_table() {
        let lease = Duration::from_secs(60);
        let me = record("me", 7, at(0));
        let mut garbled = record("other", 8, at(0));
        garbled.renewed_at = "yesterday".into();
        let cases: Vec<Case> = vec![
            (
                "fresh: renewed 10 s ago",
                Some(record("other", 8, at(-10))),
                Some(at(-10)),
                Verdict::Held,
            ),
            (
                "at the lease exactly is still held",
                Some(record("other", 8, at(-60))),
                None,
                Verdict::Held,
            ),
            (
                "stale: renewed 61 s ago",
                Some(record("other", 8, at(-61))),
                Some(at(-61)),
                Verdict::Stale,
            ),
            (
                "renewal in the future (skew)",
                Some(record("other", 8, at(30))),
                None,
                Verdict::Held,
            ),
            ("own lock", Some(record("me", 7, at(-600))), None, Verdict::Own),
            (
                "same run id, other pid",
                Some(record("me", 9, at(-5))),
                None,
                Verdict::Held,
            ),
            (
                "unreadable time, old object",
                Some(garbled.clone()),
                Some(at(-120)),
                Verdict::Stale,
            ),
            (
                "unreadable time, new object",
                Some(garbled),
                Some(at(-1)),
                Verdict::Held,
            ),
            ("garbage, old object", None, Some(at(-3600)), Verdict::Stale),
            ("garbage, new object", None, Some(at(-2)), Verdict::Held),
            ("garbage and no time", None, None, Verdict::Held),
        ];
        for (name, rec, written, want) in cases {
            assert_eq!(judge(rec.as_ref(), written, at(0), lease, &me), want, "{name}");
        }
    }

    #[test]
    fn lease_table() {
        let cases: [(Option<&str>, Result<u64, &str>); 7] = [
            (None, Ok(60)),
            (Some(""), Ok(60)),
            (Some("3"), Ok(3)),
            (Some(" 120 "), Ok(120)),
            (Some("0"), Err("1 to 86400")),
            (Some("86401"), Err("1 to 86400")),
            (Some("1m"), Err("ORGSYNC_LOCK_LEASE_SECS=\"1m\"")),
        ];
        for (value, want) in cases {
            match (lease_from(value), want) {
                (Ok(got), Ok(secs)) => assert_eq!(got, Duration::from_secs(secs), "{value:?}"),
                (Err(got), Err(part)) => assert!(got.contains(part), "{value:?}: {got}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(renew_every(Duration::from_secs(60)), Duration::from_secs(20));
        assert_eq!(renew_every(Duration::from_secs(0)), Duration::from_millis(100));
    }

    #[test]
    fn record_round_trips_and_names_its_holder() {
        let r = record("20261130T120000Z-abcdef", 42, at(0));
        assert_eq!(LeaseRecord::parse(&r.to_bytes()), Some(r.clone()));
        assert_eq!(r.renewed(), Some(at(0)));
        let h = r.holder();
        assert_eq!((h.pid, h.run_id.as_str()), (42, "20261130T120000Z-abcdef"));
        assert_eq!(h.job, "fi on host pod-a");
        for bad in [&b""[..], b"{", b"pid=1 run_id=x", b"{\"pid\":-1}", b"\xff\xfe"] {
            assert_eq!(LeaseRecord::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_lock_object_parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = LeaseRecord::parse(&bytes);
        }

        #[test]
        fn parsing_json_shaped_text_never_panics(s in "\\{\"pid\":[0-9-]{0,12},\"run_id\":\".{0,8}\".{0,80}") {
            if let Some(r) = LeaseRecord::parse(s.as_bytes()) {
                let _ = r.renewed();
                let _ = judge(Some(&r), None, Utc::now(), Duration::from_secs(60), &r);
            }
        }

        #[test]
        fn any_lease_value_is_judged_without_panic(secs in proptest::num::u64::ANY, skew in proptest::num::i64::ANY) {
            let me = record("me", 1, at(0));
            let other = record("o", 2, at(0));
            let written = DateTime::<Utc>::from_timestamp(skew % 100_000_000_000, 0);
            let _ = judge(Some(&other), written, at(0), Duration::from_secs(secs), &me);
            let _ = lease_from(Some(&secs.to_string()));
        }
    }
}
