#!/usr/bin/env python3
"""The five caspers tables (silver_order_items and the four gold tables) computed by DuckDB SQL
from the same landing files, written as Hive-partitioned Parquet like caspers' lake: the
side-by-side baseline of `bench/throughput.rs` (run through `scripts/bench-duckdb.sh`).

    compute --input LANDING --out DIR [--threads N]   time the five tables, print one JSON line
    check   --ours DIR --lake LAKE                    compare DIR with caspers' lake, print JSON

Semantics follow caspers' README: silver reads `order_created` events de-duplicated by
(order_id, event_type, sequence), keeping the least (ts, event_id, md5(body)); prices are parsed from
the JSON number's text as DECIMAL(18,6) (exact micro-dollars) and summed exactly, converted to
DOUBLE only when written; distinct order counts are exact (count(DISTINCT)).
"""

import argparse
import glob
import json
import os
import sys
import time

import duckdb

ITEM_TYPE = (
    '[{"id": "INTEGER", "category_id": "INTEGER", "menu_id": "INTEGER", "brand_id": "INTEGER",'
    ' "name": "VARCHAR", "price": "VARCHAR", "qty": "INTEGER"}]'
)

COLUMNS = (
    "{'event_id': 'VARCHAR', 'event_type': 'VARCHAR', 'ts': 'VARCHAR', 'gk_id': 'VARCHAR',"
    " 'location': 'VARCHAR', 'order_id': 'VARCHAR', 'sequence': 'BIGINT', 'body': 'VARCHAR'}"
)


def landing_files(landing):
    files = []
    for root, dirs, names in os.walk(landing):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in names:
            if name.startswith((".", "_")) or name.endswith((".tmp", ".crc", "~")):
                continue
            files.append(os.path.join(root, name))
    return sorted(files)


def compute(args):
    files = landing_files(args.input)
    if not files:
        sys.exit(f"no landing files under {args.input}")
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET preserve_insertion_order = false")
    file_list = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    timings = {}

    def step(name, sql):
        t = time.perf_counter()
        con.execute(sql)
        timings[name] = round(time.perf_counter() - t, 3)

    # Only order_created bodies are parsed; everything else is filtered right after the scan.
    step(
        "read+silver",
        f"""
        CREATE TEMP TABLE silver AS
        WITH created AS (
            SELECT order_id, event_type, sequence, gk_id, location, event_id, body,
                   CAST(ts AS TIMESTAMP) AS event_ts
            FROM read_json({file_list}, format = 'array', columns = {COLUMNS})
            WHERE event_type = 'order_created'
        ),
        dedup AS (
            SELECT * FROM created
            QUALIFY row_number() OVER (
                PARTITION BY order_id, event_type, sequence
                ORDER BY event_ts, event_id, md5(body), gk_id, location) = 1
        ),
        exploded AS (
            SELECT order_id, gk_id, location, event_ts,
                   unnest(from_json(json_extract(body, '$.items'), '{ITEM_TYPE}')) AS item
            FROM dedup
        )
        SELECT order_id, gk_id, location,
               event_ts AS order_ts,
               CAST(event_ts AS DATE) AS order_day,
               item.id AS item_id, item.menu_id AS menu_id, item.category_id AS category_id,
               item.brand_id AS brand_id, item.name AS item_name,
               CAST(item.price AS DECIMAL(18, 6)) AS price,
               item.qty AS qty,
               CAST(item.price AS DECIMAL(18, 6)) * item.qty AS extended_price
        FROM exploded
        """,
    )
    events = con.execute(
        f"SELECT count(*) FROM read_json({file_list}, format = 'array', columns = {COLUMNS})"
    ).fetchone()[0] if args.count_events else None

    def copy(name, sql, partition=None):
        path = os.path.join(args.out, name)
        opts = "FORMAT parquet, COMPRESSION snappy, OVERWRITE_OR_IGNORE true"
        if partition and args.layout == "hive":
            opts += f", PARTITION_BY ({partition})"
        else:
            os.makedirs(path, exist_ok=True)
            path = os.path.join(path, "part-00000.parquet")
        step(name, f"COPY ({sql}) TO '{path}' ({opts})")

    copy(
        "silver_order_items",
        """SELECT order_id, gk_id, location, order_ts, item_id, menu_id, category_id, brand_id,
                  item_name, CAST(price AS DOUBLE) AS price, qty,
                  CAST(extended_price AS DOUBLE) AS extended_price, order_day
           FROM silver""",
        "order_day",
    )
    copy(
        "gold_order_header",
        """SELECT order_id, gk_id, location, order_day,
                  CAST(sum(extended_price) AS DOUBLE) AS order_revenue,
                  sum(qty)::BIGINT AS total_qty, count(item_id) AS total_items,
                  list_sort(list_distinct(list(brand_id))) AS brands_in_order
           FROM silver GROUP BY order_id, gk_id, location, order_day""",
    )
    copy(
        "gold_item_sales_day",
        """SELECT item_id, menu_id, category_id, brand_id, sum(qty)::BIGINT AS units_sold,
                  CAST(sum(extended_price) AS DOUBLE) AS gross_revenue, order_day AS day
           FROM silver GROUP BY item_id, menu_id, category_id, brand_id, order_day""",
        "day",
    )
    copy(
        "gold_brand_sales_day",
        """SELECT brand_id, count(DISTINCT order_id) AS orders, sum(qty)::BIGINT AS items_sold,
                  CAST(sum(extended_price) AS DOUBLE) AS brand_revenue, order_day AS day
           FROM silver GROUP BY brand_id, order_day""",
        "day",
    )
    copy(
        "gold_location_sales_hourly",
        """SELECT location, count(DISTINCT order_id) AS orders,
                  CAST(sum(extended_price) AS DOUBLE) AS revenue,
                  strftime(date_trunc('hour', order_ts), '%Y-%m-%d %H:%M:%S') AS hour_ts
           FROM silver GROUP BY location, date_trunc('hour', order_ts)""",
        "hour_ts",
    )
    seconds = time.perf_counter() - started
    silver_rows = con.execute("SELECT count(*) FROM silver").fetchone()[0]
    print(
        json.dumps(
            {
                "files": len(files),
                "bytes": sum(os.path.getsize(f) for f in files),
                "events": events,
                "silver_rows": silver_rows,
                "seconds": round(seconds, 3),
                "steps": timings,
                "layout": args.layout,
                "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
                "duckdb": duckdb.__version__,
            }
        )
    )


def table(con, root, name, hive):
    pattern = os.path.join(root, name, "**", "*.parquet")
    if not glob.glob(pattern, recursive=True):
        pattern = os.path.join(root, name, "*.parquet")
    opts = ", hive_partitioning = true, hive_types_autocast = false" if hive else ""
    return f"read_parquet('{pattern}'{opts})"


# Per gold table: key columns (with the SQL that normalises them) and value columns.
GOLD = {
    "gold_order_header": (
        ["order_id", "gk_id", "location", "CAST(order_day AS DATE)"],
        ["order_revenue", "total_qty", "total_items", "array_to_string(brands_in_order, ',')"],
        False,
    ),
    "gold_item_sales_day": (
        ["item_id", "menu_id", "category_id", "brand_id", "CAST(day AS DATE)"],
        ["units_sold", "gross_revenue"],
        True,
    ),
    "gold_brand_sales_day": (
        ["brand_id", "CAST(day AS DATE)"],
        ["orders", "items_sold", "brand_revenue"],
        True,
    ),
    "gold_location_sales_hourly": (
        ["location", "CAST(replace(hour_ts, '%3A', ':') AS TIMESTAMP)"],
        ["orders", "revenue"],
        True,
    ),
}
MONEY = {"order_revenue", "gross_revenue", "brand_revenue", "revenue"}


def check(args):
    con = duckdb.connect()
    report = {"tables": {}, "ok": True}
    for name, (keys, values, hive) in GOLD.items():
        sel = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
        sel += ", " + ", ".join(f"{v} AS v{i}" for i, v in enumerate(values))
        on = " AND ".join(f"a.k{i} IS NOT DISTINCT FROM b.k{i}" for i in range(len(keys)))
        diffs = []
        for i, v in enumerate(values):
            if v in MONEY:
                diffs.append(
                    f"abs(a.v{i} - b.v{i}) > 1e-6 * greatest(abs(a.v{i}), abs(b.v{i}), 1e-9)"
                )
            else:
                diffs.append(f"a.v{i} IS DISTINCT FROM b.v{i}")
        mismatch = " OR ".join(diffs)
        money = [i for i, v in enumerate(values) if v in MONEY]
        sums = ", ".join(
            f"sum(a.v{i}) FILTER (WHERE a.k0 IS NOT NULL), sum(b.v{i}) FILTER (WHERE b.k0 IS NOT NULL)"
            for i in money
        )
        row = con.execute(
            f"""
            WITH a AS (SELECT {sel} FROM {table(con, args.ours, name, hive)}),
                 b AS (SELECT {sel} FROM {table(con, args.lake, name, hive)})
            SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
                   count(*) FILTER (WHERE a.k0 IS NULL OR b.k0 IS NULL),
                   count(*) FILTER (WHERE a.k0 IS NOT NULL AND b.k0 IS NOT NULL AND ({mismatch})),
                   {sums}
            FROM a FULL OUTER JOIN b ON {on}
            """
        ).fetchone()
        duck_rows, ours_rows, unmatched, differing = row[:4]
        rel = max(
            (abs(row[4 + 2 * j] - row[5 + 2 * j]) / max(abs(row[4 + 2 * j]), 1e-9))
            for j in range(len(money))
        )
        ok = duck_rows == ours_rows and unmatched == 0 and differing == 0 and rel <= 1e-6
        report["tables"][name] = {
            "duckdb_rows": duck_rows,
            "caspers_rows": ours_rows,
            "unmatched_keys": unmatched,
            "differing_rows": differing,
            "revenue_total_duckdb": row[4],
            "revenue_total_caspers": row[5],
            "revenue_total_rel_diff": rel,
            "ok": ok,
        }
        report["ok"] &= ok
    cols = "order_id, item_id, brand_id, qty, round(extended_price * 1e6)::BIGINT AS cents, CAST(order_ts AS TIMESTAMP) AS ts"
    row = con.execute(
        f"""
        WITH a AS (SELECT {cols} FROM {table(con, args.ours, 'silver_order_items', True)}),
             b AS (SELECT {cols} FROM {table(con, args.lake, 'silver_order_items', True)})
        SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
               (SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b)),
               (SELECT count(*) FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a)),
               (SELECT sum(cents) FROM a), (SELECT sum(cents) FROM b)
        """
    ).fetchone()
    ok = row[0] == row[1] and row[2] == 0 and row[3] == 0 and row[4] == row[5]
    report["tables"]["silver_order_items"] = {
        "duckdb_rows": row[0],
        "caspers_rows": row[1],
        "only_duckdb": row[2],
        "only_caspers": row[3],
        "revenue_micros_duckdb": row[4],
        "revenue_micros_caspers": row[5],
        "ok": ok,
    }
    report["ok"] &= ok
    print(json.dumps(report))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compute")
    c.add_argument("--input", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--threads", type=int, default=0)
    c.add_argument(
        "--layout",
        choices=["flat", "hive"],
        default="flat",
        help="flat: one file per table; hive: partitioned like caspers' lake",
    )
    c.add_argument("--count-events", action="store_true", help="also count all events (slower)")
    k = sub.add_parser("check")
    k.add_argument("--ours", required=True, help="the DuckDB output directory")
    k.add_argument("--lake", required=True, help="caspers' lake")
    args = parser.parse_args()
    compute(args) if args.command == "compute" else check(args)


if __name__ == "__main__":
    main()
