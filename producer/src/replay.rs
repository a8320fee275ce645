//! Replaying a CSV.
//!
//! PaySim's ([`load`]): every row, in step order (the samples are shuffled; a stable sort keeps
//! the file's order within a step). If more transactions are asked for than the file has, it is
//! replayed again with ids suffixed `-r2`, `-r3`, … so every transaction stays distinct.
//!
//! Any spec's ([`SpecReplay`], `--spec`): every row once, in event-time order. The file is read
//! twice: first to check every row (a bad one stops the producer before anything is sent, naming
//! file, line and field) and whether it is in event-time order; then a row at a time. A file out
//! of order is read whole and stably sorted instead.

use std::path::Path;

use aegis_core::paysim::PaysimReader;
use aegis_core::spec::record::{Record, RecordError, RecordReader};
use aegis_core::spec::Spec;
use aegis_core::Transaction;

/// Reads the whole file (stopping at the first bad row, whose error names file, line and field)
/// and returns its transactions in step order.
pub fn load(path: &Path) -> Result<Vec<Transaction>, aegis_core::paysim::PaysimError> {
    let mut rows = PaysimReader::open(path)?
        .map(|row| row.map(|r| r.transaction))
        .collect::<Result<Vec<_>, _>>()?;
    rows.sort_by_key(|t| t.step);
    Ok(rows)
}

/// The rows, then the rows again with new ids, forever.
pub fn endless(rows: Vec<Transaction>) -> impl Iterator<Item = Transaction> {
    let n = rows.len();
    (0u64..).map_while(move |i| {
        let row = rows.get(usize::try_from(i).ok()? % n.max(1))?;
        let pass = i / n as u64 + 1;
        let mut tx = row.clone();
        if pass > 1 {
            tx.tx_id = format!("{}-r{pass}", tx.tx_id);
        }
        Some(tx)
    })
}

/// A spec's records from a CSV file, in event-time order.
pub struct SpecReplay {
    /// How many records the file has.
    pub rows: u64,
    /// The records.
    pub records: Box<dyn Iterator<Item = Result<Record, RecordError>> + Send>,
}

impl SpecReplay {
    /// Checks every row of `path` by `spec`, then opens it for replay.
    pub fn open(spec: &Spec, path: &Path) -> Result<SpecReplay, RecordError> {
        let (mut rows, mut last, mut in_order) = (0u64, i64::MIN, true);
        for record in RecordReader::open(spec, path)? {
            let time = record?.event_time_ms;
            in_order &= time >= last;
            last = time;
            rows += 1;
        }
        if in_order {
            return Ok(SpecReplay {
                rows,
                records: Box::new(RecordReader::open(spec, path)?),
            });
        }
        tracing::info!(file = %path.display(), "not in event-time order: reading it whole to sort it");
        let mut records = RecordReader::open(spec, path)?.collect::<Result<Vec<_>, _>>()?;
        records.sort_by_key(|r| r.event_time_ms);
        Ok(SpecReplay {
            rows,
            records: Box::new(records.into_iter().map(Ok)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_in_step_order_then_repeats_with_new_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(
            &path,
            "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n\
             3,PAYMENT,1.0,C1,5.0,4.0,M1,0.0,0.0,0,0\n\
             1,PAYMENT,2.0,C2,5.0,3.0,M1,0.0,0.0,0,0\n\
             3,PAYMENT,3.0,C3,5.0,2.0,M1,0.0,0.0,0,0\n",
        )
        .unwrap();
        let rows = load(&path).unwrap();
        let names: Vec<_> = rows.iter().map(|t| t.name_orig.as_str()).collect();
        assert_eq!(
            names,
            ["C2", "C1", "C3"],
            "step order, stable within a step"
        );
        let ids: Vec<_> = endless(rows).take(5).map(|t| t.tx_id).collect();
        assert_eq!(ids[3], format!("{}-r2", ids[0]));
        assert_eq!(
            ids.iter().collect::<std::collections::HashSet<_>>().len(),
            5
        );
    }
}
