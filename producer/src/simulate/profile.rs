//! The shapes the simulator draws from, as plain data: quantile tables of ln amounts and balances,
//! shares of empty accounts, PaySim's destination-balance inconsistencies, its fraud and its hours.
//! The values live in [`super::measured`], written by `scripts/measure-paysim`.

use aegis_core::{Transaction, TxType};
use rand::Rng;

/// Probability levels of every quantile table: dense in the tails, where a model's false alarms
/// and missed frauds live, and every 5 % in between.
pub const LEVELS: [f64; 35] = [
    0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4,
    0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995,
    0.998, 0.999, 1.0,
];

/// A distribution of positive values: ln(value) at each of [`LEVELS`]. Drawn by inverting the
/// distribution function, linear in ln between levels, so draws stay within the measured range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LnQuantiles(pub [f64; LEVELS.len()]);

impl LnQuantiles {
    /// One value (not rounded).
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        self.at(rng.random::<f64>()).exp()
    }

    /// A value from the part of the distribution between probabilities `lo` and `hi`.
    pub fn sample_between(&self, rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
        self.at(lo + (hi - lo) * rng.random::<f64>()).exp()
    }

    /// Probability of a value whose ln is at most `ln`: the inverse of [`LnQuantiles::at`].
    pub fn cdf(&self, ln: f64) -> f64 {
        let q = &self.0;
        if ln < q[0] {
            return 0.0;
        }
        match q.iter().position(|&v| v > ln) {
            None => 1.0,
            Some(upper) => {
                let t = (ln - q[upper - 1]) / (q[upper] - q[upper - 1]);
                LEVELS[upper - 1] + (LEVELS[upper] - LEVELS[upper - 1]) * t
            }
        }
    }

    /// ln(value) at probability `p` in [0, 1].
    pub fn at(&self, p: f64) -> f64 {
        let upper = LEVELS
            .iter()
            .position(|&level| level > p)
            .unwrap_or(LEVELS.len() - 1)
            .max(1);
        let (lo, hi) = (LEVELS[upper - 1], LEVELS[upper]);
        let t = ((p - lo) / (hi - lo)).clamp(0.0, 1.0);
        self.0[upper - 1] + (self.0[upper] - self.0[upper - 1]) * t
    }
}

/// An account balance: how often it is zero, and how the non-zero ones are spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Balance {
    /// Share of accounts at exactly zero.
    pub zero: f64,
    /// The non-zero balances.
    pub positive: LnQuantiles,
}

impl Balance {
    /// One balance, in cents.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        if rng.random_bool(self.zero) {
            0.0
        } else {
            cents(self.positive.sample(rng))
        }
    }
}

/// A destination's balance before a transaction, for one state of the origin account.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DestBefore {
    /// The balance.
    pub balance: Balance,
    /// Share of the non-zero balances that are below the amount, each side shaped as `balance`
    /// is there: PaySim's destinations hold less than they receive less often than independent
    /// draws would.
    pub below_amount: f64,
}

/// A customer destination. PaySim writes a destination's balance before each transaction as it
/// runs, but its balance *after* as it stands at the end of the step: when the account has other
/// transactions later in the same step, after ≠ before ± amount (a credit raises it, a debit
/// lowers it, to zero at most).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Destination {
    /// Balance before, when the origin held money before the transaction.
    pub origin_funded: DestBefore,
    /// Balance before, when the origin held nothing: PaySim's empty origins pay established
    /// accounts, almost never empty ones or ones holding less than the amount.
    pub origin_empty: DestBefore,
    /// Share of rows whose balance after shows a later credit in the same step.
    pub later_credit: f64,
    /// Share of rows whose balance after shows a later debit in the same step.
    pub later_debit: f64,
}

/// One type of legit transaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TypeProfile {
    /// The type.
    pub tx_type: TxType,
    /// Share of legit transactions.
    pub share: f64,
    /// ln(amount).
    pub amount: LnQuantiles,
    /// The origin's balance before (its balance after follows: + amount for CASH_IN, − amount
    /// down to zero for the others).
    pub origin: Balance,
    /// The destination, or `None` for a merchant (`M…`), whose balances PaySim shows as zero.
    pub destination: Option<Destination>,
}

/// PaySim's fraud: a victim's balance is transferred to a mule in transfers of at most
/// `max_transfer` (each followed by a CASH_OUT of the same amount from another account), plus a
/// few lone fraud rows that look like ordinary cash-outs or transfers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FraudProfile {
    /// The victim's balance: everything is taken.
    pub victim: Balance,
    /// PaySim's largest single transfer; a larger balance goes in several.
    pub max_transfer: f64,
    /// Share of split balances whose remainder (under `max_transfer`) is attempted in a transfer
    /// PaySim flags (`isFlaggedFraud`) and does not carry out (balances unchanged).
    pub flagged_remainder: f64,
    /// Share of fraud events that are one lone row instead of a transfer and cash-out.
    pub lone: f64,
    /// Share of lone rows that are CASH_OUT (the rest TRANSFER).
    pub lone_cash_out: f64,
    /// Share of lone rows whose origin is empty before.
    pub lone_origin_empty: f64,
    /// Share of fraud transfers whose mule shows zero balances before and after.
    pub mule_balances_zero: f64,
    /// The fraud cash-outs' destinations.
    pub cash_out_destination: Destination,
    /// Fraud rows per fraud event, to turn a fraud-row rate into an event rate.
    pub rows_per_event: f64,
}

/// How PaySim's traffic spreads over its hourly steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepProfile {
    /// Share of legit transactions in each hour of the day (step 1 is hour 0); fraud is spread
    /// evenly over the hours.
    pub hours: [f64; 24],
    /// Transactions per step at the natural rate.
    pub rows_per_step: f64,
}

/// Everything the simulator draws from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profiles {
    /// Legit traffic per type, in [`TxType::ALL`] order.
    pub types: [TypeProfile; 5],
    /// How much a later credit raises a destination's balance after.
    pub later_credit: LnQuantiles,
    /// How much a later debit lowers a destination's balance after.
    pub later_debit: LnQuantiles,
    /// Fraud.
    pub fraud: FraudProfile,
    /// Steps.
    pub steps: StepProfile,
}

impl Profiles {
    /// The profile of a legit type.
    pub fn of(&self, tx_type: TxType) -> &TypeProfile {
        let slot = TxType::ALL
            .iter()
            .position(|t| *t == tx_type)
            .unwrap_or_default();
        &self.types[slot]
    }
}

/// A destination's balance after, as PaySim writes it when nothing else reaches the account in the
/// same step: + amount, or − amount down to zero for CASH_IN (the agent paying out the cash).
pub fn dest_after_alone(tx: &Transaction) -> f64 {
    if tx.tx_type == TxType::CashIn {
        (tx.old_balance_dest - tx.amount).max(0.0)
    } else {
        tx.old_balance_dest + tx.amount
    }
}

/// Rounded to cents, as PaySim writes money.
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
