#!/usr/bin/env bash
# Every caspers benchmark in one command (bench/throughput.rs, release build): replay, in-memory
# dataflow, incremental latency, Postgres sink, DuckDB side by side. Prints one table and
# appends a dated block to bench/RESULTS.md. Flags go to the bench, e.g.
#   scripts/bench.sh --quick            # small sizes, a minute or two after the build
#   scripts/bench.sh --only replay,duckdb --replay multi-5m=w1,w2,p2
#   scripts/bench.sh --help
# CASPERS_BENCH_ARGS adds flags from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench throughput -- "$@"
