#!/usr/bin/env bash
# aegis-scorer (fixed): SIGTERM while the broker is going away used to leave the scorer running for
# good, although the README promises drain, flush and commit within --shutdown-timeout (15 s). A busy
# scorer got SIGTERM together with its broker; 60 s later it was still running, blocked in
# pipeline::finish: commit_consumer_state(CommitMode::Sync) (rd_kafka_commit waits for the group
# coordinator without a limit), or, when that got through, in dropping the StreamConsumer (rdkafka
# 0.38's BaseConsumer::drop polls until the consumer is closed, which also waits for the coordinator).
# Now the commit and the close run on a thread the scorer leaves behind after --shutdown-timeout: it
# exits with status 1 and one line after about 16 s. Exit 0 here: the scorer stopped; 1: it hangs.
# The regression test is scorer/tests/it/cli.rs, sigterm_with_the_broker_gone_stops_within_the_
# shutdown_timeout.
#
#   chaos/repro/scorer-shutdown-hang.sh [BIN_DIR]      # default target/release
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
BIN=${1:-$REPO/target/release}
start_broker
for topic in transactions verdicts transactions.dlq; do create_topic "$topic" 1; done
MODEL="$REPO/models/aegis.model"
(cd "$REPO" && "$STACK" model --bin-dir "$BIN" --out "$MODEL")
"$BIN/aegis-scorer" --brokers "$BROKERS" --model "$MODEL" --http-addr 127.0.0.1:0 --live-view all \
  >"$DIR/scorer.log" 2>&1 & SCORER=$!
PIDS+=("$SCORER")
until grep -q "partitions assigned" "$DIR/scorer.log"; do sleep 0.2; done
"$BIN/aegis-producer" --brokers "$BROKERS" --simulate --rate 2000 --count 100000 >/dev/null 2>&1 &
PIDS+=($!)
sleep 5
echo "--- SIGTERM to the broker and the scorer together"
kill -TERM "$BROKER" "$SCORER"
for second in $(seq 1 60); do
  if ! kill -0 "$SCORER" 2>/dev/null; then
    wait "$SCORER" && status=0 || status=$?
    echo "the scorer exited after ${second} s with status $status; its last line:"
    tail -n 1 "$DIR/scorer.log"
    exit 0
  fi
  sleep 1
done
echo "the scorer is still running 60 s after SIGTERM; its last words:"
sed 's/\x1b\[[0-9;]*m//g' "$DIR/scorer.log" | grep -v "Connect to\|BrokerTransportFailure\|REQTMOUT" | tail -n 4
exit 1
