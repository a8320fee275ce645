//! Which source offsets may be committed: for each input partition, the messages read and not yet
//! finished — waiting in a join, or joined with their outcome not yet acknowledged. An offset is
//! released when everything at or below it is finished (joined, produced and acknowledged;
//! evicted; replaced by a duplicate; or undecodable), so a crash re-reads every unfinished
//! message: at least once, never lost. A label offered to the live and the shadow join is read
//! with two uses and finished when both are done with it.

use std::collections::{BTreeMap, HashMap};

use crate::join::{Side, Source};

#[derive(Default)]
struct Partition {
    /// Offsets read and not finished, with how many uses are still open.
    open: BTreeMap<i64, u32>,
    /// The lowest and highest offsets read.
    lowest: Option<i64>,
    highest: Option<i64>,
    /// The last position handed out by [`Ledger::releasable`].
    released: Option<i64>,
}

impl Partition {
    /// The highest offset at or below which everything is finished.
    fn finished_through(&self) -> Option<i64> {
        match self.open.first_key_value() {
            // Nothing below the first offset read is this tenure's to release.
            Some((open, _)) => Some(open - 1).filter(|o| self.lowest.is_some_and(|l| *o >= l)),
            None => self.highest,
        }
    }
}

/// The unfinished offsets of every input partition held.
#[derive(Default)]
pub struct Ledger {
    partitions: HashMap<(Side, i32), Partition>,
}

impl Ledger {
    /// A message was read, to be finished `uses` times (once per join it is offered to; at
    /// least once).
    pub fn read(&mut self, source: Source, uses: u32) {
        let p = self
            .partitions
            .entry((source.side, source.partition))
            .or_default();
        *p.open.entry(source.offset).or_default() += uses.max(1);
        p.highest = p.highest.max(Some(source.offset));
        p.lowest = Some(p.lowest.map_or(source.offset, |l| l.min(source.offset)));
    }

    /// One use of a message is finished; the message is, once all its uses are.
    pub fn finish(&mut self, source: Source) {
        if let Some(p) = self.partitions.get_mut(&(source.side, source.partition)) {
            if let Some(uses) = p.open.get_mut(&source.offset) {
                *uses -= 1;
                if *uses == 0 {
                    p.open.remove(&source.offset);
                }
            }
        }
    }

    /// For each (side, partition) whose finished prefix grew since the last call: the highest
    /// offset at or below which every message read is finished (the offset to store; the commit
    /// is the next one).
    pub fn releasable(&mut self) -> Vec<(Side, i32, i64)> {
        let mut out = Vec::new();
        for (&(side, partition), p) in &mut self.partitions {
            if let Some(through) = p.finished_through() {
                if p.released < Some(through) {
                    p.released = Some(through);
                    out.push((side, partition, through));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Forgets a partition (both sides) taken away by a rebalance.
    pub fn drop_partition(&mut self, partition: i32) {
        self.partitions.retain(|(_, p), _| *p != partition);
    }

    /// Messages read and not finished, all partitions.
    pub fn open(&self) -> usize {
        self.partitions.values().map(|p| p.open.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(side: Side, partition: i32, offset: i64) -> Source {
        Source {
            side,
            partition,
            offset,
        }
    }

    #[test]
    fn an_offset_is_released_only_once_everything_below_is_finished() {
        let mut ledger = Ledger::default();
        for offset in 10..15 {
            ledger.read(at(Side::Verdict, 0, offset), 1);
        }
        assert!(ledger.releasable().is_empty(), "nothing finished yet");
        ledger.finish(at(Side::Verdict, 0, 11));
        ledger.finish(at(Side::Verdict, 0, 12));
        assert!(ledger.releasable().is_empty(), "10 is still open");
        ledger.finish(at(Side::Verdict, 0, 10));
        assert_eq!(ledger.releasable(), [(Side::Verdict, 0, 12)]);
        ledger.finish(at(Side::Verdict, 0, 14));
        assert!(ledger.releasable().is_empty(), "13 is still open");
        ledger.finish(at(Side::Verdict, 0, 13));
        assert_eq!(ledger.releasable(), [(Side::Verdict, 0, 14)]);
        assert!(ledger.releasable().is_empty(), "handed out once");
        assert_eq!(ledger.open(), 0);
    }

    #[test]
    fn sides_and_partitions_are_apart_and_a_dropped_partition_forgotten() {
        let mut ledger = Ledger::default();
        ledger.read(at(Side::Verdict, 0, 0), 1);
        ledger.read(at(Side::Label, 0, 5), 1);
        ledger.read(at(Side::Label, 1, 3), 1);
        ledger.finish(at(Side::Label, 0, 5));
        assert_eq!(ledger.releasable(), [(Side::Label, 0, 5)]);
        ledger.finish(at(Side::Label, 1, 3));
        assert_eq!(ledger.releasable(), [(Side::Label, 1, 3)]);
        ledger.drop_partition(0);
        assert_eq!(ledger.open(), 0, "the open verdict went with its partition");
        // Read again from the committed offset after a new assignment: nothing stale.
        ledger.read(at(Side::Verdict, 0, 0), 1);
        assert!(ledger.releasable().is_empty());
    }

    #[test]
    fn a_label_offered_to_both_joins_is_released_once_both_are_done_with_it() {
        let mut ledger = Ledger::default();
        ledger.read(at(Side::Label, 2, 7), 2);
        ledger.read(at(Side::ShadowVerdict, 2, 4), 1);
        ledger.finish(at(Side::Label, 2, 7)); // met its live verdict
        ledger.finish(at(Side::ShadowVerdict, 2, 4)); // met the label in the shadow join
        assert_eq!(
            ledger.releasable(),
            [(Side::ShadowVerdict, 2, 4)],
            "the label still waits in the shadow join"
        );
        ledger.finish(at(Side::Label, 2, 7));
        assert_eq!(ledger.releasable(), [(Side::Label, 2, 7)]);
        assert_eq!(ledger.open(), 0);
    }
}
