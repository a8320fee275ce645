#!/usr/bin/env bash
# Minimal reproduction: librdkafka's idempotent producer busy-loops while a partition has its five
# requests in flight and its next batch is ready.
#
# In rd_kafka_toppar_producer_serve (librdkafka 2.12.1, rdkafka_broker.c) the broker thread's
# next wake-up is set from the partition's queue (`rd_kafka_msgq_allow_wakeup_at`: "now" once the
# batch is ready) before the idempotent in-flight limit (RD_KAFKA_IDEMP_MAX_INFLIGHT = 5) refuses
# to send it; the thread wakes at once, finds the limit still reached, and goes round again until
# a response frees a slot. On a broker that answers slowly, that is a core's worth of polling.
#
# One tansu broker (SQLite storage, in a temporary directory) with a stateful pass-through
# (`aegis-bench passthrough --changelog`: every transaction re-produced to two more topics, rdkafka
# only — what the latency curve runs) so that the broker answers produce requests as slowly as in
# the curve; then the same paced producer (RATE transactions a second, 4 partitions) three times,
# 12 s measured each, differing only in its settings: idempotent with linger.ms 5 (aegis-producer's
# default until 2026-12-06), not idempotent, and idempotent with linger.ms 20 (its default since).
# Prints each one's CPU (user + system) a second over the measured window. 2026-12-06, 4,000
# tx/s: 421, 155, 127 ms (again: 391, 175, 130; at 18:12: 229, 150, 116; at 18:14: 223, 160,
# 120); 6,000 tx/s: 733, 210, 165 ms. Alone against an idle broker the three use about the same
# (178, 203, 166 ms at 4,000 tx/s): the spin needs slow responses.
#
#   bench/repro/idempotent-spin.sh [RATE] [PORT]     # defaults 4000 and 19092
#
# Needs the release binaries (cargo build --release --bins) and tansu (scripts/setup).
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-4000}
port=${2:-19092}
source bench/repro/broker.sh tx out state

"$bin/aegis-bench" passthrough --brokers "127.0.0.1:$port" --input tx --output out \
  --changelog state --count 1000000000 >"$work/passthrough.log" 2>&1 &
sleep 2

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
window=12  # seconds measured, after 2 s of start-up
for settings in "enable.idempotence=true linger.ms=5" "enable.idempotence=false linger.ms=5" \
                "enable.idempotence=true linger.ms=20"; do
  flags=()
  for s in $settings; do flags+=(-X "$s"); done
  "$bin/aegis-producer" --brokers "127.0.0.1:$port" --transactions-topic tx --simulate \
    --rate "$rate" --duration 16s "${flags[@]}" >"$work/producer.log" 2>&1 &
  pid=$!
  sleep 2
  before=$(ticks "$pid")
  sleep "$window"
  after=$(ticks "$pid")
  wait "$pid" || true  # a failed delivery is reported in its summary line
  echo "$settings: $(( (after - before) * 1000 / hz / window )) ms of CPU a second at $rate tx/s;" \
    "$(tail -1 "$work/producer.log" | cut -d, -f1-3)"
done
