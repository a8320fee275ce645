#!/usr/bin/env python3
"""Runs every benchmark of scripts/bench next to its baseline, in the same run, on the same data,
and prints one table of medians. Called by scripts/bench (which installs everything first).

Each Aegis figure has a baseline measured here, now:
  training          aegis-trainer's fit (aegis-bench train) vs scikit-learn fitting the same forest
                    size on the same rows with the same weights and threads
  kernel            the compiled forest on one core vs RandomForestClassifier.predict_proba
                    (n_jobs=1), same rows; single-row latency and model load time likewise
  HTTP              POST /v1/score vs the prototype's FastAPI + uvicorn + scikit-learn endpoint:
                    server pinned to core 0, the same load generator (aegis-bench http) on core 1
  pipeline          N transactions through one scorer vs a bare rdkafka pass-through (consume and
                    re-produce the same bytes, the scorer's client settings), same broker, topic
                    and partitions
  latency           event-to-verdict as a downstream consumer sees it at a steady rate, and the
                    same for the pass-through's copies
  memory            the scorer's peak RSS under that load vs the prototype's RSS after its load
  file              scoring a 202,640-row PaySim CSV to a predictions file on one core:
                    aegis-trainer evaluate --predictions vs pandas read_csv + the prototype's
                    features + predict_proba + to_csv (bench/python/file_baseline.py), each timed
                    as a whole process (start, model load, read, score, write), runs alternating
Nothing here is a test: figures are printed, never judged pass/fail.
"""

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"
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


def wait_http(url, what, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    log = (LOGS / f"{process.name}.log").read_text()[-2000:]
    sys.exit(f"bench: {what} did not become ready at {url}; its log:\n{log}")


def memory_mb(pid):
    """Current and peak resident set size of a process, in MB (from /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1)) / 1024
    return field("VmRSS"), field("VmHWM")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def scorer(name, broker, group, input_topic, output_topic, cpu=None):
    port = free_port()
    p = start(name, [BIN / "aegis-scorer", "--brokers", broker.brokers, "--group-id", group,
                     "--input-topic", input_topic, "--output-topic", output_topic,
                     "--dlq-topic", broker.topic(f"{output_topic}.dlq", 1), "--model", MODEL,
                     # Account state on, as deployed: every batch also writes its accounts' states.
                     "--state-changelog-topic", broker.topic(f"{output_topic}.state"),
                     "--http-addr", f"127.0.0.1:{port}"], cpu=cpu)
    p.url = f"http://127.0.0.1:{port}"
    wait_http(p.url + "/healthz", name, p)
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
    say(f"kernel: compiled forest vs predict_proba on one core, {args.runs} runs each")
    common = ["--rows", WORK / "score.csv", "--runs", args.runs]
    aegis = probe([BIN / "aegis-bench", "kernel", "--model", MODEL, *common], cpu=1)
    sklearn = probe([PY, ROOT / "bench/python/sklearn_baseline.py", "kernel",
                     "--model", WORK / "sklearn.joblib", *common], cpu=1)
    return aegis, sklearn


def bench_http(args, broker, thresholds):
    say(f"HTTP: POST /v1/score vs FastAPI + uvicorn + scikit-learn, {args.concurrency} connections,"
        f" {args.runs} runs of {args.http_seconds} s each")
    body = WORK / "takeover.json"
    body.write_text(json.dumps(TAKEOVER))
    aegis = scorer("scorer-http", broker, "bench-http", broker.topic("bench.http"),
                   broker.topic("bench.http.verdicts"), cpu=0)
    port = free_port()
    env = dict(os.environ, AEGIS_BENCH_SKLEARN_MODEL=str(WORK / "sklearn.joblib"),
               AEGIS_BENCH_REVIEW=str(thresholds[0]), AEGIS_BENCH_BLOCK=str(thresholds[1]))
    python = start("prototype-api", [PY, "-m", "uvicorn", "prototype_api:app", "--app-dir",
                                     ROOT / "bench/python", "--port", port, "--workers", "1",
                                     "--log-level", "warning", "--no-access-log"], cpu=0, env=env)
    python.url = f"http://127.0.0.1:{port}"
    wait_http(python.url + "/openapi.json", "the FastAPI baseline", python)
    load = ["--body", body, "--concurrency", args.concurrency, "--seconds", args.http_seconds,
            "--warmup", 2]
    results = {"aegis": [], "baseline": []}
    for _ in range(args.runs):
        results["aegis"].append(
            probe([BIN / "aegis-bench", "http", "--url", aegis.url + "/v1/score", *load], cpu=1))
        results["baseline"].append(
            probe([BIN / "aegis-bench", "http", "--url", python.url + "/score", *load], cpu=1))
    results["baseline_rss_mb"] = memory_mb(python.pid)[0]
    results["aegis_http_rss_mb"] = memory_mb(aegis.pid)[0]
    stop(python)
    stop(aegis)
    return results


def bench_pipeline(args, broker):
    n = args.messages
    source = broker.topic("bench.pipeline.transactions")
    say(f"pipeline: publishing {n:,} simulated transactions to {source}")
    done = subprocess.run([BIN / "aegis-producer", "--brokers", broker.brokers, "--topic", source,
                           "--simulate", "--count", str(n)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: the producer failed:\n{done.stderr[-2000:]}")
    say(f"pipeline: scorer vs bare rdkafka pass-through, {args.runs_pipeline} runs each")
    results = {"aegis": [], "baseline": []}
    for i in range(args.runs_pipeline):
        out = broker.topic(f"bench.pipeline.copies.{i}")
        watcher = start(f"watch-pass-{i}", [BIN / "aegis-bench", "watch", "--brokers",
                                            broker.brokers, "--topic", out, "--count", n])
        passthrough = start(f"passthrough-{i}", [BIN / "aegis-bench", "passthrough", "--brokers",
                                                 broker.brokers, "--input", source, "--output", out,
                                                 "--group", f"bench-pass-{i}", "--count", n])
        results["baseline"].append(finish_watch(watcher, passthrough, broker))
        stop(passthrough)

        out = broker.topic(f"bench.pipeline.verdicts.{i}")
        watcher = start(f"watch-scorer-{i}", [BIN / "aegis-bench", "watch", "--brokers",
                                              broker.brokers, "--topic", out, "--count", n])
        replica = scorer(f"scorer-pipeline-{i}", broker, f"bench-score-{i}", source, out)
        results["aegis"].append(finish_watch(watcher, replica, broker))
        stop(replica)
    return results


def finish_watch(watcher, worker=None, broker=None):
    """The watcher's result; with `worker` and `broker`, plus the CPU seconds each used meanwhile
    (who is the bottleneck)."""
    before = {"worker": cpu_seconds(worker.pid), "broker": cpu_seconds(broker.process.pid)} \
        if worker else {}
    watcher.wait()
    log = (LOGS / f"{watcher.name}.log").read_text()
    if watcher.returncode != 0:
        sys.exit(f"bench: {watcher.name} failed:\n{log[-2000:]}")
    result = json.loads(log.strip().splitlines()[-1])
    if worker:
        result["worker_cpu_seconds"] = cpu_seconds(worker.pid) - before["worker"]
        result["broker_cpu_seconds"] = cpu_seconds(broker.process.pid) - before["broker"]
    return result


def bench_latency(args, broker):
    say(f"latency: steady {args.rate:,} tx/s, {args.runs_latency} runs of "
        f"{args.latency_seconds} s each, scorer and pass-through")
    results = {"aegis": [], "baseline": [], "rss_mb": [], "peak_rss_mb": []}
    for i in range(args.runs_latency):
        for side in ("aegis", "baseline"):
            source = broker.topic(f"bench.latency.{side}.{i}")
            out = broker.topic(f"bench.latency.{side}.{i}.out")
            if side == "aegis":
                worker = scorer(f"scorer-latency-{i}", broker, f"bench-latency-{i}", source, out)
                wait_http(worker.url + "/readyz", "the scorer's partition assignment", worker)
                carries = "verdict"
            else:
                worker = start(f"passthrough-latency-{i}", [
                    BIN / "aegis-bench", "passthrough", "--brokers", broker.brokers, "--input",
                    source, "--output", out, "--group", f"bench-pass-latency-{i}",
                    "--count", 10**12])
                carries = "transaction"
            latency = start(f"latency-{side}-{i}", [
                BIN / "aegis-bench", "latency", "--brokers", broker.brokers, "--topic", out,
                "--skip", 5, "--seconds", args.latency_seconds, "--carries", carries])
            time.sleep(1)
            producer = start(f"producer-latency-{side}-{i}", [
                BIN / "aegis-producer", "--brokers", broker.brokers, "--topic", source,
                "--simulate", "--rate", args.rate, "--duration", args.latency_seconds + 8])
            results[side].append(finish_watch(latency))
            if side == "aegis":
                rss, peak = memory_mb(worker.pid)
                results["rss_mb"].append(rss)
                results["peak_rss_mb"].append(peak)
            stop(producer)
            stop(worker)
    return results


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
    a_runs, b_runs = kern_a["batch_rows_per_second"], kern_s["batch_rows_per_second"]
    ratios = [a / b for a, b in zip(a_runs, b_runs)]
    a, b = median(a_runs), median(b_runs)
    rows = [row(f"Batch scoring, one core (rows/s), {len(ratios)} runs", f"{a:,.0f}", f"{b:,.0f}",
                "sklearn predict_proba",
                f"{median(ratios):.1f}× (runs {min(ratios):.1f}–{max(ratios):.1f}×)", "≥ 10×")]
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
    rows.append(row(f"POST /v1/score, one server core, {args.concurrency} connections (req/s)",
                    f"{a:,.0f}", f"{b:,.0f}", "FastAPI + uvicorn + sklearn", f"{a / b:,.0f}×",
                    "≥ 200×"))
    a, b = m(http["aegis"], "p99_ms"), m(http["baseline"], "p99_ms")
    rows.append(row("POST /v1/score p99 (ms)", f"{a:.2f}", f"{b:.1f}", "same endpoint",
                    f"{b / a:,.0f}× lower", "—"))
    a, b = m(pipe["aegis"], "per_second"), m(pipe["baseline"], "per_second")
    rows.append(row(f"Pipeline, {args.messages:,} tx, one process (tx/s)", f"{a:,.0f}",
                    f"{b:,.0f}", "rdkafka pass-through", f"{a / b:.2f}×", "≥ 0.8×"))
    a50, a99 = m(lat["aegis"], "p50_ms"), m(lat["aegis"], "p99_ms")
    b50, b99 = m(lat["baseline"], "p50_ms"), m(lat["baseline"], "p99_ms")
    rows.append(row(f"Event → verdict at {args.rate:,} tx/s, p50 / p99 (ms)",
                    f"{a50:.0f} / {a99:.0f}", f"{b50:.0f} / {b99:.0f}", "pass-through",
                    f"{a99 / b99:.2f}× p99", "p99 ≤ 20 ms"))
    a, b = median(lat["peak_rss_mb"]), http["baseline_rss_mb"]
    rows.append(row(f"Scorer memory, peak RSS at {args.rate:,} tx/s (MB)", f"{a:.0f}", f"{b:.0f}",
                    "uvicorn + sklearn RSS", f"{b / a:.1f}× less", "≤ 100 MB"))
    a, b = median(kern_a["load_seconds"]), median(kern_s["load_seconds"])
    rows.append(row("Model load (s)", f"{a:.3f}", f"{b:.3f}", "joblib.load", f"{b / a:.1f}×",
                    "≤ 1 s"))
    a, b = median(train_a["fit_seconds"]), median(train_s["fit_seconds"])
    rows.append(row(f"Training, {train_a['fit_rows']:,} rows, {train_a['threads']} threads (s)",
                    f"{a:.2f}", f"{b:.2f}", "sklearn fit", f"{b / a:.1f}×", "—"))
    if "file" in r:
        rows += file_rows(r["file"])
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
    parser.add_argument("--runs", type=int, default=5, help="runs of kernel and HTTP figures")
    parser.add_argument("--runs-fit", type=int, default=3)
    parser.add_argument("--runs-pipeline", type=int, default=3)
    parser.add_argument("--runs-latency", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1_000_000, help="pipeline transactions")
    parser.add_argument("--rate", type=int, default=10_000, help="latency run, tx/s")
    parser.add_argument("--latency-seconds", type=int, default=20)
    parser.add_argument("--http-seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true",
                        help="a fast look: fewer runs, 100k pipeline transactions, short runs")
    parser.add_argument("--only", choices=["training", "kernel", "http", "pipeline", "latency",
                                           "file"],
                        action="append", help="run only these parts (repeatable)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.runs_fit, args.runs_pipeline, args.runs_latency = 2, 1, 1, 1
        args.messages, args.latency_seconds, args.http_seconds = 100_000, 10, 4
    parts = args.only or ["training", "kernel", "http", "pipeline", "latency", "file"]

    LOGS.mkdir(parents=True, exist_ok=True)
    results_path = WORK / "results.json"
    results = json.loads(results_path.read_text()) if args.only and results_path.exists() else {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        if ("training" in parts or "training" not in results
                or not (WORK / "sklearn.joblib").exists()):
            results["training"] = bench_training(args)
        thresholds = (results["training"][0]["review_threshold"],
                      results["training"][0]["block_threshold"])
        if "kernel" in parts:
            results["kernel"] = bench_kernel(args)
        if "file" in parts:
            results["file"] = bench_file(args, thresholds)
        if {"http", "pipeline", "latency"} & set(parts):
            broker = Broker()
            if "http" in parts:
                results["http"] = bench_http(args, broker, thresholds)
            if "pipeline" in parts:
                results["pipeline"] = bench_pipeline(args, broker)
            if "latency" in parts:
                results["latency"] = bench_latency(args, broker)
    finally:
        stop_all()
    results["machine"] = machine()
    results["args"] = vars(args)
    results_path.write_text(json.dumps(results, indent=1))
    if all(k in results for k in ["training", "kernel", "http", "pipeline", "latency"]):
        text = f"{table(results, args)}\n\nMachine: {results['machine']}.\n"
        (WORK / "results.md").write_text(text)
        print(text)
    else:
        print(json.dumps(results, indent=1))
        rows = [*(kernel_rows(*results["kernel"]) if "kernel" in parts else []),
                *(file_rows(results["file"]) if "file" in parts else [])]
        if rows:
            print("\n".join(["| Figure (median of runs) | Aegis | Baseline (same run) | Ratio | Target |",
                             "|---|---|---|---|---|", *rows]))
    say(f"raw results in {results_path}; logs in {LOGS}")


if __name__ == "__main__":
    main()
