"""scikit-learn baselines for scripts/bench, on the rows `aegis-bench train` exported.

    sklearn_baseline.py train  --fit fit.csv --trees 100 --depth 12 --threads 2 --runs 3 --out sk.joblib
    sklearn_baseline.py kernel --model sk.joblib --rows score.csv --runs 5

Each prints one JSON object. `--depth` is Aegis's depth (levels of nodes, root = 1); scikit-learn
counts splits, so its `max_depth` is one less.
"""

import argparse
import json
import time

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

N_FEATURES = 13


def read(path, weighted):
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    x = np.ascontiguousarray(data[:, :N_FEATURES])
    y = data[:, N_FEATURES]
    w = data[:, N_FEATURES + 1] if weighted else None
    return x, y, w


def shape(forest):
    trees = forest.estimators_
    return {
        "trees": len(trees),
        "nodes": int(sum(t.tree_.node_count for t in trees)),
        # In Aegis's unit: levels of nodes, root = 1.
        "forest_depth": int(max(t.tree_.max_depth for t in trees)) + 1,
    }


def train(args):
    x, y, w = read(args.fit, weighted=True)
    seconds = []
    forest = None
    for _ in range(args.runs):
        forest = RandomForestClassifier(
            n_estimators=args.trees,
            max_depth=args.depth - 1,
            min_samples_leaf=args.min_samples_leaf,
            max_features="sqrt",
            bootstrap=True,
            n_jobs=args.threads,
            random_state=42,
        )
        started = time.perf_counter()
        forest.fit(x, y, sample_weight=w)
        seconds.append(time.perf_counter() - started)
    joblib.dump(forest, args.out)
    return {"fit_seconds": seconds, "fit_rows": len(y), "threads": args.threads, **shape(forest)}


def kernel(args):
    load_seconds = []
    forest = None
    for _ in range(args.runs):
        started = time.perf_counter()
        forest = joblib.load(args.model)
        load_seconds.append(time.perf_counter() - started)
    forest.n_jobs = 1
    x, _, _ = read(args.rows, weighted=False)

    batch = []
    for _ in range(args.runs):
        scored = 0
        started = time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            forest.predict_proba(x)
            scored += len(x)
        batch.append(scored / (time.perf_counter() - started))

    stride = max(1, len(x) // args.single)
    sample = [x[i : i + 1] for i in range(0, len(x), stride)][: args.single]
    p50, p99 = [], []
    for _ in range(args.runs):
        micros = []
        for row in sample:
            started = time.perf_counter_ns()
            forest.predict_proba(row)
            micros.append((time.perf_counter_ns() - started) / 1e3)
        p50.append(float(np.percentile(micros, 50, method="inverted_cdf")))
        p99.append(float(np.percentile(micros, 99, method="inverted_cdf")))
    return {
        "rows": len(x),
        "batch_rows_per_second": batch,
        "single_p50_us": p50,
        "single_p99_us": p99,
        "load_seconds": load_seconds,
        **shape(forest),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--fit", required=True)
    t.add_argument("--trees", type=int, required=True)
    t.add_argument("--depth", type=int, required=True)
    t.add_argument("--min-samples-leaf", type=int, default=1)
    t.add_argument("--threads", type=int, required=True)
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--out", required=True)
    k = sub.add_parser("kernel")
    k.add_argument("--model", required=True)
    k.add_argument("--rows", required=True)
    k.add_argument("--runs", type=int, default=5)
    k.add_argument("--seconds", type=float, default=1.0)
    k.add_argument("--single", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(train(args) if args.command == "train" else kernel(args)))


if __name__ == "__main__":
    main()
