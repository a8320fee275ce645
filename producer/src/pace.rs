//! Pacing against an absolute schedule: transaction `i` is due at `start + i / rate`, so the rate
//! does not drift however long the run, and sends delayed by a slow broker catch up rather than
//! being lost. Waits are cut into slices of at most [`MAX_SLEEP`] so a stop request or the end of
//! `--duration` is noticed promptly even at one transaction a minute.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The longest single sleep: how late a stop request can be noticed while waiting.
pub const MAX_SLEEP: Duration = Duration::from_millis(50);

/// How much earlier than due a sleep ends: about what the OS adds to a sleep. The rest of the gap
/// is spent yielding, so a send is rarely late, and gaps shorter than this are never slept.
pub const SLEEP_SLACK: Duration = Duration::from_micros(80);

/// Time as the pacer sees it; [`WallClock`] in production, a fake one in tests.
pub trait Clock {
    /// Time since the schedule started.
    fn elapsed(&self) -> Duration;
    /// Blocks for about `d`.
    fn sleep(&self, d: Duration);
    /// Gives up the CPU briefly (a gap too short to sleep).
    fn yield_now(&self);
}

/// The real clock, started when created.
pub struct WallClock(Instant);

impl WallClock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        WallClock(Instant::now())
    }
}

impl Clock for WallClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }

    fn yield_now(&self) {
        std::thread::yield_now();
    }
}

/// When each transaction is due, and when to stop.
pub struct Pacer<C = WallClock> {
    clock: C,
    rate: Option<f64>,
    limit: Option<Duration>,
}

impl Pacer<WallClock> {
    /// A schedule starting now. `rate` in transactions per second (`None`: as fast as possible);
    /// `limit` ends the run (`--duration`).
    pub fn new(rate: Option<f64>, limit: Option<Duration>) -> Self {
        Pacer::with_clock(WallClock::start(), rate, limit)
    }
}

impl<C: Clock> Pacer<C> {
    /// A schedule on the given clock.
    pub fn with_clock(clock: C, rate: Option<f64>, limit: Option<Duration>) -> Self {
        Pacer { clock, rate, limit }
    }

    /// How long after the start transaction `i` is due.
    pub fn offset(rate: f64, i: u64) -> Duration {
        Duration::try_from_secs_f64(i as f64 / rate).unwrap_or(Duration::MAX)
    }

    /// Waits until transaction `i` is due. `false` means stop instead: `cancel` fired, or `i`
    /// would be due at or after the end of the run.
    pub fn wait(&self, i: u64, cancel: &CancellationToken) -> bool {
        self.wait_until(self.rate.map(|rate| Self::offset(rate, i)), cancel)
    }

    /// Waits until `due` after the start (`None`: not at all). `false` means stop instead:
    /// `cancel` fired, or `due` is at or after the end of the run.
    pub fn wait_until(&self, due: Option<Duration>, cancel: &CancellationToken) -> bool {
        if self
            .limit
            .is_some_and(|limit| due.is_some_and(|d| d >= limit))
        {
            return false;
        }
        loop {
            if cancel.is_cancelled() {
                return false;
            }
            let now = self.clock.elapsed();
            if self.limit.is_some_and(|limit| now >= limit) {
                return false;
            }
            let Some(gap) = due
                .and_then(|d| d.checked_sub(now))
                .filter(|g| !g.is_zero())
            else {
                return true;
            };
            if gap > SLEEP_SLACK {
                self.clock.sleep((gap - SLEEP_SLACK).min(MAX_SLEEP));
            } else {
                self.clock.yield_now();
            }
        }
    }

    /// The time the first `sent` transactions took: at least their slots in the schedule (so 1,000
    /// sends at 1,000/s took 1 s, not the 0.999 s between the first and the last), more if the
    /// broker held them up.
    pub fn window(&self, sent: u64) -> Duration {
        let slots = self
            .rate
            .map_or(Duration::ZERO, |rate| Self::offset(rate, sent));
        let slots = self.limit.map_or(slots, |limit| slots.min(limit));
        self.clock.elapsed().max(slots)
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A clock that only moves when slept on (each sleep oversleeps by `overshoot`, like an OS
    /// does), or yielded (1 µs), or when a test moves it; it can fire a token after some sleeps.
    #[derive(Default)]
    struct FakeClock {
        now: Cell<Duration>,
        overshoot: Duration,
        sleeps: Cell<u32>,
        yields: Cell<u32>,
        cancel_after_sleeps: Option<(u32, CancellationToken)>,
    }

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.now.set(self.now.get() + d);
        }
    }

    impl Clock for &FakeClock {
        fn elapsed(&self) -> Duration {
            self.now.get()
        }

        fn sleep(&self, d: Duration) {
            assert!(d <= MAX_SLEEP, "slept {d:?} in one go");
            self.advance(d + self.overshoot);
            self.sleeps.set(self.sleeps.get() + 1);
            if let Some((n, token)) = &self.cancel_after_sleeps {
                if self.sleeps.get() >= *n {
                    token.cancel();
                }
            }
        }

        fn yield_now(&self) {
            self.advance(Duration::from_micros(1));
            self.yields.set(self.yields.get() + 1);
        }
    }

    fn us(d: Duration) -> u128 {
        d.as_micros()
    }

    #[test]
    fn schedule_is_absolute_and_exact() {
        type P = Pacer<WallClock>;
        assert_eq!(P::offset(1.0, 0), Duration::ZERO);
        assert_eq!(P::offset(1.0, 3), Duration::from_secs(3));
        assert_eq!(P::offset(50_000.0, 50_000), Duration::from_secs(1));
        assert_eq!(P::offset(50_000.0, 1), Duration::from_micros(20));
        // A million sends at 10k/s end at exactly 100 s: no accumulated drift.
        assert_eq!(P::offset(10_000.0, 1_000_000), Duration::from_secs(100));
        assert_eq!(P::offset(1e-30, 1), Duration::MAX, "no overflow panic");
    }

    #[test]
    fn every_send_is_on_time_despite_oversleeping_and_nothing_drifts() {
        for rate in [1.0, 7.0, 1_000.0, 50_000.0] {
            let clock = FakeClock {
                overshoot: Duration::from_micros(60),
                ..FakeClock::default()
            };
            let pacer = Pacer::with_clock(&clock, Some(rate), None);
            let cancel = CancellationToken::new();
            let n = 2_000;
            for i in 0..n {
                assert!(pacer.wait(i, &cancel));
                let due = Pacer::<WallClock>::offset(rate, i);
                let now = clock.now.get();
                assert!(now >= due, "{rate}/s: #{i} sent early");
                assert!(
                    us(now - due) <= 5,
                    "{rate}/s: #{i} {}µs late",
                    us(now - due)
                );
                clock.advance(Duration::from_micros(2)); // the send itself
            }
            let expected = n as f64 / rate;
            let window = pacer.window(n).as_secs_f64();
            assert!((window - expected).abs() < 1e-5, "{rate}/s: {window} s");
            // Gaps above the slack are slept, not spun: a few yields per send at most.
            assert!(clock.yields.get() < 40 * n as u32, "{rate}/s spins");
        }
    }

    #[test]
    fn late_sends_catch_up_without_waiting() {
        let clock = FakeClock::default();
        let pacer = Pacer::with_clock(&clock, Some(100.0), None);
        let cancel = CancellationToken::new();
        assert!(pacer.wait(0, &cancel));
        clock.advance(Duration::from_millis(500)); // the broker held us up
        for i in 1..=50 {
            assert!(pacer.wait(i, &cancel));
        }
        assert_eq!(clock.sleeps.get(), 0, "the 50 overdue sends go at once");
        assert_eq!(us(clock.now.get()), 500_000);
        assert!(pacer.wait(51, &cancel));
        assert_eq!(us(clock.now.get()), 510_000, "then the schedule resumes");
    }

    #[test]
    fn duration_ends_the_run_at_the_last_slot_inside_it() {
        let clock = FakeClock::default();
        let pacer = Pacer::with_clock(&clock, Some(10.0), Some(Duration::from_secs(1)));
        let cancel = CancellationToken::new();
        let sent = (0..).take_while(|&i| pacer.wait(i, &cancel)).count();
        assert_eq!(sent, 10, "slots at 0.0, 0.1, … 0.9 s");
        assert!(
            clock.now.get() < Duration::from_secs(1),
            "no wait for a slot past the end"
        );
        assert_eq!(pacer.window(10), Duration::from_secs(1));

        // Unpaced, it stops once the time is up.
        let clock = FakeClock::default();
        let pacer = Pacer::with_clock(&clock, None, Some(Duration::from_secs(1)));
        assert!(pacer.wait(0, &cancel));
        clock.advance(Duration::from_secs(1));
        assert!(!pacer.wait(1, &cancel));
    }

    #[test]
    fn a_stop_request_ends_a_long_wait_within_one_slice() {
        let cancel = CancellationToken::new();
        let clock = FakeClock {
            cancel_after_sleeps: Some((3, cancel.clone())),
            ..FakeClock::default()
        };
        let pacer = Pacer::with_clock(&clock, Some(1.0 / 60.0), None); // one a minute
        assert!(pacer.wait(0, &cancel));
        assert!(!pacer.wait(1, &cancel));
        assert_eq!(clock.now.get(), 3 * MAX_SLEEP);
        assert!(!pacer.wait(0, &cancel), "stays stopped");
    }

    #[test]
    fn without_a_rate_nothing_waits() {
        let clock = FakeClock::default();
        let pacer = Pacer::with_clock(&clock, None, None);
        assert!(pacer.wait(u64::MAX, &CancellationToken::new()));
        assert_eq!((clock.sleeps.get(), clock.yields.get()), (0, 0));
    }
}
