//! The compiled forest scores exactly as smartcore does, on real PaySim rows.

use aegis_core::forest::ForestParams;
use aegis_trainer::fit;

use crate::labelled_rows;

#[test]
fn compiled_forest_equals_smartcore_predict_on_real_rows() {
    let (rows, labels) = labelled_rows("paysim_fraud_enriched_steps_1-400.csv");
    let weights = fit::balanced_weights(&labels);
    let params = ForestParams::default()
        .with_trees(12)
        .with_max_depth(10)
        .with_seed(7);
    let fitted = fit::grow(&rows, &labels, &weights, &params, &|| {}).unwrap();
    let compiled = fitted.compile().unwrap();
    assert_eq!(compiled.n_trees(), 12);
    assert!(compiled.max_depth() <= 10);
    // smartcore keeps splitting nodes that are already pure; scoring walks them merged.
    assert!(
        compiled.n_scoring_nodes() < compiled.n_nodes(),
        "{} scoring nodes of {}",
        compiled.n_scoring_nodes(),
        compiled.n_nodes()
    );

    // Score rows the forest was fitted on and rows from another sample.
    let (other, _) = labelled_rows("paysim_mixed_steps_1-119.csv");
    for sample in [&rows, &other] {
        let reference = fitted.predict_reference(sample).unwrap();
        let mut batch = vec![0.0; sample.len()];
        compiled.predict_batch(sample, &mut batch);
        for (i, (row, expected)) in sample.iter().zip(&reference).enumerate() {
            let got = compiled.predict(row);
            assert_eq!(
                got.to_bits(),
                expected.to_bits(),
                "row {i}: {got} != {expected}"
            );
            assert_eq!(batch[i].to_bits(), expected.to_bits(), "batch row {i}");
        }
    }
}

#[test]
fn compile_reads_a_multi_tree_smartcore_forest() {
    use smartcore::ensemble::random_forest_regressor::{
        RandomForestRegressor, RandomForestRegressorParameters,
    };
    use smartcore::linalg::basic::matrix::DenseMatrix;

    let (rows, labels) = labelled_rows("paysim_transfer_cashout_steps_1-10.csv");
    let rows = &rows[..5_000];
    let labels = labels[..5_000].to_vec();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let x = DenseMatrix::new(rows.len(), rows[0].len(), flat, false).unwrap();
    let params = RandomForestRegressorParameters::default()
        .with_n_trees(9)
        .with_max_depth(8)
        .with_seed(3);
    let smartcore_forest = RandomForestRegressor::fit(&x, &labels, params).unwrap();
    let expected = smartcore_forest.predict(&x).unwrap();
    let compiled = fit::compile(&smartcore_forest, aegis_core::features::N_FEATURES).unwrap();
    assert_eq!(compiled.n_trees(), 9);
    for (row, e) in rows.iter().zip(expected) {
        assert_eq!(compiled.predict(row).to_bits(), e.to_bits());
    }
}

#[test]
fn same_seed_same_forest_and_contributions_explain_the_score() {
    let (rows, labels) = labelled_rows("paysim_transfer_cashout_steps_1-10.csv");
    let weights = vec![1.0; rows.len()];
    let params = ForestParams::default().with_trees(4).with_max_depth(6);
    let a = fit::grow(&rows, &labels, &weights, &params, &|| {})
        .unwrap()
        .compile()
        .unwrap();
    let b = fit::grow(&rows, &labels, &weights, &params, &|| {})
        .unwrap()
        .compile()
        .unwrap();
    assert_eq!(a, b, "same seed and data must give the same forest");
    let c = fit::grow(&rows, &labels, &weights, &params.with_seed(99), &|| {})
        .unwrap()
        .compile()
        .unwrap();
    assert_ne!(a, c, "another seed gives another forest");

    let mut contributions = [0.0; aegis_core::features::N_FEATURES];
    for row in rows.iter().step_by(97) {
        let bias = a.contributions(row, &mut contributions);
        let total = bias + contributions.iter().sum::<f64>();
        assert!(
            (total - a.predict(row)).abs() < 1e-9,
            "{total} vs {}",
            a.predict(row)
        );
    }
}

#[test]
fn mismatched_inputs_are_refused_before_fitting() {
    let rows = vec![[0.0; aegis_core::features::N_FEATURES]; 3];
    let err = fit::grow(
        &rows,
        &[0.0, 1.0],
        &[1.0; 3],
        &ForestParams::default(),
        &|| {},
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("3 rows, 2 labels"), "{err}");
    let err = fit::grow(
        &rows,
        &[0.0; 3],
        &[1.0; 3],
        &ForestParams::default().with_trees(0),
        &|| {},
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("trees"), "{err}");
}
