#!/usr/bin/env bash
# Minimal reproduction: tansu 0.6.0 holds a fetch for its whole max wait when data arrives meanwhile.
#
# One tansu broker (SQLite storage, in a temporary directory), one 4-partition topic, one producer
# at RATE transactions a second, and three consumers of that topic that differ only in
# fetch.wait.max.ms (10, 100, 500 ms). Each prints the p50/p99 of now − the record's event time.
# A broker that answers a fetch as soon as fetch.min.bytes (1) is available gives all three the
# same latency; on tansu 0.6.0 the latency grows with the wait (2026-12-06, 2,000 tx/s:
# p50 51 / 167 / 434 ms, p99 135 / 240 / 593 ms).
#
#   bench/repro/tansu-fetch-wait.sh [RATE] [PORT]     # defaults 2000 and 19092
#
# Needs the release binaries (cargo build --release --bins) and tansu (scripts/setup).
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-2000}
port=${2:-19092}
source bench/repro/broker.sh tx

probes=()
for wait_ms in 10 100 500; do
  "$bin/aegis-bench" latency --brokers "127.0.0.1:$port" --topic tx --carries transaction \
    --duration 15s --skip 5s -X "fetch.wait.max.ms=$wait_ms" >"$work/probe-$wait_ms.json" &
  probes+=($!)
done
sleep 2
"$bin/aegis-producer" --brokers "127.0.0.1:$port" --transactions-topic tx --simulate \
  --rate "$rate" --duration 24s >"$work/producer.log" 2>&1 &
wait "${probes[@]}"
for wait_ms in 10 100 500; do
  python3 -c "import json, sys; r = json.load(open(sys.argv[1])); \
print(f'fetch.wait.max.ms={sys.argv[2]:>3}: p50 {r[\"p50_ms\"]:.0f} ms, p99 {r[\"p99_ms\"]:.0f} ms, {r[\"records\"]} records')" \
    "$work/probe-$wait_ms.json" "$wait_ms"
done
