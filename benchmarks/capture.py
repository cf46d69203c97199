"""Capture overhead: the same writes on a registered contacts table and on an unregistered twin.

Both tables have the same columns, primary key and foreign key to bench.companies;
only bench.contacts carries graphsync's capture triggers (a node table with properties
name and email, tenant workspace_id, and an edge company_id -> bench.companies).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from functools import partial

import psycopg
from common import Result, interleaved, timed

REGISTERED, PLAIN = "bench.contacts", "bench.contacts_plain"

SCHEMA = """
CREATE SCHEMA bench;
CREATE TABLE bench.companies (id int PRIMARY KEY, workspace_id int NOT NULL, name text NOT NULL);
CREATE TABLE bench.contacts (
    id int PRIMARY KEY, workspace_id int NOT NULL, name text NOT NULL, email text,
    company_id int REFERENCES bench.companies
);
CREATE TABLE bench.contacts_plain (LIKE bench.contacts INCLUDING ALL,
                                   FOREIGN KEY (company_id) REFERENCES bench.companies);
INSERT INTO bench.companies SELECT g, 1 + g % 10, 'company ' || g FROM generate_series(1, 1000) AS g;
SELECT graph.add_table('bench.companies', columns => '{name}', tenant_column => 'workspace_id');
SELECT graph.add_table('bench.contacts', columns => '{name,email}', tenant_column => 'workspace_id');
SELECT graph.add_edge('bench.contacts', 'company_id', 'bench.companies', label => 'works_at');
SELECT graph.build();
"""

# Every statement changes captured columns, so each changed row is logged.
BULK = {
    "INSERT": "INSERT INTO {table} SELECT g, 1 + g % 10, 'name ' || g, 'person' || g || '@example.org',"
              " 1 + g % 1000 FROM generate_series(1, {n}) AS g",
    "UPDATE": "UPDATE {table} SET name = name || ' jr', email = 'new.' || email",
    "DELETE": "DELETE FROM {table}",
}
SINGLE = {  # pgbench scripts; :i counts the transactions 1, 2, ...
    "INSERT": "INSERT INTO {table} VALUES (:i, 1 + :i % 10, 'name ' || :i, 'person' || :i || '@example.org',"
              " 1 + :i % 1000)",
    "UPDATE": "UPDATE {table} SET name = name || ' jr', email = 'new.' || email WHERE id = :i",
    "DELETE": "DELETE FROM {table} WHERE id = :i",
}
PGBENCH_ARGS = ["-n", "-M", "prepared", "-c", "1", "-D", "i=0"]
TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")


def setup(conn: psycopg.Connection) -> None:
    conn.execute(SCHEMA)


def _reset(conn: psycopg.Connection, table: str) -> None:
    """Empty the table and the log; flush dirty buffers so each run starts alike."""
    conn.execute(f"TRUNCATE {table}")
    conn.execute("TRUNCATE graph._sync_log")
    conn.execute("CHECKPOINT")


def _check_log(conn: psycopg.Connection, table: str, rows: int) -> None:
    """The registered table logged one row per inserted, updated and deleted row; the twin none."""
    logged = conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
    expected = 3 * rows if table == REGISTERED else 0
    if logged != expected:
        raise RuntimeError(f"{table}: {logged} log rows, expected {expected}")


def _bulk(conn: psycopg.Connection, table: str, rows: int) -> dict[str, float]:
    """Seconds of a bulk INSERT, UPDATE and DELETE of ``rows`` rows."""
    _reset(conn, table)
    times = {op: timed(conn, sql.format(table=table, n=rows)) for op, sql in BULK.items()}
    _check_log(conn, table, rows)
    return times


def _pgbench(pgbench: str, dsn: str, statement: str, txns: int) -> float:
    """Seconds pgbench takes for ``txns`` one-statement transactions on one connection
    (from its tps, excluding the connection set-up)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(f"\\set i :i + 1\n{statement};\n")
        script.flush()
        out = subprocess.run([pgbench, *PGBENCH_ARGS, "-t", str(txns), "-f", script.name, dsn],
                             check=True, capture_output=True, text=True).stdout
    return txns / float(TPS.search(out).group(1))


def _single(conn: psycopg.Connection, pgbench: str, dsn: str, table: str, txns: int) -> dict[str, float]:
    """Seconds of ``txns`` single-row INSERT, then UPDATE, then DELETE transactions."""
    _reset(conn, table)
    times = {op: _pgbench(pgbench, dsn, sql.format(table=table), txns) for op, sql in SINGLE.items()}
    _check_log(conn, table, txns)
    return times


def _results(label: str, medians: dict[str, dict[str, float]], limit: float) -> list[Result]:
    return [Result(label.format(op=op), medians[PLAIN][op], medians[REGISTERED][op], f"≤ {limit}×",
                   medians[REGISTERED][op] <= limit * medians[PLAIN][op])
            for op in medians[PLAIN]]


def run(conn: psycopg.Connection, dsn: str, pgbench: str, rows: int, txns: int, reps: int) -> list[Result]:
    """Bulk and single-row capture overhead, registered vs unregistered, interleaved."""
    bulk = interleaved(reps, {t: partial(_bulk, conn, t, rows) for t in (PLAIN, REGISTERED)})
    single = interleaved(reps, {t: partial(_single, conn, pgbench, dsn, t, txns) for t in (PLAIN, REGISTERED)})
    return (_results(f"bulk {{op}} of {rows:,} rows", bulk, 1.5)
            + _results(f"{txns:,} single-row {{op}} transactions", single, 1.3))


def profile(dsn: str, rows: int) -> str:
    """A Markdown table: for one bulk run on the registered table, how long the capture
    trigger's log INSERT took, and its JIT compilation (auto_explain, nested statements)."""
    plans: list[str] = []
    lines = ["| statement | total | trigger's log INSERT | of which JIT compilation |", "|---|---:|---:|---:|"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: plans.append(d.message_primary))
        conn.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 1", "log_nested_statements = on", "log_analyze = on",
                        "log_level = notice"):
            conn.execute(f"SET auto_explain.{setting}")
        _reset(conn, REGISTERED)
        for op, sql in BULK.items():
            plans.clear()
            total = timed(conn, sql.format(table=REGISTERED, n=rows))
            log = next(p for p in plans if "INSERT INTO graph._sync_log" in p)
            trigger = float(re.search(r"duration: ([\d.]+) ms", log).group(1))
            jit = re.search(r"JIT:.*Total ([\d.]+) ms", log, re.DOTALL)
            jit_ms = f"{float(jit.group(1)):.0f} ms" if jit else "none"
            lines.append(f"| bulk {op} of {rows:,} rows | {total * 1000:.0f} ms | {trigger:.0f} ms | {jit_ms} |")
    return "\n".join(lines)
