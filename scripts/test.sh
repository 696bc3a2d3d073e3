#!/usr/bin/env bash
# The README's test command: formatting, lints, every test (with a throwaway PostgreSQL when
# one can be started), then the heavy sweeps with release optimisation (profile `ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

pgdir=$(mktemp -d /tmp/caspers-pg.XXXXXX)
cleanup() { scripts/pg.sh stop "$pgdir" || true; }
trap cleanup EXIT
if eval "$(scripts/pg.sh start "$pgdir")"; then
  echo "test.sh: PostgreSQL at $DATABASE_URL"
else
  echo "test.sh: no PostgreSQL could be started; Postgres tests will say they were skipped" >&2
fi

# DuckDB cross-checks run when pip can install it (git-ignored venv); skipped otherwise.
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv >/dev/null 2>&1 && bench/.venv/bin/pip install -q duckdb pyarrow >/dev/null 2>&1 \
    || echo "test.sh: DuckDB not installable; DuckDB cross-checks will be skipped" >&2
fi
if [ -x bench/.venv/bin/python ]; then export CASPERS_PYTHON="$PWD/bench/.venv/bin/python"; fi

cargo test --workspace
# Release optimisation without LTO (profile `ci`, see Cargo.toml): the LTO link of every test
# binary would add most of the run's time.
cargo test --workspace --profile ci -- --ignored --skip app::browser::browser_refund_flow
scripts/browser-test.sh --profile ci
