//! The retry policy, in one place: which failures are worth another try
//! ([`is_retryable`], the one decision every caller uses: organizations
//! pages, the count endpoint, the token endpoint, transport errors), and
//! how long to wait before it ([`Backoff`]: exponential from backon's
//! schedule, full jitter, `Retry-After` obeyed but clamped to
//! `max_delay_secs`, bounded by attempts and total elapsed time). Logging
//! the retry and sleeping are the caller's.

use std::time::Duration;

use backon::BackoffBuilder;
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::job::Retry;

/// One failed attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this (non-2xx) status.
    Status(StatusCode),
    /// No answer: connection refused or reset, timeout, a body that broke
    /// off. `certificate`: the TLS handshake refused the server's
    /// certificate.
    Transport { certificate: bool },
    /// A 2xx whose body is not what was asked for (an HTML maintenance
    /// page, JSON without the records, a token answer without a token).
    BadBody,
}

/// The one decision of what is worth another try. Retried: 408, 429, 500,
/// 502, 503, 504 (the API or a load balancer in the way will likely answer
/// differently next time), transport errors, and bodies that are not what
/// was asked for. Final: every other status (401 is renewed once by the
/// caller, not retried here) and TLS certificate failures (the same
/// certificate comes back next time).
pub fn is_retryable(failure: Failure) -> bool {
    match failure {
        Failure::Status(status) => matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504),
        Failure::Transport { certificate } => !certificate,
        Failure::BadBody => true,
    }
}

/// [`is_retryable`] for a status.
pub fn is_retryable_status(status: StatusCode) -> bool {
    is_retryable(Failure::Status(status))
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_elapsed: Duration,
}

impl From<&Retry> for RetryPolicy {
    fn from(r: &Retry) -> Self {
        RetryPolicy {
            max_attempts: r.max_attempts,
            initial_delay: r.initial_delay,
            max_delay: r.max_delay,
            max_elapsed: r.max_elapsed,
        }
    }
}

impl RetryPolicy {
    /// The schedule for one request, starting now.
    pub fn start(&self) -> Backoff {
        let schedule = backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build();
        Backoff {
            schedule,
            started: Instant::now(),
            max_delay: self.max_delay,
            max_elapsed: self.max_elapsed,
            attempts: 1,
            rng: Jitter::seeded(),
        }
    }
}

/// Where one request is in its retry schedule.
#[derive(Debug)]
pub struct Backoff {
    schedule: backon::ExponentialBackoff,
    started: Instant,
    max_delay: Duration,
    max_elapsed: Duration,
    attempts: u32,
    rng: Jitter,
}

impl Backoff {
    /// Attempts made so far (the first counts).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the first attempt.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The wait before the next attempt, or `None` when attempts or time are
    /// used up. `retry_after` (from the server) replaces the jittered wait
    /// when it is given, clamped to `[0, max_delay]`: a server cannot make a
    /// run sleep longer than the job allows (nor overflow a clock).
    pub fn next_wait(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let ceiling = self.schedule.next()?;
        let wait = match retry_after {
            Some(server) => server.min(self.max_delay),
            None => ceiling.mul_f64(self.rng.next_unit()).min(self.max_delay),
        };
        if self.started.elapsed().saturating_add(wait) > self.max_elapsed {
            return None;
        }
        self.attempts += 1;
        Some(wait)
    }
}

/// xorshift64*, seeded from the process's random hasher keys: jitter only
/// needs to differ between requests and runs, not to be unpredictable.
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        Jitter(h.finish() | 1)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32, max_elapsed_secs: u64) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
            max_elapsed: Duration::from_secs(max_elapsed_secs),
        }
    }

    #[test]
    fn retryable_failures() {
        let cases = [
            (Failure::Transport { certificate: false }, true),
            (Failure::Transport { certificate: true }, false),
            (Failure::BadBody, true),
            (Failure::Status(StatusCode::UNAUTHORIZED), false),
            (Failure::Status(StatusCode::TOO_MANY_REQUESTS), true),
        ];
        for (failure, want) in cases {
            assert_eq!(is_retryable(failure), want, "{failure:?}");
        }
    }

    #[test]
    fn a_huge_retry_after_is_clamped_to_max_delay() {
        // Regression (issue 9): Retry-After 1e20 panicked in Duration math.
        let mut b = policy(5, 900).start();
        assert_eq!(b.next_wait(Some(Duration::MAX)), Some(Duration::from_millis(800)));
        assert_eq!(b.next_wait(Some(Duration::ZERO)), Some(Duration::ZERO));
    }

    #[test]
    fn retryable_statuses() {
        let cases = [
            (200, false),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (408, true),
            (422, false),
            (429, true),
            (500, true),
            (501, false),
            (502, true),
            (503, true),
            (504, true),
        ];
        for (code, want) in cases {
            assert_eq!(is_retryable_status(StatusCode::from_u16(code).unwrap()), want, "{code}");
        }
    }

    #[test]
    fn waits_grow_within_full_jitter_bounds_and_stop_at_max_attempts() {
        let mut b = policy(6, 900).start();
        let ceilings = [100, 200, 400, 800, 800];
        for ceiling in ceilings {
            let wait = b.next_wait(None).expect("an attempt left");
            assert!(wait <= Duration::from_millis(ceiling), "{wait:?} > {ceiling}ms");
        }
        assert_eq!(b.attempts(), 6);
        assert_eq!(b.next_wait(None), None, "6 attempts in all");
    }

    #[test]
    fn jitter_spreads_waits() {
        let mut b = policy(1000, 900).start();
        let waits: Vec<Duration> = (0..50).map(|_| b.next_wait(None).unwrap()).collect();
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 40, "full jitter gives distinct waits");
        assert!(waits.iter().any(|w| *w < Duration::from_millis(400)));
    }

    #[test]
    fn retry_after_replaces_the_jittered_wait() {
        let mut b = policy(3, 900).start();
        assert_eq!(
            b.next_wait(Some(Duration::from_millis(7))),
            Some(Duration::from_millis(7))
        );
        assert_eq!(
            b.next_wait(Some(Duration::from_millis(700))),
            Some(Duration::from_millis(700))
        );
    }

    #[test]
    fn elapsed_budget_stops_retries() {
        let mut b = RetryPolicy {
            max_delay: Duration::from_secs(60),
            ..policy(10, 5)
        }
        .start();
        assert_eq!(
            b.next_wait(Some(Duration::from_secs(6))),
            None,
            "a wait past max_elapsed gives up"
        );
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let mut b = policy(1, 900).start();
        assert_eq!(b.next_wait(None), None);
    }
}
