//! Measures [`Profiles`] from PaySim rows. `scripts/measure-paysim` runs this on the rows in
//! [`super::measured::SOURCE`] and writes the result as `measured.rs`; a test measures again and
//! checks the committed constants are still what the data says.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use aegis_core::paysim::{PaysimError, PaysimReader};
use aegis_core::{Transaction, TxType};

use super::profile::{
    cents, dest_after_alone, Balance, DestBefore, Destination, FraudProfile, LnQuantiles, Profiles,
    StepProfile, TypeProfile, LEVELS,
};

/// Which rows the constants are measured on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Source<'a> {
    /// The PaySim sample, relative to the repository root.
    pub file: &'a str,
    /// Rows of later steps are left out: they are the real data a simulator is judged on.
    pub last_step: i32,
    /// How many real legit transactions one legit row of the sample stands for.
    pub legit_weight: f64,
}

/// A balance after that differs from before ± amount by less than this is consistent: PaySim's
/// own arithmetic is off by a cent now and then.
pub const CENT_SLACK: f64 = 0.015;

/// Fewer rows than this with an empty (or a funded) origin: the destination's balance before is
/// measured on all rows of the type instead.
const MIN_GROUP: usize = 30;

/// What the rows lack for a measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureError {
    /// No legit row of a type, or no fraud, among the rows.
    NoRows(&'static str),
}

impl fmt::Display for MeasureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeasureError::NoRows(what) => write!(
                f,
                "no {what} rows to measure: use a sample with every type and its frauds"
            ),
        }
    }
}

impl std::error::Error for MeasureError {}

/// The rows of a PaySim CSV up to `last_step`, in file order.
pub fn read_rows(path: &Path, last_step: i32) -> Result<Vec<Transaction>, PaysimError> {
    let mut rows = Vec::new();
    for row in PaysimReader::open(path)? {
        let tx = row?.transaction;
        if tx.step <= last_step {
            rows.push(tx);
        }
    }
    Ok(rows)
}

/// Every constant of the simulator, from these rows; `legit_weight` is how many real legit
/// transactions one legit row stands for. Shares are rounded to 5 decimals, ln values to 4.
pub fn measure(rows: &[Transaction], legit_weight: f64) -> Result<Profiles, MeasureError> {
    let (fraud, legit): (Vec<&Transaction>, Vec<&Transaction>) =
        rows.iter().partition(|t| t.is_fraud == Some(true));
    let mut credits = Vec::new();
    let mut debits = Vec::new();
    let mut types = Vec::with_capacity(TxType::ALL.len());
    for tx_type in TxType::ALL {
        let of_type: Vec<&Transaction> = legit
            .iter()
            .copied()
            .filter(|t| t.tx_type == tx_type)
            .collect();
        if of_type.is_empty() {
            return Err(MeasureError::NoRows(tx_type.as_str()));
        }
        let is_merchant = of_type.iter().all(|t| t.name_dest.starts_with('M'));
        types.push(TypeProfile {
            tx_type,
            share: share(of_type.len(), legit.len()),
            amount: ln_quantiles(of_type.iter().map(|t| t.amount)),
            origin: balance(of_type.iter().map(|t| t.old_balance_orig)),
            destination: (!is_merchant)
                .then(|| destination(&of_type, Some((&mut credits, &mut debits)))),
        });
    }
    let types: [TypeProfile; 5] = types
        .try_into()
        .map_err(|_| MeasureError::NoRows("legit"))?;
    Ok(Profiles {
        types,
        later_credit: ln_quantiles(credits),
        later_debit: ln_quantiles(debits),
        fraud: fraud_profile(&fraud)?,
        steps: step_profile(&legit, fraud.len(), legit_weight),
    })
}

fn destination(
    rows: &[&Transaction],
    mut later: Option<(&mut Vec<f64>, &mut Vec<f64>)>,
) -> Destination {
    let (mut credit, mut debit) = (0, 0);
    for t in rows {
        let change = t.new_balance_dest - dest_after_alone(t);
        if change >= CENT_SLACK {
            credit += 1;
            if let Some((credits, _)) = later.as_mut() {
                credits.push(change);
            }
        } else if change <= -CENT_SLACK {
            debit += 1;
            if let Some((_, debits)) = later.as_mut() {
                debits.push(-change);
            }
        }
    }
    let group = |origin_empty: bool| {
        let of_state: Vec<&Transaction> = rows
            .iter()
            .copied()
            .filter(|t| (t.old_balance_orig == 0.0) == origin_empty)
            .collect();
        let of_state = if of_state.len() < MIN_GROUP {
            rows.to_vec()
        } else {
            of_state
        };
        let holding = of_state.iter().filter(|t| t.old_balance_dest > 0.0);
        let below = holding
            .clone()
            .filter(|t| t.old_balance_dest < t.amount)
            .count();
        DestBefore {
            balance: balance(of_state.iter().map(|t| t.old_balance_dest)),
            below_amount: share(below, holding.count()),
        }
    };
    Destination {
        origin_funded: group(false),
        origin_empty: group(true),
        later_credit: share(credit, rows.len()),
        later_debit: share(debit, rows.len()),
    }
}

/// Fraud rows grouped into PaySim's events: a transfer and its cash-out (same step and amount),
/// a victim's balance split in `max_transfer` pieces, the flagged remainder, lone rows.
fn fraud_profile(fraud: &[&Transaction]) -> Result<FraudProfile, MeasureError> {
    let key = |t: &Transaction| (t.step, (t.amount * 100.0).round() as i64);
    let of = |tx_type| fraud.iter().copied().filter(move |t| t.tx_type == tx_type);
    let transfer_keys: HashSet<_> = of(TxType::Transfer).map(key).collect();
    let cash_out_keys: HashSet<_> = of(TxType::CashOut).map(key).collect();
    let max_transfer = of(TxType::Transfer).map(|t| t.amount).fold(0.0, f64::max);
    if max_transfer == 0.0 {
        return Err(MeasureError::NoRows("fraud TRANSFER"));
    }
    let is_remainder = |t: &Transaction| {
        t.amount > 0.0 && t.old_balance_orig == t.amount && t.new_balance_orig == t.amount
    };
    let (paired_transfers, unpaired): (Vec<_>, Vec<_>) =
        of(TxType::Transfer).partition(|t| cash_out_keys.contains(&key(t)));
    let remainders = unpaired.iter().filter(|t| is_remainder(t)).count();
    let lone: Vec<&Transaction> = unpaired
        .iter()
        .copied()
        .filter(|t| !is_remainder(t))
        .chain(of(TxType::CashOut).filter(|t| !transfer_keys.contains(&key(t))))
        .collect();
    let paired_cash_outs: Vec<&Transaction> = of(TxType::CashOut)
        .filter(|t| transfer_keys.contains(&key(t)))
        .collect();
    if paired_cash_outs.is_empty() {
        return Err(MeasureError::NoRows("fraud CASH_OUT"));
    }
    let is_piece = |t: &Transaction| t.amount == max_transfer && t.new_balance_orig > 0.0;
    // The first piece of a split balance is the one no other piece of its step was cut from.
    let pieces: HashSet<(i32, i64)> = paired_transfers
        .iter()
        .filter(|t| is_piece(t))
        .map(|t| (t.step, (t.old_balance_orig * 100.0).round() as i64))
        .collect();
    let max_cents = (max_transfer * 100.0).round() as i64;
    let mut victims = Vec::new();
    for t in &paired_transfers {
        if !is_piece(t) {
            victims.push(t.amount);
        } else if !pieces.contains(&(
            t.step,
            (t.old_balance_orig * 100.0).round() as i64 + max_cents,
        )) {
            victims.push(t.old_balance_orig);
        }
    }
    let split_victims = victims.iter().filter(|&&b| b > max_transfer).count();
    let events = victims.len() + lone.len();
    let mule_zero = paired_transfers
        .iter()
        .filter(|t| t.old_balance_dest == 0.0 && t.new_balance_dest == 0.0)
        .count();
    Ok(FraudProfile {
        victim: balance(victims.iter().copied()),
        max_transfer: cents(max_transfer),
        flagged_remainder: share(remainders, split_victims),
        lone: share(lone.len(), events),
        lone_cash_out: share(
            lone.iter().filter(|t| t.tx_type == TxType::CashOut).count(),
            lone.len(),
        ),
        lone_origin_empty: share(
            lone.iter().filter(|t| t.old_balance_orig == 0.0).count(),
            lone.len(),
        ),
        mule_balances_zero: share(mule_zero, paired_transfers.len()),
        cash_out_destination: destination(&paired_cash_outs, None),
        rows_per_event: round_to(fraud.len() as f64 / events.max(1) as f64, 5),
    })
}

fn step_profile(legit: &[&Transaction], frauds: usize, legit_weight: f64) -> StepProfile {
    let mut hours = [0.0; 24];
    for t in legit {
        hours[usize::try_from((t.step - 1).rem_euclid(24)).unwrap_or_default()] += 1.0;
    }
    for h in &mut hours {
        *h = round_to(*h / legit.len().max(1) as f64, 5);
    }
    let first = legit.iter().map(|t| t.step).min().unwrap_or(1);
    let last = legit.iter().map(|t| t.step).max().unwrap_or(1);
    let steps = f64::from(last - first + 1);
    StepProfile {
        hours,
        rows_per_step: round_to(
            (legit.len() as f64 * legit_weight + frauds as f64) / steps,
            1,
        ),
    }
}

fn balance(values: impl Iterator<Item = f64>) -> Balance {
    let values: Vec<f64> = values.collect();
    Balance {
        zero: share(values.iter().filter(|&&v| v == 0.0).count(), values.len()),
        positive: ln_quantiles(values),
    }
}

/// Quantiles of ln(value) over the positive values at [`LEVELS`], interpolated between order
/// statistics; all zero when there are none.
fn ln_quantiles(values: impl IntoIterator<Item = f64>) -> LnQuantiles {
    let mut ln: Vec<f64> = values
        .into_iter()
        .filter(|&v| v > 0.0)
        .map(f64::ln)
        .collect();
    ln.sort_by(f64::total_cmp);
    let mut table = [0.0; LEVELS.len()];
    if let Some(last) = ln.len().checked_sub(1) {
        for (slot, level) in table.iter_mut().zip(LEVELS) {
            let h = level * last as f64;
            let (i, t) = (h.floor() as usize, h.fract());
            let next = ln[(i + 1).min(last)];
            *slot = round_to(ln[i] + (next - ln[i]) * t, 4);
        }
    }
    LnQuantiles(table)
}

fn share(part: usize, whole: usize) -> f64 {
    round_to(part as f64 / whole.max(1) as f64, 5)
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// `measured.rs` for profiles measured on `source`: Rust source, to be formatted by rustfmt.
pub fn render(source: &Source<'_>, profiles: &Profiles) -> String {
    format!(
        "//! PaySim as measured by `scripts/measure-paysim` on the rows in [`SOURCE`]. Written by that\n\
         //! script: change the measurement (`measure.rs`) and run it again rather than edit this.\n\n\
         use aegis_core::TxType::{{CashIn, CashOut, Debit, Payment, Transfer}};\n\n\
         use super::measure::Source;\n\
         use super::profile::{{\n    Balance, DestBefore, Destination, FraudProfile, LnQuantiles, Profiles, StepProfile,\n    TypeProfile,\n}};\n\n\
         /// The rows measured.\n\
         pub const SOURCE: Source<'static> = Source {{\n    file: {file:?},\n    last_step: {last_step},\n    legit_weight: {weight:?},\n}};\n\n\
         /// Every constant the simulator draws from.\n\
         pub const PAYSIM: Profiles = {profiles:#?};\n",
        file = source.file,
        last_step = source.last_step,
        weight = source.legit_weight,
    )
}

#[cfg(test)]
mod tests;
