#!/usr/bin/env bash
# One command for the whole refund loop: a throwaway PostgreSQL, the generator (backfill, then
# live orders), the pipeline following the landing directory into the lake and Postgres, and
# the Refund Manager at http://127.0.0.1:8080/ (or $LISTEN). Ctrl-C stops everything.
# Usage: scripts/refund-manager.sh [--release]   (uses $DATABASE_URL instead when it is set)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
if [ "${1:-}" = --release ]; then profile=release; fi
cargo build $([ "$profile" = release ] && echo --release) --bin caspers
bin="target/$profile/caspers"

work=$(mktemp -d /tmp/caspers-refunds.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${pgdir:-}" ]; then scripts/pg.sh stop "$pgdir" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  # Its own temp dir: pg.sh hands it to the postgres user, who cannot enter $work.
  pgdir=$(mktemp -d /tmp/caspers-pg.XXXXXX)
  env_line=$(scripts/pg.sh start "$pgdir")
  eval "$env_line"
fi
echo "refund-manager.sh: PostgreSQL at $DATABASE_URL, data under $work" >&2

# Backfill plus live orders at 60 simulated seconds per second. The landing directory exists
# before the pipeline starts following it.
mkdir -p "$work/landing"
"$bin" generate --config configs/sanfrancisco.json --out "$work/landing" --live --speed-up 60 \
  >"$work/generate.log" 2>&1 &
pids+=($!)
"$bin" run --input "$work/landing" --lake "$work/lake" --follow --pg "$DATABASE_URL" --quiet \
  >"$work/run.log" 2>&1 &
pids+=($!)

"$bin" serve --pg "$DATABASE_URL" --listen "${LISTEN:-127.0.0.1:8080}" &
pids+=($!)
wait "${pids[-1]}"
