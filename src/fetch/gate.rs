//! The run's one gate in front of the API: a GCRA rate limiter (governor)
//! every API request of the run passes, and a run-wide pause that a 429
//! sets so every request waits, not only the one that was throttled. Token
//! requests do not pass it.

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

pub struct Gate {
    limiter: Limiter,
    paused_until: Mutex<Option<Instant>>,
}

impl Gate {
    pub fn new(limit: &RateLimit) -> Gate {
        let period = Duration::from_secs_f64(1.0 / limit.requests_per_second);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(limit.burst);
        Gate {
            limiter: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        }
    }

    /// Wait for the run-wide pause to end, then for a cell of the budget.
    pub async fn pass(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = until
                && Instant::now() < until
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            self.limiter.until_ready().await;
            // A 429 may have arrived while this request waited for its cell.
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(until) if Instant::now() < until => continue,
                _ => return,
            }
        }
    }

    /// Hold every request of the run for `wait` (a 429 with its Retry-After).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
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
    async fn a_pause_holds_every_request() {
        let g = gate(1000.0, 10);
        g.pause_for(Duration::from_millis(150));
        let start = std::time::Instant::now();
        g.pass().await;
        assert!(start.elapsed() >= Duration::from_millis(140));
    }
}
