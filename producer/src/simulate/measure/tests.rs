//! The measurement on small, hand-made sets of rows whose answer is known.

use super::*;

fn tx(
    step: i32,
    tx_type: TxType,
    amount: f64,
    orig: (f64, f64),
    dest: (f64, f64),
    fraud: bool,
) -> Transaction {
    Transaction {
        tx_id: String::new(),
        event_time: 0,
        step,
        tx_type,
        amount,
        name_orig: "C1".into(),
        old_balance_orig: orig.0,
        new_balance_orig: orig.1,
        name_dest: if tx_type == TxType::Payment {
            "M2"
        } else {
            "C2"
        }
        .into(),
        old_balance_dest: dest.0,
        new_balance_dest: dest.1,
        is_fraud: Some(fraud),
    }
}

#[test]
fn fraud_rows_are_grouped_into_paysims_events() {
    use TxType::{CashOut, Transfer};
    let (max, zero) = (10_000_000.0, (0.0, 0.0));
    let fraud = [
        // A victim with 500 emptied in one transfer, cashed out.
        tx(1, Transfer, 500.0, (500.0, 0.0), zero, true),
        tx(1, CashOut, 500.0, (500.0, 0.0), (100.0, 600.0), true),
        // A victim with 25M: two pieces, then the flagged remainder.
        tx(2, Transfer, max, (25e6, 15e6), zero, true),
        tx(2, CashOut, max, (max, 0.0), zero, true),
        tx(2, Transfer, max, (15e6, 5e6), zero, true),
        tx(2, CashOut, max, (max, 0.0), (1.0, max + 1.0), true),
        tx(2, Transfer, 5e6, (5e6, 5e6), zero, true),
        // A lone cash-out from an empty account.
        tx(3, CashOut, 70.0, zero, (10.0, 80.0), true),
    ];
    let rows: Vec<&Transaction> = fraud.iter().collect();
    let profile = fraud_profile(&rows).unwrap();
    assert_eq!(profile.max_transfer, max);
    // Victims: 500 and 25M; events: those two and the lone row.
    let victims = profile.victim.positive.0;
    assert_eq!(victims[0], round_to(500f64.ln(), 4));
    assert_eq!(victims[LEVELS.len() - 1], round_to(25e6f64.ln(), 4));
    assert_eq!(profile.rows_per_event, round_to(8.0 / 3.0, 5));
    assert_eq!(profile.flagged_remainder, 1.0);
    assert_eq!(profile.lone, round_to(1.0 / 3.0, 5));
    assert_eq!(
        (profile.lone_cash_out, profile.lone_origin_empty),
        (1.0, 1.0)
    );
    assert_eq!(profile.mule_balances_zero, 1.0);
    let cash_outs = profile.cash_out_destination;
    // One of the three cash-outs reaches an empty account and shows it empty after: a debit.
    let third = round_to(1.0 / 3.0, 5);
    assert_eq!(cash_outs.origin_funded.balance.zero, third);
    assert_eq!(
        (cash_outs.later_credit, cash_outs.later_debit),
        (0.0, third)
    );
}

#[test]
fn destination_inconsistencies_are_counted_and_their_sizes_pooled() {
    use TxType::{CashIn, CashOut};
    let rows = [
        tx(1, CashOut, 100.0, (0.0, 0.0), (1_000.0, 1_100.0), false),
        tx(1, CashOut, 100.0, (50.0, 0.0), (1_000.0, 1_600.0), false),
        tx(1, CashOut, 100.0, (50.0, 0.0), (1_000.0, 900.0), false),
        tx(1, CashIn, 100.0, (50.0, 150.0), (60.0, 0.0), false),
    ];
    let refs: Vec<&Transaction> = rows.iter().take(3).collect();
    let (mut credits, mut debits) = (Vec::new(), Vec::new());
    let d = destination(&refs, Some((&mut credits, &mut debits)));
    assert_eq!(
        (d.later_credit, d.later_debit),
        (round_to(1.0 / 3.0, 5), round_to(1.0 / 3.0, 5))
    );
    assert_eq!((credits, debits), (vec![500.0], vec![200.0]));
    // CASH_IN: the agent pays out 100 of 60, down to zero: consistent.
    assert_eq!(dest_after_alone(&rows[3]), 0.0);
}

#[test]
fn a_missing_type_is_named() {
    let rows = [tx(1, TxType::CashIn, 1.0, (0.0, 1.0), (0.0, 0.0), false)];
    let err = measure(&rows, 1.0).unwrap_err();
    assert_eq!(err, MeasureError::NoRows("CASH_OUT"));
    assert!(err.to_string().contains("no CASH_OUT rows"), "{err}");
}
