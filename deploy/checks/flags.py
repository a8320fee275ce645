"""Every flag and AEGIS_* variable compose gives an Aegis binary exists in its --help.

  python deploy/checks/flags.py --bin-dir target/release

In each model compose runs from the root (compose.yaml: deploy/compose.yaml; compose.cards.yaml:
deploy/compose.cards.yaml merged over it, as compose merges), for each service — those in a
--profile too — whose command starts with an aegis-* binary: the binary is built; a subcommand
(`aegis-trainer train`) is one the binary lists; every `--flag` / `--flag=value` / `-X` is an
option of `BINARY [SUBCOMMAND] --help`; every AEGIS_* environment variable is one of the `[env: …]`
names that help shows. Docker is not needed: the compose file is read as YAML.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

from common import Problems, compose_models, rel

OPTION = re.compile(r"^\s*(?:(-[A-Za-z]),?\s*)?(--[a-z0-9][a-z0-9-]*)?")
ENV = re.compile(r"\[env: (\w+)=")


def help_text(binary, subcommands):
    run = subprocess.run([str(binary), *subcommands, "--help"], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"`{binary.name} {' '.join(subcommands)} --help` failed: {run.stderr.strip()}")
    return run.stdout


def parse_help(text):
    """(options, env vars, subcommands) that a clap --help lists."""
    options, subcommands = set(), set()
    section = None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line.rstrip(":")
            continue
        if section == "Commands":
            match = re.match(r"^\s+([a-z][a-z0-9-]*)\s", line)
            if match:
                subcommands.add(match.group(1))
        elif section in ("Options", "Arguments") or (section or "").endswith("Options"):
            match = OPTION.match(line)
            if match:
                options.update(o for o in match.groups() if o)
    return options, set(ENV.findall(text)), subcommands


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    args = parser.parse_args()
    problems = Problems("flags")
    counts = []
    for model in compose_models():
        counts.append(f"{check_model(problems, model, args.bin_dir)} in {rel(model.root_file)}")
    problems.finish(f"the flags and AEGIS_* variables compose passes ({', '.join(counts)}) all appear in the binaries' --help")


def check_model(problems, model, bin_dir):
    """Checks every Aegis service of `model`; returns how many flags and variables it passes."""
    checked = 0
    for name, service in model.services.items():
        command = service.get("command")
        if not (isinstance(command, list) and command and str(command[0]).startswith("aegis-")):
            continue
        where = model.where(name, "command")
        binary = bin_dir / command[0]
        if not binary.is_file():
            problems.add(where, f"runs {command[0]}, which is not built in {rel(bin_dir)} (cargo build --release --bins)")
            continue
        try:
            options, env_vars, subcommands = parse_help(help_text(binary, []))
            chosen = []
            rest = [str(a) for a in command[1:]]
            while rest and not rest[0].startswith("-"):
                if rest[0] not in subcommands:
                    problems.add(where, f"{command[0]} has no subcommand {rest[0]} (it has: {', '.join(sorted(subcommands)) or 'none'})")
                    break
                chosen.append(rest.pop(0))
                options, env_vars, subcommands = parse_help(help_text(binary, chosen))
        except RuntimeError as e:
            problems.add(where, str(e))
            continue
        shown = " ".join([command[0], *chosen])
        for arg in rest:
            if arg.startswith("-") and arg != "-":
                flag = arg.split("=", 1)[0]
                if not flag.startswith("--") and len(flag) > 2:
                    flag = flag[:2]  # -Xkey=value
                if flag not in options:
                    problems.add(where, f"passes {flag}, which `{shown} --help` does not list")
                checked += 1
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
        for variable in environment:
            if variable.startswith("AEGIS_") and variable not in env_vars:
                problems.add(model.where(name, "environment"), f"sets {variable}, which `{shown} --help` does not list as an [env: …]")
            checked += variable.startswith("AEGIS_")
    return checked


if __name__ == "__main__":
    sys.exit(main())
