"""Every dashboard query returns data from a real Prometheus scraping a real pipeline.

  python deploy/checks/live.py --prometheus http://127.0.0.1:9090 [--timeout 120] [--pipeline spec]

`--pipeline paysim` (the default: scripts/check-dashboards) checks the dashboards of the PaySim
pipeline; `--pipeline spec` (scripts/check-ui --spec cards) those tagged `spec`, on a spec's stream.

Run by scripts/check-dashboards once the pipeline and Prometheus are up. Polls until, all at once:
- every scrape target is up;
- every rule of deploy/prometheus/alerts.yml is loaded and evaluates without error;
- the pipeline did what the dashboard should show: verdicts written, some BLOCKed (the takeover
  scenario), dead letters counted, producer deliveries acknowledged;
- every panel query of grafana/dashboards/*.json (Grafana variables substituted as in
  dashboards.py, $job as Grafana's All: every job exposing aegis_build_info, which is what the
  variable's query lists) returns at least one series with a finite value, and a non-zero one
  unless zero is what a healthy pipeline shows there (ZERO_IS_HEALTHY);
- and with $job naming a job that does not exist, every panel query returns nothing: each is
  filtered by the variable;
- and at least --min-wait seconds have passed, so that rate windows hold many scrapes.
Then prints a table panel → series; on timeout, the same table with what is still missing.
"""

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from common import PROMETHEUS_DIR, load_yaml, rel
from dashboards import JOB_VARIABLE, dashboard_files, dashboard_targets, job_value

# What the pipeline must have done for the panels to mean something (each query: non-empty = done).
PIPELINE = [
    ("verdicts written", "sum(aegis_transactions_scored_total) > 0"),
    ("takeovers blocked", 'sum(aegis_transactions_scored_total{decision="BLOCK"}) > 0'),
    ("dead letters counted", "sum(aegis_dlq_messages_total) > 0"),
    ("producer deliveries acknowledged", "sum(aegis_producer_delivered_total) > 0"),
    ("outcomes joined (labels met their verdicts)", 'sum(aegis_outcomes_total{role="live"}) > 0'),
    ("shadow model installed by every scorer",
     'count(aegis_shadow_model_info) == count(up{job="aegis-scorer"})'),
    ("shadow outcomes measured (labels met shadow verdicts)",
     'sum(aegis_outcomes_total{role="shadow"}) > 0'),
]

# The same, on a spec's stream (the card replay: no takeovers, dead letters nor shadow model).
SPEC_PIPELINE = [
    ("verdicts written", "sum(aegis_transactions_scored_total) > 0"),
    ("producer deliveries acknowledged", "sum(aegis_producer_delivered_total) > 0"),
    ("labels forwarded to the entity stage", 'sum(aegis_entity_labels_total{outcome="forwarded"}) > 0'),
    ("outcomes joined (labels met their verdicts)", 'sum(aegis_outcomes_total{role="live"}) > 0'),
    ("a day closed for Card Precision@k", 'sum(aegis_outcomes_card_precision_days_total{role="live"}) > 0'),
]
# Dashboards of a spec's stream carry this tag; the others are the PaySim pipeline's.
SPEC_TAG = "spec"


def dashboards_of(pipeline):
    """The dashboard files a pipeline's run checks: those tagged `spec` for a spec's stream, the
    others for PaySim's."""
    def is_spec(path):
        return SPEC_TAG in json.loads(path.read_text(encoding="utf-8")).get("tags", [])
    return [p for p in dashboard_files() if is_spec(p) == (pipeline == "spec")]


# What the job variable's query, label_values(aegis_build_info, job), lists: every Aegis process.
JOBS_METRIC = "aegis_build_info"
# A $job that matches no target: every panel query must then come back empty.
NO_SUCH_JOB = "aegis-check-no-such-job"

# (panel title, legend) of queries that may be all zeros in a healthy run: failures, and lag when
# the scorers keep up.
ZERO_IS_HEALTHY = {
    ("Producer: sent, delivered, failed", "failed"),
    ("Producer (time range)", "failed"),
    ("Consumer lag per partition", "partition {{partition}}"),
    ("Money, live model (time range)", "money lost"),
    ("Money, live model (time range)", "legit money blocked"),
    ("Waiting for a counterpart, and evicted", "evicted {{side}} ({{role}} join, {{reason}})"),
    ("Account state", "evicted ({{reason}})"),
    ("State restores and rule updates", "accounts restored"),
    ("State restores and rule updates", "rule sets {{outcome}}"),
    # Labels come 5 s after their transactions: none outlives the join window.
    ("Late labels (looked for in the verdicts topic)", "{{result}}"),
    ("Late labels (looked for in the verdicts topic)", "verdicts read by lookups"),
    # A spec's stream (aegis-spec.json): no record late and none waiting when every partition
    # keeps up; an early day's top 100 cards can hold none compromised.
    ("Released late", "{{kind}}"),
    ("Waiting in the event-time merge", "waiting"),
    ("Card Precision@k", "{{role}}: last closed day"),
    ("Entities forgotten at a limit", "{{entity}} ({{reason}})"),
}
REPLICAS_TABLE_ZERO = {"E"}  # the Replicas table's delivery failures


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as e:  # 400 bad_data: the error is in the body
            body = json.load(e)
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def jobs(self):
        """The values of label_values(aegis_build_info, job), as Grafana asks for them."""
        return sorted(self.get("/api/v1/label/job/values", **{"match[]": JOBS_METRIC}))

    def query(self, expr):
        """(series count, finite values) of an instant query."""
        data = self.get("/api/v1/query", query=expr)
        if data["resultType"] == "scalar":
            result = [{"value": data["result"]}]
        else:
            result = data["result"]
        values = [float(r["value"][1]) for r in result if "value" in r]
        return len(result), [v for v in values if math.isfinite(v)]


def expected_rules():
    """Names of the rules in alerts.yml, by group."""
    rules = load_yaml(PROMETHEUS_DIR / "alerts.yml")
    return {(g["name"], r.get("alert") or r.get("record")) for g in rules["groups"] for r in g["rules"]}


def check_targets(prom):
    problems = []
    targets = prom.get("/api/v1/targets")["activeTargets"]
    if not targets:
        problems.append("no scrape targets")
    for t in targets:
        if t["health"] != "up":
            problems.append(f"target {t['labels'].get('job')}/{t['labels'].get('instance')} is {t['health']}: {t.get('lastError')}")
    return problems, len(targets)


def check_rules(prom, expected):
    problems = []
    loaded = {}
    for group in prom.get("/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            loaded.setdefault((group["name"], rule["name"]), []).append(rule)
    for key in sorted(expected):
        rules = loaded.get(key)
        if not rules:
            problems.append(f"rule {key[1]} (group {key[0]}) is not loaded")
        for rule in rules or []:
            if rule.get("health") != "ok":
                problems.append(f"rule {key[1]} is {rule.get('health')}: {rule.get('lastError') or 'not evaluated yet'}")
    return problems, sum(len(r) for r in loaded.values())


def check_panels(prom, queries):
    """Rows (title, ref, legend, series, sample, problem) for every panel query."""
    rows = []
    for title, ref, legend, expr in queries:
        try:
            series, values = prom.query(expr)
        except ValueError as e:
            rows.append((title, ref, legend, 0, "", f"query fails: {e}"))
            continue
        problem = None
        zero_ok = (title, legend) in ZERO_IS_HEALTHY or (title == "Replicas" and ref in REPLICAS_TABLE_ZERO)
        if series == 0:
            problem = "no series"
        elif not values:
            problem = f"{series} series, all NaN/Inf"
        elif not zero_ok and not any(values):
            problem = f"{series} series, all zero"
        sample = f"{max(values, key=abs):.4g}" if values else ""
        rows.append((title, ref, legend, series, sample, problem))
    return rows


def unfiltered(prom, queries):
    """Panel queries that still return series with $job matching no job: (title, ref, expr)."""
    found = []
    for title, ref, _, expr in queries:
        try:
            series, _ = prom.query(expr)
        except ValueError as e:
            found.append((title, ref, f"query fails: {e}: {expr}"))
            continue
        if series:
            found.append((title, ref, f"{series} series: {expr}"))
    return found


def print_table(rows):
    widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(5)]
    line = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))
    print(line.format(*HEADER))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*(str(c) for c in row[:5])) + (f"  <- {row[5]}" if row[5] else ""))


HEADER = ("panel", "ref", "legend", "series", "max |value|")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for all data")
    parser.add_argument("--min-wait", type=float, default=20, help="seconds of data to collect at least")
    parser.add_argument("--pipeline", choices=["paysim", "spec"], default="paysim",
                        help="which pipeline runs, and so which dashboards to check")
    args = parser.parse_args()
    files = dashboards_of(args.pipeline)
    pipeline = SPEC_PIPELINE if args.pipeline == "spec" else PIPELINE
    prom = Prometheus(args.prometheus)
    expected = expected_rules()
    started = time.monotonic()
    last_report = 0.0
    while True:
        jobs = prom.jobs()
        values = {JOB_VARIABLE: job_value(jobs)}
        queries = [q for path in files for q in dashboard_targets(path, values)]
        problems, n_targets = check_targets(prom)
        if not jobs:
            problems.append(f"no job exposes {JOBS_METRIC} yet: the $job variable would list nothing")
        rule_problems, n_rules = check_rules(prom, expected)
        problems += rule_problems
        for what, expr in pipeline:
            series, _ = prom.query(expr)
            if not series:
                problems.append(f"pipeline: no {what} yet ({expr})")
        rows = check_panels(prom, queries)
        missing = [r for r in rows if r[5]]
        elapsed = time.monotonic() - started
        if not problems and not missing and elapsed >= args.min_wait:
            break
        if elapsed > args.timeout:
            print_table(rows)
            print(f"\nafter {elapsed:.0f} s, still:", file=sys.stderr)
            for p in problems + [f"panel {r[0]!r} {r[1]}: {r[5]}" for r in missing]:
                print(f"  - {p}", file=sys.stderr)
            return 1
        if elapsed - last_report >= 10:
            print(f"  {elapsed:3.0f} s: {len(rows) - len(missing)}/{len(rows)} panel queries have data; "
                  f"{len(problems)} other check(s) pending", flush=True)
            last_report = elapsed
        time.sleep(2)

    print_table(rows)
    nothing = {JOB_VARIABLE: job_value([NO_SUCH_JOB])}
    leaks = unfiltered(prom, [q for path in files for q in dashboard_targets(path, nothing)])
    if leaks:
        print(f"\nwith $job = {NO_SUCH_JOB}, these panel queries still return data (not filtered by $job):",
              file=sys.stderr)
        for title, ref, what in leaks:
            print(f"  - panel {title!r} {ref}: {what}", file=sys.stderr)
        return 1
    names = ", ".join(rel(p) for p in files)
    print(f"\nall {len(rows)} panel queries of {names} return data after {elapsed:.0f} s with $job = "
          f"{values[JOB_VARIABLE]}, and none with $job = {NO_SUCH_JOB}; "
          f"{n_targets} targets up; {n_rules} rules of {rel(PROMETHEUS_DIR / 'alerts.yml')} loaded and healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
