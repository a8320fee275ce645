"""Every alert links its runbook, and every alert is tested both ways.

  python deploy/checks/runbooks.py

For each alert rule of deploy/prometheus/alerts.yml:
- its `runbook_url` annotation is docs/runbooks.md on the repository's default branch
  (RUNBOOKS_URL, from Cargo.toml's `repository`) with an anchor, and that anchor is a heading of
  docs/runbooks.md (as GitHub makes anchors of headings);
- deploy/prometheus/alerts.test.yml has a case where it fires (non-empty exp_alerts) and one where
  it stays quiet (empty exp_alerts).
And every `##` section of docs/runbooks.md is the runbook of an alert that exists.
"""

import re
import sys
import tomllib

from common import PROMETHEUS_DIR, ROOT, Problems, load_yaml, rel

RUNBOOKS = ROOT / "docs" / "runbooks.md"


def runbooks_url():
    """Where docs/runbooks.md is published: the repository's default branch on GitHub."""
    with open(ROOT / "Cargo.toml", "rb") as f:
        repository = tomllib.load(f)["workspace"]["package"]["repository"].rstrip("/")
    return f"{repository}/blob/main/docs/runbooks.md"


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but - and _ dropped,
    spaces made hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(path):
    """anchor → (level, heading text) of every ATX heading outside code blocks."""
    found = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m and not fenced:
            found.setdefault(github_anchor(m.group(2)), (len(m.group(1)), m.group(2)))
    return found


def alert_rules():
    """(group, rule) for every alerting rule."""
    rules = load_yaml(PROMETHEUS_DIR / "alerts.yml")
    return [(g["name"], r) for g in rules["groups"] for r in g["rules"] if "alert" in r]


def tested_cases():
    """alert name → {"fires", "quiet"}: the kinds of case alerts.test.yml has for it."""
    cases = {}
    tests = load_yaml(PROMETHEUS_DIR / "alerts.test.yml")
    for test in tests.get("tests") or []:
        for case in test.get("alert_rule_test") or []:
            kind = "fires" if case.get("exp_alerts") else "quiet"
            cases.setdefault(case["alertname"], set()).add(kind)
    return cases


def main():
    problems = Problems("runbooks")
    where_rules = rel(PROMETHEUS_DIR / "alerts.yml")
    url = runbooks_url()
    if not RUNBOOKS.exists():
        problems.add(rel(RUNBOOKS), "is missing: one section per alert of alerts.yml")
        sections = {}
    else:
        sections = headings(RUNBOOKS)
    cases = tested_cases()
    names = set()
    for group, rule in alert_rules():
        name = rule["alert"]
        names.add(name)
        where = f"{where_rules} group {group} alert {name}"
        link = (rule.get("annotations") or {}).get("runbook_url")
        if not link:
            problems.add(where, f"has no runbook_url annotation (e.g. {url}#{name.lower()})")
        else:
            page, _, anchor = link.partition("#")
            if page != url:
                problems.add(where, f"runbook_url {link} is not {url}#ANCHOR")
            elif not anchor:
                problems.add(where, f"runbook_url {link} has no #anchor of a section of {rel(RUNBOOKS)}")
            elif anchor not in sections:
                problems.add(where, f"runbook_url anchor #{anchor} is no heading of {rel(RUNBOOKS)} "
                                    f"(add a section '## {name}')")
        for kind, what in (("fires", "fires (non-empty exp_alerts)"), ("quiet", "stays quiet (exp_alerts: [])")):
            if kind not in cases.get(name, set()):
                problems.add(where, f"{rel(PROMETHEUS_DIR / 'alerts.test.yml')} has no case where it {what}")
    for anchor, (level, text) in sections.items():
        if level == 2 and text.startswith("Aegis") and text not in names:
            problems.add(f"{rel(RUNBOOKS)} section {text!r}", "is the runbook of no alert in alerts.yml")
    problems.finish(f"{len(names)} alerts, each with its runbook in {rel(RUNBOOKS)} and a firing and a quiet "
                    f"case in alerts.test.yml")


if __name__ == "__main__":
    sys.exit(main())
