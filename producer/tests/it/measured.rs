//! The simulator's constants are what `scripts/measure-paysim` measures from `data/` today, on the
//! rows the fidelity test compares with.

use aegis_producer::simulate::measure::{measure, read_rows};
use aegis_producer::simulate::measured::{PAYSIM, SOURCE};

use crate::fidelity;

#[test]
fn the_committed_constants_are_measured_from_the_sample() {
    assert_eq!(SOURCE.file, format!("data/{}", fidelity::SAMPLE));
    assert_eq!(SOURCE.last_step, fidelity::LAST_STEP);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SOURCE.file);
    let rows = read_rows(&path, SOURCE.last_step).unwrap();
    let measured = measure(&rows, SOURCE.legit_weight).unwrap();
    assert!(
        measured == PAYSIM,
        "producer/src/simulate/measured.rs is not what the data says: run scripts/measure-paysim"
    );
}
