"""Static checks of grafana/provisioning/ and the dashboards in grafana/dashboards/.

  python deploy/checks/dashboards.py [--promtool PATH]

Provisioning files are `apiVersion: 1`; datasources have a name, type, url and fixed uid; dashboard
providers are file providers with a path (compose.py checks that compose mounts the dashboards
there). For every dashboard JSON: it parses; it has a uid (unique across files), a title and a recent
schemaVersion; panel ids are unique; panels fit the 24-column grid and do not overlap; it has the
template variables of Grafana's export format — `datasource` (type datasource, query prometheus,
defaulting to a provisioned uid) and `job` (a query of the Aegis jobs through ${datasource},
multi-value with All); every panel and target queries `${datasource}`, never a hard-coded uid;
every panel that shows data has targets, each with a unique refId and a non-empty PromQL `expr`
that uses no undefined variable and whose every vector selector carries `job=~"$job"`; and every
expr, with the variables replaced (see GRAFANA_VARIABLES and `job_value`), parses as PromQL
(`promtool check rules` on a generated file of recording rules, since promtool has no
bare-expression check).

The live counterpart, deploy/checks/live.py, runs the same expressions against a real Prometheus.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import GRAFANA_DIR, PROMETHEUS_DIR, Problems, load_yaml, rel
from promql import vector_selectors

# What Grafana substitutes for its built-in variables, as it would on a 15-minute dashboard over this
# Prometheus: the datasource's timeInterval is the 5 s scrape interval, so $__interval is 5 s and
# $__rate_interval 4 scrape intervals, 20 s.
GRAFANA_VARIABLES = {
    "__rate_interval": "20s",
    "__interval": "5s",
    "__interval_ms": "5000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
# The dashboard's own variables: panels and targets name the datasource through one, every vector
# selector filters on the other.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_REFS = {"${datasource}", "$datasource"}
JOB_VARIABLE = "job"
JOB_MATCHER = re.compile(r'(?:^|,)\s*job\s*=~\s*"\$(?:job|\{job\})"\s*(?:,|$)')
# Special characters of a regular expression, as Grafana escapes a value it puts in one.
REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]])")
# Panel types that show no query results and so need no targets.
NO_QUERY_PANELS = {"row", "text", "news", "dashlist", "alertlist", "annolist"}
MIN_SCHEMA_VERSION = 36  # Grafana 9.0 and later
GRID_COLUMNS = 24


def job_value(jobs):
    """What Grafana puts for $job with `jobs` selected (All selects every one): in a regex matcher,
    a multi-value variable is `(a|b)`, each value regex-escaped, the backslashes doubled for the
    PromQL string."""
    escaped = [REGEX_SPECIAL.sub(r"\\\\\1", job) for job in jobs]
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def configured_jobs():
    """The Aegis scrape jobs of deploy/prometheus/prometheus.yml (the compose stack's)."""
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    return sorted(c["job_name"] for c in config["scrape_configs"] if c["job_name"].startswith("aegis-"))


def substitute(expr, dashboard_variables=(), values=None):
    """The expr as Grafana sends it to Prometheus, dashboard variables given `values`; raises
    KeyError naming an unknown variable or one without a value."""
    values = values or {}

    def value(match):
        name = match.group(1) or match.group(2)
        if name in GRAFANA_VARIABLES:
            return GRAFANA_VARIABLES[name]
        if name in dashboard_variables:
            if name not in values:
                raise KeyError(f"dashboard variable ${name} has no test value")
            return values[name]
        raise KeyError(f"undefined variable ${name}")

    return VARIABLE.sub(value, expr)


def dashboard_files():
    return sorted((GRAFANA_DIR / "dashboards").glob("*.json"))


def walk_panels(panels):
    """Every panel, including those nested in collapsed rows."""
    for panel in panels or []:
        yield panel
        yield from walk_panels(panel.get("panels"))


def dashboard_targets(path, values):
    """(panel title, refId, legendFormat, expr with variables substituted by `values`) for each query
    of a dashboard."""
    dashboard = json.loads(Path(path).read_text(encoding="utf-8"))
    variables = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}
    for panel in walk_panels(dashboard.get("panels")):
        for target in panel.get("targets") or []:
            if target.get("hide"):
                continue
            expr = substitute(target["expr"], variables, values)
            yield panel.get("title", "?"), target.get("refId", "?"), target.get("legendFormat", ""), expr


def provisioning_files(kind):
    return sorted((GRAFANA_DIR / "provisioning" / kind).glob("*.y*ml"))


def provisioned_datasource_uids(problems):
    """uid → type of every provisioned datasource, checking each file on the way."""
    uids = {}
    for path in provisioning_files("datasources"):
        doc = load_yaml(path) or {}
        if doc.get("apiVersion") != 1:
            problems.add(rel(path), "needs apiVersion: 1")
        for ds in doc.get("datasources") or []:
            missing = [k for k in ("name", "type", "url", "uid") if not ds.get(k)]
            if missing:
                problems.add(rel(path), f"datasource {ds.get('name')!r} has no {', '.join(missing)}")
            if ds.get("uid"):
                uids[ds["uid"]] = ds.get("type")
    if not uids:
        problems.add("grafana/provisioning/datasources", "no datasource with a uid is provisioned")
    return uids


def check_dashboard_providers(problems):
    paths = provisioning_files("dashboards")
    if not paths:
        problems.add("grafana/provisioning/dashboards", "no dashboard provider: Grafana would load no dashboard")
    for path in paths:
        doc = load_yaml(path) or {}
        if doc.get("apiVersion") != 1:
            problems.add(rel(path), "needs apiVersion: 1")
        for provider in doc.get("providers") or []:
            if provider.get("type", "file") != "file" or not (provider.get("options") or {}).get("path"):
                problems.add(rel(path), f"provider {provider.get('name')!r} must be type file with options.path")


def check_datasource_ref(problems, where, ref):
    """A panel or target datasource: {"type": "prometheus", "uid": "${datasource}"}."""
    if ref is None:
        return
    if not isinstance(ref, dict) or ref.get("uid") not in DATASOURCE_REFS:
        problems.add(where, f"datasource {json.dumps(ref)} must be the variable: "
                            '{"type": "prometheus", "uid": "${datasource}"}')
    elif ref.get("type") not in (None, "prometheus"):
        problems.add(where, f"datasource type {ref['type']} is not prometheus")


def check_variables(problems, where, dashboard, uids):
    """The datasource and job variables, as Grafana exports them."""
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    datasource = variables.get(DATASOURCE_VARIABLE)
    if not datasource:
        problems.add(where, f"has no ${DATASOURCE_VARIABLE} template variable (type datasource, query prometheus)")
    else:
        if datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
            problems.add(where, f"${DATASOURCE_VARIABLE} must be type datasource with query prometheus, "
                                f"not type {datasource.get('type')} query {datasource.get('query')}")
        current = (datasource.get("current") or {}).get("value")
        if current is not None and uids.get(current) != "prometheus":
            problems.add(where, f"${DATASOURCE_VARIABLE} defaults to {current!r}, not a provisioned Prometheus "
                                f"uid ({', '.join(sorted(u for u, t in uids.items() if t == 'prometheus'))})")
    job = variables.get(JOB_VARIABLE)
    if not job:
        problems.add(where, f"has no ${JOB_VARIABLE} template variable (a query of label_values(..., job))")
        return
    query = job.get("query")
    query = query.get("query") if isinstance(query, dict) else query
    if job.get("type") != "query" or not isinstance(query, str) or not re.fullmatch(r"label_values\(\s*\w+\s*,\s*job\s*\)", query):
        problems.add(where, f"${JOB_VARIABLE} must be a query variable of label_values(METRIC, job), not {json.dumps(query)}")
    check_datasource_ref(problems, f"{where} variable ${JOB_VARIABLE}", job.get("datasource") or {})
    if not (job.get("multi") and job.get("includeAll")):
        problems.add(where, f"${JOB_VARIABLE} must be multi-value with All, so every job shows by default")


def check_job_filter(problems, where, expr):
    """Every vector selector of expr carries job=~"$job"."""
    for _, _, name, matchers in vector_selectors(expr):
        if matchers is None or not JOB_MATCHER.search(matchers):
            shown = f"{name}{{{matchers}}}" if matchers is not None else name
            problems.add(where, f'selector {shown} needs job=~"$job" (the job variable)')


def check_grid(problems, path, panels):
    """Panels inside the 24-column grid and not overlapping each other."""
    cells = {}
    for panel in panels:
        grid = panel.get("gridPos") or {}
        where = f"{rel(path)} panel {panel.get('id')} {panel.get('title')!r}"
        try:
            x, y, w, h = (int(grid[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError):
            problems.add(where, f"gridPos needs integer x, y, w, h (got {grid})")
            continue
        if x < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
            problems.add(where, f"gridPos {grid} does not fit the {GRID_COLUMNS}-column grid")
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.setdefault((cx, cy), where)
                if other != where:
                    problems.add(where, f"overlaps {other} at column {cx}, row {cy}")
                    break
            else:
                continue
            break


def check_dashboard(problems, path, uids, seen_uids, values):
    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        problems.add(rel(path), f"is not valid JSON: {e}")
        return []
    where = rel(path)
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.add(where, f"has no {key}")
    if dashboard.get("uid") in seen_uids:
        problems.add(where, f"uid {dashboard['uid']} is also used by {seen_uids[dashboard['uid']]}")
    seen_uids[dashboard.get("uid")] = where
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < MIN_SCHEMA_VERSION:
        problems.add(where, f"schemaVersion {dashboard.get('schemaVersion')} is older than {MIN_SCHEMA_VERSION}")
    variables = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}
    check_variables(problems, where, dashboard, uids)

    panels = list(walk_panels(dashboard.get("panels")))
    ids = {}
    exprs = []
    for panel in panels:
        pwhere = f"{where} panel {panel.get('id')} {panel.get('title')!r}"
        if not isinstance(panel.get("id"), int):
            problems.add(pwhere, "has no integer id")
        elif panel["id"] in ids:
            problems.add(pwhere, f"id {panel['id']} is also panel {ids[panel['id']]!r}")
        else:
            ids[panel["id"]] = panel.get("title")
        if not panel.get("title"):
            problems.add(pwhere, "has no title")
        check_datasource_ref(problems, pwhere, panel.get("datasource"))
        targets = panel.get("targets") or []
        if panel.get("type") in NO_QUERY_PANELS:
            continue
        if not targets:
            problems.add(pwhere, f"a {panel.get('type')} panel with no targets shows nothing")
        refs = set()
        for target in targets:
            twhere = f"{pwhere} target {target.get('refId')}"
            if not target.get("refId") or target["refId"] in refs:
                problems.add(twhere, "needs a refId unique within its panel")
            refs.add(target.get("refId"))
            check_datasource_ref(problems, twhere, target.get("datasource") or panel.get("datasource"))
            if not isinstance(target.get("expr"), str) or not target["expr"].strip():
                problems.add(twhere, "has no PromQL expr")
                continue
            check_job_filter(problems, twhere, target["expr"])
            try:
                exprs.append((twhere, substitute(target["expr"], variables, values)))
            except KeyError as e:
                problems.add(twhere, e.args[0])
    check_grid(problems, path, panels)
    return exprs


def check_promql(problems, exprs, promtool):
    """Parses every expr with promtool, as recording rules; on failure, finds the culprits one by one."""

    def promtool_accepts(batch):
        rules = {"groups": [{"name": "dashboard-exprs", "rules": [
            {"record": f"dashboard:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(batch)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump(rules, f)
            f.flush()
            run = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
        return run.returncode == 0, (run.stdout + run.stderr).strip()

    ok, _ = promtool_accepts(exprs)
    if ok:
        return
    for where, expr in exprs:
        ok, output = promtool_accepts([(where, expr)])
        if not ok:
            detail = next((line.strip() for line in output.splitlines() if "parse error" in line or "error" in line.lower()), output)
            problems.add(where, f"PromQL does not parse ({detail}): {expr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args()
    problems = Problems("grafana")
    uids = provisioned_datasource_uids(problems)
    check_dashboard_providers(problems)
    files = dashboard_files()
    if not files:
        problems.add("grafana/dashboards", "has no dashboard JSON")
    seen_uids = {}
    exprs = []
    values = {JOB_VARIABLE: job_value(configured_jobs())}
    for path in files:
        exprs += check_dashboard(problems, path, uids, seen_uids, values)
    if exprs:
        check_promql(problems, exprs, args.promtool)
    problems.finish(f"provisioning valid; {len(files)} dashboard(s), {len(exprs)} PromQL queries: valid, "
                    f"every selector filtered by $job (tested as {values[JOB_VARIABLE]}), every panel on "
                    f"${{datasource}} (default among {', '.join(sorted(uids))})")


if __name__ == "__main__":
    sys.exit(main())
