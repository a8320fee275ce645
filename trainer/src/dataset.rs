//! Labelled rows read from one or more PaySim files, with a progress bar; a row found in several
//! files (same step, origin account and amount) counts once, with the weight the files together
//! give it (see [`sources`](crate::sources)).

use std::collections::HashSet;
use std::path::Path;

use aegis_core::features::{self, Features};
use aegis_core::paysim::PaysimReader;
use aegis_core::transaction::TxType;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::sources::{self, Coverage, WeightedFile};

/// One labelled row, reduced to what training and evaluation need.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub step: i32,
    pub tx_type: TxType,
    pub features: Features,
    pub is_fraud: bool,
    /// How many real transactions the row stands for in natural-rate figures (frauds 1).
    pub weight: f64,
}

/// Distinct rows of the inputs, in reading order.
pub struct Dataset {
    pub rows: Vec<Row>,
    /// Rows skipped because an earlier file (or line) had the same row.
    pub duplicates: u64,
}

impl Dataset {
    pub fn frauds(&self) -> u64 {
        self.rows.iter().filter(|r| r.is_fraud).count() as u64
    }

    /// Every row's features, and its label as 0.0 (legit) or 1.0 (fraud): what fitting takes.
    pub fn features_and_labels(&self) -> (Vec<Features>, Vec<f64>) {
        self.rows
            .iter()
            .map(|r| (r.features, f64::from(u8::from(r.is_fraud))))
            .unzip()
    }
}

/// Reads every file; stops at the first bad row with an error naming file, line and field.
pub fn read(files: &[WeightedFile]) -> Result<Dataset> {
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = byte_bar(total, "reading");
    let mut seen = HashSet::new();
    let mut dataset = Dataset {
        rows: Vec::new(),
        duplicates: 0,
    };
    let mut coverage = Vec::with_capacity(files.len());
    let mut done = 0;
    for file in files {
        let mut covers = Coverage::new(file.legit_weight);
        done += read_one(&file.path, &mut seen, &mut dataset, &mut covers, |read| {
            bar.set_position(done + read)
        })?;
        coverage.push(covers);
        bar.set_position(done);
    }
    bar.finish_and_clear();
    for row in &mut dataset.rows {
        row.weight = sources::row_weight(&coverage, row.step, row.tx_type, row.is_fraud);
    }
    Ok(dataset)
}

/// Reads one file whose legit rows all weigh `legit_weight` (as `evaluate` does).
pub fn read_one_file(path: &Path, legit_weight: f64) -> Result<Dataset> {
    read(&[WeightedFile {
        path: path.to_owned(),
        legit_weight,
    }])
}

fn read_one(
    path: &Path,
    seen: &mut HashSet<(i32, String, u64)>,
    dataset: &mut Dataset,
    coverage: &mut Coverage,
    progress: impl Fn(u64),
) -> Result<u64> {
    let mut reader = PaysimReader::open(path)?;
    let mut n = 0u64;
    while let Some(row) = reader.next() {
        let row = row?;
        let tx = row.transaction;
        coverage.add(tx.step, tx.tx_type);
        let key = (tx.step, tx.name_orig.clone(), tx.amount.to_bits());
        if seen.insert(key) {
            dataset.rows.push(Row {
                step: tx.step,
                tx_type: tx.tx_type,
                features: features::extract(&tx),
                is_fraud: tx.is_fraud == Some(true),
                weight: 1.0, // set once every file's coverage is known
            });
        } else {
            dataset.duplicates += 1;
        }
        n += 1;
        if n.is_multiple_of(4096) {
            progress(reader.bytes_read());
        }
    }
    anyhow::ensure!(n > 0, "{} has a header but no rows", path.display());
    Ok(reader.bytes_read())
}

/// A progress bar over bytes; hidden when stderr is not a terminal.
pub fn byte_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>9} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}
