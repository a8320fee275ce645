//! What Aegis remembers of an origin account: its recent transactions, and the *state features*
//! computed from them for the next one — counts and sums over sliding windows, time since the
//! previous transaction and what it was, whether the destination is new, the largest previous
//! amount. One implementation serves the scorer online (per partition, backed by a changelog) and
//! the trainer offline (replaying a CSV in step order), so a model or a rule that uses these
//! features sees the same values in both places.
//!
//! Time is the transaction's `event_time` (milliseconds). PaySim rows carry only their hour
//! (`step`); read from CSV, a row's time is the start of its step
//! ([`crate::paysim::step_event_time`]), online and offline alike.
//!
//! Every remembered transaction carries its *source offset* (its position in the input partition
//! online, its row number offline). A transaction read again after a crash — at-least-once
//! delivery repeats the uncommitted tail — gets the features it had the first time (only what came
//! before its offset counts) and is not remembered twice: the state counts each transaction once.
//!
//! Memory is bounded per account: at most [`StateParams::max_recent`] transactions are kept, and
//! none older than the longest window. Window counts and sums are over what is kept, so an account
//! that makes more than `max_recent` transactions inside a window is undercounted — a bound stated,
//! not hidden (the scorer's own caps — accounts per partition, time to live — are separate).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::transaction::{Transaction, TxType};

/// The shape of the state: window lengths and how much history an account keeps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateParams {
    /// The short window, milliseconds (default one hour).
    pub short_window_ms: i64,
    /// The long window, milliseconds (default one day); history older than this is dropped.
    pub long_window_ms: i64,
    /// Most transactions kept per account.
    pub max_recent: usize,
}

impl Default for StateParams {
    fn default() -> Self {
        StateParams {
            short_window_ms: 3_600_000,
            long_window_ms: 86_400_000,
            max_recent: 32,
        }
    }
}

/// One remembered transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recent {
    /// Its source offset (input partition offset online, row number offline).
    pub offset: i64,
    /// Its `event_time`, milliseconds.
    pub time_ms: i64,
    /// Its type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Its amount.
    pub amount: f64,
    /// Where the money went.
    pub dest: String,
}

/// An account's remembered history: oldest first, within the long window and `max_recent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountHistory {
    /// The remembered transactions, oldest first (in offset order).
    pub recent: VecDeque<Recent>,
    /// The largest amount among forgotten transactions.
    pub max_forgotten: f64,
    /// The source offset of the latest transaction remembered (kept when it is forgotten).
    pub last_offset: Option<i64>,
}

/// The state features of a transaction: what the account did *before* it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StateFeatures {
    /// Previous transactions within the short window.
    pub count_short: u32,
    /// Previous transactions within the long window.
    pub count_long: u32,
    /// Their amounts, summed, within the short window.
    pub sum_short: f64,
    /// Their amounts, summed, within the long window.
    pub sum_long: f64,
    /// Seconds since the previous transaction (`None` for the first one).
    pub seconds_since_previous: Option<f64>,
    /// The previous transaction's type.
    pub previous_type: Option<TxType>,
    /// The previous transaction's amount.
    pub previous_amount: Option<f64>,
    /// Whether the destination is one this account has not paid within its history.
    pub new_destination: bool,
    /// The largest previous amount (0 for the first transaction).
    pub max_previous_amount: f64,
}

impl AccountHistory {
    /// The features of `tx`, at source offset `offset`, given what this history holds from before
    /// that offset (the history is not changed).
    pub fn features(&self, tx: &Transaction, offset: i64, params: &StateParams) -> StateFeatures {
        let now = tx.event_time;
        let before = || self.recent.iter().filter(move |r| r.offset < offset);
        let within = |window: i64| {
            before().filter(move |r| r.time_ms <= now && now.saturating_sub(r.time_ms) <= window)
        };
        let previous = before().next_back();
        StateFeatures {
            count_short: within(params.short_window_ms).count() as u32,
            count_long: within(params.long_window_ms).count() as u32,
            sum_short: within(params.short_window_ms).map(|r| r.amount).sum(),
            sum_long: within(params.long_window_ms).map(|r| r.amount).sum(),
            seconds_since_previous: previous.map(|p| now.saturating_sub(p.time_ms) as f64 / 1000.0),
            previous_type: previous.map(|p| p.tx_type),
            previous_amount: previous.map(|p| p.amount),
            new_destination: !before().any(|r| r.dest == tx.name_dest),
            max_previous_amount: before()
                .map(|r| r.amount)
                .fold(self.max_forgotten, f64::max),
        }
    }

    /// Remembers `tx` at `offset` — unless a transaction at or after that offset is already
    /// remembered (a replay) — forgetting what is older than the long window or beyond
    /// `max_recent`. Whether it was remembered.
    pub fn record(&mut self, tx: &Transaction, offset: i64, params: &StateParams) -> bool {
        if self.last_offset.is_some_and(|last| last >= offset) {
            return false;
        }
        self.last_offset = Some(offset);
        if self.recent.capacity() == 0 {
            // Most accounts transact once: room for one, not the four a first push would make.
            self.recent.reserve_exact(1);
        }
        self.recent.push_back(Recent {
            offset,
            time_ms: tx.event_time,
            tx_type: tx.tx_type,
            amount: tx.amount,
            dest: tx.name_dest.clone(),
        });
        let now = tx.event_time;
        while self.recent.len() > params.max_recent.max(1)
            || self
                .recent
                .front()
                .is_some_and(|r| now.saturating_sub(r.time_ms) > params.long_window_ms)
        {
            if let Some(forgotten) = self.recent.pop_front() {
                self.max_forgotten = self.max_forgotten.max(forgotten.amount);
            }
        }
        true
    }

    /// The features of `tx` at `offset`, then remembers it: what scoring a transaction does to its
    /// account (a replayed one gets the same features, and is not counted again).
    pub fn observe(
        &mut self,
        tx: &Transaction,
        offset: i64,
        params: &StateParams,
    ) -> StateFeatures {
        let features = self.features(tx, offset, params);
        self.record(tx, offset, params);
        features
    }

    /// When the account last transacted (`None` if nothing is remembered).
    pub fn last_seen_ms(&self) -> Option<i64> {
        self.recent.back().map(|r| r.time_ms)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod tests {
    use super::*;

    fn tx(time_ms: i64, tx_type: TxType, amount: f64, dest: &str) -> Transaction {
        Transaction {
            tx_id: format!("t{time_ms}"),
            event_time: time_ms,
            step: 1,
            tx_type,
            amount,
            name_orig: "C1".into(),
            old_balance_orig: 181_000.0,
            new_balance_orig: 181_000.0 - amount,
            name_dest: dest.into(),
            old_balance_dest: 0.0,
            new_balance_dest: 0.0,
            is_fraud: None,
        }
    }

    #[test]
    fn the_takeover_sequence_is_visible_in_the_transfers_features() {
        let params = StateParams::default();
        let mut history = AccountHistory::default();
        let first = history.observe(&tx(0, TxType::Payment, 9.5, "M1"), 10, &params);
        assert_eq!(first.previous_type, None);
        assert!(first.new_destination);
        let transfer_tx = tx(90_000, TxType::Transfer, 171_950.0, "C9");
        let transfer = history.observe(&transfer_tx, 11, &params);
        assert_eq!(transfer.previous_type, Some(TxType::Payment));
        assert_eq!(transfer.previous_amount, Some(9.5));
        assert_eq!(transfer.seconds_since_previous, Some(90.0));
        assert_eq!((transfer.count_short, transfer.sum_short), (1, 9.5));
        assert!(transfer.new_destination);
        assert_eq!(transfer.max_previous_amount, 9.5);
        // Read again after a crash: the same features, and not counted twice.
        let again = history.clone();
        assert_eq!(history.observe(&transfer_tx, 11, &params), transfer);
        assert_eq!(history, again);
        // The probe replayed too: it sees nothing before it.
        let probe = history.observe(&tx(0, TxType::Payment, 9.5, "M1"), 10, &params);
        assert_eq!(probe, first);
    }

    #[test]
    fn windows_slide_and_memory_is_bounded() {
        let params = StateParams {
            short_window_ms: 1_000,
            long_window_ms: 10_000,
            max_recent: 4,
        };
        let mut history = AccountHistory::default();
        for i in 0..10 {
            history.observe(&tx(i * 500, TxType::Payment, 1.0, "M1"), i, &params);
        }
        assert_eq!(history.recent.len(), 4, "at most max_recent kept");
        let f = history.features(&tx(5_000, TxType::Payment, 1.0, "M1"), 10, &params);
        // Kept: 3000, 3500, 4000, 4500; within 1 s of 5000: 4000 and 4500 (5000−1000 included).
        assert_eq!((f.count_short, f.count_long), (2, 4));
        assert!(!f.new_destination);
        // Much later: everything forgotten but the largest amount.
        assert!(history.record(&tx(100_000, TxType::CashOut, 7.0, "C2"), 11, &params));
        assert_eq!(history.recent.len(), 1);
        assert_eq!(history.max_forgotten, 1.0);
        let f = history.features(&tx(100_001, TxType::CashOut, 1.0, "C2"), 12, &params);
        assert_eq!(f.max_previous_amount, 7.0);
        // Once forgotten, an old offset is still known as seen.
        assert!(!history.record(&tx(0, TxType::Payment, 1.0, "M1"), 3, &params));
    }

    #[test]
    fn history_round_trips_through_json_as_a_changelog_would_carry_it() {
        let params = StateParams::default();
        let mut history = AccountHistory::default();
        history.observe(&tx(0, TxType::Payment, 9.5, "M1"), 0, &params);
        let json = serde_json::to_string(&history).unwrap();
        let back: AccountHistory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, history);
    }
}
