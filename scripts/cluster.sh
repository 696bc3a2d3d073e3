#!/usr/bin/env bash
# Start N local caspers processes as one timely cluster: `scripts/cluster.sh N run --input … --lake …`.
# Each process gets `-n N -p i -h HOSTFILE` (free loopback ports). Exits non-zero if any process
# does; when one process dies the others exit too (timely cannot survive a lost peer).
# CASPERS_BIN overrides the binary (default: target/release/caspers, built if missing).
set -euo pipefail
n=${1:?usage: cluster.sh N SUBCOMMAND ARGS...}
shift
cd "$(dirname "$0")/.." 2>/dev/null || true
bin=${CASPERS_BIN:-target/release/caspers}
if [ ! -x "$bin" ]; then cargo build --release --quiet; fi
hostfile=$(mktemp /tmp/caspers-hosts.XXXXXX)
python3 - "$n" > "$hostfile" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(f"127.0.0.1:{s.getsockname()[1]}")
PY
pids=()
for ((i = 0; i < n; i++)); do
  "$bin" "$@" -n "$n" -p "$i" -h "$hostfile" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  if ! wait "$pid"; then status=1; fi
done
rm -f "$hostfile"
exit $status
