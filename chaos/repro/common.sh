# Shared by the reproductions: a tansu broker on a free port with SQLite storage in a temporary
# directory (as scripts/demo starts it), and the Python client from scripts/setup.
# shellcheck shell=bash
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY="$REPO/.aegis/venv/bin/python"
[ -x "$PY" ] || { echo "run scripts/setup first (it installs .aegis/venv)" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tansu-repro.XXXXXX")
mkdir "$DIR/broker"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BROKERS="127.0.0.1:$PORT"
PIDS=()
trap 'kill -KILL "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT

# Starts the broker (again, on the same storage) and sets BROKER to its pid.
start_broker() {
  (cd "$DIR/broker" && exec tansu broker --listener-url "tcp://$BROKERS" \
    --advertised-listener-url "tcp://$BROKERS" --storage-engine sqlite://broker.db) >>"$DIR/broker.log" 2>&1 &
  BROKER=$!
  PIDS+=("$BROKER")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0; sleep 0.1; done
  echo "the broker did not start" >&2; exit 1
}

create_topic() { # name partitions
  tansu topic create --broker "tcp://$BROKERS" --partitions "$2" "$1" >/dev/null
}
