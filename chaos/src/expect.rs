//! What the scorer must do with one input message: a verdict, or a dead letter with a given
//! reason; written as `verdict` or `dlq:<reason>`.

use std::fmt;

use aegis_core::DeadLetterReason;

/// The outcome an input message must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A verdict on the verdicts topic, found by the transaction id.
    Verdict,
    /// A dead letter with this `aegis.dlq.reason`, found by its source partition and offset.
    DeadLetter(DeadLetterReason),
}

impl Expected {
    /// Parses `verdict` or `dlq:<reason>`.
    pub fn parse(value: &str) -> Option<Expected> {
        if value == "verdict" {
            return Some(Expected::Verdict);
        }
        let reason = value.strip_prefix("dlq:")?;
        reason.parse().ok().map(Expected::DeadLetter)
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Verdict => f.write_str("verdict"),
            Expected::DeadLetter(reason) => write!(f, "dlq:{reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_round_trip() {
        let all = std::iter::once(Expected::Verdict)
            .chain(DeadLetterReason::ALL.map(Expected::DeadLetter));
        for e in all {
            assert_eq!(Expected::parse(&e.to_string()), Some(e));
        }
        assert_eq!(Expected::parse("dlq:nonsense"), None);
        assert_eq!(Expected::parse("verdicts"), None);
    }
}
