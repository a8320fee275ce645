//! A payment transaction as Aegis sees it: PaySim's columns, named as in `schemas/transaction.avsc`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The five PaySim transaction types. Serialized as in the Avro enum: `CASH_IN`, `CASH_OUT`, …
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxType {
    /// Cash paid into the account at a merchant.
    CashIn,
    /// Cash taken out of the account at a merchant.
    CashOut,
    /// Money sent from the account to a bank account.
    Debit,
    /// A payment to a merchant.
    Payment,
    /// Money sent to another customer's account.
    Transfer,
}

impl TxType {
    /// Every type, in the order of the Avro enum's symbols.
    pub const ALL: [TxType; 5] = [
        TxType::CashIn,
        TxType::CashOut,
        TxType::Debit,
        TxType::Payment,
        TxType::Transfer,
    ];

    /// The name used in PaySim, Avro, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TxType::CashIn => "CASH_IN",
            TxType::CashOut => "CASH_OUT",
            TxType::Debit => "DEBIT",
            TxType::Payment => "PAYMENT",
            TxType::Transfer => "TRANSFER",
        }
    }
}

impl fmt::Display for TxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transaction type name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown transaction type {0:?} (expected one of CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER)"
)]
pub struct UnknownTxType(pub String);

impl FromStr for TxType {
    type Err = UnknownTxType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TxType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTxType(s.to_owned()))
    }
}

/// One payment transaction. Amounts and balances are in the account's currency unit (PaySim has
/// one currency); `event_time` is milliseconds since the Unix epoch, UTC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Unique id of the transaction, assigned by the producer.
    pub tx_id: String,
    /// When the transaction happened, in milliseconds since the Unix epoch (UTC).
    pub event_time: i64,
    /// PaySim's hour of simulation (1 = the first hour).
    pub step: i32,
    /// What kind of transaction this is.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Amount moved, in the currency unit; never negative.
    pub amount: f64,
    /// The origin (paying) account; the Kafka key of the transaction and of its verdict.
    pub name_orig: String,
    /// Balance of the origin account before the transaction.
    pub old_balance_orig: f64,
    /// Balance of the origin account after the transaction.
    pub new_balance_orig: f64,
    /// The destination account (`C…` customer, `M…` merchant).
    pub name_dest: String,
    /// Balance of the destination account before the transaction.
    pub old_balance_dest: f64,
    /// Balance of the destination account after the transaction.
    pub new_balance_dest: f64,
    /// Ground truth when known (replayed PaySim rows), `None` for live traffic.
    #[serde(default)]
    pub is_fraud: Option<bool>,
}

/// Why a transaction cannot be scored: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}` {problem}")]
pub struct InvalidTransaction {
    /// The offending field, as named in the schema.
    pub field: &'static str,
    /// What is wrong, e.g. "is negative (-3)".
    pub problem: String,
}

/// The largest amount or balance magnitude accepted, 10^15 currency units: far beyond any real
/// payment (PaySim's largest is under 10^8) yet small enough that sums of amounts — the balance
/// errors the model reads, the blocked-amount counters on the dashboards — stay finite and exact to
/// the cent for a long time.
pub const MAX_MONEY: f64 = 1e15;

impl Transaction {
    /// Checks what the schema cannot: amounts and balances are finite and within ±[`MAX_MONEY`],
    /// the amount is not negative, and the accounts are named. Balances may be negative (PaySim
    /// has overdrawn merchants).
    pub fn validate(&self) -> Result<(), InvalidTransaction> {
        let numbers = [
            ("amount", self.amount),
            ("old_balance_orig", self.old_balance_orig),
            ("new_balance_orig", self.new_balance_orig),
            ("old_balance_dest", self.old_balance_dest),
            ("new_balance_dest", self.new_balance_dest),
        ];
        for (field, value) in numbers {
            if !value.is_finite() {
                return Err(InvalidTransaction {
                    field,
                    problem: format!("is not a finite number ({value})"),
                });
            }
            if value.abs() > MAX_MONEY {
                return Err(InvalidTransaction {
                    field,
                    problem: format!("is beyond ±1e15, the largest accepted ({value:e})"),
                });
            }
        }
        if self.amount < 0.0 {
            return Err(InvalidTransaction {
                field: "amount",
                problem: format!("is negative ({})", self.amount),
            });
        }
        for (field, value) in [
            ("tx_id", &self.tx_id),
            ("name_orig", &self.name_orig),
            ("name_dest", &self.name_dest),
        ] {
            if value.trim().is_empty() {
                return Err(InvalidTransaction {
                    field,
                    problem: "is empty".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The classic account takeover's transfer (PaySim step 1, account C1305486145): the whole
    /// balance of 181,000 leaves for an empty account. The example of the API document, the docs
    /// and the tests.
    pub fn takeover_example() -> Transaction {
        Transaction {
            tx_id: "t-1".into(),
            event_time: 1_700_000_000_000,
            step: 1,
            tx_type: TxType::Transfer,
            amount: 181_000.0,
            name_orig: "C1305486145".into(),
            old_balance_orig: 181_000.0,
            new_balance_orig: 0.0,
            name_dest: "C553264065".into(),
            old_balance_dest: 0.0,
            new_balance_dest: 0.0,
            is_fraud: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for t in TxType::ALL {
            assert_eq!(t.as_str().parse::<TxType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("WIRE".parse::<TxType>().is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut tx = Transaction::takeover_example();
        assert_eq!(tx.validate(), Ok(()));
        tx.amount = -3.0;
        assert_eq!(tx.validate().unwrap_err().field, "amount");
        tx.amount = 1.0;
        tx.new_balance_dest = f64::NAN;
        let err = tx.validate().unwrap_err();
        assert_eq!(err.field, "new_balance_dest");
        assert!(err.to_string().contains("not a finite number"), "{err}");
        tx.new_balance_dest = -MAX_MONEY;
        tx.amount = MAX_MONEY;
        assert_eq!(tx.validate(), Ok(()), "the bound itself is accepted");
        tx.amount = 1.000_001e15;
        let err = tx.validate().unwrap_err();
        assert_eq!(err.field, "amount");
        assert!(err.to_string().contains("beyond ±1e15"), "{err}");
        tx.amount = 1.0;
        tx.old_balance_orig = -f64::MAX;
        assert_eq!(tx.validate().unwrap_err().field, "old_balance_orig");
        tx.old_balance_orig = 0.0;
        tx.name_orig = " ".into();
        assert_eq!(tx.validate().unwrap_err().field, "name_orig");
    }
}
