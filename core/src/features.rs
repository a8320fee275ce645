//! The model's view of a transaction: a fixed-length vector of numbers, in the order of
//! [`FEATURE_NAMES`]. The names travel inside the model artifact, so a model and a build that
//! disagree on a feature are caught at load time, not at scoring time.

use crate::transaction::{Transaction, TxType};

/// How many features a transaction has.
pub const N_FEATURES: usize = 13;

/// Feature names, in vector order.
///
/// - `type_*`: one-hot transaction type. PaySim fraud is only ever TRANSFER or CASH_OUT.
/// - `amount` and the four balances, as in the data.
/// - `error_balance_orig` = `new_balance_orig + amount − old_balance_orig` and
///   `error_balance_dest` = `old_balance_dest + amount − new_balance_dest`: how far the books fail
///   to balance on each side. Published PaySim models find these the most telling.
/// - `orig_emptied`: 1 when the origin had money and the transaction left it at zero — the account
///   takeover pattern (a transfer that empties the account) as one explicit, explainable bit.
///
/// `isFlaggedFraud` (the old rule's output) is deliberately absent.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "type_CASH_IN",
    "type_CASH_OUT",
    "type_DEBIT",
    "type_PAYMENT",
    "type_TRANSFER",
    "amount",
    "old_balance_orig",
    "new_balance_orig",
    "old_balance_dest",
    "new_balance_dest",
    "error_balance_orig",
    "error_balance_dest",
    "orig_emptied",
];

/// One transaction's features, in [`FEATURE_NAMES`] order.
pub type Features = [f64; N_FEATURES];

/// Index of a feature name in [`FEATURE_NAMES`].
pub fn index_of(name: &str) -> Option<usize> {
    FEATURE_NAMES.iter().position(|n| *n == name)
}

/// The features of one transaction.
pub fn extract(tx: &Transaction) -> Features {
    from_values(
        tx.tx_type,
        tx.amount,
        [
            tx.old_balance_orig,
            tx.new_balance_orig,
            tx.old_balance_dest,
            tx.new_balance_dest,
        ],
    )
}

/// The features of a transaction given by the values they read: its type, its amount and its
/// balances in PaySim's column order (origin before and after, destination before and after).
pub fn from_values(tx_type: TxType, amount: f64, balances: [f64; 4]) -> Features {
    let [old_balance_orig, new_balance_orig, old_balance_dest, new_balance_dest] = balances;
    let mut f = [0.0; N_FEATURES];
    let type_slot = TxType::ALL
        .iter()
        .position(|t| *t == tx_type)
        .unwrap_or_default();
    f[type_slot] = 1.0;
    f[5] = amount;
    f[6] = old_balance_orig;
    f[7] = new_balance_orig;
    f[8] = old_balance_dest;
    f[9] = new_balance_dest;
    f[10] = new_balance_orig + amount - old_balance_orig;
    f[11] = old_balance_dest + amount - new_balance_dest;
    f[12] = f64::from(u8::from(old_balance_orig > 0.0 && new_balance_orig == 0.0));
    f
}

/// A short human-readable statement of one feature's value, for verdict reasons
/// (`"type is TRANSFER"`, `"origin balance after 0.00"`, `"origin account emptied"`).
pub fn describe(index: usize, value: f64) -> String {
    let is = if value != 0.0 { "is" } else { "is not" };
    match index {
        0..=4 => format!("type {is} {}", TxType::ALL[index]),
        5 => format!("amount {value:.2}"),
        6 => format!("origin balance before {value:.2}"),
        7 => format!("origin balance after {value:.2}"),
        8 => format!("destination balance before {value:.2}"),
        9 => format!("destination balance after {value:.2}"),
        10 => format!("origin balance error {value:.2}"),
        11 => format!("destination balance error {value:.2}"),
        12 if value != 0.0 => "origin account emptied".to_owned(),
        12 => "origin account not emptied".to_owned(),
        _ => format!("feature {index} = {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takeover_transfer_features() {
        let f = extract(&Transaction::takeover_example());
        assert_eq!(&f[..5], &[0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(f[index_of("amount").unwrap()], 181_000.0);
        assert_eq!(f[index_of("error_balance_orig").unwrap()], 0.0);
        assert_eq!(f[index_of("error_balance_dest").unwrap()], 181_000.0);
        assert_eq!(f[index_of("orig_emptied").unwrap()], 1.0);
        assert_eq!(describe(12, 1.0), "origin account emptied");
        assert_eq!(describe(4, 1.0), "type is TRANSFER");
        assert_eq!(describe(3, 0.0), "type is not PAYMENT");
    }

    #[test]
    fn names_are_unique_and_never_the_old_rule() {
        let mut names = FEATURE_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), N_FEATURES);
        assert!(FEATURE_NAMES
            .iter()
            .all(|n| !n.to_lowercase().contains("flag")));
    }
}
