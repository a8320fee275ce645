# Shared by the reproductions: a tansu broker on a free port with SQLite storage in a temporary
# directory, started (and started again on the same storage) by aegis-stack, the same code that
# starts the broker of scripts/demo, scripts/chaos and the Rust tests; and the Python client from
# scripts/setup. Needs the release binaries (cargo build --release --locked --bins).
# shellcheck shell=bash
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY="$REPO/.aegis/venv/bin/python"
[ -x "$PY" ] || { echo "run scripts/setup first (it installs .aegis/venv)" >&2; exit 1; }
STACK="$REPO/target/release/aegis-stack"
[ -x "$STACK" ] || { echo "$STACK is missing: cargo build --release --locked --bins" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tansu-repro.XXXXXX")
PORT=$("$STACK" free-port)
BROKERS="127.0.0.1:$PORT"
PIDS=()
trap 'kill -KILL "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT

# Starts the broker (again, on the same storage) and sets BROKER to its pid.
start_broker() {
  "$STACK" broker --dir "$DIR/broker" --port "$PORT" >>"$DIR/broker.log" 2>&1 &
  BROKER=$!
  PIDS+=("$BROKER")
  "$STACK" wait --kafka "$BROKERS" --pid "$BROKER" --timeout 30s
}

create_topic() { # name partitions
  "$STACK" topics --brokers "$BROKERS" --topic "$1:$2" >/dev/null
}
