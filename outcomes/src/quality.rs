//! Confusion counts (decision × label) and the live quality they give: precision and recall of
//! BLOCK and of REVIEW-or-BLOCK, over a sliding window of whole seconds (`--quality-window`).
//! Memory: one bucket of six counts per second of the window.

use std::collections::VecDeque;

use aegis_core::Decision;

/// Outcomes by decision (ALLOW, REVIEW, BLOCK) and label (legit, fraud).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confusion {
    /// `counts[decision][is_fraud]`.
    pub counts: [[u64; 2]; 3],
}

/// What counts as flagged: the `flagged` label of the precision and recall gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flagged {
    /// BLOCK alone.
    Block,
    /// REVIEW or BLOCK.
    ReviewOrBlock,
}

impl Flagged {
    /// Both, in metric order.
    pub const ALL: [Flagged; 2] = [Flagged::Block, Flagged::ReviewOrBlock];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Flagged::Block => "block",
            Flagged::ReviewOrBlock => "review_or_block",
        }
    }

    fn flags(self, decision: Decision) -> bool {
        match self {
            Flagged::Block => decision == Decision::Block,
            Flagged::ReviewOrBlock => decision >= Decision::Review,
        }
    }
}

fn index(decision: Decision) -> usize {
    match decision {
        Decision::Allow => 0,
        Decision::Review => 1,
        Decision::Block => 2,
    }
}

impl Confusion {
    /// Counts one outcome.
    pub fn add(&mut self, decision: Decision, is_fraud: bool) {
        self.counts[index(decision)][usize::from(is_fraud)] += 1;
    }

    /// The count of one cell.
    pub fn get(&self, decision: Decision, is_fraud: bool) -> u64 {
        self.counts[index(decision)][usize::from(is_fraud)]
    }

    /// All outcomes counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    fn merge(&mut self, other: &Confusion) {
        for (row, other_row) in self.counts.iter_mut().zip(&other.counts) {
            for (cell, other_cell) in row.iter_mut().zip(other_row) {
                *cell += other_cell;
            }
        }
    }

    /// (true positives, false positives, false negatives) when `flagged` is the positive call.
    fn cells(&self, flagged: Flagged) -> (u64, u64, u64) {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for decision in Decision::ALL {
            if flagged.flags(decision) {
                tp += self.get(decision, true);
                fp += self.get(decision, false);
            } else {
                fn_ += self.get(decision, true);
            }
        }
        (tp, fp, fn_)
    }

    /// Of the transactions flagged, the share that were fraud; `None` when none was flagged.
    pub fn precision(&self, flagged: Flagged) -> Option<f64> {
        let (tp, fp, _) = self.cells(flagged);
        (tp + fp > 0).then(|| tp as f64 / (tp + fp) as f64)
    }

    /// Of the frauds, the share flagged; `None` when there was no fraud.
    pub fn recall(&self, flagged: Flagged) -> Option<f64> {
        let (tp, _, fn_) = self.cells(flagged);
        (tp + fn_ > 0).then(|| tp as f64 / (tp + fn_) as f64)
    }
}

/// Confusion counts of the last `span` seconds, in one-second buckets.
pub struct QualityWindow {
    span: u64,
    /// (second, counts of that second), oldest first.
    buckets: VecDeque<(i64, Confusion)>,
}

impl QualityWindow {
    /// A window of `span` seconds (at least 1).
    pub fn new(span: u64) -> Self {
        QualityWindow {
            span: span.max(1),
            buckets: VecDeque::new(),
        }
    }

    /// Counts one outcome at second `now` (seconds since the epoch).
    pub fn add(&mut self, now: i64, decision: Decision, is_fraud: bool) {
        self.expire(now);
        match self.buckets.back_mut() {
            Some((second, counts)) if *second >= now => counts.add(decision, is_fraud),
            _ => {
                let mut counts = Confusion::default();
                counts.add(decision, is_fraud);
                self.buckets.push_back((now, counts));
            }
        }
    }

    /// The counts of the seconds in `(now − span, now]`.
    pub fn counts(&mut self, now: i64) -> Confusion {
        self.expire(now);
        let mut total = Confusion::default();
        for (_, counts) in &self.buckets {
            total.merge(counts);
        }
        total
    }

    fn expire(&mut self, now: i64) {
        expire(&mut self.buckets, self.span, now);
    }
}

/// Drops the one-second buckets (oldest first, by their second) of `buckets` that fall out of
/// the last `span` seconds at second `now`.
pub(crate) fn expire<T>(buckets: &mut VecDeque<(i64, T)>, span: u64, now: i64) {
    let oldest = now.saturating_sub(i64::try_from(span).unwrap_or(i64::MAX)) + 1;
    while buckets.front().is_some_and(|(s, _)| *s < oldest) {
        buckets.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::{Allow, Block, Review};

    #[test]
    fn precision_and_recall_of_block_and_of_review_or_block() {
        let mut c = Confusion::default();
        assert_eq!(c.precision(Flagged::Block), None);
        assert_eq!(c.recall(Flagged::Block), None);
        for (decision, is_fraud, n) in [
            (Block, true, 6),
            (Block, false, 2),
            (Review, true, 2),
            (Review, false, 10),
            (Allow, true, 2),
            (Allow, false, 100),
        ] {
            for _ in 0..n {
                c.add(decision, is_fraud);
            }
        }
        assert_eq!(c.total(), 122);
        assert_eq!(c.precision(Flagged::Block), Some(0.75));
        assert_eq!(c.recall(Flagged::Block), Some(0.6));
        assert_eq!(c.precision(Flagged::ReviewOrBlock), Some(8.0 / 20.0));
        assert_eq!(c.recall(Flagged::ReviewOrBlock), Some(0.8));
    }

    #[test]
    fn the_window_forgets_what_is_older_than_its_span() {
        let mut w = QualityWindow::new(10);
        w.add(100, Block, true);
        w.add(100, Block, false);
        w.add(105, Allow, true);
        assert_eq!(w.counts(105).total(), 3);
        assert_eq!(w.counts(109).precision(Flagged::Block), Some(0.5));
        // At 110 the second 100 has left (the window is 101..=110).
        let counts = w.counts(110);
        assert_eq!(counts.total(), 1);
        assert_eq!(counts.recall(Flagged::Block), Some(0.0));
        assert_eq!(w.counts(200).total(), 0);
        // A clock that steps back counts into the newest bucket.
        w.add(300, Review, true);
        w.add(299, Review, true);
        assert_eq!(w.counts(300).get(Review, true), 2);
    }
}
