"""The pandas + scikit-learn baseline of `aegis-trainer evaluate --predictions`: read a PaySim CSV,
compute the prototype's 13 features, score every row with the scikit-learn forest, write a
predictions file with the same columns (row, probability, decision, is_fraud).

    file_baseline.py --model sk.joblib --data paysim.csv --out predictions.csv --review 0.43 --block 0.67

scripts/bench times the whole process (interpreter start, imports, model load, read, score,
write), as it times aegis-trainer's. The features are the prototype's `features()`
(bench/python/prototype_api.py), the same formulas in the same order, computed a column at a time
as a pandas user would; read_csv parses only the columns they need. Prints one JSON object with the seconds of each step inside the process.
"""

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TYPES = ["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"]
# What the features and the labels read: the account names are left unparsed.
COLUMNS = ["type", "amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest",
           "isFraud"]


def features(tx):
    """The 13 features of aegis_core::features, in the same order (prototype_api.features, on
    columns instead of one transaction)."""
    one_hot = [(tx["type"] == t).astype(float) for t in TYPES]
    emptied = ((tx["oldbalanceOrg"] > 0) & (tx["newbalanceOrig"] == 0)).astype(float)
    return np.column_stack(
        one_hot
        + [
            tx["amount"],
            tx["oldbalanceOrg"],
            tx["newbalanceOrig"],
            tx["oldbalanceDest"],
            tx["newbalanceDest"],
            tx["newbalanceOrig"] + tx["amount"] - tx["oldbalanceOrg"],
            tx["oldbalanceDest"] + tx["amount"] - tx["newbalanceDest"],
            emptied,
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--review", type=float, required=True)
    parser.add_argument("--block", type=float, required=True)
    args = parser.parse_args()
    seconds = {"start": time.perf_counter() - STARTED}

    def lap(name, since):
        now = time.perf_counter()
        seconds[name] = now - since
        return now

    t = time.perf_counter()
    model = joblib.load(args.model)
    model.n_jobs = 1
    t = lap("load", t)
    tx = pd.read_csv(args.data, usecols=COLUMNS)
    t = lap("read", t)
    x = features(tx)
    probability = model.predict_proba(x)[:, 1]
    t = lap("score", t)
    decision = np.where(
        probability >= args.block, "BLOCK", np.where(probability >= args.review, "REVIEW", "ALLOW")
    )
    out = pd.DataFrame(
        {
            "row": np.arange(1, len(tx) + 1),
            "probability": probability,
            "decision": decision,
            "is_fraud": tx["isFraud"].astype(int),
        }
    )
    out.to_csv(args.out, index=False)
    lap("write", t)
    print(json.dumps({"rows": len(tx), "seconds": seconds}))


if __name__ == "__main__":
    main()
