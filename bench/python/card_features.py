"""The card spec's features (specs/cards.toml) computed with pandas, as the Fraud Detection Handbook
computes its own (chapter 3: grouped time-based rolling windows per customer and per terminal), plus
the seven the spec adds, written the way a pandas user would. The baseline for Aegis's feature engine
(aegis_core::spec::engine), and an independent implementation to check its values against.

    python card_features.py CARDS.csv [--out FEATURES.csv]

Prints one JSON line: rows, seconds (reading excluded), and the feature names in spec order.
"""

import argparse
import json
import time

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
DELAY_DAYS = 7


def card_features(card: pd.DataFrame) -> pd.DataFrame:
    card = card.sort_values("TX_DATETIME", kind="stable").set_index("TX_DATETIME")
    amount = card["TX_AMOUNT"]
    out = pd.DataFrame(index=card.index)
    for days in (1, 7, 30):
        window = amount.rolling(f"{days}D")
        count, total = window.count(), window.sum()
        out[f"card_count_{days}d"] = count
        out[f"card_mean_amount_{days}d"] = total / count
    # Beyond the Handbook: the amount against the card's earlier 30 days, the time since its
    # previous transaction, whether the terminal is new to it, the spread of its earlier amounts.
    window = amount.rolling("30D")
    count, total, squares = window.count(), window.sum(), (amount * amount).rolling("30D").sum()
    earlier_n, earlier_sum = count - 1, total - amount
    earlier_mean = earlier_sum / earlier_n
    ratio = amount / earlier_mean
    out["amount_to_card_mean_30d"] = ratio.where((earlier_n > 0) & (earlier_mean != 0), 1.0)
    times = card.index.to_series()
    gap = times.diff().dt.total_seconds()
    out["card_seconds_since_previous"] = gap.where(gap < 30 * 86_400, 30 * 86_400.0)
    same_terminal_gap = times.groupby(card["TERMINAL_ID"].values).diff().dt.total_seconds()
    out["card_new_terminal"] = (~(same_terminal_gap < 30 * 86_400)).astype(float)
    earlier_squares = squares - amount * amount
    variance = (earlier_squares - earlier_sum * earlier_sum / earlier_n) / earlier_n
    out["card_std_amount_30d"] = np.sqrt(variance.clip(lower=0)).where(earlier_n >= 2, 0.0)
    out["TRANSACTION_ID"] = card["TRANSACTION_ID"].values
    return out.reset_index(drop=True)


def terminal_features(terminal: pd.DataFrame) -> pd.DataFrame:
    terminal = terminal.sort_values("TX_DATETIME", kind="stable").set_index("TX_DATETIME")
    fraud = terminal["TX_FRAUD"]
    frauds_delay = fraud.rolling(f"{DELAY_DAYS}D").sum()
    count_delay = fraud.rolling(f"{DELAY_DAYS}D").count()
    out = pd.DataFrame(index=terminal.index)
    for days in (1, 7, 30):
        frauds = fraud.rolling(f"{DELAY_DAYS + days}D").sum() - frauds_delay
        count = fraud.rolling(f"{DELAY_DAYS + days}D").count() - count_delay
        out[f"terminal_count_{days}d"] = count
        out[f"terminal_risk_{days}d"] = (frauds / count).fillna(0.0)
        if days == 30:
            out["terminal_frauds_30d"] = frauds
    # How long ago the terminal's oldest and latest known fraud of the 30-day window happened
    # (37 days, the window's reach, with none): a compromise known and still running.
    times = terminal.index.values
    fraud_times = times[fraud.values == 1]
    reach = np.timedelta64(DELAY_DAYS + 30, "D")
    first = np.searchsorted(fraud_times, times - reach, side="right")
    last = np.searchsorted(fraud_times, times - np.timedelta64(DELAY_DAYS, "D"), side="right") - 1
    whole = reach / np.timedelta64(1, "s")
    if len(fraud_times) == 0:
        out["terminal_first_fraud_age_30d"] = out["terminal_last_fraud_age_30d"] = whole
    else:
        known = last >= first
        seconds = lambda at: (times - at) / np.timedelta64(1, "s")
        out["terminal_first_fraud_age_30d"] = np.where(
            known, seconds(fraud_times[np.minimum(first, len(fraud_times) - 1)]), whole)
        out["terminal_last_fraud_age_30d"] = np.where(
            known, seconds(fraud_times[np.maximum(last, 0)]), whole)
    out["TRANSACTION_ID"] = terminal["TRANSACTION_ID"].values
    return out.reset_index(drop=True)


NAMES = [
    "amount", "weekend", "night",
    "card_count_1d", "card_mean_amount_1d", "card_count_7d", "card_mean_amount_7d",
    "card_count_30d", "card_mean_amount_30d",
    "terminal_count_1d", "terminal_risk_1d", "terminal_count_7d", "terminal_risk_7d",
    "terminal_count_30d", "terminal_risk_30d",
    "amount_to_card_mean_30d", "card_seconds_since_previous", "card_new_terminal",
    "card_std_amount_30d", "terminal_frauds_30d",
    "terminal_first_fraud_age_30d", "terminal_last_fraud_age_30d",
]


def features(tx: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"TRANSACTION_ID": tx["TRANSACTION_ID"], "amount": tx["TX_AMOUNT"]})
    out["weekend"] = (tx["TX_DATETIME"].dt.day_of_week >= 5).astype(float)
    out["night"] = (tx["TX_DATETIME"].dt.hour <= 6).astype(float)
    cards = tx.groupby("CUSTOMER_ID", group_keys=False)[list(tx.columns)].apply(card_features)
    terminals = tx.groupby("TERMINAL_ID", group_keys=False)[list(tx.columns)].apply(terminal_features)
    out = out.merge(cards, on="TRANSACTION_ID").merge(terminals, on="TRANSACTION_ID")
    return out.sort_values("TRANSACTION_ID")[["TRANSACTION_ID", *NAMES]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv")
    parser.add_argument("--out")
    args = parser.parse_args()
    tx = pd.read_csv(args.csv, parse_dates=["TX_DATETIME"])
    started = time.perf_counter()
    result = features(tx)
    seconds = time.perf_counter() - started
    if args.out:
        result.to_csv(args.out, index=False)
    print(json.dumps({"rows": len(result), "seconds": seconds, "features": NAMES}))


if __name__ == "__main__":
    main()
