//! Reading a spec's records from CSV: columns matched by name (extra ones ignored, order free),
//! each value checked against its field's type, event time read as the spec says. A bad row is an
//! error naming the file, the line, the field and the value; the reader can go on past it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::{FieldType, Spec, TimeFormat};

/// One field's value in a record.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An `integer` field (also a `timestamp` kept as its milliseconds).
    Integer(i64),
    /// A `float` field.
    Float(f64),
    /// A `string` field.
    Text(String),
    /// An `enum` field: the index of its value in the field's `values`.
    Enum(usize),
}

impl Value {
    /// The value as a number (an enum's index, text as NaN).
    pub fn number(&self) -> f64 {
        match self {
            Value::Integer(n) => *n as f64,
            Value::Float(x) => *x,
            Value::Enum(i) => *i as f64,
            Value::Text(_) => f64::NAN,
        }
    }
}

/// One record: its fields' values in the spec's field order, its event time and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// `values[i]` is the value of the spec's field `i`.
    pub values: Vec<Value>,
    /// Event time, milliseconds since the Unix epoch.
    pub event_time_ms: i64,
    /// The label (`true` = fraud), when the spec has one.
    pub label: Option<bool>,
}

/// A record that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The header lacks a field the spec declares.
    #[error("{file}: no column `{field}`, which spec `{spec}` declares (columns: {columns})")]
    MissingColumn {
        /// The file.
        file: String,
        /// The spec.
        spec: String,
        /// The field.
        field: String,
        /// The columns the header has.
        columns: String,
    },
    /// A row is not CSV.
    #[error("{file}:{line}: {problem}")]
    Csv {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The parser's words.
        problem: String,
    },
    /// A value does not fit its field.
    #[error("{file}:{line}: field {field}: {value:?} {problem}")]
    Field {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The field.
        field: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Reads a spec's records from CSV, one at a time, in file order. It keeps its own copy of the
/// spec, so it can outlive the one it was opened with.
pub struct RecordReader<R: Read> {
    spec: Spec,
    file: String,
    rows: csv::StringRecordsIntoIter<R>,
    /// For each spec field, its column.
    columns: Vec<usize>,
    time_field: usize,
    label_field: Option<usize>,
}

impl RecordReader<BufReader<File>> {
    /// Opens `path` and checks its header against `spec`.
    pub fn open(spec: &Spec, path: &Path) -> Result<Self, RecordError> {
        let file = path.display().to_string();
        let reader = File::open(path).map_err(|source| RecordError::Io {
            file: file.clone(),
            source,
        })?;
        RecordReader::from_reader(spec, file, BufReader::new(reader))
    }
}

impl<R: Read> RecordReader<R> {
    /// Reads CSV from `reader` (named `file` in errors) and checks its header against `spec`.
    pub fn from_reader(spec: &Spec, file: String, reader: R) -> Result<Self, RecordError> {
        let mut csv = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(reader);
        let header = csv.headers().map_err(|e| RecordError::Csv {
            file: file.clone(),
            line: 1,
            problem: e.to_string(),
        })?;
        let names: Vec<&str> = header.iter().map(str::trim).collect();
        let columns =
            spec.fields
                .iter()
                .map(|f| {
                    names.iter().position(|n| *n == f.name).ok_or_else(|| {
                        RecordError::MissingColumn {
                            file: file.clone(),
                            spec: spec.name.clone(),
                            field: f.name.clone(),
                            columns: names.join(","),
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
        let position = |name: &str| spec.fields.iter().position(|f| f.name == name);
        let time_field = position(&spec.time.field).unwrap_or_default();
        let label_field = spec.label.as_ref().and_then(|l| position(&l.field));
        Ok(RecordReader {
            spec: spec.clone(),
            file,
            rows: csv.into_records(),
            columns,
            time_field,
            label_field,
        })
    }

    fn record(&self, row: &csv::StringRecord, line: u64) -> Result<Record, RecordError> {
        let mut values = Vec::with_capacity(self.columns.len());
        for (field, &column) in self.spec.fields.iter().zip(&self.columns) {
            let raw = row.get(column).unwrap_or_default().trim();
            let bad = |problem: &str| RecordError::Field {
                file: self.file.clone(),
                line,
                field: field.name.clone(),
                value: raw.to_owned(),
                problem: problem.to_owned(),
            };
            let value = match field.kind {
                FieldType::Integer => {
                    Value::Integer(integer(raw).ok_or_else(|| bad("is not a whole number"))?)
                }
                FieldType::Float => match raw.parse::<f64>() {
                    Ok(x) if x.is_finite() => Value::Float(x),
                    Ok(_) => return Err(bad("is not a finite number")),
                    Err(_) => return Err(bad("is not a number")),
                },
                FieldType::String => {
                    if raw.is_empty() {
                        return Err(bad("is empty"));
                    }
                    Value::Text(raw.to_owned())
                }
                FieldType::Enum => {
                    Value::Enum(field.values.iter().position(|v| v == raw).ok_or_else(|| {
                        bad(&format!("is not one of {}", field.values.join(", ")))
                    })?)
                }
                FieldType::Timestamp => Value::Integer(
                    super::time::parse(raw, self.spec.time.format).map_err(|e| bad(&e))?,
                ),
            };
            values.push(value);
        }
        let event_time_ms = match (self.spec.time.format, &values[self.time_field]) {
            (TimeFormat::PaysimStep, Value::Integer(step)) => i32::try_from(*step)
                .ok()
                .filter(|s| *s >= 0)
                .map(crate::paysim::step_event_time)
                .ok_or_else(|| RecordError::Field {
                    file: self.file.clone(),
                    line,
                    field: self.spec.time.field.clone(),
                    value: step.to_string(),
                    problem: "is not a PaySim step (0 or more)".into(),
                })?,
            (_, Value::Integer(ms)) => *ms,
            _ => 0,
        };
        let label = match self.label_field.map(|i| (i, &values[i])) {
            None => None,
            Some((_, Value::Integer(0))) => Some(false),
            Some((_, Value::Integer(1))) => Some(true),
            Some((i, other)) => {
                return Err(RecordError::Field {
                    file: self.file.clone(),
                    line,
                    field: self.spec.fields[i].name.clone(),
                    value: format!("{}", other.number()),
                    problem: "is not a label: 0 (legit) or 1 (fraud)".into(),
                })
            }
        };
        Ok(Record {
            values,
            event_time_ms,
            label,
        })
    }
}

/// A whole number, also as a float exporter writes one (`3.0`, as pandas does for a column with
/// gaps).
fn integer(raw: &str) -> Option<i64> {
    if let Ok(n) = raw.parse::<i64>() {
        return Some(n);
    }
    let x: f64 = raw.parse().ok()?;
    let whole = x.fract() == 0.0 && x.abs() < 9.0e15;
    whole.then_some(x as i64)
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next()?;
        Some(match row {
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line());
                self.record(&row, line)
            }
            Err(e) => Err(RecordError::Csv {
                file: self.file.clone(),
                line: e.position().map_or(0, |p| p.line()),
                problem: e.to_string(),
            }),
        })
    }
}

/// Writes `records` of `spec` as CSV to `out` — a header of the spec's field names, then one row
/// each — in the form [`RecordReader`] reads back to the same records: times in the spec's
/// format, enums by name, floats in their shortest form that reads back bit for bit.
pub fn write_csv<'a>(
    spec: &Spec,
    records: impl IntoIterator<Item = &'a Record>,
    out: impl std::io::Write,
) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(spec.fields.iter().map(|f| f.name.as_str()))?;
    let mut row: Vec<String> = Vec::with_capacity(spec.fields.len());
    for record in records {
        row.clear();
        row.extend(
            spec.fields
                .iter()
                .zip(&record.values)
                .map(|(field, value)| match (field.kind, value) {
                    (FieldType::Timestamp, Value::Integer(ms)) => {
                        super::time::format(*ms, spec.time.format)
                    }
                    (_, Value::Integer(n)) => n.to_string(),
                    (_, Value::Float(x)) => x.to_string(),
                    (_, Value::Text(text)) => text.clone(),
                    (_, Value::Enum(i)) => field.values.get(*i).cloned().unwrap_or_default(),
                }),
        );
        csv.write_record(&row)?;
    }
    csv.flush()?;
    Ok(())
}
