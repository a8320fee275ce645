"""Draws the latency–throughput curve of `scripts/bench --only curve` from its results.json:
event-to-verdict p50 and p99 of Aegis, of the bare pass-through and of the pass-through that also
writes a state record per message (when the run has it) at each offered rate, the scorer's own
share (event → `scored_at`) beside them, hollow markers where a side did not keep up, and a line
where the bare pass-through stops keeping up.

    python latency_curve.py .aegis/bench/results.json docs/latency-throughput.svg
"""

import json
import sys

import matplotlib

matplotlib.use("agg")  # no display; savefig writes SVG or PNG by the suffix
import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams["svg.hashsalt"] = "aegis"  # the same results give the same file


def series(points, key):
    return [p["rate"] for p in points], [p[key] for p in points]


def draw(curve, path):
    fig, ax = plt.subplots(figsize=(8, 4.8))
    lines = [
        ("aegis", "p99_ms", "Aegis p99", "tab:red", "-"),
        ("aegis", "p50_ms", "Aegis p50", "tab:red", "--"),
        ("baseline", "p99_ms", "pass-through p99", "tab:blue", "-"),
        ("baseline", "p50_ms", "pass-through p50", "tab:blue", "--"),
        ("baseline_state", "p99_ms", "pass-through + state record p99", "tab:green", "-"),
        ("baseline_state", "p50_ms", "pass-through + state record p50", "tab:green", "--"),
        ("aegis", "scored_p99_ms", "scorer's share p99 (event → scored_at)", "tab:orange", ":"),
        ("aegis", "scored_p50_ms", "scorer's share p50", "tab:orange", (0, (1, 3))),
    ]
    for side, key, label, colour, style in lines:
        points = curve.get(side)
        if not points:  # no changelog, so no stateful pass-through
            continue
        xs, ys = series(points, key)
        ax.plot(xs, ys, linestyle=style, color=colour, label=label)
        for p, x, y in zip(points, xs, ys):
            hollow = not p["keeps_up"]
            ax.plot(x, y, "o", color=colour, markersize=5,
                    markerfacecolor="white" if hollow else colour)
    behind = [p["rate"] for p in curve["baseline"] if not p["keeps_up"]]
    if behind:
        ax.axvline(behind[0], color="grey", linewidth=1)
        ax.annotate("pass-through stops\nkeeping up", (behind[0], 0.02),
                    xycoords=("data", "axes fraction"), xytext=(4, 0),
                    textcoords="offset points", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    rates = [p["rate"] for p in curve["aegis"]]
    ax.set_xticks(rates, [f"{r / 1000:g}k" for r in rates])
    ax.minorticks_off()
    ax.set_xlabel("offered rate (transactions/s)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Event → verdict on tansu, 2 shared cores (hollow: not keeping up)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})


def main():
    results, path = sys.argv[1], sys.argv[2]
    draw(json.load(open(results))["curve"], path)


if __name__ == "__main__":
    main()
