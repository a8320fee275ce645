//! Progress while running: a bar on stderr (sent, rate, failed) when asked for — the binary asks
//! only when stderr is a terminal — refreshed a few times a second whatever the rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::metrics::Counters;

/// How often the bar is refreshed.
const REFRESH: Duration = Duration::from_millis(200);

/// The bar (hidden unless shown) and the counters it shows.
pub struct Progress {
    bar: ProgressBar,
    counters: Arc<Counters>,
    next_refresh: Instant,
}

impl Progress {
    /// A bar towards `total` transactions (a spinner when the end is unknown), drawn only if
    /// `show`.
    pub fn new(show: bool, total: Option<u64>, counters: Arc<Counters>) -> Self {
        let bar = match (show, total) {
            (false, _) => ProgressBar::hidden(),
            (true, Some(n)) => ProgressBar::new(n),
            (true, None) => ProgressBar::no_length(),
        };
        let template = if total.is_some() {
            "{spinner} sent {human_pos}/{human_len} [{bar:30}] {msg} ({elapsed}, {eta} left)"
        } else {
            "{spinner} sent {human_pos}, {msg} ({elapsed})"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        if show {
            // Keeps the spinner turning between sends at low rates.
            bar.enable_steady_tick(REFRESH);
        }
        Progress {
            bar,
            counters,
            next_refresh: Instant::now(),
        }
    }

    /// Records that `sent` transactions went out in `elapsed`; refreshes at most every
    /// [`REFRESH`].
    pub fn update(&mut self, sent: u64, elapsed: Duration) {
        let now = Instant::now();
        if now < self.next_refresh {
            return;
        }
        self.next_refresh = now + REFRESH;
        let rate = sent as f64 / elapsed.as_secs_f64().max(1e-9);
        self.bar.set_position(sent);
        self.bar.set_message(format!(
            "{rate:.0} tx/s, failed {}",
            self.counters.failed.get()
        ));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
