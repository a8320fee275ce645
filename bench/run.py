#!/usr/bin/env python3
"""Runs every benchmark of scripts/bench next to its baseline, in the same run, on the same data,
and prints one table of medians. Called by scripts/bench (which installs everything first).

Each Aegis figure has a baseline measured here, now:
  training          aegis-trainer's fit (aegis-bench train) vs scikit-learn fitting the same forest
                    size on the same rows with the same weights and threads
  kernel            the compiled forest on one core vs RandomForestClassifier.predict_proba
                    (n_jobs=1), same rows; single-row latency and model load time likewise
  HTTP              POST /v1/score vs the prototype's FastAPI + scikit-learn endpoint as deployed
                    (uvicorn[standard]: uvloop + httptools, an async def route, --api-workers
                    workers) and as first written (sync route, asyncio + h11, one worker): each
                    server alone on core 0 (started for its run, stopped after it), the same load
                    generator (aegis-bench http) on core 1, the order alternating run by run
  pipeline          N transactions through one scorer vs a bare rdkafka pass-through (consume and
                    re-produce the same bytes, the scorer's client settings), same broker, topic
                    and partitions, order alternating; throughput and CPU-seconds per 100k
                    messages of each (and of the broker) from /proc, from partition assignment on
  latency           event-to-verdict as a downstream consumer sees it at a steady rate, and the
                    same for the pass-through's copies, each measured once its partitions are
                    assigned, order alternating
  curve             the same at a series of rates (--rates), drawn to docs/latency-throughput.svg
  stateful baseline pipeline and curve also run the pass-through writing one record per message
                    to a changelog of its own (same key and partition, the scorer's changelog
                    producer settings) while the scorer keeps account state in its changelog:
                    the same broker work per transaction, nothing of Aegis's state code
  memory            RSS after the same HTTP load, scorer and prototype; peak RSS at the latency
                    rate, scorer and pass-through
  file              scoring a 202,640-row PaySim CSV to a predictions file on one core:
                    aegis-trainer evaluate --predictions vs pandas read_csv + the prototype's
                    features + predict_proba + to_csv (bench/python/file_baseline.py), each timed
                    as a whole process (start, model load, read, score, write), runs alternating
  features          the card spec's features for every row of the Handbook's card payments, one
                    core: Aegis's engine vs pandas' grouped rolling windows, values compared
  cards             fraud caught on the card payments, week by week (--cards-starts): aegis-trainer
                    (specs/cards.toml) vs the Fraud Detection Handbook's random forest
                    (bench/python/handbook_forest.py), fitted on the same 7 days and judged on the
                    same test week by the Handbook's AUC ROC, average precision and Card
                    Precision@100: Aegis's own figures, and the same recounted by the Python side
                    from its predictions (judged against the targets and the forest); each fit on
                    one core
  cards-pipeline    the card spec on the stream (issue 28): N card payments pre-loaded, through
                    one scorer's two stages (card features, the repartition topic, terminal
                    features and the verdict) vs the stateful pass-through of a two-stage spec
                    (aegis-bench repartition: every transaction copied to a repartition topic of
                    its own with a mark per moved partition per batch to each of its partitions,
                    as the first stage writes its watermarks, read back by a second group and
                    copied to the output; nothing of Aegis's scoring), same broker and messages,
                    order alternating: tx/s against ≥ 0.8×; then event → verdict at --cards-rates
                    (aegis-bench spec-load stamping each row as sent) against p99 ≤ 1.5× at every
                    rate the pass-through sustains
Nothing here is a test: figures are printed, never judged pass/fail.
"""

import argparse
import gzip
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The release binaries: cargo's target directory (CARGO_TARGET_DIR, relative to the clone when
# relative, as scripts/bench runs cargo from there), else target/.
BIN = ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "release"
WORK = ROOT / ".aegis" / "bench"
LOGS = WORK / "logs"
PY = ROOT / ".aegis" / "bench-venv" / "bin" / "python"
MODEL = ROOT / "models" / "aegis.model"
TAKEOVER = {
    "type": "TRANSFER",
    "amount": 181000.0,
    "name_orig": "C1305486145",
    "old_balance_orig": 181000.0,
    "new_balance_orig": 0.0,
    "name_dest": "C553264065",
    "old_balance_dest": 0.0,
    "new_balance_dest": 0.0,
}
PROCESSES = []
PARTS = ["training", "kernel", "http", "pipeline", "latency", "curve", "file", "features",
         "cards", "cards-pipeline"]
# The Fraud Detection Handbook's card payments, beside the clone (not in it: 16 MB compressed).
CARDS = ROOT.parent / "shared" / "data" / "cards" / "cards_2018-04-01_2018-07-31.csv.gz"
# The card spec on the stream: its sample (in the clone), model (trained from the sample, as
# aegis-stack does), rules, the entity of its second stage and the partitions deploy/topics.txt
# gives transactions, labels and transactions.by.TERMINAL_ID.
CARDS_SPEC = ROOT / "specs" / "cards.toml"
CARDS_SAMPLE = ROOT / "data" / "cards_every_10th_card_2018-04-01_2018-05-31.csv"
CARDS_MODEL = ROOT / "models" / "cards.model"
CARDS_RULES = ROOT / "deploy" / "rules" / "cards.json"
CARDS_ENTITY = "TERMINAL_ID"
CARDS_PARTITIONS = 4


def say(text):
    print(f"\033[1mbench:\033[0m {text}", file=sys.stderr, flush=True)


def pinned(cpu, cmd):
    """The command on one CPU (a 2-core machine: server on one, load generator on the other)."""
    return ["taskset", "-c", str(cpu), *map(str, cmd)] if cpu is not None else list(map(str, cmd))


def probe(cmd, cpu=None, env=None):
    """Runs a probe that prints one JSON object; fails with its stderr."""
    done = subprocess.run(
        pinned(cpu, cmd), capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd[:2]))} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start(name, cmd, cpu=None, env=None, cwd=ROOT):
    log = open(LOGS / f"{name}.log", "w")
    p = subprocess.Popen(pinned(cpu, cmd), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    p.name = name
    PROCESSES.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=30):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCESSES:
        PROCESSES.remove(p)


def stop_all():
    for p in reversed(list(PROCESSES)):
        stop(p, timeout=10)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, what, process, timeout=60, poll=0.1, ready=lambda body: True):
    """Waits until `url` answers 200 with a body `ready` accepts."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200 and ready(r.read()):
                    return
        except OSError:
            pass
        time.sleep(poll)
    log = (LOGS / f"{process.name}.log").read_text()[-2000:]
    sys.exit(f"bench: {what} did not become ready at {url}; its log:\n{log}")


def memory_mb(pid):
    """Current and peak resident set size of a process, in MB (from /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1)) / 1024
    return field("VmRSS"), field("VmHWM")


def tree_rss_mb(pid):
    """Resident set size of a process and all its descendants (uvicorn's workers), in MB."""
    total, pending = 0.0, [pid]
    while pending:
        p = pending.pop()
        try:
            total += memory_mb(p)[0]
            for task in Path(f"/proc/{p}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def tree_cpu_seconds(pid):
    """User + system CPU time of a process and all its descendants so far (from /proc)."""
    total, pending = 0.0, [pid]
    while pending:
        p = pending.pop()
        try:
            total += cpu_seconds(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def wait_file(path, what, process, timeout=60):
    """Waits (polling every 10 ms) for a process to write its ready file."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if path.exists():
            return
        time.sleep(0.01)
    log = (LOGS / f"{process.name}.log").read_text()[-2000:]
    sys.exit(f"bench: {what} did not write {path}; its log:\n{log}")


def client_flags(args):
    """`--client KEY=VALUE` options as -X flags for the scorer and the pass-through."""
    return [flag for kv in args.client for flag in ("-X", kv)]


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """User + system CPU time of this script's children that have ended (the probes)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def median(values):
    return statistics.median(values)


class Broker:
    """tansu on a free port with SQLite storage in a fresh directory."""

    def __init__(self):
        directory = WORK / "broker"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        self.port = free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.brokers = f"127.0.0.1:{self.port}"
        self.process = start(
            "broker",
            ["tansu", "broker", "--listener-url", self.url, "--advertised-listener-url", self.url,
             "--storage-engine", "sqlite://broker.db"],
            cwd=directory,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        sys.exit("bench: the broker did not start; see " + str(LOGS / "broker.log"))

    def topic(self, name, partitions=4):
        subprocess.run(
            ["tansu", "topic", "create", "--broker", self.url, "--partitions", str(partitions), name],
            check=True, capture_output=True,
        )
        return name


# Extra flags for every scorer (`--scorer-arg`), e.g. `--state-changelog-topic=` to measure
# without the changelog; set by main().
SCORER_ARGS = []


def scorer(name, broker, group, input_topic, output_topic, cpu=None, client=()):
    """A scorer, returned once its input partitions are assigned (listed by `/readyz`)."""
    port = free_port()
    # Account state on, as deployed (every batch also writes its accounts' states), unless a
    # --scorer-arg says otherwise.
    state = (["--state-changelog-topic", broker.topic(f"{output_topic}.state")] if changelog_on()
             else [])
    p = start(name, [BIN / "aegis-scorer", "--brokers", broker.brokers, "--group-id", group,
                     "--transactions-topic", input_topic, "--verdicts-topic", output_topic,
                     "--dlq-topic", broker.topic(f"{output_topic}.dlq", 1), "--model", MODEL,
                     # The bench publishes no model or rule set: no control topics to read.
                     "--models-topic", "", "--rules-topic", "",
                     *state, "--http-addr", f"127.0.0.1:{port}", *client, *SCORER_ARGS],
              cpu=cpu)
    p.url = f"http://127.0.0.1:{port}"
    wait_http(p.url + "/healthz", name, p)
    # /readyz answers 200 without partitions too (it still scores over HTTP): wait for the list.
    wait_http(p.url + "/readyz", f"{name}'s partition assignment", p, poll=0.01,
              ready=lambda body: bool(json.loads(body)["partitions"]))
    return p


def changelog_on():
    """Whether the scorers keep account state in a changelog (unless a --scorer-arg says not)."""
    return not any(a.startswith("--state-changelog-topic") for a in SCORER_ARGS)


def sides():
    """The sides measured: Aegis, the bare pass-through and, while Aegis keeps its state in a
    changelog, the pass-through that also writes one changelog record per message."""
    return ("aegis", "baseline", "baseline_state") if changelog_on() else ("aegis", "baseline")


def in_turn(names, turn):
    """`names` rotated by `turn`: each side goes first in turn."""
    k = turn % len(names)
    return names[k:] + names[:k]


def passthrough(name, broker, group, input_topic, output_topic, count, client=(), state=False):
    """A bare rdkafka pass-through, returned once ready: partitions assigned (its ready file).
    With `state`, it also writes each message to a changelog topic of its own, with the scorer's
    changelog producer settings: the like-for-like baseline of Aegis keeping account state."""
    ready = WORK / f"{name}.ready"
    ready.unlink(missing_ok=True)
    changelog = ["--changelog", broker.topic(f"{output_topic}.state")] if state else []
    p = start(name, [BIN / "aegis-bench", "passthrough", "--brokers", broker.brokers,
                     "--input", input_topic, "--output", output_topic, "--group", group,
                     "--count", count, "--ready-file", ready, *changelog, *client])
    wait_file(ready, f"{name}'s partition assignment", p)
    return p


def bench_training(args):
    say(f"training: aegis-trainer's fit vs scikit-learn, {args.runs_fit} runs each")
    aegis = probe([BIN / "aegis-bench", "train", "--model", MODEL, "--export", WORK,
                   "--runs", args.runs_fit])
    sklearn = probe([PY, ROOT / "bench/python/sklearn_baseline.py", "train",
                     "--fit", WORK / "fit.csv", "--trees", aegis["trees"],
                     "--depth", aegis["max_depth"], "--min-samples-leaf", aegis["min_samples_leaf"],
                     "--threads", aegis["threads"], "--runs", args.runs_fit,
                     "--out", WORK / "sklearn.joblib"])
    return aegis, sklearn


def bench_kernel(args):
    """Each run is one process of each side, one after the other on the same core, the order
    alternating from run to run: a slow spell on the machine falls on both sides of a run's ratio
    as often as not, instead of on all of one side's runs."""
    say(f"kernel: compiled forest ({args.kernel} batch kernel; every vectorised kernel the CPU "
        f"runs, each on its own) vs predict_proba on one core, {args.runs} runs each")
    common = ["--rows", WORK / "score.csv", "--runs", 1]
    sides = {
        "aegis": [BIN / "aegis-bench", "kernel", "--model", MODEL, "--kernel", args.kernel,
                  *common],
        "sklearn": [PY, ROOT / "bench/python/sklearn_baseline.py", "kernel",
                    "--model", WORK / "sklearn.joblib", *common],
    }
    runs = {side: [] for side in sides}
    for run in range(args.runs):
        for side in (["aegis", "sklearn"] if run % 2 == 0 else ["sklearn", "aegis"]):
            runs[side].append(probe(sides[side], cpu=1))
    return together(runs["aegis"]), together(runs["sklearn"])


def together(runs):
    """One probe's answers over several runs as one: lists (a figure per run) joined in run order,
    everything else (the forest's shape, the rows) as the first run gave it."""
    joined = dict(runs[0])
    for key, value in joined.items():
        if isinstance(value, list):
            joined[key] = [v for run in runs for v in run[key]]
    return joined


# The HTTP servers bench_http measures, each alone on core 0: name -> route. "aegis" is the
# scorer; the others are the prototype (bench/python/prototype_api.py) under uvicorn.
HTTP_SERVERS = {
    "aegis": "/v1/score",
    # As its authors would deploy it: uvicorn[standard] (uvloop, httptools), async def route.
    "baseline": "/score_async",
    # As first written and measured: sync route (thread pool), asyncio + h11, one worker.
    "baseline_sync": "/score",
}


def http_server(kind, run, broker, thresholds, args):
    """Starts one HTTP server of HTTP_SERVERS on core 0 and returns it once it answers."""
    if kind == "aegis":
        server = scorer(f"scorer-http-{run}", broker, f"bench-http-{run}",
                        broker.topic(f"bench.http.{run}"),
                        broker.topic(f"bench.http.{run}.verdicts"), cpu=0)
        server.url = server.url + HTTP_SERVERS[kind]
        return server
    port = free_port()
    env = dict(os.environ, AEGIS_BENCH_SKLEARN_MODEL=str(WORK / "sklearn.joblib"),
               AEGIS_BENCH_REVIEW=str(thresholds[0]), AEGIS_BENCH_BLOCK=str(thresholds[1]))
    serving = (["--loop", "uvloop", "--http", "httptools", "--workers", args.api_workers]
               if kind == "baseline" else
               ["--loop", "asyncio", "--http", "h11", "--workers", 1])
    server = start(f"prototype-{kind}-{run}", [
        PY, "-m", "uvicorn", "prototype_api:app", "--app-dir", ROOT / "bench/python",
        "--port", port, *serving, "--log-level", "warning", "--no-access-log"], cpu=0, env=env)
    wait_http(f"http://127.0.0.1:{port}/openapi.json", f"the FastAPI baseline ({kind})", server)
    server.url = f"http://127.0.0.1:{port}{HTTP_SERVERS[kind]}"
    return server


def bench_http(args, broker, thresholds):
    """Each server alone on core 0 for its run (nothing else of the benchmark there), the load
    generator on core 1; the order alternates run by run; RSS of each after the same load."""
    say(f"HTTP: POST /v1/score vs the FastAPI prototype (async on uvicorn[standard], "
        f"{args.api_workers} worker(s); sync on plain uvicorn), {args.concurrency} connections, "
        f"{args.runs} runs of {args.http_seconds} s each, one server at a time")
    body = WORK / "takeover.json"
    body.write_text(json.dumps(TAKEOVER))
    load = ["--body", body, "--concurrency", args.concurrency, "--duration", f"{args.http_seconds}s",
            "--warmup", "2s"]
    results = {kind: [] for kind in HTTP_SERVERS}
    for run in range(args.runs):
        order = list(HTTP_SERVERS) if run % 2 == 0 else list(reversed(HTTP_SERVERS))
        for kind in order:
            server = http_server(kind, run, broker, thresholds, args)
            # The CPU each side used over the whole load (warm-up included), in cores: a load
            # generator near 1.0 while the server is not would be measuring the generator.
            server_cpu, load_cpu = tree_cpu_seconds(server.pid), children_cpu_seconds()
            started = time.monotonic()
            result = probe([BIN / "aegis-bench", "http", "--url", server.url, *load], cpu=1)
            took = time.monotonic() - started
            result["server_cores"] = (tree_cpu_seconds(server.pid) - server_cpu) / took
            result["load_cores"] = (children_cpu_seconds() - load_cpu) / took
            result["rss_mb"] = tree_rss_mb(server.pid)
            result["order"] = order.index(kind)
            results[kind].append(result)
            stop(server)
    results["api_workers"] = args.api_workers
    return results


def bench_pipeline(args, broker):
    """N preloaded transactions through the scorer and through each pass-through, rotating
    which goes first; throughput from the output topic, CPU from /proc between each worker's
    partition assignment and its last output."""
    n = args.messages
    source = broker.topic(f"bench.pipeline.transactions.{int(time.time())}")
    say(f"pipeline: publishing {n:,} simulated transactions to {source}")
    done = subprocess.run([BIN / "aegis-producer", "--brokers", broker.brokers,
                           "--transactions-topic", source, "--simulate", "--count", str(n)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: the producer failed:\n{done.stderr[-2000:]}")
    say(f"pipeline: {', '.join(sides())}, {args.runs_pipeline} runs each"
        + (f", client settings {' '.join(args.client)}" if args.client else ""))
    client = client_flags(args)
    results = {side: [] for side in sides()}
    results.update(client=args.client, scorer_args=args.scorer_arg)
    tag = f"{int(time.time())}"
    for i in range(args.runs_pipeline):
        for side in in_turn(sides(), i):
            out = broker.topic(f"bench.pipeline.{side}.{tag}.{i}")
            watcher = start(f"watch-{side}-{i}", [BIN / "aegis-bench", "watch", "--brokers",
                                                  broker.brokers, "--topic", out, "--count", n])
            if side == "aegis":
                worker = scorer(f"scorer-pipeline-{i}", broker, f"bench-score-{tag}-{i}", source,
                                out, client=client)
            else:
                worker = passthrough(f"{side}-{i}", broker, f"bench-{side}-{tag}-{i}", source,
                                     out, n, client=client, state=side == "baseline_state")
            result = finish_watch(watcher, worker, broker)
            for who in ("worker", "broker"):
                result[f"{who}_cpu_s_per_100k"] = result[f"{who}_cpu_seconds"] / n * 100_000
            results[side].append(result)
            stop(worker)
    return results


def finish_watch(watcher, worker=None, broker=None):
    """The watcher's result; with `worker` and `broker`, plus the CPU seconds each used meanwhile
    (who is the bottleneck)."""
    before = {"worker": cpu_seconds(worker.pid), "broker": cpu_seconds(broker.process.pid)} \
        if worker else {}
    while watcher.poll() is None:
        # A worker that fails (a pass-through exits 0 once it has forwarded its count) would
        # leave the watcher waiting out its timeout.
        if worker and failed(worker):
            stop(watcher)
            log = (LOGS / f"{worker.name}.log").read_text()[-2000:]
            sys.exit(f"bench: {worker.name} failed:\n{log}")
        time.sleep(0.05)
    log = (LOGS / f"{watcher.name}.log").read_text()
    if watcher.returncode != 0:
        sys.exit(f"bench: {watcher.name} failed:\n{log[-2000:]}")
    result = json.loads(log.strip().splitlines()[-1])
    if worker:
        result["worker_cpu_seconds"] = cpu_seconds(worker.pid) - before["worker"]
        result["broker_cpu_seconds"] = cpu_seconds(broker.process.pid) - before["broker"]
    return result


def failed(p):
    """Whether `p` has exited with a failure, without reaping it (its /proc entry, and so its CPU
    seconds, stay readable)."""
    info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
    return info is not None and info.si_status != 0


def keeps_up(result, rate):
    """Whether a side kept up with the offered rate: it delivered ≥ 95 % of it in the measured
    window and its latency did not grow through the window (last quarter's median within 2× the
    first's + 50 ms: a growing backlog shows as latency rising with time)."""
    return (result["per_second"] >= 0.95 * rate
            and result["last_quarter_p50_ms"] <= 2 * result["first_quarter_p50_ms"] + 50)


# The load generator's settings. Idempotent, librdkafka's producer busy-loops whenever a partition
# has its five requests in flight and its next batch is ready (bench/repro/idempotent-spin.sh):
# with aegis-producer's defaults that took 0.4-0.8 of a core at 6,000 tx/s from the broker and
# the side being measured. Not idempotent with no limit on requests in flight, it floods the
# broker with small requests (every side fell behind at 4,000 tx/s). Not idempotent with five
# requests in flight per connection it does neither (docs/benchmarks.md, fifth pass). What it
# offers, and when each event time is stamped, is unchanged; the sides keep their own settings.
LOAD_FLAGS = ["-X", "enable.idempotence=false", "-X", "max.in.flight.requests.per.connection=5"]


def latency_point(side, tag, rate, seconds, broker, client=(), cards=False):
    """Event-to-verdict (or -copy) latency of one side at one steady rate, measured once the
    worker's partitions are assigned; with the worker's CPU per 100k messages in the window
    measured and its RSS at the end. With `cards`, on the card spec: its scorer or the
    repartitioning pass-through, loaded by aegis-bench spec-load."""
    source = broker.topic(f"bench.{tag}.{side}")
    out = broker.topic(f"bench.{tag}.{side}.out")
    if side == "aegis":
        worker = (card_scorer(f"scorer-{tag}", broker, f"bench-{tag}", source, out, client)
                  if cards else
                  scorer(f"scorer-{tag}", broker, f"bench-{tag}", source, out, client=client))
        carries = "verdict"
    elif cards:
        worker = card_passthrough(f"{side}-{tag}", broker, f"bench-{side}-{tag}", source, out,
                                  10**12, client)
        carries = "transaction"
    else:
        worker = passthrough(f"{side}-{tag}", broker, f"bench-{side}-{tag}", source, out,
                             10**12, client=client, state=side == "baseline_state")
        carries = "transaction"
    skip = 5
    latency = start(f"latency-{tag}-{side}", [
        BIN / "aegis-bench", "latency", "--brokers", broker.brokers, "--topic", out,
        "--skip", f"{skip}s", "--duration", f"{seconds}s", "--carries", carries,
        *(["--spec", CARDS_SPEC] if cards else [])])
    started = time.time()
    time.sleep(1)
    load = (["aegis-bench", "spec-load", "--brokers", broker.brokers, "--topic", source,
             "--spec", CARDS_SPEC, "--data", CARDS_SAMPLE] if cards else
            ["aegis-producer", "--brokers", broker.brokers, "--transactions-topic", source,
             "--simulate"])
    producer = start(f"producer-{tag}-{side}", [
        BIN / load[0], *load[1:], "--rate", rate, "--duration", f"{seconds + skip + 4}s",
        *LOAD_FLAGS])
    time.sleep(max(0.0, started + skip - time.time()))
    cpu, load_cpu = cpu_seconds(worker.pid), cpu_seconds(producer.pid)
    result = finish_watch(latency)
    per_100k = 100_000 / max(result["records"], 1)
    result["worker_cpu_s_per_100k"] = (cpu_seconds(worker.pid) - cpu) * per_100k
    result["load_cpu_s_per_100k"] = (cpu_seconds(producer.pid) - load_cpu) * per_100k
    result["rss_mb"], result["peak_rss_mb"] = memory_mb(worker.pid)
    result["rate"] = rate
    result["keeps_up"] = keeps_up(result, rate)
    stop(producer)
    stop(worker)
    return result


def bench_latency(args, broker):
    say(f"latency: steady {args.rate:,} tx/s, {args.runs_latency} runs of "
        f"{args.latency_seconds} s each, scorer and pass-through, order alternating")
    results = {"aegis": [], "baseline": []}
    tag = int(time.time())
    for i in range(args.runs_latency):
        for side in ("aegis", "baseline") if i % 2 == 0 else ("baseline", "aegis"):
            results[side].append(latency_point(side, f"latency.{tag}.{i}", args.rate,
                                               args.latency_seconds, broker, client_flags(args)))
    results["rss_mb"] = [r["rss_mb"] for r in results["aegis"]]
    results["peak_rss_mb"] = [r["peak_rss_mb"] for r in results["aegis"]]
    return results


def card_scorer(name, broker, group, source, out, client=()):
    """A scorer of the card spec (its model carries the spec) with the card rules, returned once
    its first stage has partitions; the labels and repartition topics created beside `source`
    with deploy/topics.txt's partitions (no labels are published: an empty labels topic)."""
    port = free_port()
    labels = broker.topic(f"{source}.labels", CARDS_PARTITIONS)
    broker.topic(f"{source}.by.{CARDS_ENTITY}", CARDS_PARTITIONS)
    p = start(name, [BIN / "aegis-scorer", "--brokers", broker.brokers, "--group-id", group,
                     "--transactions-topic", source, "--verdicts-topic", out,
                     "--labels-topic", labels, "--dlq-topic", broker.topic(f"{out}.dlq", 1),
                     "--model", CARDS_MODEL, "--rules", CARDS_RULES,
                     "--models-topic", "", "--rules-topic", "", "--state-changelog-topic", "",
                     "--http-addr", f"127.0.0.1:{port}", *client, *SCORER_ARGS])
    p.url = f"http://127.0.0.1:{port}"
    wait_http(p.url + "/healthz", name, p)
    wait_http(p.url + "/readyz", f"{name}'s partition assignment", p, poll=0.01,
              ready=lambda body: bool(json.loads(body)["partitions"]))
    return p


def card_passthrough(name, broker, group, source, out, count, client=()):
    """The stateful pass-through of the card pipeline (aegis-bench repartition) with a
    repartition topic of its own, returned once both its hops have partitions."""
    ready = WORK / f"{name}.ready"
    ready.unlink(missing_ok=True)
    p = start(name, [BIN / "aegis-bench", "repartition", "--brokers", broker.brokers,
                     "--input", source, "--output", out,
                     "--repartition", broker.topic(f"{out}.repartition", CARDS_PARTITIONS),
                     "--group", group, "--count", count, "--ready-file", ready, *client])
    wait_file(ready, f"{name}'s partition assignment", p)
    return p


def card_rows(n):
    """The first `n` card payments, as a CSV of the spec: of the Handbook's full file when it is
    there, else of the sample in the clone (all of it at most)."""
    source = cards_file() or CARDS_SAMPLE
    path = WORK / f"cards-pipeline-{n}.csv"
    if not path.exists():
        with open(source) as src, open(path, "w") as dst:
            for i, line in enumerate(src):
                if i > n:
                    break
                dst.write(line)
    with open(path) as f:
        return path, sum(1 for _ in f) - 1


def card_model():
    """models/cards.model, trained from the sample as aegis-stack trains it, unless there."""
    if not CARDS_MODEL.exists():
        say(f"cards-pipeline: training {CARDS_MODEL.relative_to(ROOT)} from {CARDS_SAMPLE.name}")
        CARDS_MODEL.parent.mkdir(exist_ok=True)
        done = subprocess.run([BIN / "aegis-trainer", "train", "--data", CARDS_SAMPLE,
                               "--out", CARDS_MODEL, "--spec", CARDS_SPEC],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"bench: training the card model failed:\n{done.stderr[-2000:]}")


CARD_SIDES = ("aegis", "baseline_repartition")


def bench_cards_pipeline(args, broker):
    """The card pipeline against its stateful pass-through: throughput on N pre-loaded payments
    (a fresh input topic per run, so each scorer's repartition topic holds only its own
    records), then the latency curve at --cards-rates; every figure a median of runs, the order
    alternating."""
    card_model()
    if args.cards_messages == 0:
        return {"curve": bench_cards_curve(args, broker)}
    data, n = card_rows(args.cards_messages)
    client = client_flags(args)
    # Delivered is counted to 99 % of N: the first stage tells the second that a partition read to
    # its end is idle only --idle-after (2 s) after its last record, and the last records wait in
    # the merge until then; a stream that keeps coming has no such tail.
    counted = n * 99 // 100
    say(f"cards-pipeline: {n:,} card payments of {data.name}, {', '.join(CARD_SIDES)}, "
        f"{args.runs_pipeline} runs each (rate to {counted:,} delivered)")
    results = {side: [] for side in CARD_SIDES}
    results.update(messages=n, counted=counted, client=args.client)
    tag = int(time.time())
    for i in range(args.runs_pipeline):
        source = broker.topic(f"bench.cards.{tag}.{i}", CARDS_PARTITIONS)
        done = subprocess.run([BIN / "aegis-producer", "--brokers", broker.brokers,
                               "--transactions-topic", source, "--spec", CARDS_SPEC,
                               "--replay", data], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench: the producer failed:\n{done.stderr[-2000:]}")
        for side in in_turn(CARD_SIDES, i):
            out = broker.topic(f"bench.cards.{side}.{tag}.{i}")
            watcher = start(f"watch-cards-{side}-{i}", [BIN / "aegis-bench", "watch", "--brokers",
                                                        broker.brokers, "--topic", out,
                                                        "--count", counted])
            if side == "aegis":
                worker = card_scorer(f"scorer-cards-{i}", broker, f"bench-cards-{tag}-{i}",
                                     source, out, client)
            else:
                worker = card_passthrough(f"{side}-cards-{i}", broker,
                                          f"bench-cards-{side}-{tag}-{i}", source, out, n, client)
            result = finish_watch(watcher, worker, broker)
            for who in ("worker", "broker"):
                result[f"{who}_cpu_s_per_100k"] = result[f"{who}_cpu_seconds"] / counted * 100_000
            say(f"cards-pipeline: {side}, run {i + 1}: {result['per_second']:,.0f} tx/s")
            results[side].append(result)
            stop(worker)
    results["curve"] = bench_cards_curve(args, broker)
    return results


def bench_cards_curve(args, broker):
    """Event → verdict of the card scorer and of its pass-through at each of --cards-rates,
    --curve-runs times each, the side going first alternating; medians as bench_curve's."""
    rates = [int(r) for r in args.cards_rates.split(",")]
    say(f"cards-pipeline: event → verdict at {', '.join(f'{r:,}' for r in rates)} tx/s, "
        f"{args.curve_runs} run(s) of {args.curve_seconds} s each")
    results = {key: [] for side in CARD_SIDES for key in (side, f"{side}_runs")}
    tag = int(time.time())
    turn = 0
    for rate in rates:
        runs = {side: [] for side in CARD_SIDES}
        for run in range(args.curve_runs):
            for side in in_turn(CARD_SIDES, turn):
                point = latency_point(side, f"cards.{tag}.{rate}.{run}", rate, args.curve_seconds,
                                      broker, client_flags(args), cards=True)
                say(f"cards-pipeline: {side} at {rate:,} tx/s, run {run + 1}: p50 "
                    f"{point['p50_ms']:.0f} ms, p99 {point['p99_ms']:.0f} ms, "
                    f"{point['per_second']:,.0f}/s delivered"
                    f"{'' if point['keeps_up'] else ' (not keeping up)'}")
                runs[side].append(point)
            turn += 1
        for side in CARD_SIDES:
            results[f"{side}_runs"].append(runs[side])
            results[side].append(median_point(runs[side]))
        ratios = [a["p99_ms"] / b["p99_ms"] for a, b in zip(runs["aegis"],
                                                            runs["baseline_repartition"])]
        results["aegis"][-1]["p99_ratio"] = median(ratios)
        results["aegis"][-1]["p99_ratio_range"] = [min(ratios), max(ratios)]
    return results


def cards_pipeline_rows(c):
    """Throughput against ≥ 0.8× the stateful pass-through (median of the per-run ratios, run i
    against run i); then p50 / p99 at each rate against p99 ≤ 1.5× at the rates it sustains."""
    if not c:
        return []
    rows = []
    if "aegis" in c:
        rows += cards_throughput_rows(c)
    curve = c.get("curve")
    if not curve:
        return rows
    return rows + cards_curve_rows(curve)


CARDS_BASELINE = "pass-through + repartition hop (1 record + marks per tx, read back)"


def cards_throughput_rows(c):
    a_runs = [r["per_second"] for r in c["aegis"]]
    b_runs = [r["per_second"] for r in c["baseline_repartition"]]
    ratios = [a / b for a, b in zip(a_runs, b_runs)]
    ratio = median(ratios)
    baseline = CARDS_BASELINE
    rows = [row(f"Cards pipeline, {c['messages']:,} tx pre-loaded, one process (tx/s, to "
                f"{c['counted']:,} delivered), {len(ratios)} runs", f"{median(a_runs):,.0f}",
                f"{median(b_runs):,.0f}", baseline,
                f"{ratio:.2f}× (runs {min(ratios):.2f}–{max(ratios):.2f}×) "
                f"{'✓' if ratio >= 0.8 else '✗'}", "≥ 0.8×")]
    a, b = (median([r["worker_cpu_s_per_100k"] for r in c[side]]) for side in CARD_SIDES)
    rows.append(row("Cards pipeline CPU-seconds per 100k tx (process)", f"{a:.2f}", f"{b:.2f}",
                    baseline, f"{a / b:.2f}×", "—"))
    return rows


def cards_curve_rows(curve):
    rows = []
    mark = lambda p: "" if p["keeps_up"] else " (behind)"
    for a, b in zip(curve["aegis"], curve["baseline_repartition"]):
        low, high = a["p99_ratio_range"]
        verdict = ("(baseline behind)" if not b["keeps_up"] else
                   "✗ (Aegis behind)" if not a["keeps_up"] else
                   "✓" if a["p99_ratio"] <= 1.5 else "✗")
        rows.append(row(f"Cards event → verdict at {a['rate']:,} tx/s, p50 / p99 (ms), "
                        f"{a['runs']} runs", f"{a['p50_ms']:.0f} / {a['p99_ms']:.0f}{mark(a)}",
                        f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f}{mark(b)}", "same pass-through",
                        f"{a['p99_ratio']:.2f}× p99 (runs {low:.2f}–{high:.2f}×) {verdict}",
                        "p99 ≤ 1.5×"))
    sustained = lambda side: [p["rate"] for p in curve[side] if p["keeps_up"]]
    text = lambda rates: ", ".join(f"{r:,}" for r in rates) or "none"
    rows.append(row("Cards, offered rates sustained (tx/s)", text(sustained("aegis")),
                    text(sustained("baseline_repartition")), "same pass-through", "—", "—"))
    return rows


FILE_ROWS = 202_640


def payments_file():
    """A day of simulated payments as a PaySim CSV (made once, with a fixed seed)."""
    path = WORK / f"payments-{FILE_ROWS}.csv"
    if not path.exists():
        say(f"file: simulating {FILE_ROWS:,} payments into {path}")
        partial = path.with_suffix(".partial.csv")
        done = subprocess.run([BIN / "aegis-producer", "--simulate", "--out", partial,
                               "--count", str(FILE_ROWS), "--seed", "16"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench: the producer failed:\n{done.stderr[-2000:]}")
        partial.rename(path)
    return path


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd, cpu, out):
    """Wall seconds and CPU seconds (user + system) of one whole process on `cpu` that must write
    `out` with FILE_ROWS rows."""
    out.unlink(missing_ok=True)
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(pinned(cpu, cmd), capture_output=True, text=True, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    cpu_seconds = children_cpu_seconds() - cpu_before
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd[:2]))} failed:\n{done.stderr[-3000:]}")
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    if lines != FILE_ROWS + 1:
        sys.exit(f"bench: {out} has {lines - 1:,} rows, not {FILE_ROWS:,}")
    return seconds, cpu_seconds, done.stdout


def bench_file(args, thresholds):
    data = payments_file()
    say(f"file: scoring {FILE_ROWS:,} rows to a predictions file on one core, aegis-trainer "
        f"evaluate vs pandas + scikit-learn, {args.runs} runs each, alternating")
    aegis_out, baseline_out = WORK / "predictions-aegis.csv", WORK / "predictions-pandas.csv"
    sides = {
        "aegis": ([BIN / "aegis-trainer", "evaluate", "--model", MODEL, "--data", data, "--json",
                   "--predictions", aegis_out], aegis_out),
        "baseline": ([PY, ROOT / "bench/python/file_baseline.py", "--model",
                      WORK / "sklearn.joblib", "--data", data, "--out", baseline_out,
                      "--review", thresholds[0], "--block", thresholds[1]], baseline_out),
    }
    for cmd, out in sides.values():  # once each untimed: the page cache, Python's bytecode
        timed(cmd, 1, out)
    results = {"rows": FILE_ROWS, "aegis": [], "baseline": [], "aegis_cpu": [], "baseline_cpu": [],
               "baseline_steps": []}
    for i in range(args.runs):
        for side in (("aegis", "baseline") if i % 2 == 0 else ("baseline", "aegis")):
            cmd, out = sides[side]
            seconds, cpu_seconds, stdout = timed(cmd, 1, out)
            results[side].append(seconds)
            results[f"{side}_cpu"].append(cpu_seconds)
            if side == "baseline":
                results["baseline_steps"].append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def cards_file():
    """The card payments, decompressed once into the work directory; None when absent."""
    path = WORK / "cards.csv"
    if not path.exists():
        if not CARDS.exists():
            return None
        partial = path.with_suffix(".partial.csv")
        with gzip.open(CARDS, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.rename(path)
    return path


def bench_features(args):
    """The card spec's features for every row, one core: Aegis's engine against pandas' grouped
    rolling windows (bench/python/card_features.py), alternating; then both outputs compared."""
    data = cards_file()
    if data is None:
        say(f"features: skipped, {CARDS} is not there")
        return None
    say(f"features: the card spec's features for every row of {data.name} on one core, "
        f"aegis-bench features vs pandas, {args.runs} runs each, alternating")
    spec = ROOT / "specs" / "cards.toml"
    aegis_out, pandas_out = WORK / "features-aegis.csv", WORK / "features-pandas.csv"
    sides = {
        "aegis": [BIN / "aegis-bench", "features", "--spec", spec, "--data", data],
        "baseline": [PY, ROOT / "bench/python/card_features.py", data],
    }
    results = {"aegis": [], "baseline": []}
    for i in range(args.runs):
        for side in (("aegis", "baseline") if i % 2 == 0 else ("baseline", "aegis")):
            done = subprocess.run(pinned(1, sides[side]), capture_output=True, text=True,
                                  cwd=ROOT, check=False)
            if done.returncode != 0:
                sys.exit(f"bench: features ({side}) failed:\n{done.stderr[-3000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            results[side].append(report["seconds"])
            results["rows"] = report["rows"]
    subprocess.run([*sides["aegis"], "--out", aegis_out], check=True, capture_output=True)
    subprocess.run([*sides["baseline"], "--out", pandas_out], check=True, capture_output=True)
    import numpy as np
    import pandas as pd
    a = pd.read_csv(aegis_out).set_index("id").sort_index()
    b = pd.read_csv(pandas_out).set_index("TRANSACTION_ID").sort_index()
    same = (list(a.columns) == list(b.columns)) and bool((a.index == b.index).all())
    close = same and bool(np.isclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9).all())
    results["agree"] = close
    results["features"] = len(a.columns)
    if not close:
        sys.exit(f"bench: the engine's features differ from pandas' ({aegis_out}, {pandas_out})")
    return results


def features_rows(f):
    """The feature row: median seconds of each side, and the median and range of the ratios."""
    if not f:
        return []
    ratios = [b / a for a, b in zip(f["aegis"], f["baseline"])]
    a, b = median(f["aegis"]), median(f["baseline"])
    return [f"| Card spec's {f.get('features', 20)} features, {f['rows']:,} rows, one core (s), {len(ratios)} runs "
            f"(every value within 1e-9 of pandas') | {a:.2f} | pandas grouped rolling windows: "
            f"{b:.2f} | {median(ratios):.1f}× (runs {min(ratios):.1f}–{max(ratios):.1f}×) | ≥ 10× |"]


# The card weeks: the Handbook's protocol fits on 7 days from a start, waits 7 (a fraud's label
# arrives up to a week late) and tests on the 7 after. By default the July check weeks; the
# author tunes on April-June starts (--cards-starts).
CARDS_STARTS = "2018-07-01,2018-07-04,2018-07-08,2018-07-11"
CARDS_FIT_DAYS, CARDS_DELAY_DAYS, CARDS_TEST_DAYS = 7, 7, 7
# What the card model must reach: the median over the weeks of each figure, as counted by
# handbook_forest.py on the Handbook's test set.
CARDS_TARGETS = {"roc_auc": 0.89, "average_precision": 0.72, "card_precision_at_100": 0.32}


def card_weeks(starts):
    """Each start of `--cards-starts` (comma-separated dates) as its fit and test days, ISO dates
    (the untils exclusive)."""
    weeks = []
    for text in starts.split(","):
        start = date.fromisoformat(text.strip())
        test_from = start + timedelta(days=CARDS_FIT_DAYS + CARDS_DELAY_DAYS)
        weeks.append({
            "fit_from": start.isoformat(),
            "fit_until": (start + timedelta(days=CARDS_FIT_DAYS)).isoformat(),
            "test_from": test_from.isoformat(),
            "test_until": (test_from + timedelta(days=CARDS_TEST_DAYS)).isoformat(),
        })
    return weeks


def bench_cards(args):
    """Week by week, Aegis's card model and the Handbook's random forest fitted on the same rows
    and judged on the same test week; both fits on core 1, one after the other."""
    data = cards_file()
    if data is None:
        say(f"cards: skipped, {CARDS} is not there")
        return None
    weeks = card_weeks(args.cards_starts)
    say(f"cards: aegis-trainer vs the Handbook's random forest on {len(weeks)} week(s) of "
        f"{data.name}, fit on 7 days, tested 7 days later")
    for week in weeks:
        predictions = WORK / f"cards-{week['fit_from']}.predictions.csv"
        week["aegis"] = aegis_card_week(data, week, predictions)
        forest = probe([PY, ROOT / "bench/python/handbook_forest.py", "--data", data,
                        *(flag for key in ("fit_from", "fit_until", "test_from", "test_until")
                          for flag in (f"--{key.replace('_', '-')}", week[key])),
                        *(["--predictions", predictions] if "error" not in week["aegis"] else [])],
                       cpu=1)
        week.update(forest)
        bounds = week["card_precision_bounds"]
        say(f"cards: fit from {week['fit_from']}: Aegis {quality_text(week['aegis'])}, "
            f"forest {quality_text(week['handbook_forest'])}; CP@100 of reference rankings: "
            f"{bounds['signs_first']:.3f} (frauds with a sign first), {bounds['hindsight']:.3f} "
            f"(hindsight)")
    return {"weeks": weeks, "targets": CARDS_TARGETS}


def aegis_card_week(data, week, predictions):
    """aegis-trainer train on the week's fit days and evaluate on its test days (each timed as a
    whole process), writing every prediction for the Python side to recount. A failure is kept as
    {"error": its last line}, and the forest still runs."""
    model = WORK / f"cards-{week['fit_from']}.model"
    predictions.unlink(missing_ok=True)
    train = [BIN / "aegis-trainer", "train", "--spec", ROOT / "specs" / "cards.toml",
             "--data", data, "--fit-from", week["fit_from"], "--fit-until", week["fit_until"],
             "--out", model]
    evaluate = [BIN / "aegis-trainer", "evaluate", "--model", model, "--data", data,
                "--from", week["test_from"], "--until", week["test_until"],
                "--predictions", predictions, "--json"]
    seconds = {}
    for step, cmd in (("train", train), ("evaluate", evaluate)):
        started = time.perf_counter()
        done = subprocess.run(pinned(1, cmd), capture_output=True, text=True, cwd=ROOT,
                              check=False)
        seconds[step] = time.perf_counter() - started
        if done.returncode != 0:
            error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            say(f"cards: aegis-trainer {step} failed for fit from {week['fit_from']}: {error}")
            return {"error": f"aegis-trainer {step}: {error}"}
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # A figure the report lacks (or gives as null) is kept as None and shown as "—".
    card_precision = report.get("card_precision") or {}
    return {"roc_auc": report.get("roc_auc"), "average_precision": report.get("average_precision"),
            "card_precision_at_100": card_precision.get("value"),
            "card_precision_days": card_precision.get("days"), "fit_seconds": seconds["train"],
            "evaluate_seconds": seconds["evaluate"]}


def quality_text(q):
    """AUC ROC / average precision / Card Precision@100, or why there are none."""
    if q is None or "error" in q:
        return f"failed: {q['error']}" if q else "—"
    return " / ".join("—" if q[key] is None else f"{q[key]:.3f}" for key in CARDS_TARGETS)


def cards_rows(c):
    """A row per week and one of the medians (cards_row); then each side's fit time."""
    if not c:
        return []
    weeks = c["weeks"]
    ok = [w for w in weeks if "error" not in w["aegis"]]
    rows = []
    last = lambda until: (date.fromisoformat(until) - timedelta(days=1)).isoformat()
    for w in weeks:
        rows.append(cards_row(f"Cards, fit {w['fit_from']}…{last(w['fit_until'])}, test "
                              f"{w['test_from']}…{last(w['test_until'])} ({w['test_rows']:,} rows, "
                              f"{w['test_frauds']} frauds)", w["aegis"], w.get("aegis_by_python"),
                              w["handbook_forest"]))
    if len(weeks) > 1:
        # Both sides' medians over the weeks Aegis was judged on (the forest's over all weeks if
        # Aegis failed on every one).
        judged = ok or weeks
        middle = lambda side: {key: median_or_none([w[side][key] for w in judged])
                               for key in CARDS_TARGETS}
        rows.append(cards_row(f"Cards, median of the weeks ({len(judged)})",
                              middle("aegis") if ok else None,
                              middle("aegis_by_python") if ok else None,
                              middle("handbook_forest")))
    rows.append(row(f"Cards, Card Precision@100 of reference rankings, median of the weeks "
                    f"({len(weeks)})",
                    f"{median([w['card_precision_bounds']['signs_first'] for w in weeks]):.3f} "
                    "with every fraud that shows a sign ranked first",
                    f"{median([w['card_precision_bounds']['hindsight'] for w in weeks]):.3f}",
                    "hindsight: every fraud ranked first", "—", "—"))
    if ok:
        a = median([w["aegis"]["fit_seconds"] for w in ok])
        fit = median([w["handbook_forest"]["fit_seconds"] for w in ok])
        features = median([w["features_seconds"] for w in ok])
        rows.append(row(f"Cards, fitting 7 days, one core (s), median of the weeks ({len(ok)})",
                        f"{a:.1f} (aegis-trainer train: read, features, fit)",
                        f"{features + fit:.1f} (features of every row {features:.1f} + fit "
                        f"{fit:.1f})", "pandas + RandomForestClassifier",
                        f"{(features + fit) / a:.1f}×", "—"))
    return rows


def cards_row(name, aegis, recount, forest):
    """One line of card figures: Aegis's own, then as recounted by Python on the Handbook's test
    set (the figures judged against the targets and the forest: the same rows and the same metric
    code as the forest's, whatever rows Aegis's evaluate counted), and how far the two are apart."""
    if aegis is None or "error" in aegis:
        return row(f"{name}: AUC / AP / CP@100", quality_text(aegis), quality_text(forest),
                   "Handbook random forest", "—", cards_targets_text())
    gap = max((abs(aegis[key] - recount[key]) for key in ("roc_auc", "average_precision")
               if aegis[key] is not None), default=None)
    agree = ("no AUC/AP of its own" if gap is None else
             f"AUC/AP within {gap:.0e}" if gap else "AUC/AP identical")
    if gap is not None and gap > 1e-6:
        agree += " ✗: not the same rows or not the same metric"
    met = all(recount[key] >= target for key, target in CARDS_TARGETS.items())
    lead = " / ".join(f"{recount[key] - forest[key]:+.3f}" for key in CARDS_TARGETS)
    return row(f"{name}: AUC / AP / CP@100", f"{quality_text(aegis)} (recounted by Python: "
               f"{quality_text(recount)} {'✓' if met else '✗'}; {agree})",
               quality_text(forest), "Handbook random forest", lead, cards_targets_text())


def median_or_none(values):
    """The median of the values that are there; None if none is."""
    present = [v for v in values if v is not None]
    return median(present) if present else None


def cards_targets_text():
    return " / ".join(f"≥ {target}" for target in CARDS_TARGETS.values())


def file_rows(f):
    """The file-scoring rows: median wall seconds (and rows/s) of each side, and the median and
    range of the per-run ratios; then the same for CPU seconds, steadier on a shared machine."""
    ratios = [b / a for a, b in zip(f["aegis"], f["baseline"])]
    a, b = median(f["aegis"]), median(f["baseline"])
    rows = [row(f"Scoring a file: {f['rows']:,}-row PaySim CSV → predictions CSV, one core, whole "
                f"process incl. start and model load (s; rows/s), {len(ratios)} runs",
                f"{a:.3f} ({f['rows'] / a:,.0f}/s)", f"{b:.3f} ({f['rows'] / b:,.0f}/s)",
                "pandas read_csv + sklearn predict_proba + to_csv",
                f"{median(ratios):.1f}× (runs {min(ratios):.1f}–{max(ratios):.1f}×)", "≥ 5×")]
    if "aegis_cpu" in f:
        ratios = [b / a for a, b in zip(f["aegis_cpu"], f["baseline_cpu"])]
        a, b = median(f["aegis_cpu"]), median(f["baseline_cpu"])
        rows.append(row("Scoring a file, CPU seconds (user + system) of the same runs",
                        f"{a:.3f}", f"{b:.3f}", "same", f"{median(ratios):.1f}× (runs "
                        f"{min(ratios):.1f}–{max(ratios):.1f}×)", "—"))
    return rows


def bench_curve(args, broker):
    """Latency at each of --rates for every side, --curve-runs times (the side going first
    rotating run by run), then the picture (bench/python/latency_curve.py). Each side's point is
    the median of its runs; Aegis's ratio to each baseline is the median of the per-run ratios
    (run i against run i)."""
    rates = [int(r) for r in args.rates.split(",")]
    say(f"curve: event → verdict at {', '.join(f'{r:,}' for r in rates)} tx/s, "
        f"{args.curve_runs} run(s) of {args.curve_seconds} s each: {', '.join(sides())}")
    results = {key: [] for side in sides() for key in (side, f"{side}_runs")}
    results.update(client=args.client, scorer_args=args.scorer_arg)
    tag = int(time.time())
    turn = 0
    for rate in rates:
        runs = {side: [] for side in sides()}
        for run in range(args.curve_runs):
            for side in in_turn(sides(), turn):
                point = latency_point(side, f"curve.{tag}.{rate}.{run}", rate, args.curve_seconds,
                                      broker, client_flags(args))
                say(f"curve: {side} at {rate:,} tx/s, run {run + 1}: p50 {point['p50_ms']:.0f} ms, "
                    f"p99 {point['p99_ms']:.0f} ms, {point['per_second']:,.0f}/s delivered"
                    f"{'' if point['keeps_up'] else ' (not keeping up)'}")
                runs[side].append(point)
            turn += 1
        for side in sides():
            results[f"{side}_runs"].append(runs[side])
            results[side].append(median_point(runs[side]))
        for baseline in sides()[1:]:
            ratios = [a["p99_ms"] / b["p99_ms"] for a, b in zip(runs["aegis"], runs[baseline])]
            suffix = "" if baseline == "baseline" else "_state"
            results["aegis"][-1][f"p99_ratio{suffix}"] = median(ratios)
            results["aegis"][-1][f"p99_ratio{suffix}_range"] = [min(ratios), max(ratios)]
    return results


def median_point(runs):
    """One point of the curve from several runs at the same rate: the median of every figure;
    keeping up if most runs did."""
    point = {key: median([r[key] for r in runs]) for key, value in runs[0].items()
             if isinstance(value, (int, float)) and not isinstance(value, bool)}
    point["rate"] = runs[0]["rate"]
    point["keeps_up"] = sum(r["keeps_up"] for r in runs) * 2 > len(runs)
    point["runs"] = len(runs)
    return point


def draw_curve(results, path):
    subprocess.run([PY, ROOT / "bench/python/latency_curve.py", WORK / "results.json", path],
                   check=True)
    say(f"curve drawn to {path}")


def curve_rows(curve):
    """The curve as a Markdown table, with where the pass-through stops keeping up and whether
    Aegis's p99 is within 1.2× the pass-through's at each rate the pass-through sustains (and,
    with a changelog, the same against the pass-through that writes one too)."""
    stateful = bool(curve.get("baseline_state"))
    names = ["Aegis", "pass-through", *(["pass-through + state"] if stateful else [])]
    each = " / ".join(names)
    rows = ["| offered tx/s | Aegis p50 / p99 (ms) | scorer's share p50 / p99 (ms) | pass-through "
            "p50 / p99 (ms) | Aegis p99 ÷ pass-through p99 (median of per-run ratios) | "
            + ("pass-through + state p50 / p99 (ms) | Aegis p99 ÷ pass-through + state p99 | "
               if stateful else "")
            + f"delivered/s {each} | CPU s per 100k {each} |",
            "|---|---|---|---|---|---|---|" + ("---|---|" if stateful else "")]
    mark = lambda r: "" if r["keeps_up"] else " (behind)"

    def ratio_cell(a, b, suffix):
        ratio = a.get(f"p99_ratio{suffix}", a["p99_ms"] / b["p99_ms"])
        low_high = a.get(f"p99_ratio{suffix}_range")
        spread = (f" (runs {low_high[0]:.2f}–{low_high[1]:.2f}×)"
                  if low_high and a.get("runs", 1) > 1 else "")
        verdict = ("✓" if ratio <= 1.2 else "✗") if b["keeps_up"] else "(baseline behind)"
        return f"{ratio:.2f}×{spread} {verdict}"

    for i, a in enumerate(curve["aegis"]):
        b = curve["baseline"][i]
        points = [a, b, *([curve["baseline_state"][i]] if stateful else [])]
        cells = [f"{a['rate']:,}", f"{a['p50_ms']:.0f} / {a['p99_ms']:.0f}{mark(a)}",
                 f"{a['scored_p50_ms']:.0f} / {a['scored_p99_ms']:.0f}",
                 f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f}{mark(b)}", ratio_cell(a, b, "")]
        if stateful:
            c = points[2]
            cells += [f"{c['p50_ms']:.0f} / {c['p99_ms']:.0f}{mark(c)}", ratio_cell(a, c, "_state")]
        cells += [" / ".join(f"{p['per_second']:,.0f}" for p in points),
                  " / ".join(f"{p['worker_cpu_s_per_100k']:.2f}" for p in points)]
        rows.append(f"| {' | '.join(cells)} |")
    rows.append("")
    for side, name in zip(["baseline", "baseline_state"], names[1:]):
        behind = [b["rate"] for b in curve[side] if not b["keeps_up"]]
        rows.append(f"The {name} stops keeping up at {behind[0]:,} tx/s." if behind else
                    f"The {name} kept up at every rate.")
    return "\n".join(rows)


def cores(runs, key):
    """The median of a CPU figure in cores, or a dash for results from before it was measured."""
    values = [run[key] for run in runs if key in run]
    return f"{median(values):.2f}" if values else "—"


def per_cpu_second(runs):
    """The median of requests served per second of the server's CPU: on a shared machine, where
    a server may not get its core to itself, the figure its neighbours disturb least; a dash for
    results from before it was measured."""
    values = [run["requests_per_second"] / run["server_cores"] for run in runs
              if run.get("server_cores")]
    return f"{median(values):,.0f}" if values else "—"


def part_rows(results, parts):
    """Medians of the HTTP and pipeline parts, for a run of only those parts."""
    m = lambda items, key: median([x[key] for x in items])
    rows = []
    if "http" in parts:
        rows += ["| HTTP server | req/s | p99 (ms) | RSS after the load (MB) "
                 "| server's CPU (cores) | load generator's CPU (cores) | req per server CPU-second |",
                 "|---|---|---|---|---|---|---|"]
        rows += [f"| {kind} (route {route}) | {m(results['http'][kind], 'requests_per_second'):,.0f} "
                 f"| {m(results['http'][kind], 'p99_ms'):.2f} | {m(results['http'][kind], 'rss_mb'):.0f} "
                 f"| {cores(results['http'][kind], 'server_cores')} "
                 f"| {cores(results['http'][kind], 'load_cores')} "
                 f"| {per_cpu_second(results['http'][kind])} |"
                 for kind, route in HTTP_SERVERS.items()]
    if "pipeline" in parts:
        pipe = results["pipeline"]
        rows += ["", f"Client settings: {' '.join(pipe['client']) or 'defaults'}",
                 "| pipeline | tx/s | CPU s per 100k (process) | CPU s per 100k (broker) |",
                 "|---|---|---|---|"]
        rows += [f"| {side} | {m(pipe[side], 'per_second'):,.0f} | "
                 f"{m(pipe[side], 'worker_cpu_s_per_100k'):.2f} | "
                 f"{m(pipe[side], 'broker_cpu_s_per_100k'):.2f} |"
                 for side in ("aegis", "baseline", "baseline_state") if pipe.get(side)]
    return "\n".join(rows)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    tansu = (subprocess.run(["tansu", "--version"], capture_output=True, text=True).stdout.strip()
             if shutil.which("tansu") else "tansu not installed")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {memory / 2**20:.0f} GiB, Linux "
            f"{platform.release()}; {rustc}; {tansu} (SQLite storage); Python "
            f"{platform.python_version()}")


def row(name, aegis, baseline, baseline_name, ratio, target):
    return f"| {name} | {aegis} | {baseline_name}: {baseline} | {ratio} | {target} |"


def kernel_rows(kern_a, kern_s):
    """The kernel's rows of the table. Batch: medians of the runs, and the ratio as the median of
    the per-run ratios (run i of Aegis against run i of scikit-learn) with their range."""
    b_runs = kern_s["batch_rows_per_second"]
    b = median(b_runs)

    def batch_row(name, a_runs):
        ratios = [a / b for a, b in zip(a_runs, b_runs)]
        return row(f"{name}, one core (rows/s), {len(ratios)} runs", f"{median(a_runs):,.0f}",
                   f"{b:,.0f}", "sklearn predict_proba",
                   # Two decimals: 9.96× must not print as the target's 10.0×.
                   f"{median(ratios):.2f}× (runs {min(ratios):.2f}–{max(ratios):.2f}×)", "≥ 10×")

    kernel = kern_a.get("batch_kernel")
    rows = [batch_row("Batch scoring" + (f" ({kernel} kernel)" if kernel else ""),
                      kern_a["batch_rows_per_second"])]
    # Each vectorised kernel the CPU runs, timed on its own in the same runs (an AVX-512 machine
    # also gives the figure of the AVX2 machines, which lack AVX-512).
    for name in ("avx512", "avx2"):
        if f"{name}_rows_per_second" in kern_a and name != kernel:
            rows.append(batch_row(f"Batch scoring, {name} kernel",
                                  kern_a[f"{name}_rows_per_second"]))
    if "reference_rows_per_second" in kern_a:
        r = median(kern_a["reference_rows_per_second"])
        rows.append(row("Batch scoring, portable reference kernel (rows/s)", f"{r:,.0f}",
                        f"{b:,.0f}", "sklearn predict_proba", f"{r / b:.1f}×", "—"))
    a50, b50 = median(kern_a["single_p50_us"]), median(kern_s["single_p50_us"])
    a99, b99 = median(kern_a["single_p99_us"]), median(kern_s["single_p99_us"])
    rows.append(row("One transaction, p50 / p99 (µs)", f"{a50:.1f} / {a99:.1f}",
                    f"{b50:,.0f} / {b99:,.0f}", "sklearn, one row", f"{b50 / a50:,.0f}× faster", "—"))
    return rows


def table(r, args):
    train_a, train_s = r["training"]
    kern_a, kern_s = r["kernel"]
    http, pipe, lat = r["http"], r["pipeline"], r["latency"]
    m = lambda items, key: median([x[key] for x in items])
    rows = kernel_rows(kern_a, kern_s)
    a, b = m(http["aegis"], "requests_per_second"), m(http["baseline"], "requests_per_second")
    deployed = f"FastAPI async, uvicorn[standard], {http['api_workers']} worker(s)"
    rows.append(row(f"POST /v1/score, one server core, {args.concurrency} connections (req/s)",
                    f"{a:,.0f}", f"{b:,.0f}", deployed, f"{a / b:,.0f}×", "≥ 200×"))
    if http.get("baseline_sync"):
        c = m(http["baseline_sync"], "requests_per_second")
        rows.append(row("POST /v1/score, against the first prototype (req/s)", f"{a:,.0f}",
                        f"{c:,.0f}", "FastAPI sync, plain uvicorn, 1 worker", f"{a / c:,.0f}×",
                        "—"))
    a, b = m(http["aegis"], "p99_ms"), m(http["baseline"], "p99_ms")
    rows.append(row("POST /v1/score p99 (ms)", f"{a:.2f}", f"{b:.1f}", deployed,
                    f"{b / a:,.0f}× lower", "—"))
    a, b = m(pipe["aegis"], "per_second"), m(pipe["baseline"], "per_second")
    rows.append(row(f"Pipeline, {args.messages:,} tx, one process (tx/s)", f"{a:,.0f}",
                    f"{b:,.0f}", "rdkafka pass-through", f"{a / b:.2f}×", "≥ 0.8×"))
    if pipe.get("baseline_state"):
        a, b = m(pipe["aegis"], "per_second"), m(pipe["baseline_state"], "per_second")
        rows.append(row(f"Pipeline, {args.messages:,} tx, one process (tx/s)", f"{a:,.0f}",
                        f"{b:,.0f}", "pass-through + one state record per tx", f"{a / b:.2f}×",
                        "—"))
    a, b = m(pipe["aegis"], "worker_cpu_s_per_100k"), m(pipe["baseline"], "worker_cpu_s_per_100k")
    rows.append(row("Pipeline CPU-seconds per 100k tx (process)", f"{a:.2f}", f"{b:.2f}",
                    "rdkafka pass-through", f"{a / b:.2f}×", "—"))
    a50, a99 = m(lat["aegis"], "p50_ms"), m(lat["aegis"], "p99_ms")
    b50, b99 = m(lat["baseline"], "p50_ms"), m(lat["baseline"], "p99_ms")
    rows.append(row(f"Event → verdict at {args.rate:,} tx/s, p50 / p99 (ms)",
                    f"{a50:.0f} / {a99:.0f}", f"{b50:.0f} / {b99:.0f}", "pass-through",
                    f"{a99 / b99:.2f}× p99", "p99 ≤ 20 ms"))
    a, b = m(http["aegis"], "rss_mb"), m(http["baseline"], "rss_mb")
    rows.append(row("Memory, RSS after the same HTTP load (MB)", f"{a:.0f}", f"{b:.0f}",
                    "uvicorn + sklearn (all workers)", f"{b / a:.1f}× less", "≤ 100 MB"))
    a, b = m(lat["aegis"], "peak_rss_mb"), m(lat["baseline"], "peak_rss_mb")
    rows.append(row(f"Memory, peak RSS at {args.rate:,} tx/s (MB)", f"{a:.0f}", f"{b:.0f}",
                    "pass-through", f"{a / b:.1f}×", "≤ 100 MB"))
    a, b = median(kern_a["load_seconds"]), median(kern_s["load_seconds"])
    rows.append(row("Model load (s)", f"{a:.3f}", f"{b:.3f}", "joblib.load", f"{b / a:.1f}×",
                    "≤ 1 s"))
    a, b = median(train_a["fit_seconds"]), median(train_s["fit_seconds"])
    rows.append(row(f"Training, {train_a['fit_rows']:,} rows, {train_a['threads']} threads (s)",
                    f"{a:.2f}", f"{b:.2f}", "sklearn fit", f"{b / a:.1f}×", "—"))
    if "file" in r:
        rows += file_rows(r["file"])
    if "features" in r:
        rows += features_rows(r["features"])
    if "cards" in r:
        rows += cards_rows(r["cards"])
    if "cards-pipeline" in r:
        rows += cards_pipeline_rows(r["cards-pipeline"])
    head = ["| Figure (median of runs) | Aegis | Baseline (same run) | Ratio | Target |",
            "|---|---|---|---|---|"]
    forests = (f"Forests: Aegis {train_a['trees']} trees, depth {kern_a and train_a['forest_depth']}, "
               f"{train_a['nodes']:,} nodes ({kern_a['scoring_nodes']:,} walked when scoring, "
               f"subtrees of one value merged); scikit-learn {train_s['trees']} trees, depth "
               f"{train_s['forest_depth']}, {train_s['nodes']:,} nodes (fitted on the same "
               f"{train_a['fit_rows']:,} rows and weights). Rows scored: {kern_a['rows']:,}.")
    return "\n".join(head + rows) + "\n\n" + forests


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of the kernel, HTTP, file and features figures")
    parser.add_argument("--kernel", choices=["auto", "avx512", "avx2", "portable"],
                        default="auto",
                        help="kernel: the batch kernel of the main figure (auto: what "
                             "predict_batch takes on this CPU); every vectorised kernel the CPU "
                             "runs gets a row of its own anyway")
    parser.add_argument("--runs-fit", type=int, default=3)
    parser.add_argument("--runs-pipeline", type=int, default=3)
    parser.add_argument("--runs-latency", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1_000_000, help="pipeline transactions")
    parser.add_argument("--rate", type=int, default=10_000, help="latency run, tx/s")
    parser.add_argument("--latency-seconds", type=int, default=20)
    parser.add_argument("--http-seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--api-workers", type=int, default=1,
                        help="uvicorn workers of the async prototype on its one core (1 measured "
                             "best: see docs/benchmarks.md)")
    parser.add_argument("--rates", default="1000,2000,3000,4000,6000,8000,12000",
                        help="curve: offered rates, tx/s, comma-separated")
    parser.add_argument("--curve-runs", type=int, default=3,
                        help="curve: runs per rate and side (medians; the order alternates)")
    parser.add_argument("--curve-seconds", type=int, default=15,
                        help="curve: seconds measured at each rate (after 5 s of warm-up)")
    parser.add_argument("--curve-out", type=Path, default=ROOT / "docs/latency-throughput.svg",
                        help="curve: the picture to write")
    parser.add_argument("--client", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka property for the scorer's and the pass-through's clients "
                             "(-X), after their defaults; repeatable (pipeline, latency, curve)")
    parser.add_argument("--scorer-arg", action="append", default=[], metavar="FLAG",
                        help="a flag for every scorer, e.g. --scorer-arg=--state-changelog-topic= "
                             "(repeatable)")
    parser.add_argument("--cards-starts", default=CARDS_STARTS, metavar="DATE,...",
                        help="cards: first fit day of each week (fit 7 days, test days 14-20 "
                             "after it), comma-separated; April-June starts for tuning")
    parser.add_argument("--cards-messages", type=int, default=300_000,
                        help="cards-pipeline: card payments pre-loaded (the first of the "
                             "Handbook's file, else of the sample, all 58,558 at most); 0: the "
                             "latency curve only")
    parser.add_argument("--cards-rates", default="1000,2000,4000,8000",
                        help="cards-pipeline: offered rates of its latency curve, tx/s")
    parser.add_argument("--quick", action="store_true",
                        help="a fast look: fewer runs, 100k pipeline transactions, short runs")
    parser.add_argument("--only", choices=PARTS,
                        action="append", help="run only these parts (repeatable)")
    args = parser.parse_args()
    try:
        card_weeks(args.cards_starts)
    except ValueError as error:
        parser.error(f"--cards-starts: {error} (dates are YYYY-MM-DD, comma-separated)")
    SCORER_ARGS.extend(args.scorer_arg)
    if args.quick:
        args.runs, args.runs_fit, args.runs_pipeline, args.runs_latency = 2, 1, 1, 1
        args.messages, args.latency_seconds, args.http_seconds = 100_000, 10, 4
        args.curve_seconds, args.curve_runs = 10, 1
        args.cards_messages = 58_558
    parts = args.only or PARTS

    LOGS.mkdir(parents=True, exist_ok=True)
    results_path = WORK / "results.json"
    results = json.loads(results_path.read_text()) if args.only and results_path.exists() else {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        # The fit's figures and thresholds, for the parts that use them.
        if {"training", "kernel", "http", "file"} & set(parts) and (
                "training" in parts or "training" not in results
                or not (WORK / "sklearn.joblib").exists()):
            results["training"] = bench_training(args)
        thresholds = ((results["training"][0]["review_threshold"],
                       results["training"][0]["block_threshold"])
                      if "training" in results else None)
        if "kernel" in parts:
            results["kernel"] = bench_kernel(args)
        if "file" in parts:
            results["file"] = bench_file(args, thresholds)
        if "features" in parts:
            results["features"] = bench_features(args)
        if "cards" in parts:
            results["cards"] = bench_cards(args)
        if {"http", "pipeline", "latency", "curve", "cards-pipeline"} & set(parts):
            broker = Broker()
            if "http" in parts:
                results["http"] = bench_http(args, broker, thresholds)
            if "pipeline" in parts:
                results["pipeline"] = bench_pipeline(args, broker)
            if "latency" in parts:
                results["latency"] = bench_latency(args, broker)
            if "curve" in parts:
                results["curve"] = bench_curve(args, broker)
            if "cards-pipeline" in parts:
                results["cards-pipeline"] = bench_cards_pipeline(args, broker)
    finally:
        stop_all()
    results["machine"] = machine()
    results["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results_path.write_text(json.dumps(results, indent=1))
    if "curve" in parts:
        draw_curve(results, args.curve_out)
    if all(k in results for k in ["training", "kernel", "http", "pipeline", "latency"]):
        text = f"{table(results, args)}\n\nMachine: {results['machine']}.\n"
        if "curve" in results:
            text += f"\n{curve_rows(results['curve'])}\n"
        (WORK / "results.md").write_text(text)
        print(text)
    else:
        print(json.dumps(results, indent=1))
        rows = [*(kernel_rows(*results["kernel"]) if "kernel" in parts else []),
                *(file_rows(results["file"]) if "file" in parts else []),
                *(features_rows(results["features"]) if "features" in parts else []),
                *(cards_rows(results["cards"]) if "cards" in parts else []),
                *(cards_pipeline_rows(results["cards-pipeline"]) if "cards-pipeline" in parts
                  else [])]
        if rows:
            print("\n".join(["| Figure (median of runs) | Aegis | Baseline (same run) | Ratio | Target |",
                             "|---|---|---|---|---|", *rows]))
        if "curve" in parts:
            print(curve_rows(results["curve"]))
        if {"http", "pipeline"} & set(parts):
            print(part_rows(results, parts))
    say(f"raw results in {results_path}; logs in {LOGS}")


if __name__ == "__main__":
    main()
