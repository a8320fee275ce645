//! The file `evaluate --predictions` writes: a header, then `row,probability,decision,is_fraud`
//! per row in input order, each number written as the csv crate's serializer writes it (itoa for
//! integers, ryu for the probability) — through one reused line buffer instead of a serializer
//! per row.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::Prediction;

/// The header line.
const HEADER: &[u8] = b"row,probability,decision,is_fraud\n";

/// Writes `predictions` to `path`; an error names the file.
pub fn write(path: &Path, predictions: &[Prediction]) -> Result<()> {
    let cannot = || format!("cannot write predictions to {}", path.display());
    let file = File::create(path).with_context(cannot)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    write_to(&mut out, predictions).with_context(cannot)?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .with_context(cannot)?;
    Ok(())
}

/// Writes `predictions` to any writer (buffer it: each row is one `write_all`).
pub fn write_to(out: &mut impl Write, predictions: &[Prediction]) -> std::io::Result<()> {
    out.write_all(HEADER)?;
    let mut line = Vec::with_capacity(64);
    let mut row = itoa::Buffer::new();
    let mut probability = ryu::Buffer::new();
    for p in predictions {
        line.clear();
        line.extend_from_slice(row.format(p.row).as_bytes());
        line.push(b',');
        line.extend_from_slice(probability.format(p.probability).as_bytes());
        line.push(b',');
        line.extend_from_slice(p.decision.as_str().as_bytes());
        line.extend_from_slice(if p.is_fraud { b",1\n" } else { b",0\n" });
        out.write_all(&line)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use aegis_core::Decision;

    use super::*;

    /// What the file held when each row went through `csv::Writer::serialize`.
    fn serialized(predictions: &[Prediction]) -> Vec<u8> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["row", "probability", "decision", "is_fraud"])
            .unwrap();
        for p in predictions {
            out.serialize((
                p.row,
                p.probability,
                p.decision.as_str(),
                u8::from(p.is_fraud),
            ))
            .unwrap();
        }
        out.into_inner().unwrap()
    }

    #[test]
    fn rows_are_written_byte_for_byte_as_the_csv_serializer_wrote_them() {
        let probabilities = [
            0.0,
            1.0,
            0.5,
            0.1 + 0.2,
            1e-7,
            2.5e-5,
            0.000123,
            0.999_999_999_999,
            0.123_456_789_012_345_67,
            f64::MIN_POSITIVE,
            5e-324,
            1.0 / 3.0,
            0.43,
            0.67,
        ];
        // And 10,000 more spread over [0, 1) (a fixed multiplicative sequence of 53-bit values).
        let spread = (1..=10_000u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64);
        let decisions = [Decision::Allow, Decision::Review, Decision::Block];
        let predictions: Vec<Prediction> = probabilities
            .into_iter()
            .chain(spread)
            .enumerate()
            .map(|(i, probability)| Prediction {
                row: [1, 9, 10, 99, 100, 4096, 202_640, 1_000_000_007][i % 8] + i,
                probability,
                decision: decisions[i % 3],
                is_fraud: i % 2 == 1,
                step: 1,
            })
            .collect();
        let mut written = Vec::new();
        write_to(&mut written, &predictions).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(serialized(&predictions)).unwrap()
        );
    }

    #[test]
    fn no_rows_is_the_header_alone() {
        let mut written = Vec::new();
        write_to(&mut written, &[]).unwrap();
        assert_eq!(written, serialized(&[]));
    }
}
