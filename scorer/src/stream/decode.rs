//! Stage 2a, decode: a message's bytes become a valid [`Transaction`] or a [`DeadLetter`] with a
//! reason from the closed set and the message's source position. Pure apart from the Schema
//! Registry lookup of a writer schema it has not seen (blocking HTTP, cached): when the registry
//! cannot be asked, that says nothing about the message, so it is an error — the batch is not
//! written and its offsets are not stored — never a dead letter.

use aegis_core::avro::AvroCodec;
use aegis_core::dead_letter::SourcePosition;
use aegis_core::{DeadLetter, DeadLetterReason, Transaction};
use aegis_kafka::registry::{DecodeError, RegistryDecoder};

use super::intake::Received;

/// What one message decodes to.
#[derive(Debug)]
pub enum Decoded {
    /// A valid transaction, to score.
    Valid(Transaction),
    /// Not a transaction Aegis can score: to the dead-letter topic, with why and whence.
    DeadLetter(DeadLetter),
}

/// Reads the input topic's messages: Avro single-object encoding, or the Confluent wire format
/// with a writer schema from the registry.
pub struct Decoder {
    input_topic: String,
    registry: Option<RegistryDecoder<Transaction>>,
    /// `--max-clock-skew`, milliseconds.
    max_skew_ms: i64,
}

impl Decoder {
    /// A decoder of `input_topic`'s messages, resolving Confluent-framed input through
    /// `registry` when one is given, and refusing event times before 1970 or more than
    /// `max_skew_ms` ahead of the wall clock.
    pub fn new(
        input_topic: &str,
        registry: Option<RegistryDecoder<Transaction>>,
        max_skew_ms: i64,
    ) -> Decoder {
        Decoder {
            input_topic: input_topic.to_owned(),
            registry,
            max_skew_ms,
        }
    }

    /// Where `message` was read: a dead letter's source.
    pub fn source_of(&self, message: &Received) -> SourcePosition {
        SourcePosition {
            topic: self.input_topic.clone(),
            partition: message.partition,
            offset: message.offset,
        }
    }

    /// Decodes and validates one message, its event time against the wall clock `now_ms`. `Err`
    /// means the registry could not be asked.
    pub fn decode(&self, message: &Received, now_ms: i64) -> Result<Decoded, DecodeError> {
        let dead = |reason, error: String| {
            Decoded::DeadLetter(DeadLetter {
                reason,
                error,
                source: self.source_of(message),
            })
        };
        let Some(bytes) = message.payload.as_deref() else {
            return Ok(dead(
                DeadLetterReason::Empty,
                "message has no value".to_owned(),
            ));
        };
        let decoded = match &self.registry {
            Some(registry) => registry.decode(bytes),
            None => AvroCodec::transaction()
                .decode(bytes)
                .map_err(DecodeError::from),
        };
        let tx = match decoded {
            Ok((tx, _)) => tx,
            Err(e) => {
                let Some(reason) = e.dead_letter_reason() else {
                    return Err(e);
                };
                return Ok(dead(reason, e.to_string()));
            }
        };
        if let Err(e) = tx.validate() {
            return Ok(dead(
                DeadLetterReason::Invalid,
                format!("invalid transaction {}: {e}", tx.tx_id),
            ));
        }
        if let Some(problem) = event_time_problem(tx.event_time, now_ms, self.max_skew_ms) {
            return Ok(dead(
                DeadLetterReason::EventTime,
                format!(
                    "transaction {}: event_time {} {problem}",
                    tx.tx_id, tx.event_time
                ),
            ));
        }
        Ok(Decoded::Valid(tx))
    }
}

/// Why `event_time` (milliseconds) cannot be a payment's, at wall-clock time `now_ms`: before
/// 1970, or more than `max_skew_ms` ahead (a date in the future; microseconds or nanoseconds
/// written for milliseconds land thousands of years ahead).
pub fn event_time_problem(event_time: i64, now_ms: i64, max_skew_ms: i64) -> Option<String> {
    if event_time < 0 {
        return Some("is before 1970 (milliseconds since the Unix epoch)".to_owned());
    }
    let ahead = event_time.saturating_sub(now_ms);
    (ahead > max_skew_ms).then(|| {
        format!(
            "is {} s ahead of this replica's clock, more than --max-clock-skew {} s (milliseconds since the Unix epoch?)",
            ahead / 1000,
            max_skew_ms / 1000
        )
    })
}

#[cfg(test)]
mod tests {
    use super::event_time_problem;

    #[test]
    fn event_times_a_payment_cannot_have() {
        let (now, skew) = (1_796_000_000_000, 300_000);
        for fine in [0, 1_000_000_000_000, now - 86_400_000, now, now + skew] {
            assert_eq!(event_time_problem(fine, now, skew), None, "{fine}");
        }
        for bad in [-1, i64::MIN, now + skew + 1, now * 1_000, i64::MAX] {
            let problem = event_time_problem(bad, now, skew).unwrap();
            assert!(
                problem.contains("1970") || problem.contains("--max-clock-skew"),
                "{problem}"
            );
        }
    }
}
