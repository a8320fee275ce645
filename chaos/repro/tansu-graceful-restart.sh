#!/usr/bin/env bash
# tansu 0.6.0: stopping the broker gracefully (SIGTERM) under an idempotent producer and starting
# it again on the same SQLite storage makes its storage task panic on the producer's next batch
# (tansu-storage lite.rs:503 "more or less than one row", in idempotent_message_check, for a
# producer epoch it has no row for); every produce after that fails with "Unknown broker error"
# until the broker is restarted. After SIGKILL instead, nothing is lost.
#
#   chaos/repro/tansu-graceful-restart.sh [TERM|KILL]
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
SIGNAL=${1:-TERM}
start_broker
create_topic t 1
"$PY" "$REPO/chaos/repro/produce.py" "$BROKERS" 20 & PRODUCER=$!
PIDS+=("$PRODUCER")
sleep 5
echo "--- stopping the broker (SIG$SIGNAL), starting it again in 3 s"
kill -"$SIGNAL" "$BROKER"
wait "$BROKER" 2>/dev/null || true
sleep 3
start_broker
wait "$PRODUCER"
echo "--- the broker's log:"
grep -a "panicked\|more or less than one row" "$DIR/broker.log" || echo "(no panic)"
