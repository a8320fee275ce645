"""A/B of aegis-scorer binaries on `POST /v1/score`: the scorer's CPU per request.

bench/run.py's HTTP part measures requests a second, which on a shared machine follows how much of
core 0 the scorer gets. This runs two (or more) builds the same way — each scorer alone on core 0
against one tansu broker, `aegis-bench http` on core 1, 32 keep-alive connections, the takeover
body, 2 s of warm-up — alternating the order round by round, and prints for each run the requests
a second, the CPU (user + system, from /proc) the scorer and the load generator used over the
measured window, and the scorer's CPU per request in µs: the figure that says whether a change
made a request cheaper, whatever the neighbours do. With PERF=prefix it also records
`perf record -F 999 -g` of the scorer (prefix-NAME-ROUND.data) instead of sleeping.

    .aegis/bench-venv/bin/python bench/repro/http-ab.py ROUNDS SECONDS NAME=BINDIR [NAME=BINDIR ...]

Each BINDIR holds an `aegis-scorer` and an `aegis-bench` (copies of a release build's).
Issue 28 (docs/benchmarks.md, "`POST /v1/score`: where the time goes"): 2026-12-07 23:21–23:23
UTC, 4 rounds of 8 s, load average 5.9–6.7: before 43.9 / 46.5 / 50.6 / 43.1 µs a request, after
32.1 / 33.0 / 30.2 / 32.9; 23:23–23:24, 2 rounds of 6 s, load 5.3–6.5: 45.7 / 43.8 against
27.6 / 27.8.
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run as bench  # noqa: E402  (bench/run.py: its broker, scorer and pinning)


def main():
    rounds, seconds = int(sys.argv[1]), float(sys.argv[2])
    sides = [a.split("=", 1) for a in sys.argv[3:]]
    bench.LOGS.mkdir(parents=True, exist_ok=True)
    body = bench.WORK / "takeover.json"
    body.write_text(json.dumps(bench.TAKEOVER))
    broker = bench.Broker()
    rows = []
    try:
        for r in range(rounds):
            for name, bindir in (sides if r % 2 == 0 else list(reversed(sides))):
                rows.append(one_run(broker, name, Path(bindir), r, seconds, body))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        bench.stop_all()
    for name, _ in sides:
        mine = [row for row in rows if row["side"] == name]
        m = lambda key: statistics.median(row[key] for row in mine)
        print(f"{name}: median {m('rps'):,.0f} req/s, scorer {m('scorer_cores'):.2f} cores, "
              f"{m('scorer_us_per_request'):.1f} µs a request; load generator "
              f"{m('load_cores'):.2f} cores")


def one_run(broker, name, bindir, r, seconds, body):
    bench.BIN = bindir
    server = bench.scorer(f"ab-{name}-{r}", broker, f"ab-{name}-{r}",
                          broker.topic(f"ab.{name}.{r}"), broker.topic(f"ab.{name}.{r}.v"), cpu=0)
    load = subprocess.Popen(bench.pinned(1, [
        bindir / "aegis-bench", "http", "--url", server.url + "/v1/score", "--body", body,
        "--concurrency", 32, "--duration", f"{seconds}s", "--warmup", "2s"]),
        stdout=subprocess.PIPE, text=True)
    time.sleep(2.0)
    s0, l0, t0 = bench.cpu_seconds(server.pid), bench.cpu_seconds(load.pid), time.time()
    if os.environ.get("PERF"):
        subprocess.run(["perf", "record", "-F", "999", "-g", "-p", str(server.pid), "-o",
                        f"{os.environ['PERF']}-{name}-{r}.data", "--", "sleep",
                        str(seconds - 1.5)], capture_output=True, check=False)
        time.sleep(1.0)
    else:
        time.sleep(seconds - 0.5)
    s1, l1, t1 = bench.cpu_seconds(server.pid), bench.cpu_seconds(load.pid), time.time()
    result = json.loads(load.communicate()[0].strip().splitlines()[-1])
    bench.stop(server)
    scorer_cores = (s1 - s0) / (t1 - t0)
    return dict(side=name, round=r, rps=result["requests_per_second"], p99_ms=result["p99_ms"],
                failures=result["failures"], scorer_cores=scorer_cores,
                load_cores=(l1 - l0) / (t1 - t0),
                scorer_us_per_request=scorer_cores / result["requests_per_second"] * 1e6,
                load_average=os.getloadavg()[0], at=time.strftime("%H:%M:%S", time.gmtime()))


if __name__ == "__main__":
    main()
