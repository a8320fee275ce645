//! Streaming reader of PaySim CSV. Rows come out one at a time, in file order; a bad row is an
//! error naming the file, the line and the column, and the reader can go on past it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

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
    #[error("{file}: header has no `{column}` column; is this a PaySim CSV? (expected {expected})", expected = COLUMNS.join(","))]
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

    fn parse_record(&self) -> Result<PaysimRow, PaysimError> {
        let line = self.record.position().map_or(0, |p| p.line());
        let field = |i: usize| -> RawField<'_> {
            RawField {
                file: &self.file,
                line,
                name: COLUMNS[i],
                value: self.record.get(self.columns.0[i]).unwrap_or("").trim(),
            }
        };
        let step = field(0).integer()?;
        let tx_type = field(1).tx_type()?;
        let amount = field(2).amount()?;
        let name_orig = field(3).name()?;
        let name_dest = field(6).name()?;
        let transaction = Transaction {
            tx_id: row_tx_id(step, &name_orig, amount),
            event_time: step_event_time(step),
            step,
            tx_type,
            amount,
            name_orig,
            old_balance_orig: field(4).balance()?,
            new_balance_orig: field(5).balance()?,
            name_dest,
            old_balance_dest: field(7).balance()?,
            new_balance_dest: field(8).balance()?,
            is_fraud: Some(field(9).flag()?),
        };
        Ok(PaysimRow {
            line,
            transaction,
            is_flagged_fraud: field(10).flag()?,
        })
    }
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

/// One field of the current record, with what an error about it needs to say.
struct RawField<'a> {
    file: &'a str,
    line: u64,
    name: &'static str,
    value: &'a str,
}

impl RawField<'_> {
    fn error(&self, problem: &str) -> PaysimError {
        PaysimError::Field {
            file: self.file.to_owned(),
            line: self.line,
            field: self.name,
            value: self.value.to_owned(),
            problem: problem.to_owned(),
        }
    }

    fn integer(&self) -> Result<i32, PaysimError> {
        match self.value.parse::<i32>() {
            Ok(n) if n >= 0 => Ok(n),
            Ok(_) => Err(self.error("is negative")),
            Err(_) => Err(self.error("is not a whole number")),
        }
    }

    fn number(&self) -> Result<f64, PaysimError> {
        match self.value.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            Ok(_) => Err(self.error("is not a finite number")),
            Err(_) => Err(self.error("is not a number")),
        }
    }

    fn amount(&self) -> Result<f64, PaysimError> {
        let x = self.number()?;
        if x < 0.0 {
            return Err(self.error("is negative"));
        }
        Ok(x)
    }

    fn balance(&self) -> Result<f64, PaysimError> {
        self.number()
    }

    fn tx_type(&self) -> Result<TxType, PaysimError> {
        self.value
            .parse()
            .map_err(|e: crate::transaction::UnknownTxType| self.error(&e.to_string()))
    }

    fn name(&self) -> Result<String, PaysimError> {
        if self.value.is_empty() {
            return Err(self.error("is empty"));
        }
        Ok(self.value.to_owned())
    }

    /// PaySim flags are written `0`/`1` in some samples and `0.0`/`1.0` in others.
    fn flag(&self) -> Result<bool, PaysimError> {
        match self.value {
            "0" | "0.0" => Ok(false),
            "1" | "1.0" => Ok(true),
            _ => Err(self.error("is not a 0/1 flag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n";

    fn read(body: &str) -> Vec<Result<PaysimRow, PaysimError>> {
        PaysimReader::from_reader("t.csv", format!("{HEADER}{body}").as_bytes())
            .unwrap()
            .collect()
    }

    #[test]
    fn reads_both_flag_spellings() {
        let rows = read(
            "1,TRANSFER,181.0,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
             8,PAYMENT,8507.13,C3,107030.0,98522.87,M4,0.0,0.0,0.0,0.0\n",
        );
        let rows: Vec<PaysimRow> = rows.into_iter().map(Result::unwrap).collect();
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].transaction.tx_type, TxType::Transfer);
        assert_eq!(rows[0].transaction.is_fraud, Some(true));
        assert_eq!(rows[0].transaction.tx_id, "ps-1-C1-181.00");
        assert_eq!(rows[0].transaction.event_time, STEP_ONE_EPOCH_MS);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].transaction.is_fraud, Some(false));
        assert_eq!(rows[1].transaction.new_balance_orig, 98522.87);
        assert_eq!(
            rows[1].transaction.event_time,
            STEP_ONE_EPOCH_MS + 7 * 3_600_000
        );
    }

    #[test]
    fn bad_field_names_file_line_and_field() {
        let rows = read(
            "1,TRANSFER,181.0,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
             2,TRANSFER,abc,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
             3,WIRE,1.0,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
             4,PAYMENT,1.0,C1,NaN,0.0,C2,0.0,0.0,0,0\n\
             5,PAYMENT,-1.0,C1,1.0,0.0,C2,0.0,0.0,0,0\n\
             6,PAYMENT,1.0,C1,1.0,0.0,C2,0.0,0.0,2,0\n\
             7,PAYMENT,1.0,C1,1.0\n",
        );
        assert!(rows[0].is_ok());
        let messages: Vec<String> = rows[1..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(
            messages[0],
            "t.csv line 3, field amount: is not a number (value \"abc\")"
        );
        assert!(messages[1].starts_with("t.csv line 4, field type: unknown transaction type"));
        assert!(messages[2].starts_with("t.csv line 5, field oldbalanceOrg: is not a finite"));
        assert!(messages[3].starts_with("t.csv line 6, field amount: is negative"));
        assert!(messages[4].starts_with("t.csv line 7, field isFraud: is not a 0/1 flag"));
        assert!(messages[5].starts_with("t.csv line 8:"), "{}", messages[5]);
    }

    #[test]
    fn missing_column_is_named() {
        let err = PaysimReader::from_reader("x.csv", "step,type,amount\n1,PAYMENT,3\n".as_bytes())
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("x.csv: header has no `nameOrig` column"),
            "{err}"
        );
    }

    #[test]
    fn reads_the_shipped_sample() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/paysim_fraud_enriched_steps_1-400.csv");
        let mut rows = 0;
        let mut frauds = 0;
        for row in PaysimReader::open(&path).unwrap() {
            let row = row.unwrap();
            rows += 1;
            frauds += usize::from(row.transaction.is_fraud == Some(true));
        }
        assert_eq!((rows, frauds), (27_052, 4_477));
    }
}
