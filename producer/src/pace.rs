//! Pacing against an absolute schedule: transaction `i` is due at `start + i / rate`, so the rate
//! does not drift however long the run, and late sends catch up rather than being lost.

use std::time::{Duration, Instant};

/// When each transaction is due.
pub struct Pacer {
    start: Instant,
    rate: Option<f64>,
}

impl Pacer {
    /// A schedule starting now; `None` means as fast as possible.
    pub fn new(rate: Option<f64>) -> Self {
        Pacer {
            start: Instant::now(),
            rate,
        }
    }

    /// How long after the start transaction `i` is due.
    pub fn offset(rate: f64, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / rate)
    }

    /// Waits until transaction `i` is due: sleeps for gaps of a millisecond or more, yields for
    /// shorter ones (sleep is too coarse at tens of thousands per second).
    pub fn wait(&self, i: u64) {
        let Some(rate) = self.rate else { return };
        let due = self.start + Self::offset(rate, i);
        loop {
            let now = Instant::now();
            if now >= due {
                return;
            }
            let gap = due - now;
            if gap >= Duration::from_millis(1) {
                std::thread::sleep(gap - Duration::from_micros(200));
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_absolute_and_exact() {
        assert_eq!(Pacer::offset(1.0, 0), Duration::ZERO);
        assert_eq!(Pacer::offset(1.0, 3), Duration::from_secs(3));
        assert_eq!(Pacer::offset(50_000.0, 50_000), Duration::from_secs(1));
        assert_eq!(Pacer::offset(50_000.0, 1), Duration::from_micros(20));
        // A million sends at 10k/s end at exactly 100 s: no accumulated drift.
        assert_eq!(Pacer::offset(10_000.0, 1_000_000), Duration::from_secs(100));
    }

    #[test]
    fn without_a_rate_nothing_waits() {
        let pacer = Pacer::new(None);
        pacer.wait(u64::MAX);
    }
}
