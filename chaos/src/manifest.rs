//! The manifest `aegis-chaos fuzz` writes: one JSON line per acknowledged message with where it
//! landed, its kind, the outcome it must have, and its key and value (hex) to compare with the
//! dead letter.

use std::io::BufRead;
use std::path::Path;

use aegis_core::avro::AvroCodec;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use crate::expect::Expected;
use crate::hostile::Message;
use crate::ledger::Input;

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Partition of the input topic.
    pub partition: i32,
    /// Offset there.
    pub offset: i64,
    /// A hostile kind's name, or `valid`.
    pub kind: String,
    /// `verdict` or `dlq:<reason>`.
    pub expected: String,
    /// Key, hex (`null`: none).
    pub key: Option<String>,
    /// Value, hex (`null`: none).
    pub payload: Option<String>,
}

impl ManifestEntry {
    /// The entry of a message acknowledged at `partition`/`offset`.
    pub fn new(partition: i32, offset: i64, message: &Message) -> ManifestEntry {
        ManifestEntry {
            partition,
            offset,
            kind: message.kind.to_owned(),
            expected: message.expected.to_string(),
            key: message.key.as_deref().map(hex),
            payload: message.payload.as_deref().map(hex),
        }
    }

    /// The ledger's view of the entry.
    pub fn into_input(self) -> Result<Input> {
        let expected = Expected::parse(&self.expected)
            .ok_or_else(|| anyhow!("unknown expectation {:?}", self.expected))?;
        let payload = self.payload.as_deref().map(unhex).transpose()?;
        let tx_id = payload
            .as_deref()
            .and_then(|bytes| AvroCodec::transaction().decode(bytes).ok())
            .map(|(tx, _)| tx.tx_id);
        Ok(Input {
            partition: self.partition,
            offset: self.offset,
            kind: self.kind,
            expected,
            tx_id,
            key: self.key.as_deref().map(unhex).transpose()?,
            payload,
        })
    }
}

/// Reads a manifest written by `aegis-chaos fuzz`.
pub fn load(path: &Path) -> Result<Vec<Input>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the manifest {}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<ManifestEntry>(&line)
                .map_err(anyhow::Error::from)
                .and_then(ManifestEntry::into_input)
                .with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| anyhow!("not hex at character {i}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::{Generator, Kind};

    #[test]
    fn entries_round_trip_into_inputs() {
        let mut generator = Generator::new(5);
        for kind in Kind::ALL {
            let message = generator.hostile(kind);
            let entry = ManifestEntry::new(2, 40, &message);
            let line = serde_json::to_string(&entry).unwrap_or_default();
            let back: ManifestEntry = serde_json::from_str(&line).expect("a manifest line parses");
            let input = back.into_input().expect("an entry becomes an input");
            assert_eq!((input.partition, input.offset), (2, 40));
            assert_eq!(input.expected, kind.expected());
            assert_eq!((input.key, input.payload), (message.key, message.payload));
            if kind.expected() == Expected::Verdict {
                assert!(input.tx_id.is_some(), "{kind:?}");
            }
        }
        assert!(unhex("0g").is_err());
        assert!(unhex("abc").is_err());
    }
}
