//! Card Precision@k, as the Fraud Detection Handbook defines it (Le Borgne et al., 2022, ch. 4):
//! an investigation team can check `k` cards a day, so what matters is how many of the day's `k`
//! most suspicious cards are really compromised. Per UTC day, each card scores its highest
//! transaction score and counts as compromised if any of its transactions that day is fraud;
//! the day's precision is the share of its top `k` that are. A card found on an earlier day is
//! left out of later days (it has been blocked). The figure is the mean over the days.
//!
//! One implementation, fed in event-time order: the trainer gives it every scored row and closes
//! every day at the end; `aegis-outcomes` and the live page give it each outcome — a verdict
//! joined with its label — as it comes, and a day closes once an outcome two days later arrives
//! (its labels have had a whole day to come in). "Card" is whichever entity the verdicts are
//! keyed by: the spec's key (the card for card payments, the account for PaySim).
//!
//! Memory: the open days' cards (at most [`OPEN_DAYS`] days), the cards found in the last
//! [`FOUND_DAYS`] days (at most `k` a day), and the last [`KEPT_DAYS`] closed days' figures.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::spec::time::DAY_MS;

/// Days taking outcomes at once: the newest and the one before.
pub const OPEN_DAYS: i64 = 2;
/// How long a found card stays left out.
pub const FOUND_DAYS: i64 = 90;
/// Closed days whose figures are kept.
pub const KEPT_DAYS: usize = 90;

/// One closed day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Day {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Compromised cards among the day's top `k`, ÷ `k`.
    pub precision: f64,
    /// Cards with a fraud that day, not found on an earlier day: how many could have been found.
    pub compromised: usize,
    /// Cards scored that day.
    pub cards: usize,
}

/// Card Precision@k over a stream of scored, labelled transactions.
#[derive(Debug)]
pub struct DailyCardPrecision {
    k: usize,
    /// Open days: each card's highest score and whether it had a fraud.
    open: BTreeMap<i64, HashMap<String, (f64, bool)>>,
    /// Cards found (in a closed day's top k, compromised), with that day.
    found: HashMap<String, i64>,
    closed: VecDeque<Day>,
    /// Sum and count of every closed day's precision (the mean outlives the kept days).
    sum: f64,
    days: u64,
    /// Outcomes of days already closed, not counted.
    late: u64,
}

impl DailyCardPrecision {
    /// Card Precision@`k` (`k` ≥ 1).
    pub fn new(k: usize) -> DailyCardPrecision {
        DailyCardPrecision {
            k: k.max(1),
            open: BTreeMap::new(),
            found: HashMap::new(),
            closed: VecDeque::new(),
            sum: 0.0,
            days: 0,
            late: 0,
        }
    }

    /// `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// One scored transaction of `card` at `time_ms` and its label. A repeat (at-least-once
    /// delivery) changes nothing. Returns the days this closed, oldest first.
    pub fn add(&mut self, time_ms: i64, card: &str, score: f64, is_fraud: bool) -> Vec<Day> {
        let day = time_ms.div_euclid(DAY_MS);
        if self.closed.back().is_some_and(|last| day <= last.day) {
            self.late += 1;
            return Vec::new();
        }
        let cards = self.open.entry(day).or_default();
        let entry = cards
            .entry(card.to_owned())
            .or_insert((f64::NEG_INFINITY, false));
        entry.0 = entry.0.max(score);
        entry.1 |= is_fraud;
        let newest = self.open.keys().next_back().copied().unwrap_or(day);
        self.close_before(newest - OPEN_DAYS + 1)
    }

    /// Closes every open day (the end of a batch evaluation). Returns them, oldest first.
    pub fn finish(&mut self) -> Vec<Day> {
        self.close_before(i64::MAX)
    }

    /// The last closed day.
    pub fn latest(&self) -> Option<Day> {
        self.closed.back().copied()
    }

    /// The mean precision of every day closed so far.
    pub fn mean(&self) -> Option<f64> {
        (self.days > 0).then(|| self.sum / self.days as f64)
    }

    /// Days closed so far.
    pub fn days(&self) -> u64 {
        self.days
    }

    /// Outcomes that came after their day closed, not counted.
    pub fn late(&self) -> u64 {
        self.late
    }

    fn close_before(&mut self, limit: i64) -> Vec<Day> {
        let mut closed = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= limit {
                break;
            }
            let day = *entry.key();
            let cards = entry.remove();
            closed.push(self.close(day, cards));
        }
        closed
    }

    fn close(&mut self, day: i64, cards: HashMap<String, (f64, bool)>) -> Day {
        self.found.retain(|_, found| day - *found < FOUND_DAYS);
        let scored = cards.len();
        let mut ranked: Vec<(String, f64, bool)> = cards
            .into_iter()
            .filter(|(card, _)| !self.found.contains_key(card))
            .map(|(card, (score, fraud))| (card, score, fraud))
            .collect();
        // Highest score first; equal scores in card order, so the figure is reproducible.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let compromised = ranked.iter().filter(|c| c.2).count();
        let mut hits = 0;
        for (card, _, fraud) in ranked.into_iter().take(self.k) {
            if fraud {
                hits += 1;
                self.found.insert(card, day);
            }
        }
        let result = Day {
            day,
            precision: hits as f64 / self.k as f64,
            compromised,
            cards: scored,
        };
        self.sum += result.precision;
        self.days += 1;
        self.closed.push_back(result);
        if self.closed.len() > KEPT_DAYS {
            self.closed.pop_front();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 17_713 * DAY_MS; // 2018-07-01

    fn at(day: i64) -> i64 {
        T0 + day * DAY_MS + 3_600_000
    }

    #[test]
    fn a_day_counts_each_card_once_at_its_highest_score() {
        // Day 0: card a (fraud, best 0.9), b (legit 0.8), c (fraud 0.1). Top 2: a, b → 1/2.
        let mut cp = DailyCardPrecision::new(2);
        cp.add(at(0), "a", 0.2, true);
        cp.add(at(0), "a", 0.9, false);
        cp.add(at(0), "b", 0.8, false);
        cp.add(at(0), "c", 0.1, true);
        let days = cp.finish();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].precision, 0.5);
        assert_eq!(days[0].compromised, 2);
        assert_eq!(days[0].cards, 3);
        assert_eq!(cp.mean(), Some(0.5));
    }

    #[test]
    fn a_card_found_on_one_day_is_left_out_of_the_next() {
        // Day 0: a found (1/1). Day 1: a again at the top, but it is blocked: b (legit) is the
        // top card, 0/1.
        let mut cp = DailyCardPrecision::new(1);
        cp.add(at(0), "a", 0.9, true);
        cp.add(at(1), "a", 0.95, true);
        cp.add(at(1), "b", 0.5, false);
        let days = cp.finish();
        assert_eq!(
            days.iter().map(|d| d.precision).collect::<Vec<_>>(),
            [1.0, 0.0]
        );
        assert_eq!(cp.mean(), Some(0.5));
    }

    #[test]
    fn a_day_closes_when_an_outcome_two_days_later_arrives_and_later_ones_are_not_counted() {
        let mut cp = DailyCardPrecision::new(1);
        assert!(cp.add(at(0), "a", 0.9, true).is_empty());
        // Day 1 open: day 0 may still get labels.
        assert!(cp.add(at(1), "b", 0.5, false).is_empty());
        let closed = cp.add(at(2), "c", 0.5, false);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].day, at(0).div_euclid(DAY_MS));
        assert_eq!(cp.latest(), Some(closed[0]));
        // A straggler of day 0 changes nothing and is counted late; a repeat changes nothing.
        assert!(cp.add(at(0), "z", 1.0, true).is_empty());
        assert_eq!(cp.late(), 1);
        cp.add(at(1), "b", 0.5, false);
        let rest = cp.finish();
        assert_eq!(rest.iter().map(|d| d.cards).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(cp.days(), 3);
    }
}
