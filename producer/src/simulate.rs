//! A seeded generator of PaySim-like traffic. Type mix, amounts and balances follow the PaySim
//! samples in `data/` (measured on the mixed sample's legit rows: log-normal amounts per type, a
//! third to half of paying accounts at zero balance, merchants `M…` with no balances). Fraud
//! follows PaySim's pattern: a TRANSFER that empties the origin into a mule account, then a
//! CASH_OUT of the same amount from the mule. The account-takeover scenario adds the classic
//! case: a small local payment from an account, immediately followed by a transfer that empties it.

use std::collections::VecDeque;

use aegis_core::{Transaction, TxType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

/// Per type: share of legit traffic, and ln(amount) mean and standard deviation.
const TYPES: [(TxType, f64, f64, f64); 5] = [
    (TxType::Payment, 0.3422, 8.86, 1.14),
    (TxType::CashOut, 0.3560, 11.73, 1.06),
    (TxType::CashIn, 0.2130, 11.66, 1.07),
    (TxType::Transfer, 0.0823, 12.79, 1.20),
    (TxType::Debit, 0.0065, 7.87, 1.29),
];

/// Knobs of the generator.
#[derive(Clone, Copy, Debug)]
pub struct SimulationParams {
    /// Seed: the same seed gives the same transactions.
    pub seed: u64,
    /// Share of transactions that are fraud.
    pub fraud_rate: f64,
    /// Play the account takeover every this many transactions.
    pub takeover_every: Option<u64>,
}

/// An endless, deterministic stream of transactions. `event_time` is left at 0 for the publisher
/// to stamp; `step` counts simulated hours from 1.
pub struct Simulator {
    rng: StdRng,
    params: SimulationParams,
    /// Probability that a draw starts a (two-transaction) fraud: `r / (2 − r)` so that the share
    /// of fraud transactions is `r`.
    fraud_event: f64,
    pending: VecDeque<Transaction>,
    emitted: u64,
    amounts: Vec<LogNormal<f64>>,
    balance: LogNormal<f64>,
    dest_balance: LogNormal<f64>,
}

impl Simulator {
    /// A generator with these parameters.
    pub fn new(params: SimulationParams) -> Self {
        let lognormal =
            |mu: f64, sd: f64| LogNormal::new(mu, sd).expect("constant, valid parameters");
        Simulator {
            rng: StdRng::seed_from_u64(params.seed),
            fraud_event: params.fraud_rate / (2.0 - params.fraud_rate),
            params,
            pending: VecDeque::new(),
            emitted: 0,
            amounts: TYPES.iter().map(|t| lognormal(t.2, t.3)).collect(),
            balance: lognormal(10.5, 2.1),
            dest_balance: lognormal(13.3, 1.7),
        }
    }

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

    fn legit(&mut self) -> Transaction {
        let pick: f64 = self.rng.random();
        let mut acc = 0.0;
        let slot = TYPES
            .iter()
            .position(|t| {
                acc += t.1;
                pick < acc
            })
            .unwrap_or(0);
        let tx_type = TYPES[slot].0;
        let amount = self.amounts[slot].sample(&mut self.rng).min(10_000_000.0);
        let orig = self.account('C');
        let dest = self.account(if tx_type == TxType::Payment { 'M' } else { 'C' });
        let mut tx = self.base(tx_type, amount, orig, dest);
        let zero_balance = [0.34, 0.47, 0.02, 0.53, 0.20][slot];
        tx.old_balance_orig = if self.rng.random_bool(zero_balance) {
            0.0
        } else {
            cents(self.balance.sample(&mut self.rng))
        };
        if tx_type == TxType::CashIn {
            tx.new_balance_orig = cents(tx.old_balance_orig + tx.amount);
        } else {
            // PaySim leaves an account at zero when it pays more than it holds.
            tx.new_balance_orig = cents((tx.old_balance_orig - tx.amount).max(0.0));
        }
        if tx_type != TxType::Payment && self.rng.random_bool(0.88) {
            tx.old_balance_dest = cents(self.dest_balance.sample(&mut self.rng));
            tx.new_balance_dest = if tx_type == TxType::CashIn {
                cents((tx.old_balance_dest - tx.amount).max(0.0))
            } else {
                cents(tx.old_balance_dest + tx.amount)
            };
        }
        tx
    }

    /// PaySim fraud: TRANSFER emptying the victim into a mule, then CASH_OUT from the mule.
    fn fraud(&mut self) {
        let amount = cents(self.rng.random_range(10_000.0..2_000_000.0));
        let (victim, mule, exit) = (self.account('C'), self.account('C'), self.account('C'));
        let mut transfer = self.base(TxType::Transfer, amount, victim, mule.clone());
        transfer.old_balance_orig = amount;
        transfer.is_fraud = Some(true);
        self.pending.push_back(transfer);
        let mut cash_out = self.base(TxType::CashOut, amount, mule, exit);
        cash_out.old_balance_orig = amount;
        cash_out.old_balance_dest = cents(self.dest_balance.sample(&mut self.rng));
        cash_out.new_balance_dest = cents(cash_out.old_balance_dest + amount);
        cash_out.is_fraud = Some(true);
        self.pending.push_back(cash_out);
    }

    /// The account takeover: a small local payment, then a transfer that empties the account.
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
                .is_some_and(|every| self.emitted > 0 && self.emitted % every == 0);
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
mod tests {
    use super::*;

    fn sim(seed: u64, fraud_rate: f64, takeover_every: Option<u64>) -> Simulator {
        Simulator::new(SimulationParams {
            seed,
            fraud_rate,
            takeover_every,
        })
    }

    #[test]
    fn same_seed_same_transactions() {
        let a: Vec<_> = sim(7, 0.0013, Some(100)).take(1_000).collect();
        let b: Vec<_> = sim(7, 0.0013, Some(100)).take(1_000).collect();
        let c: Vec<_> = sim(8, 0.0013, Some(100)).take(1_000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn fraud_rate_type_mix_and_validity() {
        let n = 200_000;
        let txs: Vec<_> = sim(1, 0.0013, None).take(n).collect();
        let frauds = txs.iter().filter(|t| t.is_fraud == Some(true)).count() as f64;
        let rate = frauds / n as f64;
        assert!((0.0010..0.0016).contains(&rate), "fraud rate {rate}");
        for (tx_type, share, _, _) in TYPES {
            let got = txs
                .iter()
                .filter(|t| t.tx_type == tx_type && t.is_fraud == Some(false))
                .count() as f64
                / n as f64;
            assert!((got - share).abs() < 0.01, "{tx_type}: {got} vs {share}");
        }
        let ids: std::collections::HashSet<_> = txs.iter().map(|t| &t.tx_id).collect();
        assert_eq!(ids.len(), n, "tx ids are unique");
        for tx in &txs {
            tx.validate().unwrap();
            if tx.tx_type == TxType::Payment {
                assert!(tx.name_dest.starts_with('M'));
            }
        }
    }

    #[test]
    fn fraud_empties_the_account_then_cashes_out_from_the_mule() {
        let txs: Vec<_> = sim(3, 0.05, None).take(20_000).collect();
        let mut pairs = 0;
        for w in txs.windows(2) {
            let (t, c) = (&w[0], &w[1]);
            if t.is_fraud == Some(true) && t.tx_type == TxType::Transfer {
                assert_eq!(t.old_balance_orig, t.amount);
                assert_eq!(t.new_balance_orig, 0.0);
                assert_eq!(c.tx_type, TxType::CashOut);
                assert_eq!(c.name_orig, t.name_dest, "cash-out from the mule");
                assert_eq!(c.amount, t.amount);
                assert_eq!(c.is_fraud, Some(true));
                pairs += 1;
            }
        }
        assert!(pairs > 100, "{pairs}");
    }

    #[test]
    fn takeover_is_a_small_payment_then_an_emptying_transfer() {
        let txs: Vec<_> = sim(5, 0.0, Some(50)).take(1_000).collect();
        let mut seen = 0;
        for w in txs.windows(2) {
            if w[0].tx_type == TxType::Payment
                && w[1].tx_type == TxType::Transfer
                && w[0].name_orig == w[1].name_orig
            {
                assert!(w[0].amount < 100.0);
                assert_eq!(w[0].is_fraud, Some(false));
                assert_eq!(w[1].old_balance_orig, w[0].new_balance_orig);
                assert_eq!(w[1].amount, w[1].old_balance_orig);
                assert_eq!(w[1].new_balance_orig, 0.0);
                assert_eq!(w[1].is_fraud, Some(true));
                seen += 1;
            }
        }
        assert_eq!(seen, 1_000 / 50 - 1, "one takeover every 50 transactions");
    }
}
