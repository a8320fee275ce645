//! Any bytes as a PaySim CSV file give rows or errors naming the file and line — never a panic.
#![no_main]

use aegis_core::paysim::PaysimReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = PaysimReader::from_reader("fuzz.csv", data) else {
        return;
    };
    for row in reader.take(10_000) {
        if let Err(e) = row {
            assert!(e.to_string().contains("fuzz.csv"), "{e}");
        }
    }
});
