//! Forest kernel benchmarks: a 100-tree, depth-12 forest fitted on the shipped PaySim sample,
//! scoring the sample's 27,052 rows in batches and one at a time. `scripts/bench` compares the
//! same work against scikit-learn; this is for day-to-day work on the kernel.

use std::hint::black_box;
use std::path::PathBuf;

use aegis_core::features::{self, Features};
use aegis_core::forest::{CompiledForest, ForestParams};
use aegis_trainer::{dataset, fit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn sample() -> (Vec<Features>, Vec<f64>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/paysim_fraud_enriched_steps_1-400.csv");
    dataset::read_one_file(&path, 256.2)
        .expect("sample")
        .features_and_labels()
}

fn forest(rows: &[Features], labels: &[f64]) -> CompiledForest {
    let weights = fit::balanced_weights(labels);
    fit::grow(rows, labels, &weights, &ForestParams::default(), &|| {})
        .expect("fit")
        .compile()
        .expect("compile")
}

fn bench(c: &mut Criterion) {
    let (rows, labels) = sample();
    let forest = forest(&rows, &labels);
    let mut group = c.benchmark_group("forest");
    for batch in [1usize, 64, 1024] {
        let chunk = &rows[..batch];
        let mut out = vec![0.0; batch];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("predict_batch", batch), &batch, |b, _| {
            b.iter(|| forest.predict_batch(black_box(chunk), &mut out))
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("predict_one", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % rows.len();
            forest.predict(black_box(&rows[i]))
        })
    });
    group.bench_function("contributions_one", |b| {
        let mut c = [0.0; features::N_FEATURES];
        b.iter(|| forest.contributions(black_box(&rows[123]), &mut c))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
