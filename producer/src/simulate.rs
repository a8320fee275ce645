//! A seeded generator of PaySim-like traffic. Type mix, amounts and balances follow the PaySim
//! samples in `data/` ([`PROFILES`], measured on the legit rows of `paysim_mixed_steps_1-119.csv`):
//! log-normal amounts and balances per type, a share of paying accounts at zero balance, CASH_IN
//! raising the origin's balance and every other type lowering it (to zero at most), merchants
//! `M…` as PAYMENT destinations with no balances. Fraud follows PaySim's pattern: a TRANSFER that
//! empties the origin into a mule account, then a CASH_OUT of the same amount from the mule
//! (amounts log-normal as PaySim's frauds, capped at its 10M per transfer). The account-takeover
//! scenario adds, every `takeover_every` transactions, the classic case: a small local payment
//! from an account, immediately followed by a transfer that empties it.

use std::collections::VecDeque;

use aegis_core::{Transaction, TxType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

/// How one type of legit transaction looks in PaySim: ln-space mean and standard deviation of
/// log-normal fits, and shares of zero balances.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// The type.
    pub tx_type: TxType,
    /// Share of legit traffic.
    pub share: f64,
    /// ln(amount): mean, standard deviation.
    pub amount: (f64, f64),
    /// Share of origin accounts with a zero balance before.
    pub zero_orig: f64,
    /// ln(origin balance before), when not zero.
    pub orig_balance: (f64, f64),
    /// Share of destinations with zero balances before and after (all merchants).
    pub zero_dest: f64,
    /// ln(destination balance before), when not zero.
    pub dest_balance: (f64, f64),
}

/// Measured on the 50,000 legit rows of `data/paysim_mixed_steps_1-119.csv` (the enriched sample
/// agrees within a few hundredths).
pub const PROFILES: [Profile; 5] = [
    Profile {
        tx_type: TxType::Payment,
        share: 0.3422,
        amount: (8.86, 1.14),
        zero_orig: 0.34,
        orig_balance: (10.50, 2.06),
        zero_dest: 1.0,
        dest_balance: (0.0, 1.0),
    },
    Profile {
        tx_type: TxType::CashOut,
        share: 0.3560,
        amount: (11.73, 1.06),
        zero_orig: 0.47,
        orig_balance: (10.08, 2.08),
        zero_dest: 0.13,
        dest_balance: (13.24, 1.69),
    },
    Profile {
        tx_type: TxType::CashIn,
        share: 0.2130,
        amount: (11.66, 1.07),
        zero_orig: 0.02,
        orig_balance: (13.13, 3.00),
        zero_dest: 0.11,
        dest_balance: (13.28, 1.61),
    },
    Profile {
        tx_type: TxType::Transfer,
        share: 0.0823,
        amount: (12.79, 1.20),
        zero_orig: 0.53,
        orig_balance: (10.17, 2.03),
        zero_dest: 0.11,
        dest_balance: (13.69, 1.70),
    },
    Profile {
        tx_type: TxType::Debit,
        share: 0.0065,
        amount: (7.87, 1.29),
        zero_orig: 0.20,
        orig_balance: (9.92, 2.16),
        zero_dest: 0.0,
        dest_balance: (12.87, 1.83),
    },
];

/// ln(amount) of PaySim's fraud transfers: mean, standard deviation (both samples: 12.6–12.9,
/// 1.9–2.0).
const FRAUD_AMOUNT: (f64, f64) = (12.8, 1.9);
/// PaySim moves at most this much in one transfer.
const MAX_TRANSFER: f64 = 10_000_000.0;
/// Where CASH_OUT sits in [`PROFILES`].
const CASH_OUT: usize = 1;

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

/// A profile's fitted distributions.
struct Fitted {
    amount: LogNormal<f64>,
    orig_balance: LogNormal<f64>,
    dest_balance: LogNormal<f64>,
}

/// An endless, deterministic stream of transactions. `event_time` is left at 0 for the publisher
/// to stamp; `step` is 1 (the publisher counts hours).
pub struct Simulator {
    rng: StdRng,
    params: SimulationParams,
    /// Probability that a draw starts a (two-transaction) fraud: `r / (2 − r)` so that the share
    /// of fraud transactions is `r`.
    fraud_event: f64,
    pending: VecDeque<Transaction>,
    emitted: u64,
    fitted: Vec<Fitted>,
    fraud_amount: LogNormal<f64>,
}

impl Simulator {
    /// A generator with these parameters.
    #[allow(clippy::expect_used)] // constant, valid parameters
    pub fn new(params: SimulationParams) -> Self {
        let lognormal = |(mu, sd): (f64, f64)| LogNormal::new(mu, sd).expect("valid log-normal");
        Simulator {
            rng: StdRng::seed_from_u64(params.seed),
            fraud_event: params.fraud_rate / (2.0 - params.fraud_rate),
            params,
            pending: VecDeque::new(),
            emitted: 0,
            fitted: PROFILES
                .iter()
                .map(|p| Fitted {
                    amount: lognormal(p.amount),
                    orig_balance: lognormal(p.orig_balance),
                    dest_balance: lognormal(p.dest_balance),
                })
                .collect(),
            fraud_amount: lognormal(FRAUD_AMOUNT),
        }
    }

    /// A PaySim-looking account id: `C` (customer) or `M` (merchant) and ten digits at most.
    fn account(&mut self, prefix: char) -> String {
        format!(
            "{prefix}{}",
            self.rng.random_range(100_000_000u64..2_000_000_000)
        )
    }

    fn base(
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
            step: 1,
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

    /// Index into [`PROFILES`] drawn by their shares.
    fn pick_profile(&mut self) -> usize {
        let mut left: f64 = self.rng.random();
        PROFILES
            .iter()
            .position(|p| {
                left -= p.share;
                left < 0.0
            })
            .unwrap_or(0)
    }

    fn legit(&mut self) -> Transaction {
        let slot = self.pick_profile();
        let (profile, fitted) = (PROFILES[slot], &self.fitted[slot]);
        let amount = fitted.amount.sample(&mut self.rng).min(MAX_TRANSFER);
        let orig_balance = fitted.orig_balance.sample(&mut self.rng);
        let dest_balance = fitted.dest_balance.sample(&mut self.rng);
        let tx_type = profile.tx_type;
        let orig = self.account('C');
        let dest = self.account(if tx_type == TxType::Payment { 'M' } else { 'C' });
        let mut tx = self.base(tx_type, amount, orig, dest);
        if !self.rng.random_bool(profile.zero_orig) {
            tx.old_balance_orig = cents(orig_balance);
        }
        tx.new_balance_orig = if tx_type == TxType::CashIn {
            cents(tx.old_balance_orig + tx.amount)
        } else {
            // PaySim leaves an account at zero when it pays more than it holds.
            cents((tx.old_balance_orig - tx.amount).max(0.0))
        };
        if !self.rng.random_bool(profile.zero_dest) {
            tx.old_balance_dest = cents(dest_balance);
            tx.new_balance_dest = if tx_type == TxType::CashIn {
                // The agent paying out the cash.
                cents((tx.old_balance_dest - tx.amount).max(0.0))
            } else {
                cents(tx.old_balance_dest + tx.amount)
            };
        }
        tx
    }

    /// PaySim fraud: TRANSFER emptying the victim into a mule (whose balances PaySim shows as
    /// zero), then CASH_OUT of the same amount from the mule.
    fn fraud(&mut self) {
        let amount = cents(self.fraud_amount.sample(&mut self.rng).min(MAX_TRANSFER));
        let (victim, mule, exit) = (self.account('C'), self.account('C'), self.account('C'));
        let mut transfer = self.base(TxType::Transfer, amount, victim, mule.clone());
        transfer.old_balance_orig = amount;
        transfer.is_fraud = Some(true);
        self.pending.push_back(transfer);
        let exit_balance = cents(self.fitted[CASH_OUT].dest_balance.sample(&mut self.rng));
        let mut cash_out = self.base(TxType::CashOut, amount, mule, exit);
        cash_out.old_balance_orig = amount;
        cash_out.old_balance_dest = exit_balance;
        cash_out.new_balance_dest = cents(exit_balance + amount);
        cash_out.is_fraud = Some(true);
        self.pending.push_back(cash_out);
    }

    /// The account takeover: a small local payment (the thief checks the card works), then a
    /// transfer that empties the account.
    fn takeover(&mut self) {
        let balance = cents(self.rng.random_range(5_000.0..500_000.0));
        let small = cents(self.rng.random_range(5.0..60.0));
        let (victim, shop, mule) = (self.account('C'), self.account('M'), self.account('C'));
        let mut payment = self.base(TxType::Payment, small, victim.clone(), shop);
        payment.old_balance_orig = cents(balance + small);
        payment.new_balance_orig = balance;
        self.pending.push_back(payment);
        let mut transfer = self.base(TxType::Transfer, balance, victim, mule);
        transfer.old_balance_orig = balance;
        transfer.is_fraud = Some(true);
        self.pending.push_back(transfer);
    }
}

impl Iterator for Simulator {
    type Item = Transaction;

    fn next(&mut self) -> Option<Transaction> {
        if self.pending.is_empty() {
            let takeover_due = self
                .params
                .takeover_every
                .is_some_and(|every| self.emitted > 0 && self.emitted.is_multiple_of(every));
            if takeover_due {
                self.takeover();
            } else if self.rng.random_bool(self.fraud_event.clamp(0.0, 1.0)) {
                self.fraud();
            } else {
                let tx = self.legit();
                self.pending.push_back(tx);
            }
        }
        let tx = self.pending.pop_front();
        self.emitted += 1;
        tx
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
