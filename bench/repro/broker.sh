# Sourced by the reproductions here, after `set -euo pipefail`: from the repository root, starts a
# tansu broker (SQLite storage) on 127.0.0.1:$port in a temporary directory `$work`, removed —
# with every background job killed — on exit, and creates each 4-partition topic named in `$@`.
# Sets `bin` (the release binaries) and `url`.
bin=target/release
work=$(mktemp -d)
url="tcp://127.0.0.1:$port"
trap '{ kill -9 $(jobs -p); wait; } 2>/dev/null; rm -rf "$work"' EXIT

(cd "$work" && exec tansu broker --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine sqlite://broker.db >broker.log 2>&1) &
for topic in "$@"; do
  for _ in $(seq 50); do
    tansu topic create --broker "$url" --partitions 4 "$topic" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
