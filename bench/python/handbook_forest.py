#!/usr/bin/env python3
"""The Fraud Detection Handbook's random forest on the card payments, judged the Handbook's way: the
baseline beside which scripts/bench (part `cards`) measures Aegis's card model, on the same rows in
the same run, and a second, independent computation of Aegis's own quality figures.

    handbook_forest.py --data cards.csv --fit-from 2018-07-04 --fit-until 2018-07-11 \
        --test-from 2018-07-18 --test-until 2018-07-25 [--predictions aegis.csv] \
        [--out-predictions forest.csv]
    handbook_forest.py --self-test

Everything follows the Handbook (Le Borgne et al., ULB, 2022; its Chapter_References/
shared_functions.py): its 15 features (chapter 3; computed by card_features.py, whose values
scripts/bench checks against Aegis's engine), its scaler and its best random forest after model
selection (chapter 5), its test set (get_train_test_set with a 7-day label delay) and its metrics
(performance_assessment: AUC ROC, average precision, Card Precision@100). Checked against the
Handbook's own code (its feature functions, get_train_test_set, the same pipeline and
performance_assessment) on fit 2018-07-04..10, test 2018-07-18..24: the same 57,931 test rows, the
same predictions to the last bit, the same three figures.

Prints one JSON object: "handbook_forest" (roc_auc, average_precision, card_precision_at_100,
fit_seconds), "card_precision_bounds" (what the week allows: card_precision_bounds), "aegis_by_python"
(the same three for --predictions, or null), "test_rows", "test_frauds", and "features_seconds"
(the 15 features for every row of --data).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import card_features

COLUMNS = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"]
# The Handbook's `input_features` under card_features.py's names (TX_AMOUNT, TX_DURING_WEEKEND,
# TX_DURING_NIGHT, CUSTOMER_ID_NB_TX_{1,7,30}DAY_WINDOW and _AVG_AMOUNT_, TERMINAL_ID_NB_TX_ and
# _RISK_), in its order: with a fixed seed, the forest draws features by column position.
FEATURES = [
    "amount", "weekend", "night",
    "card_count_1d", "card_mean_amount_1d", "card_count_7d", "card_mean_amount_7d",
    "card_count_30d", "card_mean_amount_30d",
    "terminal_count_1d", "terminal_risk_1d", "terminal_count_7d", "terminal_risk_7d",
    "terminal_count_30d", "terminal_risk_30d",
]
TOP_K = 100
DAY = pd.Timedelta(days=1)


def handbook_forest():
    """The Handbook's random forest after model selection (chapter 5, "Model selection": a grid of
    max_depth 5/10/20/50 by n_estimators 25/50/100, random_state=0, n_jobs=1; the best estimated
    parameters are 100 trees of depth 20 for all three metrics), behind the StandardScaler of its
    prequential_grid_search pipeline."""
    forest = RandomForestClassifier(n_estimators=100, max_depth=20, random_state=0, n_jobs=1)
    return Pipeline([("scaler", StandardScaler()), ("clf", forest)])


def between(tx, start, end):
    """The rows whose TX_DATETIME is in [start, end)."""
    return tx[(tx["TX_DATETIME"] >= start) & (tx["TX_DATETIME"] < end)]


def test_set(tx, fit_from, fit_until, test_from, test_until):
    """The Handbook's test set (get_train_test_set with delta_delay=7): a test day keeps only the
    cards not known to be compromised by then, as a bank would have blocked those. Known are the
    cards with a fraud in the fit rows, or on a day from the fit's end up to 8 days before the
    test day: by the start of test day − 7, the labels of every earlier day have arrived. Days are
    calendar days of TX_DATETIME (the `DAY` column)."""
    fit = between(tx, fit_from, fit_until)
    known = set(fit.loc[fit["TX_FRAUD"] == 1, "CUSTOMER_ID"])
    days = []
    for day in pd.date_range(test_from, test_until, inclusive="left"):
        labelled = (tx["DAY"] >= fit_until) & (tx["DAY"] <= day - 8 * DAY)
        known |= set(tx.loc[labelled & (tx["TX_FRAUD"] == 1), "CUSTOMER_ID"])
        days.append(tx[(tx["DAY"] == day) & ~tx["CUSTOMER_ID"].isin(known)])
    return pd.concat(days).sort_values("TRANSACTION_ID")


def card_precision_top_k(scored, k):
    """The Handbook's card_precision_top_k: each day, a card's score is its highest prediction and
    it counts as compromised if any of its transactions is fraud; the share of compromised cards
    among the day's k highest (over k, even if fewer cards scored), leaving out the cards found
    compromised in an earlier day's top k; the mean over the days. Written as the Handbook writes
    it, so that ties at the k-th card fall the same way."""
    detected = []
    per_day = []
    for day in sorted(scored["DAY"].unique()):
        rows = scored.loc[scored["DAY"] == day, ["predictions", "CUSTOMER_ID", "TX_FRAUD"]]
        rows = rows[~rows["CUSTOMER_ID"].isin(detected)]
        cards = (rows.groupby("CUSTOMER_ID").max()
                 .sort_values(by="predictions", ascending=False).reset_index(drop=False))
        top = cards.head(k)
        found = list(top.loc[top["TX_FRAUD"] == 1, "CUSTOMER_ID"])
        per_day.append(len(found) / k)
        detected.extend(found)
    return float(np.mean(per_day))


def quality(scored):
    """AUC ROC, average precision and Card Precision@100 of the `predictions` column, as the
    Handbook's performance_assessment computes them (not rounded)."""
    return {
        "roc_auc": float(roc_auc_score(scored["TX_FRAUD"], scored["predictions"])),
        "average_precision": float(average_precision_score(scored["TX_FRAUD"],
                                                           scored["predictions"])),
        "card_precision_at_100": card_precision_top_k(scored, TOP_K),
    }


def card_precision_bounds(scored):
    """How much Card Precision@100 the test week allows. `hindsight`: every fraud ranked first, as
    if all labels were known at once. `signs_first`: only the frauds that show a sign when they
    happen ranked first — an amount over 220, over twice the card's 30-day mean, or a fraud
    already known at the terminal (the 7-day-delayed 30-day window) — then the forest's order.
    The Handbook's simulator leaves no sign on a terminal's frauds in the first week of its
    compromise, before their labels arrive, so a model held to the label delay scores near
    `signs_first`, not `hindsight`."""
    sign = ((scored["TX_AMOUNT"] > 220)
            | (scored["TX_AMOUNT"] > 2 * scored["card_mean_amount_30d"])
            | (scored["terminal_risk_30d"] > 0))
    fraud = scored["TX_FRAUD"] == 1
    return {
        "hindsight": card_precision_top_k(
            scored.assign(predictions=scored["TX_FRAUD"] + scored["predictions"]), TOP_K),
        "signs_first": card_precision_top_k(
            scored.assign(predictions=(fraud & sign) * 2.0 + scored["predictions"]), TOP_K),
    }


def read_cards(path):
    """The card payments with the calendar day of each transaction (`DAY`)."""
    if not os.path.isfile(path):
        sys.exit(f"handbook_forest: {path} is not there")
    tx = pd.read_csv(path, parse_dates=["TX_DATETIME"])
    missing = [c for c in COLUMNS if c not in tx.columns]
    if missing:
        sys.exit(f"handbook_forest: {path} lacks the columns {', '.join(missing)}")
    tx["DAY"] = tx["TX_DATETIME"].dt.normalize()
    return tx


def read_predictions(path):
    """Another model's predictions (TRANSACTION_ID, probability), read before any work so that a
    wrong file fails at once. Aegis's file also has `score`, the forest's raw score: calibration
    is monotone, so it ranks rows as the probability does, without the ties of isotonic
    calibration's flat steps — Aegis ranks by it, and so does this recount when it is there."""
    if not os.path.isfile(path):
        sys.exit(f"handbook_forest: {path} is not there")
    predictions = pd.read_csv(path)
    if ({"TRANSACTION_ID", "probability"} - set(predictions.columns)
            or not predictions["TRANSACTION_ID"].is_unique):
        sys.exit(f"handbook_forest: {path} must have the columns TRANSACTION_ID and probability, "
                 "one row per transaction")
    ranking = "score" if "score" in predictions.columns else "probability"
    return predictions[["TRANSACTION_ID", ranking]].rename(columns={ranking: "predictions"})


def scored_by(test, predictions, path):
    """The test rows with another model's predictions; every one must have one."""
    scored = test.merge(predictions, on="TRANSACTION_ID", how="left", validate="one_to_one")
    unscored = int(scored["predictions"].isna().sum())
    if unscored:
        sys.exit(f"handbook_forest: {unscored:,} of the {len(test):,} test rows have no "
                 f"prediction in {path}; score every row of the test days")
    return scored


def run(args):
    other = read_predictions(args.predictions) if args.predictions else None
    tx = read_cards(args.data)
    started = time.perf_counter()
    features = card_features.features(tx[COLUMNS])[["TRANSACTION_ID", *FEATURES]]
    features_seconds = time.perf_counter() - started
    tx = tx.merge(features, on="TRANSACTION_ID", validate="one_to_one")

    # In the Handbook's row order too: the bootstrap draws rows by position.
    fit = between(tx, args.fit_from, args.fit_until).sort_values("TRANSACTION_ID")
    test = test_set(tx, args.fit_from, args.fit_until, args.test_from, args.test_until)
    if fit["TX_FRAUD"].nunique() < 2 or test["TX_FRAUD"].nunique() < 2:
        sys.exit("handbook_forest: the fit rows and the test rows must each hold frauds and "
                 "legitimate payments; check the dates against the data's range")

    model = handbook_forest()
    started = time.perf_counter()
    model.fit(fit[FEATURES], fit["TX_FRAUD"])
    fit_seconds = time.perf_counter() - started
    scored = test.assign(predictions=model.predict_proba(test[FEATURES])[:, 1])
    if args.out_predictions:
        scored[["TRANSACTION_ID", "predictions", "TX_FRAUD"]].rename(
            columns={"predictions": "probability", "TX_FRAUD": "is_fraud"}
        ).to_csv(args.out_predictions, index=False)

    return {
        "handbook_forest": {**quality(scored), "fit_seconds": fit_seconds},
        "card_precision_bounds": card_precision_bounds(scored),
        "aegis_by_python": (quality(scored_by(test, other, args.predictions))
                            if other is not None else None),
        "test_rows": len(test),
        "test_frauds": int(test["TX_FRAUD"].sum()),
        "features_seconds": features_seconds,
    }


def tiny(rows):
    """A hand-made frame for the self-test: (TRANSACTION_ID, day, CUSTOMER_ID, TX_FRAUD,
    predictions) rows, each transaction at noon of its day in July 2018."""
    frame = pd.DataFrame(rows, columns=["TRANSACTION_ID", "day", "CUSTOMER_ID", "TX_FRAUD",
                                        "predictions"])
    frame["DAY"] = pd.to_datetime("2018-07-01") + (frame.pop("day") - 1) * DAY
    frame["TX_DATETIME"] = frame["DAY"] + pd.Timedelta(hours=12)
    return frame


def self_test():
    """The test set and Card Precision@k on hand-made frames whose answers are worked out in the
    comments."""
    # Fit July 4-10, test July 18-24.
    tx = tiny([
        (1, 5, 1, 1, 0),    # card 1: a fraud in the fit rows, known from the first test day
        (2, 6, 2, 0, 0),
        (3, 3, 6, 1, 0),    # card 6: a fraud before the fit rows, never known
        (4, 12, 3, 1, 0),   # card 3: a fraud on July 12, known from July 20 (= 12 + 8)
        (5, 17, 4, 1, 0),   # card 4: a fraud on July 17, known from July 25, after the test
        (10, 18, 1, 0, 0),  # out: card 1
        (11, 18, 2, 0, 0),
        (12, 19, 3, 0, 0),
        (13, 20, 3, 0, 0),  # out: card 3
        (14, 24, 4, 0, 0),
        (15, 24, 6, 0, 0),
        (16, 25, 2, 0, 0),  # out: after the test days
        (17, 18, 7, 1, 0),  # card 7: a fraud on a test day, not known before July 26
        (18, 24, 7, 0, 0),
    ])
    july = lambda day: pd.Timestamp(2018, 7, day)
    test = test_set(tx, july(4), july(11), july(18), july(25))
    assert list(test["TRANSACTION_ID"]) == [11, 12, 14, 15, 17, 18], list(test["TRANSACTION_ID"])

    scored = tiny([
        # Day 1, top 2: card 3 (its highest prediction, 0.95, is on a legitimate payment, but it
        # has a fraud) and card 1: both compromised, 2/2.
        (1, 1, 1, 1, 0.90), (2, 1, 2, 0, 0.80), (3, 1, 3, 0, 0.95), (4, 1, 3, 1, 0.10),
        # Day 2: card 1 was found on day 1 and is left out; top 2: cards 2 and 4, 0/2 (with card 1
        # counted again it would be 1/2).
        (5, 2, 1, 1, 0.99), (6, 2, 2, 0, 0.50), (7, 2, 4, 0, 0.40), (8, 2, 5, 1, 0.30),
        # Day 3: a single card, compromised: 1 over k = 2.
        (9, 3, 6, 1, 0.70),
    ])
    assert math.isclose(card_precision_top_k(scored, 2), (2 / 2 + 0 / 2 + 1 / 2) / 3)
    # With k = 100: days 1, 2, 3 find cards {1, 3}, {5}, {6}.
    assert math.isclose(card_precision_top_k(scored, 100), (2 / 100 + 1 / 100 + 1 / 100) / 3)
    print("handbook_forest: self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true",
                        help="check the test set and Card Precision@k on hand-made rows, then exit")
    parser.add_argument("--data", help="card payments CSV (the Handbook's columns)")
    for name, what in (("fit-from", "first fit day"), ("fit-until", "day after the last fit day"),
                       ("test-from", "first test day"),
                       ("test-until", "day after the last test day")):
        parser.add_argument(f"--{name}", type=pd.Timestamp, metavar="YYYY-MM-DD", help=what)
    parser.add_argument("--predictions", help="another model's predictions of the test rows "
                        "(CSV with TRANSACTION_ID and probability) to judge the same way")
    parser.add_argument("--out-predictions", help="write the forest's test predictions here "
                        "(TRANSACTION_ID,probability,is_fraud)")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
    needed = ["data", "fit_from", "fit_until", "test_from", "test_until"]
    missing = [f"--{name.replace('_', '-')}" for name in needed if getattr(args, name) is None]
    if missing:
        parser.error(f"{', '.join(missing)} required (or --self-test)")
    if not args.fit_from < args.fit_until <= args.test_from < args.test_until:
        parser.error("the days must run --fit-from < --fit-until <= --test-from < --test-until")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
