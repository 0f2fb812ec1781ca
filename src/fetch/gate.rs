//! The run's one gate in front of the API: a GCRA rate limiter every API
//! request of the run passes, a run-wide pause that a 429 sets so every
//! request waits (not only the one that was throttled), and an adaptive
//! budget: a throttling episode halves the rate the limiter allows, and
//! each second without one raises it by 20%, back up to the job's
//! `requests_per_second`. A job whose budget the server accepts never sees
//! the adaptation. Token requests do not pass the gate.
//!
//! The limiter reserves each request's slot on arrival (GCRA's virtual
//! scheduling: the next theoretical arrival time moves on by one interval
//! per reservation), then sleeps until it. A waiter that wakes late does
//! not delay the slots after it: with requests queued, slots are exactly
//! one interval apart. (Governor's `until_ready`, used before, moved the
//! schedule to each wake-up: every late wake-up was lost, and against a
//! 150 ms server at 10 requests/s the run reached 93% of its budget.)
//!
//! Timers fire on millisecond ticks ([`TICK`]), so a wait shorter than a
//! tick cannot be slept precisely: it would last until the next tick. So a
//! request whose slot is at most a tick away leaves at once, and a
//! departure is never refused for being less than a tick early. At 250
//! requests per second or less, that stays inside what the gate allowed
//! before (burst 1 let a request leave a quarter interval early, at least
//! a tick there). Between 250 and 1,000, a request may now leave up to a
//! tick early instead of a quarter interval. Above 1,000, a budget of N
//! requests per second lets up to N/1000 go in one millisecond. The
//! long-run rate is the budget's in every case. Before, each sleep lasted
//! to the next tick and each wake-up let one request through, so a budget
//! of 10,000/s with burst 1 delivered about 1,250/s (`make bench`'s
//! throughput job: 1,003 requests in 0.80 s, and a wake-up of the I/O
//! driver per request).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::job::RateLimit;

/// How much a throttling episode cuts the rate, and how fast it recovers.
const CUT: f64 = 0.5;
const RAISE: f64 = 1.2;
const RAISE_EVERY: Duration = Duration::from_secs(1);

/// The resolution of tokio's timers: a sleep ends on a millisecond tick.
const TICK: Duration = Duration::from_millis(1);

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
    /// Requests the budget lets through back to back (job's `burst`).
    burst: u32,
    paused_until: Option<Instant>,
    /// A 429 before this instant belongs to the episode already cut for.
    episode_ends: Instant,
    last_change: Instant,
    /// GCRA's theoretical arrival time of the next request.
    tat: Instant,
    /// GCRA's theoretical time of the next request leaving the gate.
    left_tat: Instant,
}

impl State {
    /// Reserve the slot of a request arriving at `now`: GCRA's virtual
    /// scheduling at the current rate, with `burst` back to back at the full
    /// budget (none while the rate is cut).
    fn interval(&self) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.adaptive.rate).unwrap_or(Duration::from_secs(20))
    }

    fn burst(&self) -> u32 {
        if self.adaptive.rate < self.adaptive.budget {
            1
        } else {
            self.burst.max(1)
        }
    }

    /// Let the request leave at `now`, or say until when it must wait: a
    /// GCRA over the instants requests actually leave, with the burst's
    /// tolerance, or without a burst a jitter allowance of a quarter
    /// interval (at most 10 ms). A wake-up late by less than the allowance
    /// costs nothing; lateness beyond it is lost, as a server's own GCRA
    /// would lose it (making it up by sending early would draw 429s). The
    /// tolerance is never below a timer tick ([`TICK`]).
    fn leave(&mut self, now: Instant) -> Result<(), Instant> {
        let interval = self.interval();
        let tolerance = match self.burst() {
            1 => (interval / 4).min(Duration::from_millis(10)),
            burst => interval.saturating_mul(burst - 1),
        }
        .max(TICK);
        let earliest = self.left_tat.checked_sub(tolerance).unwrap_or(now);
        if now < earliest {
            return Err(earliest);
        }
        self.left_tat = self.left_tat.max(now) + interval;
        Ok(())
    }

    fn reserve(&mut self, now: Instant) -> Instant {
        let interval = self.interval();
        let burst = self.burst();
        let tolerance = interval.saturating_mul(burst - 1);
        let earliest = self.tat.checked_sub(tolerance).unwrap_or(now);
        let slot = now.max(earliest);
        self.tat = self.tat.max(slot) + interval;
        slot
    }
}

pub struct Gate {
    state: Mutex<State>,
}

impl Gate {
    pub fn new(limit: &RateLimit) -> Gate {
        let now = Instant::now();
        Gate {
            state: Mutex::new(State {
                adaptive: Adaptive::new(limit.requests_per_second),
                burst: limit.burst.get(),
                paused_until: None,
                episode_ends: now,
                last_change: now,
                tat: now,
                left_tat: now,
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

    /// Wait for the run-wide pause to end, then for this request's slot.
    pub async fn pass(&self) {
        loop {
            if let Some(until) = self.paused() {
                sleep_until(until).await;
                continue;
            }
            let now = Instant::now();
            let slot = self.state().reserve(now);
            // No timer could end closer to a slot less than a tick away.
            if slot > now + TICK {
                sleep_until(slot).await;
            }
            // A 429 may have arrived while this request waited.
            if self.paused().is_some() {
                continue;
            }
            loop {
                let left = self.state().leave(Instant::now());
                match left {
                    Ok(()) => return,
                    Err(earliest) => sleep_until(earliest).await,
                }
            }
        }
    }

    /// A 429: hold every request of the run for `wait`, and cut the rate
    /// once per throttling episode (the other requests of the same burst
    /// that draw a 429 do not cut it again).
    pub fn throttled(&self, wait: Duration) {
        let now = Instant::now();
        let until = now.checked_add(wait).unwrap_or(now);
        let mut s = self.state();
        if s.paused_until.is_none_or(|current| current < until) {
            s.paused_until = Some(until);
        }
        // No slot before the pause ends. (Requests that wake inside the
        // pause reserve again: their old slots go unused, erring slow.)
        s.tat = s.tat.max(until);
        s.left_tat = s.left_tat.max(until);
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

/// Waits until `deadline`, without a timer when it has passed (the common
/// case below the limit). A timer is not free even then: on the
/// current-thread runtime, registering one wakes the I/O driver through its
/// eventfd, a system call and an extra `epoll_wait` round trip per request.
async fn sleep_until(deadline: Instant) {
    if deadline > Instant::now() {
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::{NonZeroU32, NonZeroUsize};

    fn state(rate: f64, burst: u32, now: Instant) -> State {
        State {
            adaptive: Adaptive::new(rate),
            burst,
            paused_until: None,
            episode_ends: now,
            last_change: now,
            tat: now,
            left_tat: now,
        }
    }

    #[test]
    fn slots_are_one_interval_apart_however_late_a_waiter_arrives() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // (rate, burst, arrivals in ms after t0, slots in ms after t0)
        let cases: &[(f64, u32, &[u64], &[u64])] = &[
            // Four waiters at once: one every 100 ms.
            (10.0, 1, &[0, 0, 0, 0], &[0, 100, 200, 300]),
            // Regression (issue 9): a request that reserves late (its
            // predecessor woke late) still gets the slot the schedule says;
            // the old limiter moved every later slot by the lateness.
            (10.0, 1, &[0, 0, 107, 215, 290], &[0, 100, 200, 300, 400]),
            // Idle for longer than an interval: the schedule starts again.
            (10.0, 1, &[0, 250, 260], &[0, 250, 350]),
            // Burst 3: three back to back, then one per interval.
            (10.0, 3, &[0, 0, 0, 0, 0], &[0, 0, 0, 100, 200]),
        ];
        for (rate, burst, arrivals, want) in cases {
            let mut s = state(*rate, *burst, t0);
            let got: Vec<u64> = arrivals
                .iter()
                .map(|a| (s.reserve(t0 + ms(*a)) - t0).as_millis() as u64)
                .collect();
            assert_eq!(got, *want, "rate {rate}, burst {burst}, arrivals {arrivals:?}");
        }
    }

    #[test]
    fn departures_table() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        const MS: u64 = 1000;
        // (rate, burst, leave attempts in µs, Ok or the earliest instant in µs)
        type Case<'a> = (f64, u32, &'a [u64], &'a [Result<(), u64>]);
        let cases: &[Case<'_>] = &[
            // 10/s, 10 ms allowance: 105 ms (5 late) costs nothing (200 may
            // go); 330 (30 late) loses 20 ms: the next may go at 420.
            (
                10.0,
                1,
                &[0, 105 * MS, 200 * MS, 330 * MS, 410 * MS, 420 * MS],
                &[Ok(()), Ok(()), Ok(()), Ok(()), Err(420 * MS), Ok(())],
            ),
            (20.0, 1, &[0, 39 * MS, 40 * MS], &[Ok(()), Err(40 * MS), Ok(())]),
            // Burst 3: three back to back, then one per interval.
            (10.0, 3, &[0, 0, 0, 0], &[Ok(()), Ok(()), Ok(()), Err(100 * MS)]),
            // Never less than a tick of allowance. 10,000/s: eleven at once
            // (the tick's ten intervals and the first), then one per 100 µs.
            (
                10_000.0,
                1,
                &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 150, 200],
                &[
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Ok(()),
                    Err(100),
                    Ok(()),
                    Err(200),
                    Ok(()),
                ],
            ),
            // 2,000/s: three at once, then one per 500 µs.
            (
                2_000.0,
                1,
                &[0, 0, 0, 0, 500],
                &[Ok(()), Ok(()), Ok(()), Err(500), Ok(())],
            ),
            // 250/s: the quarter interval is the tick; as before.
            (250.0, 1, &[0, 0, 3000, 4000], &[Ok(()), Err(3000), Ok(()), Err(7000)]),
        ];
        for (rate, burst, attempts, want) in cases {
            let mut s = state(*rate, *burst, t0);
            let got: Vec<Result<(), u64>> = attempts
                .iter()
                .map(|a| s.leave(t0 + us(*a)).map_err(|e| (e - t0).as_micros() as u64))
                .collect();
            assert_eq!(got, *want, "rate {rate}, burst {burst}, attempts {attempts:?}");
        }
    }

    /// Virtual time (`start_paused`): the clock moves only when every task
    /// sleeps, to the next timer's deadline, so durations are exact.
    #[tokio::test(start_paused = true)]
    async fn requests_pass_at_the_budget_above_and_below_a_tick() {
        let us = Duration::from_micros;
        // (rate, burst, requests, least and most time they take)
        let cases = [
            // 999 intervals (99.9 ms), less the eleven the first tick lets
            // go. One per tick (the gate before the tick rule) took about
            // a second.
            (10_000.0, 1, 1000, us(98_900), us(101_000)),
            // Every slot 20 ms from the one before: each is slept for.
            (50.0, 1, 11, us(200_000), us(202_000)),
            // Burst 3 at 1,000/s: three at once, then one per millisecond.
            (1_000.0, 3, 12, us(8_000), us(10_000)),
        ];
        for (rate, burst, requests, least, most) in cases {
            let g = gate(rate, burst);
            let start = Instant::now();
            for _ in 0..requests {
                g.pass().await;
            }
            let took = start.elapsed();
            assert!(
                took >= least && took <= most,
                "rate {rate}, burst {burst}, {requests} requests: {took:?}"
            );
        }
    }

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
