"""Checks deploy/Dockerfile against the binaries it packages (hadolint lints it separately).

  python deploy/checks/image.py --bin-dir target/release

- the runtime stage runs as a non-root user;
- every Aegis binary deploy/compose.yaml runs is copied out of the build stage;
- the runtime stage installs the Debian package of every shared library those binaries link
  (`ldd` on the local release build, which uses the same Cargo features; `dpkg -S` names the
  package), apart from glibc and libgcc, which every Debian image has.
"""

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

from common import COMPOSE, DOCKERFILE, Problems, load_yaml, rel

# In every Debian image (Essential or required): need no install line.
BASE_PACKAGES = {"libc6", "libgcc-s1"}


def instructions(path):
    """(instruction, arguments) for each line of a Dockerfile, continuations joined, comments dropped."""
    logical, current = [], ""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not current):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    for line in logical:
        keyword, _, rest = line.partition(" ")
        yield keyword.upper(), rest.strip()


def stages(path):
    """The Dockerfile's stages, in order: lists of (instruction, arguments), FROM first."""
    result = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def runtime_packages(path):
    """Packages the last stage installs with apt-get install."""
    packages = set()
    for keyword, rest in stages(path)[-1]:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                packages.update(w for w in words[words.index("install") + 1:] if not w.startswith("-"))
    return packages


def compose_binaries():
    """The Aegis binaries the compose services run (first word of their command)."""
    compose = load_yaml(COMPOSE) or {}
    binaries = set()
    for service in (compose.get("services") or {}).values():
        command = service.get("command")
        if isinstance(command, list) and command and str(command[0]).startswith("aegis-"):
            binaries.add(command[0])
    return binaries


def linked_packages(binary):
    """Debian packages providing the shared libraries a binary links."""
    output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    packages = {}
    for line in output.splitlines():
        match = re.match(r"\s*(\S+) => (/\S+)", line)
        if not match:
            continue
        library, path = match.groups()
        packages[library] = owning_package(path)
    return packages


def owning_package(path):
    """The Debian package that installed a file. With merged /usr, dpkg knows a library under
    /lib/… or /usr/lib/…, by its symlink name or its real name: try each."""
    candidates = []
    for p in (path, str(Path(path).resolve())):
        candidates += [p, p[len("/usr"):] if p.startswith("/usr/") else "/usr" + p]
    for candidate in candidates:
        owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if owner.returncode == 0:
            return owner.stdout.split(":")[0].strip()
    return f"? (no Debian package owns {path})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    args = parser.parse_args()
    problems = Problems("image")
    where = rel(DOCKERFILE)
    all_stages = stages(DOCKERFILE)
    if len(all_stages) < 2:
        problems.add(where, "is not a multi-stage build (build stage, then a runtime stage)")
    runtime = all_stages[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.add(where, "the runtime stage must end with USER set to a non-root user")

    build_text = " ".join(rest for stage in all_stages[:-1] for _, rest in stage)
    binaries = sorted(compose_binaries())
    for binary in binaries:
        if f"target/release/{binary}" not in build_text:
            problems.add(where, f"compose runs {binary}, but the build stage does not copy target/release/{binary}")

    installed = runtime_packages(DOCKERFILE)
    checked = 0
    for binary in binaries:
        path = args.bin_dir / binary
        if not path.is_file():
            problems.add(rel(path), "not built, so its shared libraries cannot be checked (cargo build --release --bins)")
            continue
        checked += 1
        for library, package in linked_packages(path).items():
            if package not in BASE_PACKAGES and package not in installed:
                problems.add(where, f"{binary} links {library} from {package}, which the runtime stage does not install")
    problems.finish(f"multi-stage, non-root; {checked} binaries' shared libraries provided by {', '.join(sorted(installed))}")


if __name__ == "__main__":
    sys.exit(main())
