//! The run's one gate in front of the API: a GCRA rate limiter (governor)
//! every API request of the run passes, a run-wide pause that a 429 sets so
//! every request waits (not only the one that was throttled), and an
//! adaptive budget: a throttling episode halves the rate the limiter allows,
//! and each second without one raises it by 20%, back up to the job's
//! `requests_per_second`. A job whose budget the server accepts never sees
//! the adaptation. Token requests do not pass the gate.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::job::RateLimit;

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// How much a throttling episode cuts the rate, and how fast it recovers.
const CUT: f64 = 0.5;
const RAISE: f64 = 1.2;
const RAISE_EVERY: Duration = Duration::from_secs(1);

/// The additive-increase / multiplicative-decrease policy on its own, so it
/// can be tested without a clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptive {
    pub budget: f64,
    pub rate: f64,
}

impl Adaptive {
    pub fn new(budget: f64) -> Adaptive {
        Adaptive { budget, rate: budget }
    }

    /// The lowest rate the cuts go to: 1/64 of the budget, at least one
    /// request every 20 s.
    fn floor(&self) -> f64 {
        (self.budget / 64.0).max(0.05).min(self.budget)
    }

    /// After a throttling episode; the new rate.
    pub fn throttled(&mut self) -> f64 {
        self.rate = (self.rate * CUT).max(self.floor());
        self.rate
    }

    /// After a quiet interval; the new rate, or `None` when at the budget.
    pub fn quiet(&mut self) -> Option<f64> {
        if self.rate >= self.budget {
            return None;
        }
        self.rate = (self.rate * RAISE).min(self.budget);
        Some(self.rate)
    }
}

struct State {
    adaptive: Adaptive,
    paused_until: Option<Instant>,
    /// A 429 before this instant belongs to the episode already cut for.
    episode_ends: Instant,
    last_change: Instant,
    /// While the rate is cut: the earliest instant the next request may go.
    next_slot: Instant,
}

pub struct Gate {
    /// The job's budget: a GCRA that never changes.
    limiter: Limiter,
    state: Mutex<State>,
}

impl Gate {
    pub fn new(limit: &RateLimit) -> Gate {
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / limit.requests_per_second))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(limit.burst);
        let now = Instant::now();
        Gate {
            limiter: RateLimiter::direct(quota),
            state: Mutex::new(State {
                adaptive: Adaptive::new(limit.requests_per_second),
                paused_until: None,
                episode_ends: now,
                last_change: now,
                next_slot: now,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rate requests may go at now, requests/s.
    pub fn current_rate(&self) -> f64 {
        self.state().adaptive.rate
    }

    fn paused(&self) -> Option<Instant> {
        self.state().paused_until.filter(|until| Instant::now() < *until)
    }

    /// Wait for the run-wide pause to end, then for a cell of the budget,
    /// then (while the rate is cut) for this request's slot.
    pub async fn pass(&self) {
        loop {
            if let Some(until) = self.paused() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            self.limiter.until_ready().await;
            let slot = {
                let mut s = self.state();
                let cut = s.adaptive.rate < s.adaptive.budget;
                cut.then(|| {
                    let slot = s.next_slot.max(Instant::now());
                    s.next_slot = slot + Duration::from_secs_f64(1.0 / s.adaptive.rate);
                    slot
                })
            };
            if let Some(slot) = slot {
                tokio::time::sleep_until(slot).await;
            }
            // A 429 may have arrived while this request waited.
            if self.paused().is_none() {
                return;
            }
        }
    }

    /// A 429: hold every request of the run for `wait`, and cut the rate
    /// once per throttling episode (the other requests of the same burst
    /// that draw a 429 do not cut it again).
    pub fn throttled(&self, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut s = self.state();
        if s.paused_until.is_none_or(|current| current < until) {
            s.paused_until = Some(until);
        }
        s.next_slot = s.next_slot.max(until);
        if now >= s.episode_ends {
            let rate = s.adaptive.throttled();
            s.last_change = until;
            tracing::warn!(
                rate_per_sec = rate,
                pause_ms = wait.as_millis() as u64,
                "throttled by the API; pausing every request and lowering the rate"
            );
        }
        s.episode_ends = s.episode_ends.max(until);
    }

    /// A request that was not throttled: after a quiet second, raise a cut
    /// rate back toward the budget.
    pub fn succeeded(&self) {
        let now = Instant::now();
        let mut s = self.state();
        if s.adaptive.rate >= s.adaptive.budget || now < s.last_change + RAISE_EVERY || now < s.episode_ends {
            return;
        }
        if let Some(rate) = s.adaptive.quiet() {
            s.last_change = now;
            tracing::debug!(rate_per_sec = rate, "rate raised after a quiet second");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;

    fn gate(rps: f64, burst: u32) -> Gate {
        Gate::new(&RateLimit {
            requests_per_second: rps,
            burst: NonZeroU32::new(burst).unwrap(),
            concurrency: NonZeroUsize::new(1).unwrap(),
        })
    }

    #[test]
    fn adaptive_policy_table() {
        // (budget, events, rate after each): t = throttled, q = quiet second.
        let cases: &[(f64, &str, &[f64])] = &[
            (200.0, "tttt", &[100.0, 50.0, 25.0, 12.5]),
            (10.0, "tq", &[5.0, 6.0]),
            (10.0, "q", &[10.0]),
            (4.0, "tttttttt", &[2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.0625, 0.0625]),
            (1.0, "ttttttq", &[0.5, 0.25, 0.125, 0.0625, 0.05, 0.05, 0.06]),
            (8.0, "tqqqqqq", &[4.0, 4.8, 5.76, 6.912, 8.0, 8.0, 8.0]),
        ];
        for (budget, events, want) in cases {
            let mut a = Adaptive::new(*budget);
            let got: Vec<f64> = events
                .chars()
                .map(|e| match e {
                    't' => a.throttled(),
                    _ => a.quiet().unwrap_or(a.rate),
                })
                .collect();
            for (g, w) in got.iter().zip(*want) {
                assert!(
                    (g - w).abs() < 1e-9,
                    "budget {budget}, {events}: got {got:?}, want {want:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn paces_requests_at_the_budget() {
        let g = gate(50.0, 1);
        let start = std::time::Instant::now();
        for _ in 0..11 {
            g.pass().await;
        }
        // 11 cells at 50/s: the first is free, ten more take 200 ms.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(190), "{took:?}");
    }

    #[tokio::test]
    async fn a_429_holds_every_request_and_cuts_the_rate_once_per_episode() {
        let g = gate(1000.0, 10);
        g.throttled(Duration::from_millis(150));
        g.throttled(Duration::from_millis(150));
        g.throttled(Duration::from_millis(140));
        assert_eq!(g.current_rate(), 500.0, "three 429s of one burst cut once");
        let start = std::time::Instant::now();
        g.pass().await;
        assert!(start.elapsed() >= Duration::from_millis(140));
        g.succeeded();
        assert_eq!(g.current_rate(), 500.0, "not raised before a quiet second");
    }
}
