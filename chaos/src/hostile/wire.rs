//! Just enough of Avro's binary encoding to damage a valid message precisely: zig-zag varints and
//! where the `type` enum index of an encoded transaction sits.

/// Length of the single-object header: `0xC3 0x01` and the 8-byte fingerprint.
pub(super) const SINGLE_OBJECT_HEADER: usize = 10;
/// Length of the Confluent header: `0x00` and the 4-byte schema id.
pub(super) const CONFLUENT_HEADER: usize = 5;

/// Where the `type` enum index of a single-object transaction is: after `tx_id` (a string),
/// `event_time` (a long) and `step` (an int). Every index below 64 takes one byte.
pub(super) fn type_index_position(bytes: &[u8]) -> usize {
    let (id_len, at) = read_long(bytes, SINGLE_OBJECT_HEADER);
    let at = at + usize::try_from(id_len).expect("an encoded string length is not negative");
    let (_, at) = read_long(bytes, at); // event_time
    let (_, at) = read_long(bytes, at); // step
    at
}

/// Reads an Avro long (zig-zag varint) at `at`; returns it and the position after it.
pub(super) fn read_long(bytes: &[u8], mut at: usize) -> (i64, usize) {
    let mut raw = 0u64;
    let mut shift = 0;
    loop {
        let byte = bytes[at];
        at += 1;
        raw |= u64::from(byte & 0x7F) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    ((raw >> 1) as i64 ^ -((raw & 1) as i64), at)
}

/// Appends an Avro long (zig-zag varint).
pub(super) fn write_long(value: i64, out: &mut Vec<u8>) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7F) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_round_trip() {
        for value in [0, 1, -1, 63, -64, 64, 1 << 40, i64::MAX, i64::MIN] {
            let mut bytes = Vec::new();
            write_long(value, &mut bytes);
            assert_eq!(read_long(&bytes, 0), (value, bytes.len()), "{value}");
        }
    }
}
