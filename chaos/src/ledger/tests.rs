//! The comparison's rules on hand-made ledgers.

use std::collections::BTreeMap;

use aegis_core::dead_letter::SourcePosition;

use super::*;

fn input(partition: i32, offset: i64, expected: Expected, id: Option<&str>) -> Input {
    Input {
        partition,
        offset,
        kind: "test".into(),
        expected,
        tx_id: id.map(str::to_owned),
        key: Some(b"k".to_vec()),
        payload: Some(vec![offset as u8]),
    }
}

fn letter(source: (i32, i64), reason: DeadLetterReason) -> DeadLetter {
    DeadLetter {
        headers: Ok(aegis_core::DeadLetter {
            reason,
            error: format!("{reason}: details"),
            source: SourcePosition {
                topic: "in".into(),
                partition: source.0,
                offset: source.1,
            },
        }),
        key: Some(b"k".to_vec()),
        payload: Some(vec![source.1 as u8]),
    }
}

fn expectations() -> Expectations {
    Expectations {
        input_topic: "in".into(),
        ..Expectations::default()
    }
}

/// Verdicts on partition 0 of the verdict topic, at offsets 0, 1, 2, … in the order given.
fn verdicts(ids: &[&str]) -> Vec<VerdictAt> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| VerdictAt {
            partition: 0,
            offset: i as i64,
            tx_id: Some((*id).to_owned()),
        })
        .collect()
}

#[test]
fn a_complete_run_passes_and_counts_duplicates() {
    let inputs = [
        input(0, 0, Expected::Verdict, Some("a")),
        input(0, 1, Expected::DeadLetter(DeadLetterReason::Body), None),
        input(1, 0, Expected::Verdict, Some("b")),
    ];
    let letters = [
        letter((0, 1), DeadLetterReason::Body),
        letter((0, 1), DeadLetterReason::Body),
    ];
    let report = compare(
        &inputs,
        &verdicts(&["a", "b", "b"]),
        &letters,
        &expectations(),
    );
    assert!(report.passed(), "{report}");
    assert_eq!((report.sent, report.verdicts, report.dlq), (3, 3, 2));
    assert_eq!((report.lost, report.duplicates), (0, 2));
    assert_eq!(
        report.dlq_reasons.get(DeadLetterReason::Body.as_str()),
        Some(&1)
    );
}

#[test]
fn missing_outcomes_are_lost() {
    let inputs = [
        input(0, 0, Expected::Verdict, Some("a")),
        input(0, 1, Expected::DeadLetter(DeadLetterReason::Body), None),
    ];
    let mut expect = expectations();
    expect.sent = Some(3);
    let report = compare(&inputs, &[], &[], &expect);
    assert_eq!(report.lost, 3);
    assert!(!report.passed());
}

#[test]
fn wrong_routes_and_reasons_fail() {
    let inputs = [
        input(0, 0, Expected::Verdict, Some("a")),
        input(
            0,
            1,
            Expected::DeadLetter(DeadLetterReason::Invalid),
            Some("nan"),
        ),
        input(0, 2, Expected::DeadLetter(DeadLetterReason::Body), None),
    ];
    let letters = [
        letter((0, 0), DeadLetterReason::Body),
        letter((0, 2), DeadLetterReason::Truncated),
        letter((0, 9), DeadLetterReason::Body),
    ];
    let report = compare(
        &inputs,
        &verdicts(&["a", "nan", "stray"]),
        &letters,
        &expectations(),
    );
    for name in [
        "valid transactions dead-lettered",
        "bad messages scored",
        "bad messages not in the DLQ (lost)",
        "dead letters with the wrong reason",
        "dead letters naming no input message",
        "verdicts for no input transaction",
    ] {
        assert!(report.problems.contains_key(name), "{name}: {report}");
    }
}

#[test]
fn repeats_across_a_fault_are_measured_against_the_window() {
    // Input partition 0: a, b, c, d at offsets 0..4; the group had committed up to 2 (a, b)
    // and the verdicts of a, b, c were written before the fault (verdict offsets 0..3).
    let inputs: Vec<Input> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(o, id)| input(0, o as i64, Expected::Verdict, Some(id)))
        .collect();
    let mut expect = expectations();
    expect.fault = Some(Fault {
        committed: BTreeMap::from([(0, 2)]),
        input: BTreeMap::from([(0, 4)]),
        verdicts: BTreeMap::from([(0, 3)]),
    });
    // c was in the window and is repeated after the fault: allowed.
    let report = compare(&inputs, &verdicts(&["a", "b", "c", "c", "d"]), &[], &expect);
    assert!(report.passed(), "{report}");
    let effect = report.fault.unwrap_or_default();
    assert_eq!(
        (effect.window, effect.repeated, effect.committed),
        (1, 1, 2)
    );
    // b was committed: repeating it after the fault fails.
    let report = compare(&inputs, &verdicts(&["a", "b", "c", "b", "d"]), &[], &expect);
    assert!(report
        .problems
        .contains_key("committed work repeated after the fault"));
    // Duplicates from before the fault (a rebalance earlier on) are counted, not failed.
    let report = compare(&inputs, &verdicts(&["a", "a", "b", "c", "d"]), &[], &expect);
    assert!(report.passed(), "{report}");
    assert_eq!(report.duplicates, 1);
    // After a drained handover nothing may be repeated.
    expect.max_repeated = Some(0);
    let report = compare(&inputs, &verdicts(&["a", "b", "c", "c", "d"]), &[], &expect);
    assert!(!report.passed());
}

#[test]
fn an_id_written_twice_is_reported_but_not_a_duplicate_verdict() {
    let inputs = [
        input(0, 0, Expected::Verdict, Some("a")),
        input(0, 1, Expected::Verdict, Some("a")),
    ];
    let report = compare(&inputs, &verdicts(&["a", "a"]), &[], &expectations());
    assert_eq!(report.duplicates, 0);
    assert!(report
        .problems
        .contains_key("transaction ids written more than once"));
}
