//! Numbers the server sends, read so that no value can crash or stall a run:
//! `Retry-After` (delta-seconds or an HTTP date, any text), a token
//! answer's `expires_in` (any JSON value) and a count (the count endpoint's
//! `count` or a page envelope's). Each parser returns a bounded value or
//! says why it ignored the input; none panics (see the proptests in
//! `bounds_tests.rs`). Clamping a `Retry-After` to `max_delay_secs` is the
//! retry schedule's (`retry.rs`); logging is the caller's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Lifetime assumed when the token endpoint sends no usable `expires_in`
/// (missing, null, zero, negative, not a number). Vainu's JWT access tokens
/// live one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The shortest lifetime a stated `expires_in` is taken as: the token is
/// renewed at 90% of it, so at most about one token request per 0.9 s.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(1);
/// The longest: a day. Longer lifetimes are renewed after 21.6 h anyway.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Counts above this are not believed (no database holds a trillion
/// organizations); such a count is ignored with a warning.
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// `Retry-After` as a wait (RFC 9110 10.2.3), unclamped: delta-seconds
/// (also fractional; more digits than fit are [`Duration::MAX`]), a
/// negative number or an HTTP date in the past is zero, an HTTP date in the
/// future the time until then. `None` for anything else (empty, garbage,
/// NaN, infinity): the caller then waits by its own schedule.
pub fn parse_retry_after(raw: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = raw.trim();
    if value.is_empty() {
        return None;
    }
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(digits.parse::<u64>().map_or(Duration::MAX, Duration::from_secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() {
            return None;
        }
        if secs <= 0.0 {
            return Some(Duration::ZERO);
        }
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&Utc).signed_duration_since(now);
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The lifetime a token is renewed by, and a warning when the stated
/// `expires_in` was not used as sent. A number (or a string holding one)
/// above zero is clamped to [`MIN_TOKEN_LIFETIME`]..=[`MAX_TOKEN_LIFETIME`];
/// anything else (missing, null, zero, negative, not a number) gives
/// [`DEFAULT_TOKEN_LIFETIME`]. A missing `expires_in` is normal (JWT
/// refresh answers carry none) and gives no warning.
pub fn token_lifetime(expires_in: Option<&Value>) -> (Duration, Option<String>) {
    let default = |why: String| {
        let note = format!(
            "{why}; assuming {} s (renewed at 90%, and once more after a 401)",
            DEFAULT_TOKEN_LIFETIME.as_secs()
        );
        (DEFAULT_TOKEN_LIFETIME, Some(note))
    };
    let secs = match expires_in {
        None | Some(Value::Null) => return (DEFAULT_TOKEN_LIFETIME, None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let raw = expires_in.map(Value::to_string).unwrap_or_default();
    let raw: String = raw.chars().take(40).collect();
    let Some(secs) = secs.filter(|s| s.is_finite() && *s > 0.0) else {
        return default(format!(
            "the token endpoint sent expires_in = {raw}, not a positive number"
        ));
    };
    let stated = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    let used = stated.clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME);
    if used == stated {
        return (used, None);
    }
    let note = format!(
        "the token endpoint sent expires_in = {raw}; using {} s (lifetimes are bounded to {}..={} s)",
        used.as_secs_f64(),
        MIN_TOKEN_LIFETIME.as_secs(),
        MAX_TOKEN_LIFETIME.as_secs()
    );
    (used, Some(note))
}

/// A count the server sent: a whole number from 0 to [`MAX_COUNT`]. Else
/// why it is ignored (negative, fractional, huge, a string, missing).
pub fn count_value(count: Option<&Value>) -> Result<u64, String> {
    let Some(value) = count else {
        return Err("no \"count\"".to_string());
    };
    let shown: String = value.to_string().chars().take(40).collect();
    match value.as_u64() {
        Some(n) if n <= MAX_COUNT => Ok(n),
        Some(_) => Err(format!("\"count\" {shown} is above {MAX_COUNT}, not believable")),
        None => Err(format!("\"count\" {shown} is not a whole number from 0 to {MAX_COUNT}")),
    }
}

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod tests;
