//! Streaming reader of PaySim CSV. Rows come out one at a time, in file order; a bad row is an
//! error naming the file, the line and the column, and the reader can go on past it. A row can
//! come out whole ([`PaysimRow`]) or reduced to what scoring it needs ([`ScoringRow`], nothing
//! allocated), with the same checks and errors either way.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

mod field;
#[cfg(test)]
mod tests;

use field::RawField;

use crate::features::{self, Features};
use crate::transaction::{Transaction, TxType};

/// Event time of PaySim step 1: 2026-01-01T00:00:00Z. Each step is one hour.
pub const STEP_ONE_EPOCH_MS: i64 = 1_767_225_600_000;

/// The columns every PaySim file has (extra columns are ignored; order may differ).
pub const COLUMNS: [&str; 11] = [
    "step",
    "type",
    "amount",
    "nameOrig",
    "oldbalanceOrg",
    "newbalanceOrig",
    "nameDest",
    "oldbalanceDest",
    "newbalanceDest",
    "isFraud",
    "isFlaggedFraud",
];

/// Writes `t` as one PaySim row, in [`COLUMNS`]' order: money to the cent (as PaySim writes it),
/// `isFraud` from its label (0 when unknown) and `isFlaggedFraud` as given.
pub fn write_row(
    out: &mut impl std::io::Write,
    t: &Transaction,
    is_flagged_fraud: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{},{},{:.2},{},{:.2},{:.2},{},{:.2},{:.2},{},{}",
        t.step,
        t.tx_type,
        t.amount,
        t.name_orig,
        t.old_balance_orig,
        t.new_balance_orig,
        t.name_dest,
        t.old_balance_dest,
        t.new_balance_dest,
        u8::from(t.is_fraud == Some(true)),
        u8::from(is_flagged_fraud),
    )
}

/// Event time, in milliseconds since the Unix epoch, of the start of a PaySim step.
pub fn step_event_time(step: i32) -> i64 {
    STEP_ONE_EPOCH_MS + (i64::from(step) - 1) * 3_600_000
}

/// The id Aegis gives a PaySim row: the same row in two files gets the same id, because PaySim
/// rows are identified by (step, nameOrig, amount).
pub fn row_tx_id(step: i32, name_orig: &str, amount: f64) -> String {
    format!("ps-{step}-{name_orig}-{amount:.2}")
}

/// One row of a PaySim file.
#[derive(Clone, Debug, PartialEq)]
pub struct PaysimRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The transaction, with `is_fraud` set from the `isFraud` column.
    pub transaction: Transaction,
    /// The `isFlaggedFraud` column: the old rule's output. Never a model feature.
    pub is_flagged_fraud: bool,
}

/// One row reduced to what scoring and judging it need ([`PaysimReader::next_scoring_row`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoringRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// PaySim's hour of simulation.
    pub step: i32,
    /// The model's view of the row, as [`features::extract`] gives it for the row's transaction.
    pub features: Features,
    /// The `isFraud` column.
    pub is_fraud: bool,
}

/// What went wrong reading a PaySim file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PaysimError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The header lacks a PaySim column.
    #[error("{file}: header has no `{column}` column; is this a PaySim CSV? (expected {expected}; data of another shape is read by a spec: docs/your-data.md)", expected = COLUMNS.join(","))]
    MissingColumn {
        /// The file.
        file: String,
        /// The missing column.
        column: &'static str,
    },
    /// A row is not well-formed CSV (for example, it has the wrong number of fields).
    #[error("{file} line {line}: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What the CSV parser said.
        message: String,
    },
    /// A field has a value that cannot be used.
    #[error("{file} line {line}, field {field}: {problem} (value {value:?})")]
    Field {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The PaySim column name.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Position of each PaySim column in the file's header.
#[derive(Clone, Copy, Debug)]
struct ColumnIndex([usize; COLUMNS.len()]);

/// Streams the rows of one PaySim CSV file.
pub struct PaysimReader<R> {
    file: String,
    csv: csv::Reader<R>,
    columns: ColumnIndex,
    record: csv::StringRecord,
}

impl PaysimReader<BufReader<File>> {
    /// Opens a PaySim CSV file and checks its header.
    pub fn open(path: &Path) -> Result<Self, PaysimError> {
        let file = path.display().to_string();
        let handle = File::open(path).map_err(|source| PaysimError::Io {
            file: file.clone(),
            source,
        })?;
        Self::from_reader(file, BufReader::with_capacity(1 << 16, handle))
    }
}

impl<R: Read> PaysimReader<R> {
    /// Reads PaySim CSV from any reader; `name` is what errors call the input.
    pub fn from_reader(name: impl Into<String>, reader: R) -> Result<Self, PaysimError> {
        let file = name.into();
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let header = csv.headers().map_err(|e| csv_error(&file, e))?.clone();
        let mut positions = [0; COLUMNS.len()];
        for (slot, column) in positions.iter_mut().zip(COLUMNS) {
            *slot = header
                .iter()
                .position(|h| h.trim() == column)
                .ok_or_else(|| PaysimError::MissingColumn {
                    file: file.clone(),
                    column,
                })?;
        }
        Ok(PaysimReader {
            file,
            csv,
            columns: ColumnIndex(positions),
            record: csv::StringRecord::new(),
        })
    }

    /// Bytes consumed so far, for progress bars.
    pub fn bytes_read(&self) -> u64 {
        self.csv.position().byte()
    }

    /// The next row reduced to what scoring it needs, with the same checks and the same errors
    /// as the rows the iterator gives, but without building a [`Transaction`]: no tx id, no owned
    /// account names, nothing allocated per row.
    pub fn next_scoring_row(&mut self) -> Option<Result<ScoringRow, PaysimError>> {
        match self.csv.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => Some(self.checked_values().map(|v| ScoringRow {
                line: v.line,
                step: v.step,
                features: features::from_values(v.tx_type, v.amount, v.balances),
                is_fraud: v.is_fraud,
            })),
            Err(e) => Some(Err(csv_error(&self.file, e))),
        }
    }

    /// Every field of the current record, checked in column order (the first bad one is the
    /// error), the account names borrowed from the record.
    fn checked_values(&self) -> Result<Values<'_>, PaysimError> {
        let line = self.record.position().map_or(0, |p| p.line());
        let field = |i: usize| -> RawField<'_> {
            RawField {
                file: &self.file,
                line,
                name: COLUMNS[i],
                value: field::trim(self.record.get(self.columns.0[i]).unwrap_or("")),
            }
        };
        let step = field(0).integer()?;
        let tx_type = field(1).tx_type()?;
        let amount = field(2).amount()?;
        let name_orig = field(3).name()?;
        let name_dest = field(6).name()?;
        let balances = [
            field(4).balance()?,
            field(5).balance()?,
            field(7).balance()?,
            field(8).balance()?,
        ];
        Ok(Values {
            line,
            step,
            tx_type,
            amount,
            name_orig,
            name_dest,
            balances,
            is_fraud: field(9).flag()?,
            is_flagged_fraud: field(10).flag()?,
        })
    }

    fn parse_record(&self) -> Result<PaysimRow, PaysimError> {
        let v = self.checked_values()?;
        let [old_balance_orig, new_balance_orig, old_balance_dest, new_balance_dest] = v.balances;
        let transaction = Transaction {
            tx_id: row_tx_id(v.step, v.name_orig, v.amount),
            event_time: step_event_time(v.step),
            step: v.step,
            tx_type: v.tx_type,
            amount: v.amount,
            name_orig: v.name_orig.to_owned(),
            old_balance_orig,
            new_balance_orig,
            name_dest: v.name_dest.to_owned(),
            old_balance_dest,
            new_balance_dest,
            is_fraud: Some(v.is_fraud),
        };
        Ok(PaysimRow {
            line: v.line,
            transaction,
            is_flagged_fraud: v.is_flagged_fraud,
        })
    }
}

/// One record's values, checked; the names borrow from the record.
struct Values<'a> {
    line: u64,
    step: i32,
    tx_type: TxType,
    amount: f64,
    name_orig: &'a str,
    name_dest: &'a str,
    /// `oldbalanceOrg`, `newbalanceOrig`, `oldbalanceDest`, `newbalanceDest`.
    balances: [f64; 4],
    is_fraud: bool,
    is_flagged_fraud: bool,
}

impl<R: Read> Iterator for PaysimReader<R> {
    type Item = Result<PaysimRow, PaysimError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.csv.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => Some(self.parse_record()),
            Err(e) => Some(Err(csv_error(&self.file, e))),
        }
    }
}

fn csv_error(file: &str, error: csv::Error) -> PaysimError {
    let line = error.position().map_or(0, |p| p.line());
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(source) => PaysimError::Io {
            file: file.to_owned(),
            source,
        },
        _ => PaysimError::Malformed {
            file: file.to_owned(),
            line,
            message,
        },
    }
}
