"""Shared by the deploy checks: the repository layout and one way to report problems.

Every check collects problems as one line each ("where: what is wrong, and what to do") and the
script exits non-zero after printing them all, so one run shows everything to fix.
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
ROOT_COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "grafana"
TOPICS_TABLE = ROOT / "deploy" / "topics.txt"


def rel(path):
    """A path as the user sees it: relative to the repository root when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


DURATION_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60,
                  "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400, "day": 86400, "days": 86400}


def seconds(text):
    """A duration as the binaries read one (`15s`, `1m 30s`, `500ms`, `1d`; `0` alone), in seconds;
    None when it is not one (a bare number, in particular, has no unit and is refused)."""
    text = str(text).strip()
    if text == "0":
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([a-z]+)|\s", "", text):
        return None
    if any(unit not in DURATION_UNITS for _, unit in parts):
        return None
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)


def topic_table():
    """deploy/topics.txt as (name, partitions, cleanup policy) rows, comments and blanks left out."""
    with open(TOPICS_TABLE, encoding="utf-8") as f:
        rows = [line.split() for line in f if line.strip() and not line.lstrip().startswith("#")]
    return [(name, int(partitions), policy) for name, partitions, policy in rows]


class Problems:
    """Problems found by one check, printed together at the end."""

    def __init__(self, check):
        self.check = check
        self.lines = []

    def add(self, where, message):
        self.lines.append(f"{where}: {message}")

    def finish(self, ok_message):
        """Prints the outcome and exits: 0 when nothing was found, 1 otherwise."""
        if self.lines:
            print(f"{self.check}: {len(self.lines)} problem(s):", file=sys.stderr)
            for line in self.lines:
                print(f"  - {line}", file=sys.stderr)
            sys.exit(1)
        print(f"{self.check}: {ok_message}")
        sys.exit(0)
