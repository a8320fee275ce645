//! Integration tests of aegis-core on the shipped PaySim samples (one test binary, several modules).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod forest;
mod model;
mod properties;

use std::path::PathBuf;

use aegis_core::features::{self, Features};
use aegis_core::paysim::PaysimReader;

/// A file in the repository's `data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

/// Features and 0/1 labels of every row of a shipped sample.
pub fn labelled_rows(name: &str) -> (Vec<Features>, Vec<f64>) {
    PaysimReader::open(&data(name))
        .expect("sample opens")
        .map(|row| {
            let tx = row.expect("sample rows are valid").transaction;
            (
                features::extract(&tx),
                f64::from(u8::from(tx.is_fraud == Some(true))),
            )
        })
        .unzip()
}
