#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests: `scripts/pg.sh start DIR` prints `export DATABASE_URL=…`
# (eval it); `scripts/pg.sh stop DIR` stops it and removes DIR; `pause DIR`/`resume DIR` stop and
# restart it on the same port (outage tests); `url DIR` prints the URL again. initdb refuses to
# run as root, so as root the cluster runs as the `postgres` user.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|pause|resume|url DIR}
dir=${2:?usage: pg.sh start|stop|pause|resume|url DIR}

bindir=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir=$d; done
if [ -z "$bindir" ] && command -v initdb >/dev/null; then bindir=$(dirname "$(command -v initdb)"); fi
[ -n "$bindir" ] || { echo "pg.sh: initdb not found (apt-get install -y postgresql)" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$bindir/initdb" -D "$dir/data" -U caspers --auth=trust >/dev/null
    echo "$port" > "$dir/port"
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    echo "export DATABASE_URL=postgres://caspers@127.0.0.1:$port/postgres"
    ;;
  pause)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    port=$(cat "$dir/port")
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    ;;
  url)
    echo "postgres://caspers@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  stop)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: pg.sh start|stop|pause|resume|url DIR" >&2; exit 2 ;;
esac
