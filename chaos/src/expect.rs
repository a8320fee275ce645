//! What the scorer must do with one input message: a verdict, or a dead letter with a given
//! reason; written as `verdict` or `dlq:<reason>`.

use std::fmt;

use aegis_core::kafka::DEAD_LETTER_REASONS;

/// The outcome an input message must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A verdict on the verdicts topic, found by the transaction id.
    Verdict,
    /// A dead letter with this `aegis.dlq.reason`, found by its source partition and offset.
    DeadLetter(&'static str),
}

impl Expected {
    /// Parses `verdict` or `dlq:<reason>`.
    pub fn parse(value: &str) -> Option<Expected> {
        if value == "verdict" {
            return Some(Expected::Verdict);
        }
        let reason = value.strip_prefix("dlq:")?;
        DEAD_LETTER_REASONS
            .iter()
            .find(|r| **r == reason)
            .map(|r| Expected::DeadLetter(r))
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
        let all =
            std::iter::once(Expected::Verdict).chain(DEAD_LETTER_REASONS.map(Expected::DeadLetter));
        for e in all {
            assert_eq!(Expected::parse(&e.to_string()), Some(e));
        }
        assert_eq!(Expected::parse("dlq:nonsense"), None);
        assert_eq!(Expected::parse("verdicts"), None);
    }
}
