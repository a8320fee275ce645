#!/usr/bin/env bash
# tansu 0.6.0: a consumer-group member that dies without leaving (SIGKILL) wedges an eager-protocol
# group for good. Members A and B share topic t (4 partitions); A (the leader) or B is killed, C
# joins; 45 s later the partitions should be shared by the live members (Kafka expels the dead one
# after session.timeout.ms, 10 s). With tansu and librdkafka's default eager assignment they are
# not: the live members hold nothing, or the dead member keeps its share. cooperative-sticky
# recovers.
#
#   chaos/repro/tansu-dead-member.sh [leader|follower] [range,roundrobin|cooperative-sticky]
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
VICTIM=${1:-leader}
STRATEGY=${2:-range,roundrobin}
start_broker
create_topic t 4
member() { "$PY" "$REPO/chaos/repro/member.py" "$1" "$BROKERS" "$STRATEGY" & PIDS+=($!); }
member A; A=$!
sleep 3
member B; B=$!
sleep 8
if [ "$VICTIM" = leader ]; then echo "--- SIGKILL to A (the leader)"; kill -KILL "$A"
else echo "--- SIGKILL to B (a follower)"; kill -KILL "$B"; fi
sleep 2
member C
sleep 45
echo "--- 45 s after C joined: the last assignment lines above are the final state"
