"""What the Compose Specification schema cannot see: the compose files against the rest of the repo.

  python deploy/checks/compose.py

scripts/check-deploy first validates each file against the Compose Specification JSON schema; this
checks that the parts fit together, in each model `docker compose` runs from the root — compose.yaml
(deploy/compose.yaml: PaySim) and compose.cards.yaml (deploy/compose.yaml with
deploy/compose.cards.yaml merged over it: the card spec) — merged as compose merges them:
- each root file includes files that exist, deploy/compose.yaml first (so `docker compose up`
  works from the root, and relative paths resolve against deploy/), and every override
  deploy/compose.*.yaml is merged by a root file (so none goes unchecked);
- `depends_on` names services, waits for health only on services with a health check, and waits for
  completion only on one-shot jobs (restart "no"); a service `up` starts depends on none that runs
  only with a --profile;
- bind-mount sources exist, named volumes are declared, host ports are bound to 127.0.0.1 and not
  used twice, and every
  image that is pulled has a pinned tag;
- health checks of the Aegis image only use tools deploy/Dockerfile installs, on the port the
  service listens on;
- shell scripts embedded in the file (`bash -c` jobs, CMD-SHELL health checks) pass shellcheck;
- the topics job creates the topics of deploy/topics.txt (the table the local stack and the tests
  create topics from): it mounts the file, its script reads it, and it names no topic and no
  partition count itself;
- Prometheus: its mounted config scrapes compose services on the ports they listen on (0.0.0.0),
  and its rule files are mounted beside the config;
- Grafana: the datasource URL is the Prometheus service, the dashboard provider reads the directory
  compose mounts grafana/dashboards at, and the home dashboard is a file in it;
- a spec: the trainers and the producer `up` starts name one --spec (PaySim's when none: the
  scorers refuse a model of another spec); the spec's repartition topics
  (`<transactions>.by.<ENTITY>`, docs/streaming-features.md) are in deploy/topics.txt with as many
  partitions as the transactions; and a replay's labels (--label-delay × --speedup of event time)
  come before the spec's label delay has passed, so each counts where the trainer counted it.
"""

import re
import subprocess
import sys
import tomllib
from pathlib import PurePosixPath

from common import (COMPOSE, DOCKERFILE, GRAFANA_DIR, ROOT_COMPOSE, TOPICS_TABLE, Problems, compose_models,
                    load_yaml, rel, seconds, topic_table)
from image import repository_file, runtime_packages

# Aegis flags that make a binary listen, and the service port each one sets.
LISTEN_FLAGS = ("--http-addr", "--metrics-addr")
# Ports the third-party images listen on inside their containers.
KNOWN_PORTS = {"prometheus": {9090}, "grafana": {3000}, "console": {8080},
               "redpanda": {9092, 8081, 8082, 9644, 19092, 18081, 18082}}
# The Debian package that provides each tool a health check may call.
TOOL_PACKAGES = {"curl": "curl", "wget": "wget"}


def is_aegis(service):
    """Built from deploy/Dockerfile: the Aegis image."""
    build = service.get("build")
    return isinstance(build, dict) and str(build.get("dockerfile", "")).endswith("deploy/Dockerfile")


def flag_value(command, flag):
    """The value of `--flag=value` or `--flag value` in a command list, or None."""
    for i, arg in enumerate(command or []):
        if arg == flag and i + 1 < len(command):
            return command[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def mounts(service):
    """(source, target, is_bind) for each volume of a service, short or long syntax."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
            kind = "bind" if source and (source.startswith((".", "/", "~"))) else "volume"
        else:
            source, target, kind = volume.get("source"), volume.get("target"), volume.get("type")
        yield source, target, kind == "bind"


def host_path(source):
    """A bind mount's source on the host: every model resolves relative paths against deploy/, the
    directory of the file it includes first (check_root_include)."""
    return (COMPOSE.parent / source).resolve()


def mounted_source(service, container_path):
    """The host path mounted at container_path, or at a directory above it (with the rest appended)."""
    container_path = PurePosixPath(container_path)
    for source, target, is_bind in mounts(service):
        if not is_bind:
            continue
        target = PurePosixPath(target)
        if container_path == target:
            return host_path(source)
        if target in container_path.parents:
            return host_path(source) / container_path.relative_to(target)
    return None


def listen_ports(name, service):
    if is_aegis(service):
        ports = set()
        for flag in LISTEN_FLAGS:
            value = flag_value(service.get("command"), flag)
            if value:
                ports.add(int(value.rsplit(":", 1)[1]))
        return ports
    return KNOWN_PORTS.get(name, set())


def check_root_include(problems, models):
    merged = set()
    for model in models:
        where = rel(model.root_file)
        if not model.root_file.is_file():
            problems.add(where, "does not exist")
            continue
        for path in model.files:
            if not path.is_file():
                problems.add(where, f"includes {rel(path)}, which does not exist")
        if not model.files or model.files[0] != COMPOSE.resolve():
            if model.root_file == ROOT_COMPOSE and COMPOSE.resolve() not in model.files:
                problems.add(where, f"does not include {rel(COMPOSE)}: `docker compose up` from the root would not start Aegis")
            else:
                problems.add(where, f"does not include {rel(COMPOSE)} first: its overrides would have nothing to "
                                    "change, and relative paths would not resolve against deploy/")
        problems.lines.extend(f"{where}: {conflict}" for conflict in model.conflicts)
        merged.update(model.files)
    for override in sorted(COMPOSE.parent.glob("compose.*.yaml")):
        if override.resolve() not in merged:
            problems.add(rel(override), "is merged by no root compose file (compose*.yaml at the root "
                                        "includes it after deploy/compose.yaml), so nothing runs or checks it")


def check_services(problems, model):
    services = model.services
    declared_volumes = set((model.data.get("volumes") or {}).keys())
    host_ports = {}
    installed = runtime_packages(DOCKERFILE)
    for name, service in services.items():
        def at(key, name=name):
            """Where to point: the file that sets `key` of this service."""
            return model.where(name, key)

        # depends_on: known services, and conditions they can meet.
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        for dep, spec in depends.items():
            if dep not in services:
                problems.add(at("depends_on"), f"depends on {dep}, which is not a service")
                continue
            if name in model.active and dep not in model.active:
                problems.add(at("depends_on"),
                             f"depends on {dep}, which runs only with --profile "
                             f"{' or '.join(services[dep]['profiles'])}: `up` would not start {name}")
            condition = (spec or {}).get("condition", "service_started")
            target = services[dep]
            if condition == "service_healthy" and (not target.get("healthcheck") or target["healthcheck"].get("disable")):
                problems.add(at("depends_on"), f"waits for {dep} to be healthy, but {dep} has no health check")
            if condition == "service_completed_successfully" and target.get("restart", "no") != "no":
                problems.add(at("depends_on"), f"waits for {dep} to complete, but {dep} restarts ({target['restart']})")
        # Volumes.
        for source, target, is_bind in mounts(service):
            if is_bind and not host_path(source).exists():
                problems.add(at("volumes"), f"mounts {source} at {target}, but {rel(host_path(source))} does not exist")
            if not is_bind and source and source not in declared_volumes:
                problems.add(at("volumes"), f"uses volume {source}, which is not declared under top-level volumes")
        # Host ports.
        for port in service.get("ports") or []:
            spec = str(port if not isinstance(port, dict) else f"{port.get('published')}:{port.get('target')}")
            host = spec.rsplit(":", 1)[0] if ":" in spec else None
            if not spec.startswith("127.0.0.1:"):
                problems.add(at("ports"), f"publishes {spec} on every host interface; bind it to 127.0.0.1 (\"127.0.0.1:{spec}\")")
            if host:
                if host in host_ports:
                    problems.add(at("ports"), f"publishes host port {host}, already published by {host_ports[host]}")
                host_ports[host] = name
        # Images: built here, or pulled at a pinned tag.
        image = service.get("image")
        if not service.get("build"):
            tag = image.rsplit(":", 1)[1] if image and ":" in image.rsplit("/", 1)[-1] else None
            if not tag or tag == "latest":
                problems.add(at("image"), f"image {image} is not pinned to a version tag")
        # Listen addresses of Aegis binaries: reachable from other containers.
        if is_aegis(service):
            for flag in LISTEN_FLAGS:
                value = flag_value(service.get("command"), flag)
                if value and not value.startswith("0.0.0.0:"):
                    problems.add(at("command"), f"{flag} {value} is not reachable from other containers: listen on 0.0.0.0")
            test = (service.get("healthcheck") or {}).get("test") or []
            if isinstance(test, list) and len(test) > 1 and test[0] == "CMD":
                tool = test[1]
                package = TOOL_PACKAGES.get(tool)
                if tool.startswith("aegis-"):
                    continue
                if package is None or package not in installed:
                    problems.add(at("healthcheck"), f"health check runs {tool}, which deploy/Dockerfile's runtime stage does not install")
                for port in re.findall(r"https?://(?:127\.0\.0\.1|localhost):(\d+)", " ".join(test)):
                    if int(port) not in listen_ports(name, service):
                        problems.add(at("healthcheck"), f"health check asks port {port}, but the service listens on {sorted(listen_ports(name, service))}")


def embedded_scripts(service):
    """(shell, script) for each shell script in a service: `sh|bash -c` commands, CMD-SHELL checks.
    Compose turns $$ into $ before the shell sees the script."""
    entrypoint = service.get("entrypoint")
    command = service.get("command")
    if isinstance(entrypoint, list) and len(entrypoint) == 2 and entrypoint[1] == "-c":
        shell = PurePosixPath(entrypoint[0]).name
        script = command[0] if isinstance(command, list) else command
        yield shell, script.replace("$$", "$")
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] == "CMD-SHELL":
        yield "sh", test[1].replace("$$", "$")


def check_embedded_shell(problems, model):
    for name, service in model.services.items():
        for shell, script in embedded_scripts(service):
            try:
                run = subprocess.run(["shellcheck", "--shell", shell, "--format", "gcc", "-"],
                                     input=script, capture_output=True, text=True)
            except FileNotFoundError:
                problems.add(model.name, "shellcheck is not installed (scripts/setup installs it)")
                return
            for line in run.stdout.splitlines():
                problems.add(model.where(name), f"shellcheck: {line.split(':', 3)[-1].strip()}")


def check_topics_job(problems, model):
    job = model.services.get("topics")
    if not job or "topics" not in model.active:
        problems.add(model.name, "has no topics job that `up` starts")
        return
    where = model.where("topics")
    table = rel(TOPICS_TABLE)
    targets = [target for source, target, is_bind in mounts(job)
               if is_bind and host_path(source) == TOPICS_TABLE.resolve()]
    if not targets:
        problems.add(where, f"does not mount {table}: its partitions would drift from the table the local stack and the tests use")
        return
    script = "\n".join(text for _, text in embedded_scripts(job))
    if not any(target in script for target in targets):
        problems.add(where, f"mounts {table} at {targets[0]}, but its script does not read it")
    for name, _, _ in topic_table():
        if re.search(rf"(?<![\w.$-]){re.escape(name)}(?![\w.-])", script):
            problems.add(where, f"names topic {name} in its script: create it from {table} instead")
    if re.search(r"--partitions[ =]+\d", script):
        problems.add(where, f"creates topics with a fixed partition count: take each from {table}")


def check_prometheus(problems, model):
    services = model.services
    prom = services.get("prometheus")
    if not prom:
        problems.add(model.name, "has no prometheus service")
        return
    where = model.where("prometheus")
    config_path = flag_value(prom.get("command"), "--config.file") or "/etc/prometheus/prometheus.yml"
    config_file = mounted_source(prom, config_path)
    if config_file is None or not config_file.is_file():
        problems.add(where, f"does not mount a config file at {config_path}")
        return
    config = load_yaml(config_file) or {}
    cwhere = rel(config_file)
    for rule_file in config.get("rule_files") or []:
        container_rules = PurePosixPath(config_path).parent / rule_file
        source = mounted_source(prom, str(container_rules))
        if source is None or not source.is_file():
            problems.add(cwhere, f"loads {rule_file}, but compose mounts nothing at {container_rules}")
    scraped = set()
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = target.partition(":")
                if host == "localhost":
                    continue
                scraped.add(host)
                if host not in services:
                    problems.add(cwhere, f"job {job.get('job_name')} scrapes {target}, but {host} is not a compose service")
                elif host not in model.active:
                    problems.add(cwhere, f"job {job.get('job_name')} scrapes {target}, but {host} runs only with a --profile in {model.name}")
                elif port and int(port) not in listen_ports(host, services[host]):
                    problems.add(cwhere, f"job {job.get('job_name')} scrapes {target}, but {host} listens on {sorted(listen_ports(host, services[host])) or 'no known port'}")
    for name, service in services.items():
        if name in model.active and is_aegis(service) and listen_ports(name, service) and name not in scraped:
            problems.add(cwhere, f"does not scrape {name}, which serves metrics")


def check_grafana(problems, model):
    services = model.services
    grafana = services.get("grafana")
    if not grafana:
        problems.add(model.name, "has no grafana service")
        return
    where = model.where("grafana")
    provisioning = mounted_source(grafana, "/etc/grafana/provisioning")
    if provisioning is None or provisioning.resolve() != (GRAFANA_DIR / "provisioning").resolve():
        problems.add(where, "must mount grafana/provisioning at /etc/grafana/provisioning")
    for path in sorted((GRAFANA_DIR / "provisioning" / "datasources").glob("*.y*ml")):
        for ds in (load_yaml(path) or {}).get("datasources") or []:
            match = re.match(r"https?://([^:/]+):(\d+)", ds.get("url", ""))
            if not match:
                problems.add(rel(path), f"datasource {ds.get('name')} has no http://host:port url")
                continue
            host, port = match.group(1), int(match.group(2))
            if host not in services or port not in listen_ports(host, services[host]):
                problems.add(rel(path), f"datasource {ds.get('name')} points at {host}:{port}, which no compose service serves")
    for path in sorted((GRAFANA_DIR / "provisioning" / "dashboards").glob("*.y*ml")):
        for provider in (load_yaml(path) or {}).get("providers") or []:
            container_dir = (provider.get("options") or {}).get("path")
            source = mounted_source(grafana, container_dir) if container_dir else None
            if source is None or not source.is_dir() or not list(source.glob("*.json")):
                problems.add(rel(path), f"provider {provider.get('name')} reads {container_dir}, where compose mounts no dashboards")
    home = (grafana.get("environment") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        source = mounted_source(grafana, home)
        if source is None or not source.is_file():
            problems.add(where, f"home dashboard {home} is not a mounted file")


def check_spec(problems, model):
    """The spec a model runs on: one for every model trained and every transaction replayed, its
    repartition topics in the table, and labels in time for its label delay."""
    runs = []  # (service, --spec or None) of each trainer and producer `up` starts
    for name in sorted(model.active):
        command = [str(a) for a in (model.services[name].get("command") or [])]
        if command[:2] == ["aegis-trainer", "train"] or command[:1] == ["aegis-producer"]:
            runs.append((name, command, flag_value(command, "--spec")))
    if len({spec for _, _, spec in runs}) > 1:
        listing = ", ".join(f"{name}: {spec or 'PaySim (no --spec)'}" for name, _, spec in runs)
        problems.add(model.name, f"trains and sends transactions on more than one spec ({listing}): the "
                                 "scorers refuse a model of another spec than their traffic's")
        return
    producers = [(name, command) for name, command, _ in runs if command[0] == "aegis-producer"]
    spec_path = runs[0][2] if runs else None
    source = repository_file(spec_path) if spec_path else None
    if not producers or source is None or not source.is_file():
        return  # PaySim, or a path the image does not carry (image.py says so)
    with open(source, "rb") as f:
        spec = tomllib.load(f)
    name, command = producers[0]
    where = model.where(name, "command")
    # Repartition topics: one per entity other than the key with features (window, risk, history).
    transactions = flag_value(command, "--transactions-topic") or "transactions"
    key = (spec.get("wire") or {}).get("key")
    entities = sorted({kind["entity"] for feature in spec.get("feature") or [] for kind in feature.values()
                       if isinstance(kind, dict) and kind.get("entity") and kind["entity"] != key})
    table = {topic: partitions for topic, partitions, _ in topic_table()}
    for entity in entities:
        topic = f"{transactions}.by.{entity}"
        if topic not in table:
            problems.add(rel(TOPICS_TABLE), f"lacks {topic}, the repartition topic of {rel(source)}, which "
                                            f"{rel(model.root_file)} runs (its topics job creates this table's "
                                            f"topics only): add `{topic} {table.get(transactions)} delete`")
        elif table[topic] != table.get(transactions):
            problems.add(rel(TOPICS_TABLE), f"gives {topic} {table[topic]} partitions, not {table.get(transactions)} "
                                            f"as {transactions}: aegis-stack up --spec gives it as many")
    # Labels in time: each must reach the scorers before the spec's delay has passed in event time.
    label_delay, speedup = flag_value(command, "--label-delay"), flag_value(command, "--speedup")
    spec_delay = (spec.get("label") or {}).get("delay")
    if label_delay and speedup and spec_delay and None not in (seconds(label_delay), seconds(spec_delay)):
        event_seconds = seconds(label_delay) * float(speedup)
        if event_seconds >= seconds(spec_delay):
            problems.add(where, f"--label-delay {label_delay} at --speedup {speedup} is {event_seconds / 3600:g} hours "
                                f"of event time, not under {rel(source)}'s label delay {spec_delay}: labels would count "
                                "late for its risk features (docs/streaming-features.md#labels)")


def main():
    problems = Problems("compose")
    models = compose_models()
    check_root_include(problems, models)
    counts = []
    for model in models:
        if not model.root_file.is_file():
            continue
        check_services(problems, model)
        check_embedded_shell(problems, model)
        check_topics_job(problems, model)
        check_prometheus(problems, model)
        check_grafana(problems, model)
        check_spec(problems, model)
        counts.append(f"{rel(model.root_file)}: {len(model.active)} of {len(model.services)} services")
    problems.finish(f"{'; '.join(counts)} fit together (depends_on, profiles, volumes, ports, images, health "
                    "checks, embedded shell, topics from deploy/topics.txt, Prometheus targets, Grafana "
                    "provisioning, the spec, its repartition topics and label delay)")


if __name__ == "__main__":
    sys.exit(main())
