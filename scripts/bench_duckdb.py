#!/usr/bin/env python3
"""Times DuckDB answering the aggregate at the heart of mspwatch's deletion rule on a file of
canonical records: distinct tenants per credential per ten-minute window, over successful
delete events.

Usage: scripts/bench_duckdb.py FILE [--runs N] [--threads N]

Prints one line per run: the query's wall and CPU time (connection and query, not the Python
start), the records of the file per wall-clock second, and what the query found. DuckDB is
installed with pip at the pinned version when it is missing.
"""

import argparse
import importlib
import subprocess
import sys
import time

DUCKDB_VERSION = "2.0.1"

# The canonical actions of the `delete` class (docs/input-formats.md); a record's own `class`
# field overrides the table, as the decoder does.
DELETE_ACTIONS = (
    "backup.delete",
    "recovery_point.delete",
    "snapshot.delete",
    "vault.delete",
    "plan.delete",
    "copy.delete",
)

QUERY = """
WITH deletes AS (
    SELECT actor.id AS credential,
           CAST("time" AS TIMESTAMPTZ) AS event_time,
           list_concat([tenant_id], coalesce(tenant_ids, [])) AS tenants
    FROM read_json(?, format = 'newline_delimited', columns = {
        'time': 'VARCHAR', 'tenant_id': 'VARCHAR', 'tenant_ids': 'VARCHAR[]',
        'actor': 'STRUCT(id VARCHAR)', 'action': 'VARCHAR', 'class': 'VARCHAR',
        'outcome': 'VARCHAR'})
    WHERE coalesce(class, CASE WHEN action IN (%s) THEN 'delete' END) = 'delete'
      AND outcome = 'success'
)
SELECT credential,
       time_bucket(INTERVAL 10 MINUTE, event_time) AS window_start,
       count(DISTINCT tenant) AS distinct_tenants
FROM deletes, unnest(tenants) AS t(tenant)
WHERE tenant IS NOT NULL
GROUP BY credential, window_start
""" % ", ".join("'%s'" % action for action in DELETE_ACTIONS)


def load_duckdb():
    """Imports duckdb, installing the pinned version first when it is missing."""
    try:
        return importlib.import_module("duckdb")
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "duckdb==" + DUCKDB_VERSION],
            check=True,
        )
        return importlib.import_module("duckdb")


def count_records(path):
    """Non-blank lines of the file: the records every engine is given."""
    with open(path, "rb") as file:
        return sum(1 for line in file if line.strip())


def run_once(duckdb, path, threads):
    """One timed run; returns the wall and CPU seconds (all threads) and the rows returned."""
    started, cpu_started = time.perf_counter(), time.process_time()
    connection = duckdb.connect()
    if threads:
        connection.execute("SET threads TO %d" % threads)
    rows = connection.execute(QUERY, [path]).fetchall()
    connection.close()
    return time.perf_counter() - started, time.process_time() - cpu_started, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="0: DuckDB's default (all cores)")
    parser.add_argument("--records", type=int, default=0, help="records in the file, if known")
    args = parser.parse_args()

    duckdb = load_duckdb()
    records = args.records or count_records(args.file)
    threads = args.threads or "default"
    for _ in range(args.runs):
        seconds, cpu, rows = run_once(duckdb, args.file, args.threads)
        flagged = sum(1 for row in rows if row[2] >= 3)
        figures = (duckdb.__version__, threads, records, seconds, cpu, records / seconds)
        found = (len(rows), flagged)
        print(
            "duckdb %s (threads %s): %d records in %.3f s wall, %.3f s cpu, %.0f records/s"
            % figures
            + "; %d windows, %d with 3 or more tenants" % found,
            flush=True,
        )


if __name__ == "__main__":
    main()
