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
# Each way to run compose from the root: compose.yaml, PaySim (`docker compose up`), then every
# compose.*.yaml — compose.cards.yaml, the card spec (`docker compose -f compose.cards.yaml up`).
# Each includes deploy/compose.yaml, then the overrides of deploy/ it merges over it.
ROOT_COMPOSE_FILES = (ROOT_COMPOSE, *sorted(ROOT.glob("compose.*.yaml")))
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


def included_paths(root):
    """The files a compose file's `include:` names (short form, or long form with path: str|list),
    as a list per include item: the files of one item are merged in order, as overrides."""
    for item in root.get("include") or []:
        if isinstance(item, str):
            yield [item]
        else:
            path = item.get("path")
            yield path if isinstance(path, list) else [path]


def _environment(value):
    """A service's environment (mapping or `KEY=value` list) as a mapping."""
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in value)
    return dict(value or {})


def _replaced(path):
    """Compose merge rule: an override's command, entrypoint and health check test replace the
    base's whole; other sequences add to it, mappings merge key by key."""
    return (len(path) == 3 and path[0] == "services" and path[2] in ("command", "entrypoint")) or \
        (len(path) == 4 and path[0] == "services" and path[2:] == ("healthcheck", "test"))


def _mount_target(volume):
    """Where a volume (short `source:target[:mode]` or long syntax) is mounted in the container."""
    if isinstance(volume, dict):
        return volume.get("target")
    parts = str(volume).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge(base, override, path=()):
    """`override` merged over `base` as `docker compose` merges an override file (the Compose
    Specification's merge rules, as far as Aegis's files use them): mappings key by key, the
    environment by variable, volumes by target, other sequences appended without repeats."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            here = path + (key,)
            if key not in merged or str(key).startswith("x-") or _replaced(here):
                merged[key] = value
            elif len(here) == 3 and here[0] == "services" and key == "environment":
                merged[key] = {**_environment(merged[key]), **_environment(value)}
            else:
                merged[key] = merge(merged[key], value, here)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        if len(path) == 3 and path[0] == "services" and path[2] == "volumes":
            replaced = {_mount_target(v) for v in override}
            return [v for v in base if _mount_target(v) not in replaced] + override
        return base + [v for v in override if v not in base]
    return override


class ComposeModel:
    """One way to run compose from the root: the root file, the files its include merges (each
    include item's files merged in order, the items' resources put together) and the result.

    `services` holds every service; `active` the names `up` starts without --profile (those with
    no `profiles`)."""

    def __init__(self, root_file):
        self.root_file = Path(root_file)
        self.root = load_yaml(self.root_file) or {}
        self.groups = [[(self.root_file.parent / p).resolve() for p in paths]
                       for paths in included_paths(self.root)]
        self.files = [f for group in self.groups for f in group]
        self.raw = {f: (load_yaml(f) or {}) if f.is_file() else {} for f in self.files}
        self.data = {}
        self.conflicts = []
        for group in self.groups:
            part = {}
            for f in group:
                part = merge(part, self.raw[f])
            for section in ("services", "volumes", "networks"):
                for name, value in (part.get(section) or {}).items():
                    if name in (self.data.get(section) or {}) and section == "services":
                        self.conflicts.append(f"{section}.{name} is defined by two include items")
                    self.data.setdefault(section, {})[name] = value
        self.services = self.data.get("services") or {}
        self.active = {name for name, s in self.services.items() if not (s or {}).get("profiles")}

    @property
    def name(self):
        """The model as the user names it: the root file, and the files it merges."""
        return f"{rel(self.root_file)} ({' + '.join(rel(f) for f in self.files)})"

    def where(self, service, key=None):
        """`FILE service NAME`: the last file that sets `key` of the service (or defines it), and
        the root file when the service is the result of merging several."""
        origin = None
        for f in self.files:
            raw = ((self.raw[f].get("services") or {}).get(service)) or {}
            if raw and (key is None or key in raw):
                origin = f
        origin = origin or self.files[0]
        merged = len(self.files) > 1
        return f"{rel(origin)} service {service}" + (f" (as {rel(self.root_file)} merges it)" if merged else "")


def compose_models():
    """Every root compose file's model, PaySim's first."""
    return [ComposeModel(f) for f in ROOT_COMPOSE_FILES]


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
