"""No AEGIS_* environment variable means two things: one shared ConfigMap cannot misconfigure a binary.

  python deploy/checks/env.py --bin-dir target/release

Reads every binary's --help (and each subcommand's, in a clean environment, as cli.py does) and
collects each `[env: AEGIS_…]` with the flag it sets, its default and its value's placeholder
(`<DURATION>`, `<FILE>`). Then:

  - a variable that appears in two binaries must be one of SHARED below (a setting with one
    meaning everywhere: the cluster, the registry, the topics), and must set the same flag, with
    the same default and the same kind of value, in each;
  - every other variable is its binary's own and carries its prefix (AEGIS_SCORER_…,
    AEGIS_OUTCOMES_…), so that two binaries can never read one name differently;
  - a shared variable is named after its flag (AEGIS_VERDICTS_TOPIC sets --verdicts-topic).

`AEGIS_MAX_IN_FLIGHT` as 64 batches in the scorer and 10,000 outcomes in aegis-outcomes fails the
first rule; test_env.py shows each rule failing on such a case.
"""

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from cli import BINARIES, help_of, subcommands
from common import Problems

# The variables with one meaning in every binary that reads them, and that meaning.
SHARED = {
    "AEGIS_BROKERS": "the Kafka bootstrap servers",
    "AEGIS_KAFKA_CONFIG": "librdkafka properties files (TLS, SASL)",
    "AEGIS_SCHEMA_REGISTRY_URL": "the Schema Registry",
    "AEGIS_LOG_FORMAT": "the log line format",
    "AEGIS_CONNECT_TIMEOUT": "how long a service waits at start for its brokers and topics",
    "AEGIS_SHUTDOWN_TIMEOUT": "how long a service may take to stop after SIGTERM",
    "AEGIS_TOPIC_PREFIX": "the prefix of every topic name and consumer group",
    "AEGIS_TRANSACTIONS_TOPIC": "the transactions topic",
    "AEGIS_VERDICTS_TOPIC": "the verdicts topic",
    "AEGIS_SHADOW_VERDICTS_TOPIC": "the shadow model's verdicts topic",
    "AEGIS_DLQ_TOPIC": "the dead-letter topic",
    "AEGIS_LABELS_TOPIC": "the labels topic",
    "AEGIS_OUTCOMES_TOPIC": "the outcomes topic",
    "AEGIS_MODELS_TOPIC": "the models topic",
    "AEGIS_RULES_TOPIC": "the rules topic",
    "AEGIS_STATE_CHANGELOG_TOPIC": "the scorer's account-state changelog",
}

# An option's first line: `  -X <KEY=VALUE>` or `      --flag <VALUE>`, with the rest of a short
# help on the same line.
OPTION = re.compile(r"^\s{2,6}(?:-[A-Za-z],?\s*)?(--[a-z0-9][a-z0-9-]*)(?:\s+<([^>]+)>)?")
ENV = re.compile(r"\[env: (AEGIS_\w+)=[^\]]*\]")
DEFAULT = re.compile(r"\[default: ([^\]]*)\]")


def prefix_of(binary):
    """aegis-scorer → AEGIS_SCORER_."""
    return "AEGIS_" + binary.removeprefix("aegis-").upper().replace("-", "_") + "_"


def options_of(text):
    """{variable: (flag, default, placeholder)} of one --help text."""
    found, block = {}, None

    def close():
        if block:
            flag, placeholder, lines = block
            body = " ".join(lines)
            for variable in ENV.findall(body):
                default = DEFAULT.search(body)
                found[variable] = (flag, default.group(1) if default else None, placeholder)

    for line in text.splitlines():
        match = OPTION.match(line)
        if match:
            close()
            block = (match.group(1), match.group(2), [line])
        elif re.match(r"^\S", line):
            close()
            block = None
        elif block:
            block[2].append(line)
    close()
    return found


def problems_in(helps):
    """One line per problem, from {(binary, subcommand or None): help text}."""
    seen = defaultdict(list)  # variable → [(binary, command, flag, default, placeholder)]
    for (binary, sub), text in helps.items():
        command = binary if sub is None else f"{binary} {sub}"
        for variable, (flag, default, placeholder) in options_of(text).items():
            seen[variable].append((binary, command, flag, default, placeholder))
    out = []
    for variable, uses in sorted(seen.items()):
        binaries = sorted({u[0] for u in uses})
        if variable in SHARED:
            expected = "AEGIS_" + uses[0][2].removeprefix("--").upper().replace("-", "_")
            if variable != expected:
                out.append(f"{variable} is shared ({SHARED[variable]}) but sets {uses[0][2]}: "
                           f"name it {expected}")
            kinds = {(flag, default, placeholder) for _, _, flag, default, placeholder in uses}
            if len(kinds) > 1:
                shown = "; ".join(f"{command} {flag} <{placeholder}> (default {default})"
                                  for _, command, flag, default, placeholder in uses)
                out.append(f"{variable} is shared ({SHARED[variable]}) but means different things: {shown}")
            continue
        if len(binaries) > 1:
            shown = "; ".join(f"{command} {flag} <{placeholder}> (default {default})"
                              for _, command, flag, default, placeholder in uses)
            out.append(f"{variable} is read by {', '.join(binaries)}: {shown}. Give each binary's "
                       "its prefix (AEGIS_SCORER_…), or make it one meaning and list it in SHARED")
            continue
        binary = binaries[0]
        if not variable.startswith(prefix_of(binary)):
            out.append(f"{variable} ({uses[0][1]} {uses[0][2]}) is {binary}'s own: name it "
                       f"{prefix_of(binary)}…, or list it in SHARED if it means the same everywhere")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    args = parser.parse_args()
    bin_dir = args.bin_dir.resolve()
    problems = Problems("env")
    helps = {}
    for binary, _ in BINARIES:
        text = help_of(bin_dir, [binary])
        helps[(binary, None)] = text
        for sub in subcommands(text):
            helps[(binary, sub)] = help_of(bin_dir, [binary, sub])
    for line in problems_in(helps):
        problems.add("--help", line)
    variables = {v for text in helps.values() for v in options_of(text)}
    problems.finish(f"{len(variables)} AEGIS_* variables over {len(BINARIES)} binaries: none means two things")


if __name__ == "__main__":
    sys.exit(main())
