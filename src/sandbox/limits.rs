//! The server-side knobs that make the sandbox misbehave like the real API:
//! a GCRA rate limiter (burst 1, slack for delivery jitter) and the
//! deterministic 5xx injector. Neither knows about HTTP routes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::rng::SplitMix;

/// Arrivals up to this much earlier than the theoretical arrival time still
/// conform (or half an interval, if that is more), so a client pacing at
/// exactly the rate is not throttled when one request is delayed on its way
/// and the next is not. Slack allows a short burst, never a higher sustained
/// rate: a client above the rate still draws 429s.
const JITTER_SLACK: Duration = Duration::from_millis(20);

/// GCRA with a burst of one: one request per `interval`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    /// Theoretical arrival time of the next conforming request.
    tat: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `rate` requests/s; `None` when the rate is not a
    /// positive finite number.
    pub(crate) fn new(rate: f64) -> Option<RateLimiter> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        Some(RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate),
            tat: Mutex::new(None),
        })
    }

    /// Admit a request arriving at `now`, or say how long until it would be
    /// admitted.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let due = tat.unwrap_or(now);
        let slack = JITTER_SLACK.max(self.interval / 2);
        if now + slack < due {
            return Err(due - now - slack);
        }
        *tat = Some(due.max(now) + self.interval);
        Ok(())
    }
}

/// `Retry-After` seconds for a wait: whole seconds, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Decides, from the request number alone, whether an organizations request
/// fails and with which status.
#[derive(Debug, Clone)]
pub(crate) struct FailInjector {
    seed: u64,
    rate: f64,
    /// Requests from this number on all fail with 503.
    after: Option<u64>,
}

const FAIL_STATUSES: [StatusCode; 4] = [
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

impl FailInjector {
    pub(crate) fn new(seed: u64, rate: f64, after: Option<u64>) -> Self {
        let rate = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        FailInjector { seed, rate, after }
    }

    /// The status request number `n` (from 0) fails with, if it does.
    pub(crate) fn failure(&self, n: u64) -> Option<StatusCode> {
        if self.after.is_some_and(|after| n >= after) {
            return Some(StatusCode::SERVICE_UNAVAILABLE);
        }
        if self.rate <= 0.0 {
            return None;
        }
        let mut rng = SplitMix::for_item(self.seed, "fail-injection", n);
        (rng.unit() < self.rate).then(|| *rng.pick(&FAIL_STATUSES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_admits_paced_requests_and_throttles_bursts() {
        let Some(lim) = RateLimiter::new(10.0) else {
            panic!("limiter")
        };
        let t0 = Instant::now();
        assert!(lim.check(t0).is_ok());
        // Immediately again: over the rate, 100 ms - 50 ms of slack - 1 ms to wait.
        let wait = lim.check(t0 + Duration::from_millis(1)).err();
        assert_eq!(wait, Some(Duration::from_millis(49)));
        // Paced at exactly 10/s, a few ms early each time: all admitted.
        for k in 1..50u64 {
            let at = t0 + Duration::from_millis(100 * k) - Duration::from_millis(k % 5);
            assert!(lim.check(at).is_ok(), "request {k}");
        }
    }

    #[test]
    fn rejected_requests_do_not_consume_capacity() {
        let Some(lim) = RateLimiter::new(1.0) else {
            panic!("limiter")
        };
        let t0 = Instant::now();
        assert!(lim.check(t0).is_ok());
        for ms in [10, 200, 400, 499] {
            assert!(lim.check(t0 + Duration::from_millis(ms)).is_err(), "{ms}");
        }
        // Half an interval of slack: at 1/s, 500 ms after the last admitted one.
        assert!(lim.check(t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn nonsensical_rates_mean_no_limiter() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RateLimiter::new(rate).is_none(), "{rate}");
        }
    }

    #[test]
    fn retry_after_table() {
        let cases = [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (2500, 3)];
        for (ms, want) in cases {
            assert_eq!(retry_after_secs(Duration::from_millis(ms)), want, "{ms} ms");
        }
    }

    #[test]
    fn fail_injection_is_deterministic_and_near_its_rate() {
        let a = FailInjector::new(42, 0.3, None);
        let b = FailInjector::new(42, 0.3, None);
        let fa: Vec<_> = (0..1000).map(|n| a.failure(n)).collect();
        let fb: Vec<_> = (0..1000).map(|n| b.failure(n)).collect();
        assert_eq!(fa, fb);
        let failed = fa.iter().filter(|f| f.is_some()).count();
        assert!((200..400).contains(&failed), "{failed}");
        assert!(fa.iter().flatten().all(|s| s.is_server_error()));
        assert!((0..100).all(|n| FailInjector::new(1, 1.0, None).failure(n).is_some()));
        assert!((0..100).all(|n| FailInjector::new(1, 0.0, None).failure(n).is_none()));
        let down = FailInjector::new(1, 0.0, Some(3));
        let got: Vec<Option<StatusCode>> = (0..5).map(|n| down.failure(n)).collect();
        let unavailable = Some(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            got,
            [None, None, None, unavailable, unavailable],
            "down from request 3 on"
        );
    }
}
