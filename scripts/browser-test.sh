#!/usr/bin/env bash
# Browser test of the Refund Manager page: headless Chromium (Debian's chromium +
# chromium-driver) against `caspers serve` on a free port, over a throwaway PostgreSQL unless
# DATABASE_URL is already set. Prints the screenshot paths (target/tmp/refund-manager*.png).
# Usage: scripts/browser-test.sh [extra cargo test args, e.g. --release or --profile ci]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
      && ! { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
      echo "browser-test.sh: SKIPPED: chromium could not be installed on this machine" >&2
      exit 0
    fi
  else
    echo "browser-test.sh: install chromium and chromium-driver first" >&2
    exit 1
  fi
fi

if [ -z "${DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/caspers-pg.XXXXXX)
  trap 'scripts/pg.sh stop "$pgdir" || true' EXIT
  eval "$(scripts/pg.sh start "$pgdir")"
fi

cargo test "$@" --test integration -- --ignored --exact app::browser::browser_refund_flow --nocapture
