"""What the Compose Specification schema cannot see: deploy/compose.yaml against the rest of the repo.

  python deploy/checks/compose.py

scripts/check-deploy first validates the file against the Compose Specification JSON schema; this
checks that its parts fit together:
- the root compose.yaml includes files that exist (so `docker compose up` works from the root);
- `depends_on` names services, waits for health only on services with a health check, and waits for
  completion only on one-shot jobs (restart "no");
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
  compose mounts grafana/dashboards at, and the home dashboard is a file in it.
"""

import re
import subprocess
import sys
from pathlib import PurePosixPath

from common import (COMPOSE, DOCKERFILE, GRAFANA_DIR, ROOT_COMPOSE, TOPICS_TABLE, Problems, load_yaml, rel,
                    topic_table)
from image import runtime_packages

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


def included_paths(root):
    """The files a compose file's `include:` names (short form, or long form with path: str|list)."""
    for item in root.get("include") or []:
        if isinstance(item, str):
            yield item
        else:
            path = item.get("path")
            yield from (path if isinstance(path, list) else [path])


def check_root_include(problems):
    paths = list(included_paths(load_yaml(ROOT_COMPOSE) or {}))
    for path in paths:
        if not (ROOT_COMPOSE.parent / path).is_file():
            problems.add(rel(ROOT_COMPOSE), f"includes {path}, which does not exist")
    if rel(COMPOSE) not in [rel(ROOT_COMPOSE.parent / p) for p in paths]:
        problems.add(rel(ROOT_COMPOSE), f"does not include {rel(COMPOSE)}: `docker compose up` from the root would not start Aegis")


def check_services(problems, compose):
    services = compose.get("services") or {}
    declared_volumes = set((compose.get("volumes") or {}).keys())
    host_ports = {}
    installed = runtime_packages(DOCKERFILE)
    for name, service in services.items():
        where = f"{rel(COMPOSE)} service {name}"
        # depends_on: known services, and conditions they can meet.
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        for dep, spec in depends.items():
            if dep not in services:
                problems.add(where, f"depends on {dep}, which is not a service")
                continue
            condition = (spec or {}).get("condition", "service_started")
            target = services[dep]
            if condition == "service_healthy" and (not target.get("healthcheck") or target["healthcheck"].get("disable")):
                problems.add(where, f"waits for {dep} to be healthy, but {dep} has no health check")
            if condition == "service_completed_successfully" and target.get("restart", "no") != "no":
                problems.add(where, f"waits for {dep} to complete, but {dep} restarts ({target['restart']})")
        # Volumes.
        for source, target, is_bind in mounts(service):
            if is_bind and not host_path(source).exists():
                problems.add(where, f"mounts {source} at {target}, but {rel(host_path(source))} does not exist")
            if not is_bind and source and source not in declared_volumes:
                problems.add(where, f"uses volume {source}, which is not declared under top-level volumes")
        # Host ports.
        for port in service.get("ports") or []:
            spec = str(port if not isinstance(port, dict) else f"{port.get('published')}:{port.get('target')}")
            host = spec.rsplit(":", 1)[0] if ":" in spec else None
            if not spec.startswith("127.0.0.1:"):
                problems.add(where, f"publishes {spec} on every host interface; bind it to 127.0.0.1 (\"127.0.0.1:{spec}\")")
            if host:
                if host in host_ports:
                    problems.add(where, f"publishes host port {host}, already published by {host_ports[host]}")
                host_ports[host] = name
        # Images: built here, or pulled at a pinned tag.
        image = service.get("image")
        if not service.get("build"):
            tag = image.rsplit(":", 1)[1] if image and ":" in image.rsplit("/", 1)[-1] else None
            if not tag or tag == "latest":
                problems.add(where, f"image {image} is not pinned to a version tag")
        # Listen addresses of Aegis binaries: reachable from other containers.
        if is_aegis(service):
            for flag in LISTEN_FLAGS:
                value = flag_value(service.get("command"), flag)
                if value and not value.startswith("0.0.0.0:"):
                    problems.add(where, f"{flag} {value} is not reachable from other containers: listen on 0.0.0.0")
            test = (service.get("healthcheck") or {}).get("test") or []
            if isinstance(test, list) and len(test) > 1 and test[0] == "CMD":
                tool = test[1]
                package = TOOL_PACKAGES.get(tool)
                if tool.startswith("aegis-"):
                    continue
                if package is None or package not in installed:
                    problems.add(where, f"health check runs {tool}, which deploy/Dockerfile's runtime stage does not install")
                for port in re.findall(r"https?://(?:127\.0\.0\.1|localhost):(\d+)", " ".join(test)):
                    if int(port) not in listen_ports(name, service):
                        problems.add(where, f"health check asks port {port}, but the service listens on {sorted(listen_ports(name, service))}")
    return services


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


def check_embedded_shell(problems, services):
    for name, service in services.items():
        for shell, script in embedded_scripts(service):
            try:
                run = subprocess.run(["shellcheck", "--shell", shell, "--format", "gcc", "-"],
                                     input=script, capture_output=True, text=True)
            except FileNotFoundError:
                problems.add(rel(COMPOSE), "shellcheck is not installed (scripts/setup installs it)")
                return
            for line in run.stdout.splitlines():
                problems.add(f"{rel(COMPOSE)} service {name}", f"shellcheck: {line.split(':', 3)[-1].strip()}")


def check_topics_job(problems, services):
    job = services.get("topics")
    if not job:
        problems.add(rel(COMPOSE), "has no topics job")
        return
    where = f"{rel(COMPOSE)} service topics"
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


def check_prometheus(problems, services):
    prom = services.get("prometheus")
    if not prom:
        problems.add(rel(COMPOSE), "has no prometheus service")
        return
    where = f"{rel(COMPOSE)} service prometheus"
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
                elif port and int(port) not in listen_ports(host, services[host]):
                    problems.add(cwhere, f"job {job.get('job_name')} scrapes {target}, but {host} listens on {sorted(listen_ports(host, services[host])) or 'no known port'}")
    for name, service in services.items():
        if is_aegis(service) and listen_ports(name, service) and name not in scraped:
            problems.add(cwhere, f"does not scrape {name}, which serves metrics")


def check_grafana(problems, services):
    grafana = services.get("grafana")
    if not grafana:
        problems.add(rel(COMPOSE), "has no grafana service")
        return
    where = f"{rel(COMPOSE)} service grafana"
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


def main():
    problems = Problems("compose")
    check_root_include(problems)
    compose = load_yaml(COMPOSE) or {}
    services = check_services(problems, compose)
    check_embedded_shell(problems, services)
    check_topics_job(problems, services)
    check_prometheus(problems, services)
    check_grafana(problems, services)
    problems.finish(f"{len(services)} services fit together (depends_on, volumes, ports, images, health checks, "
                    "embedded shell, topics from deploy/topics.txt, Prometheus targets, Grafana provisioning)")


if __name__ == "__main__":
    sys.exit(main())
