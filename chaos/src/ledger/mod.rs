//! The ledger of one scenario: every input message with the outcome it must have, every verdict
//! and every dead letter — and the comparison of the two, message by message. Pure: the Kafka
//! reading is in [`crate::topic`], so the rules are unit-tested on hand-made ledgers.

mod records;
mod report;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use aegis_core::DeadLetterReason;

use crate::expect::Expected;
use crate::fault::{Fault, FaultEffect};

pub use records::{DeadLetter, Input, VerdictAt, PRODUCER_KIND};
pub use report::{Problem, Report};

/// What the checker is told besides the topics' contents.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// The input topic's name, as dead letters must name it.
    pub input_topic: String,
    /// How many messages the writer says the broker acknowledged; fewer on the input topic is loss.
    pub sent: Option<u64>,
    /// The snapshot taken at the fault, if there was one.
    pub fault: Option<Fault>,
    /// Most messages that may be repeated across the fault (0 after a drained SIGTERM).
    pub max_repeated: Option<u64>,
}

/// Compares the input with the outputs, message by message. Long, in the order a person checks:
/// index the outputs, then hold every input against them, then report what is left over — the
/// phases share the indexes and the report.
pub fn compare(
    inputs: &[Input],
    verdicts: &[VerdictAt],
    dead_letters: &[DeadLetter],
    expect: &Expectations,
) -> Report {
    let mut report = Report {
        sent: inputs.len() as u64,
        verdicts: verdicts.len() as u64,
        dlq: dead_letters.len() as u64,
        fault: expect.fault.as_ref().map(|f| FaultEffect {
            committed: f.committed_total(),
            written: f.input_total(),
            ..FaultEffect::default()
        }),
        ..Report::default()
    };

    // Verdicts by transaction id; dead letters by source.
    let mut verdicts_of: HashMap<&str, Vec<&VerdictAt>> = HashMap::new();
    for v in verdicts {
        match &v.tx_id {
            Some(id) => verdicts_of.entry(id.as_str()).or_default().push(v),
            None => report.problem("undecodable verdicts", || {
                format!("verdicts[{}]@{}", v.partition, v.offset)
            }),
        }
    }
    let mut letters: HashMap<(i32, i64), Vec<Letter<'_>>> = HashMap::new();
    for d in dead_letters {
        match &d.headers {
            Ok(headers) if headers.source.topic == expect.input_topic => letters
                .entry((headers.source.partition, headers.source.offset))
                .or_default()
                .push(Letter {
                    headers,
                    message: d,
                }),
            Ok(headers) => report.problem("dead letters naming no input message", || {
                format!("reason {}, source {:?}", headers.reason, headers.source)
            }),
            Err(e) => report.problem("dead letters whose headers break the contract", || {
                e.to_string()
            }),
        }
    }

    // Inputs to be scored by transaction id: an id written twice is a duplicate of the writer,
    // not of the scorers.
    let mut inputs_per_id: HashMap<&str, u64> = HashMap::new();
    for input in inputs {
        if let (Expected::Verdict, Some(id)) = (input.expected, &input.tx_id) {
            *inputs_per_id.entry(id.as_str()).or_default() += 1;
        }
    }
    for (id, n) in &inputs_per_id {
        if *n > 1 {
            report.problem("transaction ids written more than once", || {
                format!("{id} ×{n}")
            });
        }
    }

    let mut seen: HashMap<&str, ()> = HashMap::new();
    for input in inputs {
        let at = format!("{}[{}]@{}", input.kind, input.partition, input.offset);
        report.kinds.entry(input.kind.clone()).or_default().0 += 1;
        let own_letters = letters
            .remove(&(input.partition, input.offset))
            .unwrap_or_default();
        let ok = match input.expected {
            Expected::Verdict => {
                let Some(id) = input.tx_id.as_deref() else {
                    report.problem("inputs to be scored that do not decode", || at.clone());
                    continue;
                };
                if !own_letters.is_empty() {
                    report.problem("valid transactions dead-lettered", || {
                        format!("{at} {id}: {}", own_letters[0].headers.reason)
                    });
                }
                let copies = verdicts_of.get(id).map_or(&[][..], Vec::as_slice);
                if copies.is_empty() {
                    report.lost += 1;
                    report.problem("transactions without a verdict (lost)", || {
                        format!("{at} {id}")
                    });
                    false
                } else {
                    // Several inputs may share an id: count its verdicts once.
                    if seen.insert(id, ()).is_none() {
                        report.duplicates +=
                            (copies.len() as u64).saturating_sub(inputs_per_id[id]);
                        if let Some(fault) = &expect.fault {
                            across_fault(&mut report, fault, input, copies, &at);
                        }
                    }
                    own_letters.is_empty()
                }
            }
            Expected::DeadLetter(reason) => {
                let scored = input
                    .tx_id
                    .as_deref()
                    .filter(|id| verdicts_of.contains_key(id) && !inputs_per_id.contains_key(id));
                if let Some(id) = scored {
                    report.problem("bad messages scored", || format!("{at} {id}"));
                }
                dead_letter_ok(&mut report, input, &own_letters, reason, &at) && scored.is_none()
            }
        };
        if ok {
            if let Some(kind) = report.kinds.get_mut(&input.kind) {
                kind.1 += 1;
            }
        }
    }

    for (source, stray) in letters {
        report.problem("dead letters naming no input message", || {
            format!("{} for {source:?}", stray[0].headers.reason)
        });
    }
    for id in verdicts_of.keys() {
        if !inputs_per_id.contains_key(id) {
            report.problem("verdicts for no input transaction", || (*id).to_owned());
        }
    }
    if let Some(sent) = expect.sent {
        if report.sent < sent {
            let missing = sent - report.sent;
            report.lost += missing;
            report.problem(
                "acknowledged messages missing from the input topic (lost)",
                || format!("{missing} of {sent}"),
            );
        }
    }
    if let (Some(max), Some(effect)) = (expect.max_repeated, report.fault) {
        if effect.repeated > max {
            report.problem(
                "more messages repeated across the fault than allowed",
                || format!("{} > {max}", effect.repeated),
            );
        }
    }
    report
}

/// A dead letter whose headers name an input message.
struct Letter<'a> {
    headers: &'a aegis_core::DeadLetter,
    message: &'a DeadLetter,
}

/// Checks an input that must be dead-lettered; counts its reason and duplicates.
fn dead_letter_ok(
    report: &mut Report,
    input: &Input,
    letters: &[Letter<'_>],
    reason: DeadLetterReason,
    at: &str,
) -> bool {
    let Some(first) = letters.first() else {
        report.lost += 1;
        report.problem("bad messages not in the DLQ (lost)", || at.to_owned());
        return false;
    };
    *report
        .dlq_reasons
        .entry(first.headers.reason.to_string())
        .or_default() += 1;
    report.duplicates += letters.len() as u64 - 1;
    let mut ok = true;
    if first.headers.reason != reason {
        ok = false;
        report.problem("dead letters with the wrong reason", || {
            format!("{at}: {} instead of {reason}", first.headers.reason)
        });
    }
    if letters.iter().any(|d| d.headers.error.trim().is_empty()) {
        ok = false;
        report.problem("dead letters without an aegis.dlq.error", || at.to_owned());
    }
    if letters
        .iter()
        .any(|d| !same_bytes(&d.message.key, &input.key))
    {
        ok = false;
        report.problem("dead letters whose key differs from the input", || {
            at.to_owned()
        });
    }
    if letters
        .iter()
        .any(|d| !same_bytes(&d.message.payload, &input.payload))
    {
        ok = false;
        report.problem("dead letters whose value differs from the input", || {
            at.to_owned()
        });
    }
    ok
}

/// Places one scored input relative to the fault (see [`crate::fault`]).
fn across_fault(
    report: &mut Report,
    fault: &Fault,
    input: &Input,
    copies: &[&VerdictAt],
    at: &str,
) {
    let before = copies
        .iter()
        .filter(|v| fault.before(v.partition, v.offset))
        .count();
    if before == 0 {
        return;
    }
    let committed = fault.committed_on(input.partition);
    let Some(effect) = report.fault.as_mut() else {
        return;
    };
    if input.offset >= committed {
        effect.window += 1;
    }
    if before < copies.len() {
        effect.repeated += 1;
        if input.offset < committed {
            report.problem("committed work repeated after the fault", || {
                format!("{at} (committed up to {committed})")
            });
        }
    }
}

/// Keys and values compare as bytes; no key and an empty key are the same to Kafka clients.
fn same_bytes(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> bool {
    a.as_deref().unwrap_or_default() == b.as_deref().unwrap_or_default()
}
