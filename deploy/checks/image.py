"""Checks deploy/Dockerfile against the binaries it packages (hadolint lints it separately).

  python deploy/checks/image.py --bin-dir target/release

- the runtime stage runs as a non-root user;
- every Aegis binary compose runs (compose.yaml, compose.cards.yaml) is copied out of the build stage;
- every file compose gives an Aegis binary under /opt/aegis/ (a sample, a spec, a rule set) is one
  the runtime stage copies from the repository, the file exists, and Dockerfile.dockerignore
  keeps it in the build context;
- the runtime stage installs the Debian package of every shared library those binaries link
  (`ldd` on the local release build, which uses the same Cargo features; `dpkg -S` names the
  package), apart from glibc and libgcc, which every Debian image has.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

from common import DOCKERFILE, ROOT, Problems, compose_models, rel

# The build context's exclusions (BuildKit reads <Dockerfile>.dockerignore), and where the image
# keeps the repository's files.
IGNORE = DOCKERFILE.with_name(DOCKERFILE.name + ".dockerignore")
IMAGE_HOME = "/opt/aegis/"

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
    """The Aegis binaries the compose services run (first word of their command), in every model."""
    binaries = set()
    for model in compose_models():
        for service in model.services.values():
            command = service.get("command")
            if isinstance(command, list) and command and str(command[0]).startswith("aegis-"):
                binaries.add(command[0])
    return binaries


def image_copies(path=DOCKERFILE):
    """(container directory or file, repository path) for each COPY of the runtime stage from the
    build context (not --from another stage)."""
    copies = []
    for keyword, rest in stages(path)[-1]:
        words = shlex.split(rest)
        if keyword != "COPY" or any(w.startswith("--from") for w in words) or len(words) != 2:
            continue
        source, target = words
        copies.append((PurePosixPath(target), ROOT / source))
    return copies


def repository_file(container_path):
    """The repository file deploy/Dockerfile puts at `container_path` in the image, or None."""
    container_path = PurePosixPath(container_path)
    for target, source in image_copies():
        if container_path == target:
            return source
        if target in container_path.parents:
            return source / container_path.relative_to(target)
    return None


def ignored(path):
    """Whether Dockerfile.dockerignore leaves a repository file out of the build context: a pattern
    (`*`, `?`, `**/`) that matches the file or a directory above it."""
    relative = Path(os.path.normpath(path)).relative_to(ROOT).parts
    for pattern in IGNORE.read_text(encoding="utf-8").splitlines():
        pattern = pattern.strip().strip("/")
        if not pattern or pattern.startswith(("#", "!")):
            continue
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, "/".join(relative[:n])) for n in range(1, len(relative) + 1)):
            return True
    return False


def image_paths(model):
    """(where, flag or variable, path) for each /opt/aegis/ path an Aegis service of `model` is given."""
    for name, service in model.services.items():
        command = service.get("command")
        if not (isinstance(command, list) and command and str(command[0]).startswith("aegis-")):
            continue
        for arg in command[1:]:
            flag, _, value = str(arg).partition("=")
            if value.startswith(IMAGE_HOME):
                yield model.where(name, "command"), flag, value
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
        for variable, value in environment.items():
            if str(value or "").startswith(IMAGE_HOME):
                yield model.where(name, "environment"), variable, str(value)


def check_image_paths(problems):
    """Every file compose names under /opt/aegis/ is one deploy/Dockerfile copies into the image."""
    checked = set()
    for model in compose_models():
        for where, flag, path in image_paths(model):
            checked.add(path)
            source = repository_file(path)
            if source is None:
                problems.add(where, f"{flag} {path}: deploy/Dockerfile copies nothing there (COPY the repository's file)")
            elif not source.exists():
                problems.add(where, f"{flag} {path}: the image would copy it from {rel(source)}, which does not exist")
            elif ignored(source):
                problems.add(where, f"{flag} {path}: {rel(source)} is left out of the build context by {rel(IGNORE)}")
    return len(checked)


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
    files = check_image_paths(problems)
    problems.finish(f"multi-stage, non-root; {checked} binaries' shared libraries provided by {', '.join(sorted(installed))}; "
                    f"the {files} files compose names under {IMAGE_HOME} are copied in")


if __name__ == "__main__":
    sys.exit(main())
