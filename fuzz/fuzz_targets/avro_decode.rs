//! Any bytes on the input topic decode to a transaction or a named error — never a panic — and
//! a decoded transaction encodes back to a message that decodes to the same fields.
#![no_main]

use aegis_core::avro::AvroCodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = AvroCodec::transaction();
    match codec.decode(data) {
        Ok((tx, framing)) => {
            let again = codec
                .encode(&tx, framing)
                .expect("a decoded transaction encodes");
            let (back, _) = codec
                .decode(&again)
                .expect("an encoded transaction decodes");
            assert_eq!(format!("{back:?}"), format!("{tx:?}"));
            // Validation is total too.
            let _ = tx.validate();
        }
        Err(e) => {
            assert!(!e.reason().as_str().is_empty());
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
    let _ = codec.decode_with_writer(data, codec.schema());
    let _ = AvroCodec::verdict().decode(data);
});
