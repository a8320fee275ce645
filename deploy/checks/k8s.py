"""The Kubernetes manifests (deploy/k8s): each overlay renders, validates offline against the
Kubernetes schemas, and runs the binaries as they can run.

  python deploy/checks/k8s.py --bin-dir target/release

For every overlay in deploy/k8s/overlays, `kubectl kustomize` renders it (offline), then:
  schemas   every core resource validates, strictly (no unknown fields), against the Kubernetes
            JSON schemas of the oldest and the newest version checked (kubernetes-validate, bundled
            schemas, no network). Custom resources (KEDA's ScaledObject and TriggerAuthentication,
            the Prometheus Operator's ServiceMonitor) have no core schema: they are skipped by kind,
            said so in the output, and checked below for what Aegis relies on instead.
  flags     every flag and AEGIS_* variable a container gives an aegis-* binary (subcommands too)
            is in that binary's --help, and any other variable (RUST_LOG) is named in it.
  pods      an HTTP server that binds 0.0.0.0 on the port its probes use; liveness /healthz, the
            scorer's readiness /readyz; terminationGracePeriodSeconds above the shutdown budget
            (--shutdown-timeout, from the manifest or the binary's default, plus the runtime's 1 s);
            memory requests and limits as quantities; every file a flag names is on a mounted
            volume; every ConfigMap and Secret referenced is rendered or listed as made outside.
  kafka     each rendered client.properties (ConfigMap), with the rendered credentials.properties
            (Secret) or a stand-in user and password, makes a Kafka client aegis-outcomes accepts: run
            against a port nothing listens on, it fails to connect, not on its configuration.
  custom    the ScaledObject scales a rendered Deployment running aegis-scorer, on its group and
            input topic, with maxReplicaCount equal to that topic's partitions (deploy/topics.txt);
            its TriggerAuthentication exists; the ServiceMonitor selects rendered Services by a
            port they have.
"""

import argparse
import base64
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

from common import ROOT, Problems, rel, seconds, topic_table
from flags import help_text, parse_help

K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes version the manifests are meant for, and the newest the validator knows.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# Kinds with no core schema, checked by `check_custom` instead.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
# Secrets no manifest holds: made from a secret store (docs/kubernetes.md).
EXTERNAL_SECRETS = {"aegis-trusted-keys", "aegis-kafka-credentials"}
# A Kubernetes quantity (resource.Quantity's serialised form).
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T|e[0-9]+)?$")
# After --shutdown-timeout, the runtime waits up to 1 s for blocking work (service::run_main).
RUNTIME_SHUTDOWN_SECS = 1


def render(overlay):
    run = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {rel(overlay)} failed: {run.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def check_schemas(where, docs, problems, skipped):
    validated = 0
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in CUSTOM_KINDS:
            skipped.add(f"{key[1]} ({key[0]})")
            continue
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                problems.add(where, f"{name_of(doc)} is not valid Kubernetes {version}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.add(where, f"{name_of(doc)}: no Kubernetes {version} schema for {key[1]} {key[0]} "
                                    "(a custom resource? add it to CUSTOM_KINDS with a check of its own)")
        validated += 1
    return validated


def pod_specs(docs):
    """(workload, pod spec) of every Deployment, StatefulSet, Job and DaemonSet."""
    for doc in docs:
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


def containers(spec):
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


class Binary:
    """An aegis-* command line of a container: the binary, its subcommands, its --help."""

    def __init__(self, bin_dir, command):
        self.name = command[0]
        path = bin_dir / self.name
        if not path.is_file():
            raise RuntimeError(f"runs {self.name}, which is not built in {rel(bin_dir)} (cargo build --release --bins)")
        self.options, self.env_vars, subcommands = parse_help(help_text(path, []))
        self.chosen, rest = [], [str(a) for a in command[1:]]
        while rest and not rest[0].startswith("-"):
            if rest[0] not in subcommands:
                raise RuntimeError(f"{self.name} has no subcommand {rest[0]}")
            self.chosen.append(rest.pop(0))
            self.options, self.env_vars, subcommands = parse_help(help_text(path, self.chosen))
        self.help = help_text(path, self.chosen)
        self.args = rest
        self.shown = " ".join([self.name, *self.chosen])

    def flag_values(self, flag):
        """Every value given to --flag (as --flag=value or --flag value)."""
        values, args = [], self.args
        for i, arg in enumerate(args):
            if arg.startswith(flag + "="):
                values.append(arg.split("=", 1)[1])
            elif arg == flag and i + 1 < len(args):
                values.append(args[i + 1])
        return values

    def default_of(self, flag):
        """The `[default: …]` --help shows for --flag, if any."""
        match = re.search(rf"^\s+{re.escape(flag)}\b.*?\[default: ([^\]]+)\]", self.help, re.M | re.S)
        return match.group(1) if match else None


def setting(binary, container, flag, variable):
    """A flag's value as the container sets it: the flag, else its variable, else None."""
    values = binary.flag_values(flag)
    if values:
        return values[-1]
    for env in container.get("env") or []:
        if env.get("name") == variable and "value" in env:
            return env["value"]
    return None


def check_flags(where, binary, container, problems):
    checked = 0
    for arg in binary.args:
        if arg.startswith("-") and arg != "-":
            flag = arg.split("=", 1)[0]
            if not flag.startswith("--") and len(flag) > 2:
                flag = flag[:2]  # -Xkey=value
            if flag not in binary.options:
                problems.add(where, f"passes {flag}, which `{binary.shown} --help` does not list")
            checked += 1
    for env in container.get("env") or []:
        variable = env["name"]
        if variable.startswith("AEGIS_"):
            if variable not in binary.env_vars:
                problems.add(where, f"sets {variable}, which `{binary.shown} --help` does not list as an [env: …]")
        elif variable not in binary.help:
            problems.add(where, f"sets {variable}, which `{binary.shown} --help` does not mention")
        checked += 1
    for source in container.get("envFrom") or []:
        problems.add(where, f"envFrom {source}: give each binary its variables one by one (one shared "
                            "environment gives every binary every variable, meant for another or not)")
    return checked


def check_http(where, binary, container, workload, problems):
    """The HTTP server binds 0.0.0.0 on the port the probes use; the probes mean what they should."""
    flag = "--metrics-addr" if binary.name == "aegis-producer" else "--http-addr"
    if flag not in binary.options:
        return
    addr = setting(binary, container, flag, "AEGIS_" + flag[2:].upper().replace("-", "_"))
    if addr is None:
        if binary.name != "aegis-producer":
            problems.add(where, f"no {flag}: the default binds {binary.default_of(flag)}, which probes and "
                                "Prometheus cannot reach; pass 0.0.0.0:PORT")
        return
    host, _, port = addr.rpartition(":")
    if host not in ("0.0.0.0", "[::]"):
        problems.add(where, f"{flag}={addr} binds {host}: probes and Prometheus cannot reach it; bind 0.0.0.0")
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    if int(port) not in ports.values():
        problems.add(where, f"{flag} port {port} is not a containerPort ({sorted(ports.values())})")
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(kind)
        if not probe:
            continue
        action = probe.get("httpGet") or probe.get("tcpSocket") or {}
        target = action.get("port")
        target = ports.get(target, target)
        if target != int(port):
            problems.add(where, f"{kind} checks port {action.get('port')}, not the {flag} port {port}")
    if binary.name in ("aegis-scorer", "aegis-outcomes"):
        live = ((container.get("livenessProbe") or {}).get("httpGet") or {}).get("path")
        if live != "/healthz":
            problems.add(where, f"livenessProbe checks {live}: liveness is the process, /healthz")
        ready = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
        want = "/readyz" if binary.name == "aegis-scorer" else "/healthz"
        if ready != want:
            problems.add(where, f"readinessProbe checks {ready}; {binary.name} is ready at {want}")
    if "--shutdown-timeout" in binary.options:
        budget = setting(binary, container, "--shutdown-timeout", "AEGIS_SHUTDOWN_TIMEOUT") or \
            binary.default_of("--shutdown-timeout")
        grace = workload["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        if budget is not None and seconds(budget) is None:
            problems.add(where, f"--shutdown-timeout {budget} is not a duration with its unit (e.g. 15s)")
            return
        if budget is None or grace <= seconds(budget) + RUNTIME_SHUTDOWN_SECS:
            problems.add(where, f"terminationGracePeriodSeconds {grace} is not above the shutdown budget "
                                f"(--shutdown-timeout {budget} s + {RUNTIME_SHUTDOWN_SECS} s): the kubelet "
                                "would kill a replica still committing")


def check_resources(where, container, problems):
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        memory = (resources.get(part) or {}).get("memory")
        if memory is None:
            problems.add(where, f"no memory {part} (docs/kubernetes.md, Sizing)")
        elif not QUANTITY.match(str(memory)):
            problems.add(where, f"memory {part} {memory!r} is not a Kubernetes quantity")
    cpu = (resources.get("requests") or {}).get("cpu")
    if cpu is not None and not QUANTITY.match(str(cpu)):
        problems.add(where, f"cpu request {cpu!r} is not a Kubernetes quantity")


def check_files(where, binary, container, problems):
    """Every file a flag names lies under a mounted volume (or in the image: /opt/aegis)."""
    mounts = [m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts") or []]
    for flag in ("--model", "--trusted-keys", "--kafka-config", "--rules", "--out", "--key"):
        for value in binary.flag_values(flag):
            if value.startswith("/opt/aegis/"):
                continue
            if not any(value.startswith(m) for m in mounts):
                problems.add(where, f"{flag}={value} is on no mounted volume ({', '.join(mounts) or 'none'})")


def references(spec):
    """(kind, name) of every ConfigMap and Secret a pod spec refers to."""
    refs = set()
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            refs.add(("Secret", volume["secret"]["secretName"]))
    for container in containers(spec):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                refs.add(("ConfigMap", source["configMapKeyRef"]["name"]))
            if "secretKeyRef" in source:
                refs.add(("Secret", source["secretKeyRef"]["name"]))
    return refs


def check_client_properties(where, docs, bin_dir, problems):
    """The rendered librdkafka properties make a client the binaries accept (module docstring)."""
    settings = [(d["metadata"]["name"], d["data"]["client.properties"]) for d in docs
                if d["kind"] == "ConfigMap" and "client.properties" in (d.get("data") or {})]
    credentials = [base64.b64decode(d["data"]["credentials.properties"]).decode() for d in docs
                   if d["kind"] == "Secret" and "credentials.properties" in (d.get("data") or {})]
    # Made outside (EXTERNAL_SECRETS): a stand-in of the same shape.
    credentials = credentials or ["sasl.username=aegis\nsasl.password=stand-in\n"]
    binary = bin_dir / "aegis-outcomes"
    for name, text in settings:
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for i, content in enumerate([text, *credentials]):
                files += ["--kafka-config", str(Path(tmp) / f"{i}.properties")]
                Path(files[-1]).write_text(content, encoding="utf-8")
            run = subprocess.run([str(binary), "--brokers", "127.0.0.1:1", "--connect-timeout", "0", *files],
                                 capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        if "Connection refused" not in run.stderr:
            problems.add(f"{where} ConfigMap/{name}", "client.properties (with the credentials) is not a Kafka "
                                                      f"client config aegis-outcomes accepts: {run.stderr.strip()}")


def check_custom(where, docs, problems):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    partitions = {name: count for name, count, _ in topic_table()}
    for name, scaled in (by_kind.get("ScaledObject") or {}).items():
        at = f"{where} ScaledObject/{name}"
        target = scaled["spec"]["scaleTargetRef"]
        workload = (by_kind.get(target.get("kind", "Deployment")) or {}).get(target["name"])
        if workload is None:
            problems.add(at, f"scales {target['name']}, which the overlay does not render")
            continue
        scorer = [c for c in workload["spec"]["template"]["spec"]["containers"]
                  if (c.get("command") or [""])[0] == "aegis-scorer"]
        for trigger in scaled["spec"].get("triggers") or []:
            if trigger.get("type") != "kafka":
                continue
            meta = trigger.get("metadata") or {}
            group = input_topic = table_topic = None
            for container in scorer:
                args = [str(a) for a in container["command"][1:]]
                given = lambda flag, default: next(  # noqa: E731
                    (a.split("=", 1)[1] for a in args if a.startswith(f"{flag}=")), default)
                # The group and the topic on the cluster carry the --topic-prefix.
                prefix = given("--topic-prefix", "")
                group = prefix + given("--group-id", "aegis-scorer")
                table_topic = given("--transactions-topic", "transactions")
                input_topic = prefix + table_topic
            if meta.get("consumerGroup") != group:
                problems.add(at, f"consumerGroup {meta.get('consumerGroup')} is not the scorer's --group-id {group}")
            if meta.get("topic") != input_topic:
                problems.add(at, f"topic {meta.get('topic')} is not the scorer's --transactions-topic {input_topic}")
            if table_topic in partitions and scaled["spec"].get("maxReplicaCount") != partitions[table_topic]:
                problems.add(at, f"maxReplicaCount {scaled['spec'].get('maxReplicaCount')} is not the "
                                 f"{partitions[table_topic]} partitions of {input_topic} (deploy/topics.txt): "
                                 "replicas beyond them hold no partition")
            if meta.get("allowIdleConsumers") not in (None, "false"):
                problems.add(at, "allowIdleConsumers lets KEDA go above the partition count")
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth and auth not in (by_kind.get("TriggerAuthentication") or {}):
                problems.add(at, f"authenticationRef {auth} is not rendered")
    for name, monitor in (by_kind.get("ServiceMonitor") or {}).items():
        at = f"{where} ServiceMonitor/{name}"
        wanted = monitor["spec"]["selector"].get("matchLabels") or {}
        services = [s for s in (by_kind.get("Service") or {}).values()
                    if wanted.items() <= (s["metadata"].get("labels") or {}).items()]
        if not services:
            problems.add(at, f"selects no rendered Service ({wanted})")
        for endpoint in monitor["spec"].get("endpoints") or []:
            for service in services:
                if endpoint.get("port") not in {p.get("name") for p in service["spec"]["ports"]}:
                    problems.add(at, f"port {endpoint.get('port')} is not a port of Service/{service['metadata']['name']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    args = parser.parse_args()
    problems = Problems("k8s")
    overlays = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
    if not overlays:
        problems.add(rel(K8S), "no overlays")
    validated = flags = 0
    skipped = set()
    for overlay in overlays:
        where = rel(overlay)
        try:
            docs = render(overlay)
        except RuntimeError as e:
            problems.add(where, str(e))
            continue
        validated += check_schemas(where, docs, problems, skipped)
        rendered = {(d["kind"], d["metadata"]["name"]) for d in docs}
        for workload, spec in pod_specs(docs):
            for ref in sorted(references(spec) - rendered):
                if ref[0] != "Secret" or ref[1] not in EXTERNAL_SECRETS:
                    problems.add(f"{where} {name_of(workload)}", f"refers to {ref[0]} {ref[1]}, which is not rendered")
            for container in containers(spec):
                at = f"{where} {name_of(workload)} container {container['name']}"
                check_resources(at, container, problems)
                command = [str(a) for a in container.get("command") or []] + \
                    [str(a) for a in container.get("args") or []]
                if not command or not command[0].startswith("aegis-"):
                    continue
                try:
                    binary = Binary(args.bin_dir, command)
                except RuntimeError as e:
                    problems.add(at, str(e))
                    continue
                flags += check_flags(at, binary, container, problems)
                check_http(at, binary, container, workload, problems)
                check_files(at, binary, container, problems)
        check_client_properties(where, docs, args.bin_dir, problems)
        check_custom(where, docs, problems)
    for kind in sorted(skipped):
        print(f"k8s: SKIPPED schema validation of {kind}: a custom resource with no core Kubernetes "
              "schema (checked for what Aegis relies on instead)")
    problems.finish(f"{len(overlays)} overlays render; {validated} resources valid against Kubernetes "
                    f"{' and '.join(VERSIONS)} (strict); {flags} flags and variables all in --help")


if __name__ == "__main__":
    sys.exit(main())
