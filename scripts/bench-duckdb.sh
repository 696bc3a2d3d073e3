#!/usr/bin/env bash
# DuckDB side of the benchmark: the five caspers tables from the same landing files, by SQL.
#   scripts/bench-duckdb.sh compute --input LANDING --out DIR [--threads N]   (prints one JSON line)
#   scripts/bench-duckdb.sh check --ours DIR --lake LAKE                       (compares with caspers)
# Creates the git-ignored bench/.venv (python3 -m venv; pip install duckdb pyarrow) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv
if ! "$venv/bin/python" -c 'import duckdb' >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q duckdb pyarrow >&2
fi
exec "$venv/bin/python" bench/duckdb_five_tables.py "$@"
