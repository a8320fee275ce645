//! Property tests of everything that reads bytes from outside: the Avro codec, the PaySim CSV
//! reader and the model loader. Any input gives a value or a typed error naming the problem, never
//! a panic; valid input round-trips.

use std::fmt::Debug;
use std::path::Path;
use std::sync::OnceLock;

use aegis_core::avro::{AvroCodec, CodecError, Framing};
use aegis_core::paysim::{self, PaysimError, PaysimReader, PaysimRow, COLUMNS};
use aegis_core::{DeadLetterReason, Model, ModelError, Transaction, TxType};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::small_model;

/// Cases per property: enough to walk every kind of damage, few enough that the module runs in
/// seconds in a debug build.
const CASES: u32 = 1_024;

/// One change to a message or file.
#[derive(Clone, Debug)]
enum Damage {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

/// One to three changes of any kind.
fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Damage::Flip(at, mask)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Damage::Set(at, byte)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert(at, byte)),
        any::<Index>().prop_map(Damage::Remove),
        any::<Index>().prop_map(Damage::Truncate),
    ];
    prop::collection::vec(one, 1..4)
}

fn apply(bytes: &[u8], damage: &[Damage]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for d in damage {
        let len = out.len();
        if len == 0 {
            break;
        }
        match d {
            Damage::Flip(at, mask) => out[at.index(len)] ^= mask,
            Damage::Set(at, byte) => out[at.index(len)] = *byte,
            Damage::Insert(at, byte) => out.insert(at.index(len + 1), *byte),
            Damage::Remove(at) => {
                out.remove(at.index(len));
            }
            Damage::Truncate(at) => out.truncate(at.index(len)),
        }
    }
    out
}

/// Single-byte flips only: the same length, so positions keep their meaning.
fn flips() -> impl Strategy<Value = Vec<Damage>> {
    prop::collection::vec(
        (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Damage::Flip(at, mask)),
        1..4,
    )
}

// --- Avro codec -------------------------------------------------------------------------------

fn tx_type() -> impl Strategy<Value = TxType> {
    prop::sample::select(TxType::ALL.to_vec())
}

/// Any transaction the schema can carry: any strings, any floats (NaN and infinities included;
/// the codec does not validate, the scorer does).
fn transaction() -> impl Strategy<Value = Transaction> {
    let ids = (any::<String>(), any::<i64>(), any::<i32>(), tx_type());
    let orig = (any::<f64>(), any::<String>(), any::<f64>(), any::<f64>());
    let dest = (
        any::<String>(),
        any::<f64>(),
        any::<f64>(),
        any::<Option<bool>>(),
    );
    (ids, orig, dest).prop_map(
        |((tx_id, event_time, step, tx_type), (amount, name_orig, old_o, new_o), dest)| {
            let (name_dest, old_balance_dest, new_balance_dest, is_fraud) = dest;
            Transaction {
                tx_id,
                event_time,
                step,
                tx_type,
                amount,
                name_orig,
                old_balance_orig: old_o,
                new_balance_orig: new_o,
                name_dest,
                old_balance_dest,
                new_balance_dest,
                is_fraud,
            }
        },
    )
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::SingleObject),
        any::<u32>().prop_map(|schema_id| Framing::Confluent { schema_id }),
    ]
}

/// Every field, floats as their bits, so that NaN equals itself and -0 differs from 0.
fn exact(tx: &Transaction) -> impl PartialEq + Debug {
    let floats = [
        tx.amount,
        tx.old_balance_orig,
        tx.new_balance_orig,
        tx.old_balance_dest,
        tx.new_balance_dest,
    ];
    let strings = [&tx.tx_id, &tx.name_orig, &tx.name_dest].map(String::clone);
    let scalars = (tx.event_time, tx.step, tx.tx_type, tx.is_fraud);
    (strings, scalars, floats.map(f64::to_bits))
}

fn header_len(framing: Framing) -> usize {
    match framing {
        Framing::SingleObject => 10,
        Framing::Confluent { .. } => 5,
    }
}

/// A decode error is one of the kinds the DLQ names, with a one-line message (it travels in the
/// dead letter's `aegis.dlq.error` header).
fn assert_named(error: &CodecError) -> Result<(), TestCaseError> {
    // A codec error is the message's own fault: never a reason only the registry gives.
    prop_assert!(
        !matches!(
            error.reason(),
            DeadLetterReason::Invalid
                | DeadLetterReason::UnknownSchema
                | DeadLetterReason::UnreadableSchema
        ),
        "{error:?}"
    );
    let message = error.to_string();
    prop_assert!(
        !message.is_empty() && !message.contains('\n'),
        "{:?}",
        message
    );
    Ok(())
}

/// Decodes with both codecs and with the transaction schema as writer; checks every error.
fn decode_everywhere(bytes: &[u8]) -> Result<(), TestCaseError> {
    let tx = AvroCodec::transaction();
    let results = [
        tx.decode(bytes).err(),
        tx.decode_with_writer(bytes, tx.schema()).err(),
        AvroCodec::verdict().decode(bytes).err(),
    ];
    for error in results.iter().flatten() {
        assert_named(error)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn transactions_round_trip_in_both_framings(tx in transaction(), framing in framing()) {
        let codec = AvroCodec::transaction();
        let bytes = codec.encode(&tx, framing).unwrap();
        let (decoded, found) = codec.decode(&bytes).unwrap();
        prop_assert_eq!(found, framing);
        prop_assert_eq!(exact(&decoded), exact(&tx));
        let (resolved, _) = codec.decode_with_writer(&bytes, codec.schema()).unwrap();
        prop_assert_eq!(exact(&resolved), exact(&tx));
    }

    #[test]
    fn any_bytes_decode_or_fail_with_a_named_error(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        decode_everywhere(&bytes)?;
    }

    #[test]
    fn any_body_behind_a_valid_header_decodes_or_fails_with_a_named_error(
        framing in framing(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = AvroCodec::transaction().encode(&tx_placeholder(), framing).unwrap();
        bytes.truncate(header_len(framing));
        bytes.extend(body);
        decode_everywhere(&bytes)?;
    }

    #[test]
    fn damaged_transactions_decode_or_fail_with_a_named_error(
        tx in transaction(),
        framing in framing(),
        damage in damage(),
    ) {
        let bytes = AvroCodec::transaction().encode(&tx, framing).unwrap();
        decode_everywhere(&apply(&bytes, &damage))?;
    }

    #[test]
    fn every_truncation_fails_with_the_kind_of_its_cut(
        tx in transaction(),
        framing in framing(),
        cut in any::<Index>(),
    ) {
        let codec = AvroCodec::transaction();
        let bytes = codec.encode(&tx, framing).unwrap();
        let len = cut.index(bytes.len());
        let error = codec.decode(&bytes[..len]).unwrap_err();
        let expected = match len {
            0 => DeadLetterReason::Empty,
            n if n < header_len(framing) => DeadLetterReason::Truncated,
            _ => DeadLetterReason::Body,
        };
        prop_assert_eq!(error.reason(), expected, "{} of {} bytes: {}", len, bytes.len(), error);
    }

    #[test]
    fn junk_after_a_valid_body_is_counted(
        tx in transaction(),
        framing in framing(),
        junk in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let codec = AvroCodec::transaction();
        let mut bytes = codec.encode(&tx, framing).unwrap();
        bytes.extend_from_slice(&junk);
        match codec.decode(&bytes) {
            Err(CodecError::TrailingBytes { count }) => prop_assert_eq!(count, junk.len()),
            other => prop_assert!(false, "{:?}", other.map(|_| ())),
        }
    }
}

fn tx_placeholder() -> Transaction {
    Transaction {
        tx_id: String::new(),
        event_time: 0,
        step: 0,
        tx_type: TxType::Payment,
        amount: 0.0,
        name_orig: String::new(),
        old_balance_orig: 0.0,
        new_balance_orig: 0.0,
        name_dest: String::new(),
        old_balance_dest: 0.0,
        new_balance_dest: 0.0,
        is_fraud: None,
    }
}

// --- PaySim CSV -------------------------------------------------------------------------------

const FILE: &str = "t.csv";

/// One valid PaySim row's fields, in [`COLUMNS`] order, as a file would write them.
fn paysim_fields() -> impl Strategy<Value = [String; 11]> {
    let money = |low: f64| (low..1e12).prop_map(|x: f64| x.to_string());
    let name = "[CM][0-9]{1,10}";
    let flag = prop::sample::select(vec!["0", "1", "0.0", "1.0"]);
    let first = (0..100_000i32, tx_type(), money(0.0), name, money(-1e12));
    let rest = (
        money(-1e12),
        name,
        money(-1e12),
        money(-1e12),
        flag.clone(),
        flag,
    );
    (first, rest).prop_map(
        |((step, t, amount, orig, old_o), (new_o, dest, old_d, new_d, f, ff))| {
            let (step, t, f, ff) = (step.to_string(), t.to_string(), f.to_owned(), ff.to_owned());
            [
                step, t, amount, orig, old_o, new_o, dest, old_d, new_d, f, ff,
            ]
        },
    )
}

fn csv_text(rows: &[[String; 11]]) -> String {
    let mut text = COLUMNS.join(",") + "\n";
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

fn read_csv(bytes: &[u8]) -> Result<Vec<Result<PaysimRow, PaysimError>>, PaysimError> {
    let reader = PaysimReader::from_reader(FILE, bytes)?;
    // Every item consumes input, so a reader that ends yields at most one item per byte.
    let items: Vec<_> = reader.take(bytes.len() + 1).collect();
    assert!(items.len() <= bytes.len(), "the reader does not end");
    Ok(items)
}

/// What the reader must make of a valid row.
fn expected(line: u64, f: &[String; 11]) -> (u64, String, i32, String, [u64; 5], [bool; 2]) {
    let x = |i: usize| f[i].parse::<f64>().unwrap().to_bits();
    let flag = |i: usize| f[i].starts_with('1');
    let step: i32 = f[0].parse().unwrap();
    let tx_id = paysim::row_tx_id(step, &f[3], f[2].parse().unwrap());
    let names = format!("{} {} {} {}", f[1], f[3], f[6], tx_id);
    (
        line,
        names,
        step,
        f[1].clone(),
        [x(2), x(4), x(5), x(7), x(8)],
        [flag(9), flag(10)],
    )
}

fn parsed(row: &PaysimRow) -> (u64, String, i32, String, [u64; 5], [bool; 2]) {
    let t = &row.transaction;
    let names = format!("{} {} {} {}", t.tx_type, t.name_orig, t.name_dest, t.tx_id);
    let floats = [
        t.amount,
        t.old_balance_orig,
        t.new_balance_orig,
        t.old_balance_dest,
        t.new_balance_dest,
    ];
    let flags = [t.is_fraud == Some(true), row.is_flagged_fraud];
    (
        row.line,
        names,
        t.step,
        t.tx_type.to_string(),
        floats.map(f64::to_bits),
        flags,
    )
}

/// A reader error names the file, and a line when it is about a row.
fn assert_locates(error: &PaysimError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(message.starts_with(FILE), "{}", message);
    if let PaysimError::Field { line, .. } | PaysimError::Malformed { line, .. } = error {
        prop_assert!(*line >= 1, "{}", message);
        prop_assert!(message.contains(&format!("line {line}")), "{}", message);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn valid_rows_round_trip(rows in prop::collection::vec(paysim_fields(), 0..20)) {
        let items = read_csv(csv_text(&rows).as_bytes()).unwrap();
        prop_assert_eq!(items.len(), rows.len());
        for (i, (item, fields)) in items.iter().zip(&rows).enumerate() {
            let row = item.as_ref().unwrap();
            prop_assert_eq!(parsed(row), expected(i as u64 + 2, fields));
            prop_assert_eq!(row.transaction.event_time, paysim::step_event_time(row.transaction.step));
        }
    }

    #[test]
    fn a_bad_value_is_named_by_file_line_and_field(
        rows in prop::collection::vec(paysim_fields(), 1..10),
        target in any::<Index>(),
        column in 0..COLUMNS.len(),
        value in "[^,\"\r\n]{0,12}",
    ) {
        let mut rows = rows;
        let target = target.index(rows.len());
        rows[target][column] = value.clone();
        let items = read_csv(csv_text(&rows).as_bytes()).unwrap();
        prop_assert_eq!(items.len(), rows.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Ok(_) => {}
                Err(PaysimError::Field { line, field, .. }) if i == target => {
                    prop_assert_eq!(*line, target as u64 + 2);
                    prop_assert_eq!(*field, COLUMNS[column], "value {:?}", value);
                    assert_locates(item.as_ref().unwrap_err())?;
                }
                Err(e) => prop_assert!(false, "row {} of {}: {}", i, target, e),
            }
        }
    }

    #[test]
    fn a_truncated_file_reads_every_whole_row(
        rows in prop::collection::vec(paysim_fields(), 1..10),
        cut in any::<Index>(),
    ) {
        let text = csv_text(&rows);
        let cut = cut.index(text.len());
        let items = match read_csv(&text.as_bytes()[..cut]) {
            Ok(items) => items,
            Err(error) => {
                // Cut inside the header: a column is missing.
                prop_assert!(matches!(error, PaysimError::MissingColumn { .. }), "{}", error);
                prop_assert!(cut < text.find('\n').unwrap());
                return Ok(());
            }
        };
        let whole = text[..cut].matches('\n').count().saturating_sub(1);
        prop_assert!(items.len() == whole || items.len() == whole + 1);
        for (i, item) in items.iter().enumerate() {
            match item {
                Ok(row) if i < whole => prop_assert_eq!(parsed(row), expected(i as u64 + 2, &rows[i])),
                Ok(row) => prop_assert_eq!(row.line, i as u64 + 2),
                Err(e) => {
                    prop_assert_eq!(i, whole, "only the cut row may fail: {}", e);
                    assert_locates(e)?;
                }
            }
        }
    }

    #[test]
    fn damaged_files_give_rows_or_located_errors(
        rows in prop::collection::vec(paysim_fields(), 0..10),
        damage in damage(),
    ) {
        let bytes = apply(csv_text(&rows).as_bytes(), &damage);
        match read_csv(&bytes) {
            Ok(items) => {
                for error in items.iter().filter_map(|item| item.as_ref().err()) {
                    assert_locates(error)?;
                }
            }
            Err(error) => assert_locates(&error)?,
        }
    }

    #[test]
    fn any_bytes_give_rows_or_located_errors(
        body in prop::collection::vec(any::<u8>(), 0..512),
        with_header in any::<bool>(),
    ) {
        let mut bytes = if with_header { csv_text(&[]).into_bytes() } else { Vec::new() };
        bytes.extend(body);
        match read_csv(&bytes) {
            Ok(items) => {
                for error in items.iter().filter_map(|item| item.as_ref().err()) {
                    assert_locates(error)?;
                }
            }
            Err(error) => assert_locates(&error)?,
        }
    }
}

// --- Model loader -----------------------------------------------------------------------------

const MODEL_FILE: &str = "m.model";
const HEADER: &str = "AEGIS-MODEL 1\n";

/// A small model saved as `aegis-trainer` saves it: the model and the file's bytes.
fn saved_model() -> &'static (Model, Vec<u8>) {
    static SAVED: OnceLock<(Model, Vec<u8>)> = OnceLock::new();
    SAVED.get_or_init(|| {
        let model = small_model("properties");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MODEL_FILE);
        model.save(&path).unwrap();
        (model, std::fs::read(&path).unwrap())
    })
}

fn load(bytes: &[u8]) -> Result<Model, ModelError> {
    Model::from_bytes(Path::new(MODEL_FILE), bytes)
}

/// A loader error is one line that names the file.
fn assert_one_line(error: &ModelError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(message.contains(MODEL_FILE), "{}", message);
    prop_assert!(!message.contains('\n'), "{}", message);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_bytes_are_not_a_model(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        with_header in any::<bool>(),
    ) {
        let mut bytes = if with_header { HEADER.as_bytes().to_vec() } else { Vec::new() };
        bytes.extend(body);
        assert_one_line(&load(&bytes).unwrap_err())?;
    }

    #[test]
    fn every_truncation_of_a_saved_model_is_an_error(cut in any::<Index>()) {
        let (_, bytes) = saved_model();
        let len = cut.index(bytes.len());
        let error = load(&bytes[..len]).unwrap_err();
        assert_one_line(&error)?;
        if len < "AEGIS-MODEL".len() {
            prop_assert!(matches!(error, ModelError::NotAModel { .. }), "{}: {}", len, error);
        } else if len >= HEADER.len() - 1 {
            prop_assert!(matches!(error, ModelError::Truncated { .. }), "{}: {}", len, error);
        }
    }

    #[test]
    fn a_damaged_model_loads_unchanged_or_is_an_error(damage in flips()) {
        let (model, bytes) = saved_model();
        match load(&apply(bytes, &damage)) {
            // The flips missed everything that decides a score (say, the training summary).
            Ok(loaded) => {
                prop_assert_eq!(&loaded.model_version(), &model.model_version());
                prop_assert_eq!(&loaded.forest(), &model.forest());
                prop_assert_eq!(loaded.thresholds(), model.thresholds());
            }
            Err(error) => assert_one_line(&error)?,
        }
    }

    #[test]
    fn a_rewritten_model_loads_unchanged_or_is_an_error(damage in damage()) {
        let (model, bytes) = saved_model();
        match load(&apply(bytes, &damage)) {
            Ok(loaded) => prop_assert_eq!(&loaded.forest(), &model.forest()),
            Err(error) => assert_one_line(&error)?,
        }
    }
}

#[test]
fn deeply_nested_json_does_not_overflow_the_stack() {
    // An unknown key's value is skipped: 100,000 levels deep, unclosed, then closed.
    let mut bytes = format!("{HEADER}{{\"extra\":").into_bytes();
    bytes.extend(std::iter::repeat_n(b'[', 100_000));
    let error = load(&bytes).unwrap_err();
    assert!(matches!(error, ModelError::Truncated { .. }), "{error}");
    bytes.extend(std::iter::repeat_n(b']', 100_000));
    bytes.push(b',');
    bytes.extend_from_slice(&saved_model().1[HEADER.len() + 1..]);
    assert_eq!(load(&bytes).unwrap().forest(), saved_model().0.forest());
}
