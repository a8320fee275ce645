//! Foreign, truncated, corrupt and random bytes: always an error, never a panic.

use super::*;
use crate::DeadLetterReason;

#[test]
fn foreign_headers_name_the_problem() {
    let codec = AvroCodec::transaction();
    assert!(matches!(codec.decode(&[]), Err(CodecError::Empty)));
    assert!(matches!(
        codec.decode(b"{\"tx_id\":\"t-1\"}"),
        Err(CodecError::UnknownMagic { first_byte: b'{' })
    ));
    assert!(matches!(
        codec.decode(&[0xC3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(CodecError::UnknownMagic { first_byte: 0xC3 })
    ));
    assert!(matches!(
        codec.decode(&[0x00, 0x01, 0x02]),
        Err(CodecError::Truncated { needed: 5, got: 3 })
    ));
    assert!(matches!(
        codec.decode(&[0xC3]),
        Err(CodecError::Truncated { needed: 10, got: 1 })
    ));
    let err = codec.decode(&[0x7B]).unwrap_err();
    assert_eq!(err.reason(), DeadLetterReason::UnknownMagic);
    assert!(err.to_string().contains("0x7B"), "{err}");
}

#[test]
fn every_truncation_is_an_error() {
    for message in valid_messages() {
        for len in 0..message.len() {
            assert!(
                is_rejected(&message[..len]),
                "prefix of {len} bytes decoded"
            );
        }
    }
}

#[test]
fn a_flipped_fingerprint_byte_is_an_unknown_fingerprint() {
    let codec = AvroCodec::transaction();
    let message = codec
        .encode(&transaction(None), Framing::SingleObject)
        .unwrap();
    for i in 2..10 {
        let mut bad = message.clone();
        bad[i] ^= 0x01;
        match codec.decode(&bad) {
            Err(CodecError::UnknownFingerprint { found }) => assert_eq!(found, bad[2..10]),
            other => panic!("flipped fingerprint byte {i}: {other:?}"),
        }
    }
}

#[test]
fn trailing_junk_is_an_error() {
    for message in valid_messages() {
        for junk in [&[0u8][..], &[0xff, 0xff], b"junk"] {
            let mut bad = message.clone();
            bad.extend_from_slice(junk);
            assert!(is_rejected(&bad));
        }
    }
    let mut bad = AvroCodec::transaction()
        .encode(&transaction(None), Framing::SingleObject)
        .unwrap();
    bad.push(0);
    assert!(matches!(
        AvroCodec::transaction().decode(&bad),
        Err(CodecError::TrailingBytes { count: 1 })
    ));
}

#[test]
fn a_verdict_is_not_a_transaction() {
    let v = verdict(&["amount", "type_TRANSFER"]);
    for framing in FRAMINGS {
        let bytes = AvroCodec::verdict().encode(&v, framing).unwrap();
        assert!(
            AvroCodec::transaction().decode(&bytes).is_err(),
            "{framing:?}"
        );
        let tx = AvroCodec::transaction()
            .encode(&transaction(None), framing)
            .unwrap();
        assert!(AvroCodec::verdict().decode(&tx).is_err(), "{framing:?}");
    }
}

/// A tiny seeded xorshift64 generator, enough for garbage bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_bytes_are_rejected_without_panicking() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..5_000 {
        assert!(is_rejected(&rng.bytes(300)));
    }
}

#[test]
fn random_bodies_behind_valid_headers_never_panic() {
    let mut rng = XorShift(42);
    let codecs_headers = [
        [0xC3, 0x01]
            .iter()
            .chain(&AvroCodec::transaction().fingerprint())
            .copied()
            .collect::<Vec<u8>>(),
        [0xC3, 0x01]
            .iter()
            .chain(&AvroCodec::verdict().fingerprint())
            .copied()
            .collect(),
        vec![0, 0, 0, 0, 1],
    ];
    let mut rejected = 0;
    for i in 0..6_000 {
        let mut message = codecs_headers[i % 3].clone();
        message.extend(rng.bytes(200));
        let tx = AvroCodec::transaction().decode(&message).is_err();
        let v = AvroCodec::verdict().decode(&message).is_err();
        rejected += usize::from(tx && v);
    }
    assert!(
        rejected > 5_900,
        "only {rejected} of 6000 random bodies rejected"
    );
}

#[test]
fn a_huge_length_prefix_fails_before_allocating() {
    let codec = AvroCodec::transaction();
    let mut message = codec
        .encode(&transaction(None), Framing::SingleObject)
        .unwrap();
    message.truncate(10);
    // tx_id claims 2^40 bytes (zig-zag varint of 2^40).
    message.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    let err = codec.decode(&message).unwrap_err();
    assert_eq!(err.reason(), DeadLetterReason::Body);
    assert!(err.to_string().contains("maximum allowed"), "{err}");
    // Just over the limit but far under apache-avro's default of 512 MiB: the limit is in force.
    message.truncate(10);
    let claimed = i64::try_from(MAX_ALLOCATION_BYTES + 1).unwrap();
    message.extend(zigzag_varint(claimed));
    let err = codec.decode(&message).unwrap_err();
    assert!(err.to_string().contains("maximum allowed"), "{err}");
}
