//! The reader on small files: both flag spellings, bad values named by file, line and field.

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
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/paysim_fraud_enriched_steps_1-400.csv");
    let mut rows = 0;
    let mut frauds = 0;
    for row in PaysimReader::open(&path).unwrap() {
        let row = row.unwrap();
        rows += 1;
        frauds += usize::from(row.transaction.is_fraud == Some(true));
    }
    assert_eq!((rows, frauds), (27_052, 4_477));
}

/// `next_scoring_row` is the iterator's row, reduced: the same line, step, label and features
/// (bit for bit), and the same error for the same bad row.
#[test]
fn scoring_rows_equal_the_full_rows_reduced() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/paysim_mixed_steps_1-119.csv"),
    )
    .unwrap();
    let bad = "1,TRANSFER,181.0,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
               2,TRANSFER,abc,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
               3,WIRE,1.0,C1,181.0,0.0,C2,0.0,0.0,1,0\n\
               4,PAYMENT,1.0,,1.0,0.0,C2,0.0,0.0,0,0\n\
               5,PAYMENT,1.0,C1,1.0,0.0,C2,0.0,inf,0,0\n\
               6,PAYMENT,1.0,C1,1.0,0.0,C2,0.0,0.0,0,x\n\
               7,PAYMENT,1.0,C1,1.0\n\
               8,CASH_OUT, 5.5 ,C1,5.5,0.0,C2,1.0,6.5,1.0,0.0\n";
    for text in [shipped, format!("{HEADER}{bad}")] {
        let full: Vec<_> = PaysimReader::from_reader("t.csv", text.as_bytes())
            .unwrap()
            .collect();
        let mut reader = PaysimReader::from_reader("t.csv", text.as_bytes()).unwrap();
        let mut reduced = Vec::new();
        while let Some(row) = reader.next_scoring_row() {
            reduced.push(row);
        }
        assert_eq!(full.len(), reduced.len());
        for (full, reduced) in full.iter().zip(&reduced) {
            match (full, reduced) {
                (Ok(full), Ok(reduced)) => {
                    let tx = &full.transaction;
                    assert_eq!(
                        (full.line, tx.step, tx.is_fraud == Some(true)),
                        (reduced.line, reduced.step, reduced.is_fraud)
                    );
                    assert_eq!(
                        crate::features::extract(tx).map(f64::to_bits),
                        reduced.features.map(f64::to_bits)
                    );
                }
                (Err(full), Err(reduced)) => assert_eq!(full.to_string(), reduced.to_string()),
                _ => panic!("{full:?} but {reduced:?}"),
            }
        }
    }
}

#[test]
fn trim_is_str_trim() {
    for value in [
        "",
        " ",
        "1",
        " 1",
        "1 ",
        "\t1.5\r",
        "\u{a0}7\u{a0}",
        "\u{2003}",
        "a b",
        "\u{1}x\u{1}",
        "é",
        " é ",
        "CASH_OUT",
    ] {
        assert_eq!(field::trim(value), value.trim(), "{value:?}");
    }
}
