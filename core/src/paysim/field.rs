//! One field of a PaySim row: its checks, and the error naming file, line and field when one fails.

use super::PaysimError;
use crate::transaction::{TxType, UnknownTxType};

/// `str::trim`, without its Unicode scan when the value starts and ends with a printable ASCII
/// character (as every well-formed PaySim value does): the same result either way.
pub(super) fn trim(value: &str) -> &str {
    let printable = |byte: Option<&u8>| byte.is_some_and(u8::is_ascii_graphic);
    if printable(value.as_bytes().first()) && printable(value.as_bytes().last()) {
        value
    } else {
        value.trim()
    }
}

/// One field of the current record, with what an error about it needs to say.
pub(super) struct RawField<'a> {
    pub(super) file: &'a str,
    pub(super) line: u64,
    pub(super) name: &'static str,
    pub(super) value: &'a str,
}

impl<'a> RawField<'a> {
    fn error(&self, problem: &str) -> PaysimError {
        PaysimError::Field {
            file: self.file.to_owned(),
            line: self.line,
            field: self.name,
            value: self.value.to_owned(),
            problem: problem.to_owned(),
        }
    }

    pub(super) fn integer(&self) -> Result<i32, PaysimError> {
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

    pub(super) fn amount(&self) -> Result<f64, PaysimError> {
        let x = self.number()?;
        if x < 0.0 {
            return Err(self.error("is negative"));
        }
        Ok(x)
    }

    pub(super) fn balance(&self) -> Result<f64, PaysimError> {
        self.number()
    }

    pub(super) fn tx_type(&self) -> Result<TxType, PaysimError> {
        self.value
            .parse()
            .map_err(|e: UnknownTxType| self.error(&e.to_string()))
    }

    pub(super) fn name(&self) -> Result<&'a str, PaysimError> {
        if self.value.is_empty() {
            return Err(self.error("is empty"));
        }
        Ok(self.value)
    }

    /// PaySim flags are written `0`/`1` in some samples and `0.0`/`1.0` in others.
    pub(super) fn flag(&self) -> Result<bool, PaysimError> {
        match self.value {
            "0" | "0.0" => Ok(false),
            "1" | "1.0" => Ok(true),
            _ => Err(self.error("is not a 0/1 flag")),
        }
    }
}
