//! A seeded generator of PaySim-like traffic, drawn from PaySim as measured ([`PAYSIM`], written by
//! `scripts/measure-paysim` from `data/`; `docs/simulator.md` says which rows and how):
//!
//! - legit rows: the type mix; amounts and balances from quantile tables; origins empty as often
//!   as PaySim's, and the origin's balance after as PaySim books it (+ amount for CASH_IN, − amount
//!   down to zero otherwise); merchants (`M…`) as PAYMENT destinations, with no balances; customer
//!   destinations rarely empty when the origin is, and PaySim's destination-balance inconsistency:
//!   the balance after as it stands at the end of the step, after later credits or debits;
//! - fraud as PaySim makes it: a victim's whole balance transferred to a mule (whose balances show
//!   zero) in pieces of at most PaySim's largest transfer, each piece followed by a CASH_OUT of the
//!   same amount from another account; sometimes a flagged attempt at the remainder; a few lone
//!   fraud rows that look like ordinary cash-outs;
//! - the account-takeover scenario, every `takeover_every` transactions: a small local payment
//!   from an account, immediately followed by a transfer that empties it.
//!
//! Account ids are PaySim's: `C` or `M` and a number below 2^31, fresh for every row.

mod fraud;
pub mod measure;
pub mod measured;
pub mod out;
pub mod profile;

use std::collections::VecDeque;

use aegis_core::{Transaction, TxType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use measured::PAYSIM;
use profile::{cents, dest_after_alone, Destination, Profiles};

/// PaySim's account numbers are Java ints: below 2^31 (the samples' largest is 2,147,458,391).
const ACCOUNT_IDS: std::ops::Range<u32> = 0..1 << 31;

/// Knobs of the generator.
#[derive(Clone, Copy, Debug)]
pub struct SimulationParams {
    /// Seed: the same seed gives the same transactions.
    pub seed: u64,
    /// Share of transactions that are fraud (PaySim's pattern; takeovers come on top).
    pub fraud_rate: f64,
    /// Play the account takeover every this many transactions.
    pub takeover_every: Option<u64>,
}

/// One simulated row: the transaction and PaySim's `isFlaggedFraud` (the old rule's output, set on
/// the flagged remainder attempts).
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedRow {
    /// The transaction; `is_fraud` is always set.
    pub transaction: Transaction,
    /// PaySim's `isFlaggedFraud`.
    pub is_flagged_fraud: bool,
}

/// An endless, deterministic stream of transactions. `event_time` is left at 0 for the publisher
/// to stamp; `step` is the one set with [`Simulator::set_step`] (1 until then).
pub struct Simulator {
    rng: StdRng,
    params: SimulationParams,
    profiles: &'static Profiles,
    /// Probability that a draw starts a fraud event rather than a legit row.
    fraud_event: f64,
    pending: VecDeque<SimulatedRow>,
    emitted: u64,
    step: i32,
}

impl Simulator {
    /// A generator with these parameters, drawing from [`PAYSIM`].
    pub fn new(params: SimulationParams) -> Self {
        let mut simulator = Simulator {
            rng: StdRng::seed_from_u64(params.seed),
            params,
            profiles: &PAYSIM,
            fraud_event: 0.0,
            pending: VecDeque::new(),
            emitted: 0,
            step: 1,
        };
        simulator.set_fraud_rate(params.fraud_rate);
        simulator
    }

    /// From now on, this share of transactions (in [0, 1]) is fraud.
    pub fn set_fraud_rate(&mut self, rate: f64) {
        // A fraud event gives `m` rows on average: p·m / (p·m + 1 − p) = rate.
        let m = self.profiles.fraud.rows_per_event;
        let rate = rate.clamp(0.0, 1.0);
        self.fraud_event = (rate / (m - rate * (m - 1.0))).clamp(0.0, 1.0);
    }

    /// Transactions generated from now on carry this step.
    pub fn set_step(&mut self, step: i32) {
        self.step = step;
    }

    /// Whether rows of an event already begun wait to be emitted (an event's rows share a step).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The next row.
    pub fn next_row(&mut self) -> SimulatedRow {
        loop {
            if let Some(row) = self.pending.pop_front() {
                self.emitted += 1;
                return row;
            }
            let takeover_due = self
                .params
                .takeover_every
                .is_some_and(|every| self.emitted > 0 && self.emitted.is_multiple_of(every));
            if takeover_due {
                self.takeover();
            } else if self.rng.random_bool(self.fraud_event) {
                self.fraud();
            } else {
                let tx = self.legit();
                self.push(tx, false);
            }
        }
    }

    /// A PaySim account id: `C` (customer) or `M` (merchant) and a number below 2^31.
    fn account(&mut self, prefix: char) -> String {
        format!("{prefix}{}", self.rng.random_range(ACCOUNT_IDS))
    }

    /// A row with zero balances, labelled legit.
    fn row(
        &mut self,
        tx_type: TxType,
        amount: f64,
        name_orig: String,
        name_dest: String,
    ) -> Transaction {
        Transaction {
            tx_id: format!(
                "sim-{}-{}",
                self.params.seed,
                self.emitted + self.pending.len() as u64
            ),
            event_time: 0,
            step: self.step,
            tx_type,
            amount: cents(amount),
            name_orig,
            old_balance_orig: 0.0,
            new_balance_orig: 0.0,
            name_dest,
            old_balance_dest: 0.0,
            new_balance_dest: 0.0,
            is_fraud: Some(false),
        }
    }

    fn push(&mut self, transaction: Transaction, is_flagged_fraud: bool) {
        self.pending.push_back(SimulatedRow {
            transaction,
            is_flagged_fraud,
        });
    }

    /// A legit row of a type drawn by PaySim's mix.
    fn legit(&mut self) -> Transaction {
        let mut left: f64 = self.rng.random();
        let types = &self.profiles.types;
        let tx_type = types
            .iter()
            .find(|p| {
                left -= p.share;
                left < 0.0
            })
            .unwrap_or(&types[types.len() - 1])
            .tx_type;
        self.legit_of(tx_type, None)
    }

    /// A row of this type as PaySim's legit ones look; `origin_empty` overrides the share of
    /// empty origins.
    fn legit_of(&mut self, tx_type: TxType, origin_empty: Option<f64>) -> Transaction {
        let profile = *self.profiles.of(tx_type);
        let amount = profile.amount.sample(&mut self.rng);
        let origin = match origin_empty {
            Some(share) => profile::Balance {
                zero: share,
                ..profile.origin
            },
            None => profile.origin,
        };
        let old_balance_orig = origin.sample(&mut self.rng);
        let orig = self.account('C');
        let dest = self.account(if profile.destination.is_some() {
            'C'
        } else {
            'M'
        });
        let mut tx = self.row(tx_type, amount, orig, dest);
        tx.old_balance_orig = old_balance_orig;
        tx.new_balance_orig = if tx_type == TxType::CashIn {
            cents(tx.old_balance_orig + tx.amount)
        } else {
            // PaySim leaves an account at zero when it pays more than it holds.
            cents((tx.old_balance_orig - tx.amount).max(0.0))
        };
        if let Some(destination) = profile.destination {
            self.settle(&destination, &mut tx);
        }
        tx
    }

    /// The destination's balances: before, by whether the origin held money; after, as it stands
    /// at the end of the step.
    fn settle(&mut self, destination: &Destination, tx: &mut Transaction) {
        let before = if tx.old_balance_orig == 0.0 {
            destination.origin_empty
        } else {
            destination.origin_funded
        };
        tx.old_balance_dest = if self.rng.random_bool(before.balance.zero) {
            0.0
        } else {
            // Below or above the amount as often as PaySim's, each side shaped as measured.
            let positive = before.balance.positive;
            let split = positive.cdf(tx.amount.max(f64::MIN_POSITIVE).ln());
            let (lo, hi) = if self.rng.random_bool(before.below_amount) {
                (0.0, split)
            } else {
                (split, 1.0)
            };
            cents(positive.sample_between(&mut self.rng, lo, hi))
        };
        let alone = dest_after_alone(tx);
        let draw: f64 = self.rng.random();
        let after = if draw < destination.later_credit {
            alone + self.profiles.later_credit.sample(&mut self.rng)
        } else if draw < destination.later_credit + destination.later_debit {
            (alone - self.profiles.later_debit.sample(&mut self.rng)).max(0.0)
        } else {
            alone
        };
        tx.new_balance_dest = cents(after);
    }

    /// The account takeover: a small local payment (the thief checks the card works), then a
    /// transfer that empties the account.
    fn takeover(&mut self) {
        let balance = cents(self.rng.random_range(5_000.0..500_000.0));
        let small = cents(self.rng.random_range(5.0..60.0));
        let (victim, shop, mule) = (self.account('C'), self.account('M'), self.account('C'));
        let mut payment = self.row(TxType::Payment, small, victim.clone(), shop);
        payment.old_balance_orig = cents(balance + small);
        payment.new_balance_orig = balance;
        self.push(payment, false);
        let mut transfer = self.row(TxType::Transfer, balance, victim, mule);
        transfer.old_balance_orig = balance;
        transfer.is_fraud = Some(true);
        self.push(transfer, false);
    }
}

impl Iterator for Simulator {
    type Item = Transaction;

    fn next(&mut self) -> Option<Transaction> {
        Some(self.next_row().transaction)
    }
}

#[cfg(test)]
mod tests;
