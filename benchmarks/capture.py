#!/usr/bin/env python3
"""Capture overhead: the same writes on four twin tables, side by side in one run.

    .venv/bin/python benchmarks/capture.py           # full sizes; writes benchmarks/CAPTURE.md
    .venv/bin/python benchmarks/capture.py --quick   # 10x smaller, a smoke test; prints only
    .venv/bin/python benchmarks/capture.py --before TREE   # also the code of TREE (a checkout)

The twins have the same columns, primary key and foreign key to bench.companies and
differ only in what fires on a write:
  plain    nothing;
  minimal  a minimal PL/pgSQL statement-level trigger with transition tables, one
           log row (a bigserial and the row as jsonb) per changed row;
  pgq      PgQ's C row trigger, pgq.logutriga('bench');
  graphsync  graphsync's capture (bench.contacts: a node table with properties name
           and email, tenant workspace_id, an edge company_id -> bench.companies).
Single-row statements run in a server-side PL/pgSQL loop (one transaction of N
statements per operation, timed by clock_timestamp() in the server, so neither the
client round trip nor the commit's fsync is in the figure); the added cost of a
variant is (its time - plain's time) / N. Bulk statements are one statement of
``rows`` rows each, timed by the client. Variants alternate their order in every
repetition, so the machine's load hits all of them. With --before TREE a fifth
variant, before, is graphsync's capture as the code in the repository tree TREE
generates it (its own database on the same server, the same schema), so this code
and the code before it are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import statistics
import sys
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE.parent / "tools"))

from common import Result, cpu_seconds, database, load, plot_ratios, png_beside, server, spread, timed  # noqa: E402

TABLES = {"plain": "bench.contacts_plain", "minimal": "bench.contacts_minimal",
          "pgq": "bench.contacts_pgq", "graphsync": "bench.contacts"}
REGISTERED = TABLES["graphsync"]
OPS = ("INSERT", "UPDATE", "DELETE")

# The tables the capture benchmarks write (benchmarks/replica_capture.py too):
# bench.companies (1,000 rows) and bench.contacts; twin(t) makes a table t like
# bench.contacts, register(t) registers it as bench.contacts is (a node table with
# properties name and email, tenant workspace_id, an edge company_id -> bench.companies).
BASE = """
CREATE SCHEMA bench;
CREATE TABLE bench.companies (id int PRIMARY KEY, workspace_id int NOT NULL, name text NOT NULL);
CREATE TABLE bench.contacts (
    id int PRIMARY KEY, workspace_id int NOT NULL, name text NOT NULL, email text,
    company_id int REFERENCES bench.companies
);
INSERT INTO bench.companies SELECT g, 1 + g % 10, 'company ' || g FROM generate_series(1, 1000) AS g;
"""
REGISTER_COMPANIES = ("SELECT graph.add_table('bench.companies', columns => '{name}',"
                      " tenant_column => 'workspace_id');\n")


def twin(table: str) -> str:
    return (f"CREATE TABLE {table} (LIKE bench.contacts INCLUDING ALL,"
            " FOREIGN KEY (company_id) REFERENCES bench.companies);\n")


def register(table: str) -> str:
    return (f"SELECT graph.add_table('{table}', columns => '{{name,email}}', tenant_column => 'workspace_id');\n"
            f"SELECT graph.add_edge('{table}', 'company_id', 'bench.companies', label => 'works_at');\n")


SCHEMA = BASE + twin(TABLES["plain"]) + twin(TABLES["minimal"]) + twin(TABLES["pgq"]) + """
CREATE TABLE bench.minimal_log (id bigserial PRIMARY KEY, op text NOT NULL, row jsonb);
CREATE FUNCTION bench.minimal_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO bench.minimal_log (op, row) SELECT 'D', to_jsonb(o) FROM old_rows AS o;
    ELSE
        INSERT INTO bench.minimal_log (op, row) SELECT left(TG_OP, 1), to_jsonb(n) FROM new_rows AS n;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER minimal_i AFTER INSERT ON bench.contacts_minimal
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench.minimal_capture();
CREATE TRIGGER minimal_u AFTER UPDATE ON bench.contacts_minimal
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION bench.minimal_capture();
CREATE TRIGGER minimal_d AFTER DELETE ON bench.contacts_minimal
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bench.minimal_capture();

CREATE EXTENSION pgq;
SELECT pgq.create_queue('bench');
CREATE TRIGGER pgq_capture AFTER INSERT OR UPDATE OR DELETE ON bench.contacts_pgq
    FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('bench');

""" + REGISTER_COMPANIES + register(REGISTERED) + "SELECT graph.build();\n"

# One loop function per table: N single-row statements, seconds by the server's clock.
LOOP = """
CREATE FUNCTION bench.{name}_single(op text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    IF op = 'INSERT' THEN
        FOR i IN 1..n LOOP
            INSERT INTO {table} VALUES (i, 1 + i % 10, 'name ' || i, 'person' || i || '@example.org', 1 + i % 1000);
        END LOOP;
    ELSIF op = 'UPDATE' THEN
        FOR i IN 1..n LOOP
            UPDATE {table} SET name = name || ' jr', email = 'new.' || email WHERE id = i;
        END LOOP;
    ELSE
        FOR i IN 1..n LOOP
            DELETE FROM {table} WHERE id = i;
        END LOOP;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
"""

# Every statement changes captured columns, so each changed row is logged.
BULK = {
    "INSERT": "INSERT INTO {table} SELECT g, 1 + g % 10, 'name ' || g, 'person' || g || '@example.org',"
              " 1 + g % 1000 FROM generate_series(1, {n}) AS g",
    "UPDATE": "UPDATE {table} SET name = name || ' jr', email = 'new.' || email",
    "DELETE": "DELETE FROM {table}",
}


def setup(conn: psycopg.Connection) -> None:
    conn.execute(SCHEMA)
    for name, table in TABLES.items():
        conn.execute(LOOP.format(name=name, table=table))


def _logged(conn: psycopg.Connection, variant: str) -> int:
    if variant in ("graphsync", "before"):
        return conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
    if variant == "minimal":
        return conn.execute("SELECT count(*) FROM bench.minimal_log").fetchone()[0]
    if variant == "pgq":
        return conn.execute("SELECT count(*) FROM pgq.event_template").fetchone()[0]
    return 0


def _reset(conn: psycopg.Connection) -> None:
    """Empty the tables and every log; flush dirty buffers so each run starts alike."""
    conn.execute("TRUNCATE " + ", ".join(t for t in TABLES.values()))
    conn.execute("TRUNCATE graph._sync_log, bench.minimal_log, pgq.event_template")
    conn.execute("CHECKPOINT")


def _check(conn: psycopg.Connection, variant: str, rows: int) -> None:
    """Each capturing variant logged one event per inserted, updated and deleted row."""
    logged, expected = _logged(conn, variant), 0 if variant == "plain" else 3 * rows
    if logged != expected:
        raise RuntimeError(f"{variant}: {logged} events logged, expected {expected}")


def _with_cpu(conn: psycopg.Connection, run) -> dict[str, float]:
    """Seconds of each operation (run(op) returns them) and, under "cpu <op>", the
    backend's CPU seconds for it when the server runs on this machine."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    times = {}
    for op in OPS:
        before = cpu_seconds(pid)
        times[op] = run(op)
        after = cpu_seconds(pid)
        if before is not None and after is not None:
            times["cpu " + op] = after - before
    return times


def single_row(conn: psycopg.Connection, name: str, n: int) -> dict[str, float]:
    """N single-row statements of each operation by the loop bench.<name>_single (LOOP):
    seconds by the server's clock, and the backend's CPU seconds ("cpu <op>")."""
    return _with_cpu(conn, lambda op: conn.execute(f"SELECT bench.{name}_single(%s, %s)", (op, n)).fetchone()[0])


def bulk(conn: psycopg.Connection, table: str, rows: int) -> dict[str, float]:
    """One statement of each operation over ``rows`` rows of ``table`` (BULK): seconds by
    the client's clock, and the backend's CPU seconds ("cpu <op>")."""
    return _with_cpu(conn, lambda op: timed(conn, BULK[op].format(table=table, n=rows)))


def _single(conn: psycopg.Connection, variant: str, n: int) -> dict[str, float]:
    """``variant`` "before" is graphsync's capture in the database of the code before
    (``conn`` is a connection to it)."""
    _reset(conn)
    times = single_row(conn, "graphsync" if variant == "before" else variant, n)
    _check(conn, variant, n)
    return times


def _bulk(conn: psycopg.Connection, variant: str, rows: int) -> dict[str, float]:
    _reset(conn)
    times = bulk(conn, TABLES.get(variant, REGISTERED), rows)
    _check(conn, variant, rows)
    return times


def _interleave(reps: int, measure, names: list[str]) -> dict[str, list[dict[str, float]]]:
    """Every repetition runs every variant, in an order rotated each time."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            runs[name].append(measure(name))
    return runs


def measure(conn: psycopg.Connection, rows: int, txns: int, reps: int,
            before: psycopg.Connection | None = None) -> dict:
    """Raw figures: per repetition, single-row seconds and bulk seconds of every variant
    (and of "before", graphsync at the code before, when ``before`` connects to its database)."""
    names = list(TABLES) + (["before"] if before is not None else [])
    on = {name: before if name == "before" else conn for name in names}
    loads = [load()]
    single = _interleave(reps, lambda v: _single(on[v], v, txns), names)
    loads.append(load())
    bulk = _interleave(reps, lambda v: _bulk(on[v], v, rows), names)
    loads.append(load())
    return {"single": single, "bulk": bulk, "loads": loads, "rows": rows, "txns": txns, "reps": reps}


def added_us(figures: dict, variant: str, op: str) -> list[float]:
    """Added µs per single-row statement, one figure per repetition (same repetition's plain
    run); ``op`` "cpu INSERT" etc. for the server backend's CPU time."""
    runs, n = figures["single"], figures["txns"]
    return [(v[op] - p[op]) * 1e6 / n for v, p in zip(runs[variant], runs["plain"], strict=True)]


def _has_cpu(figures: dict) -> bool:
    return all("cpu " + op in r for runs in figures["single"].values() for r in runs for op in OPS)


def bulk_ratio(figures: dict, variant: str, over: str, op: str) -> list[float]:
    runs = figures["bulk"]
    return [v[op] / b[op] for v, b in zip(runs[variant], runs[over], strict=True)]


def before_after(figures: dict) -> str:
    """The table of this code against the code before it (``--before``): added µs per
    single-row statement (clock, and server CPU when measured) and bulk seconds, with
    the ratio this code / the code before per repetition, median (min–max)."""
    lines = ["This code (graphsync) against the code before it (before), same run, alternating: added µs per "
             "single-row statement (clock; CPU), bulk seconds; ratios per repetition, median (min–max):", "",
             "| statement | before | graphsync | graphsync / before |", "|---|---:|---:|---:|"]
    keys = [(op, "single-row {} by the clock") for op in OPS]
    if _has_cpu(figures):
        keys += [("cpu " + op, "single-row {} CPU") for op in OPS]
    for key, label in keys:
        after, before = added_us(figures, "graphsync", key), added_us(figures, "before", key)
        ratio = [a / b if b > 0 else float("inf") for a, b in zip(after, before, strict=True)]
        lines.append(f"| {label.format(key.removeprefix('cpu '))} | {spread(before, '{:.1f}')} µs"
                     f" | {spread(after, '{:.1f}')} µs | {spread(ratio, '{:.2f}×')} |")
    for op in OPS:
        b = [r[op] for r in figures["bulk"]["before"]]
        a = [r[op] for r in figures["bulk"]["graphsync"]]
        lines.append(f"| bulk {op} of {figures['rows']:,} rows | {spread(b, '{:.3f} s')} | {spread(a, '{:.3f} s')}"
                     f" | {spread(bulk_ratio(figures, 'graphsync', 'before', op), '{:.2f}×')} |")
    return "\n".join(lines)


SINGLE_HEADER = ["| statement | minimal PL/pgSQL | PgQ logutriga | graphsync | graphsync / PgQ |",
                 "|---|---:|---:|---:|---:|"]
BULK_HEADER = ["| statement | no trigger | minimal | PgQ | graphsync | graphsync / minimal | graphsync / PgQ |",
               "|---|---:|---:|---:|---:|---:|---:|"]


def _single_rows(figures: dict, prefix: str) -> list[str]:
    """A row per operation of added µs per single-row statement (``prefix`` "cpu " for
    the server CPU's figures, "" for the clock's) and graphsync / PgQ."""
    rows = []
    for op in OPS:
        key = prefix + op
        cells = [spread(added_us(figures, v, key), "{:.1f}") for v in ("minimal", "pgq", "graphsync")]
        ratio = [g / q if q > 0 else float("inf")
                 for g, q in zip(added_us(figures, "graphsync", key), added_us(figures, "pgq", key), strict=True)]
        rows.append(f"| {op} | {' | '.join(cells)} | {spread(ratio, '{:.2f}×')} |")
    return rows


def _bulk_rows(figures: dict, prefix: str) -> list[str]:
    """A row per operation of bulk seconds (``prefix`` as above) and graphsync's ratios."""
    rows = []
    for op in OPS:
        key = prefix + op
        secs = [spread([r[key] for r in figures["bulk"][v]], "{:.3f} s") for v in TABLES]
        ratios = [spread(bulk_ratio(figures, "graphsync", over, key), "{:.2f}×") for over in ("minimal", "pgq")]
        rows.append(f"| {op} | {' | '.join(secs + ratios)} |")
    return rows


def markdown(figures: dict) -> str:
    """The tables of CAPTURE.md."""
    lines = [f"Single-row statements: added µs per statement over no trigger, {figures['txns']:,} statements, "
             "median (min–max) of the repetitions:", "", *SINGLE_HEADER, *_single_rows(figures, "")]
    if _has_cpu(figures):
        lines += ["", "The same statements, added server CPU µs per statement (the backend's time on a CPU, "
                  "/proc/<pid>/task/*/schedstat: on a loaded machine the clock above also counts waiting for one):", "",
                  *SINGLE_HEADER, *_single_rows(figures, "cpu ")]
    lines += ["", f"Bulk statements of {figures['rows']:,} rows: seconds, and ratios per repetition, median (min–max):",
              "", *BULK_HEADER, *_bulk_rows(figures, "")]
    if all("cpu " + op in r for runs in figures["bulk"].values() for r in runs for op in OPS):
        lines += ["", "The same bulk statements, the server backend's CPU seconds (as above: the clock also counts"
                  " waiting for a CPU), and ratios per repetition, median (min–max):", "",
                  *BULK_HEADER, *_bulk_rows(figures, "cpu ")]
    if "before" in figures["single"]:
        lines += ["", before_after(figures)]
    return "\n".join(lines)


def plot(figures: dict, path: str, title: str) -> None:
    """The ratios of CAPTURE.md's tables as a PNG: graphsync over PgQ (single-row added
    cost, bulk) and over the minimal trigger (bulk), per statement, median (min–max)."""
    bars = []
    for op in OPS:
        key = "cpu " + op if _has_cpu(figures) else op
        single = [g / q if q > 0 else float("inf")
                  for g, q in zip(added_us(figures, "graphsync", key), added_us(figures, "pgq", key), strict=True)]
        bars.append((f"single-row {op}: added {'CPU ' if key != op else ''}cost / PgQ's",
                     statistics.median(single), min(single), max(single), 1.0))
        for over, name, goal in (("minimal", "minimal trigger", 1.0), ("pgq", "PgQ", None)):
            bulk = bulk_ratio(figures, "graphsync", over, op)
            bars.append((f"bulk {op}: / {name}", statistics.median(bulk), min(bulk), max(bulk), goal))
    plot_ratios(path, title, bars, "graphsync time / peer time (left of 1: graphsync cheaper)", higher_is_better=False)


def run(conn: psycopg.Connection, dsn: str, pgbench: str, rows: int, txns: int, reps: int) -> list[Result]:
    """For benchmarks/run.py: graphsync's added single-row cost vs PgQ's, and bulk vs the minimal trigger."""
    figures = measure(conn, rows, txns, reps)
    results = []
    for op in OPS:
        pgq, ours = (statistics.median(added_us(figures, v, op)) / 1e6 for v in ("pgq", "graphsync"))
        results.append(Result(f"added per single-row {op} (baseline: PgQ)", pgq, ours, "≤ 1× PgQ", ours <= pgq))
    for op in OPS:
        minimal, ours = (statistics.median(r[op] for r in figures["bulk"][v]) for v in ("minimal", "graphsync"))
        results.append(Result(f"bulk {op} of {rows:,} rows (baseline: minimal trigger)", minimal, ours,
                              "≤ 1× minimal", ours <= minimal))
    return results


def profile(dsn: str, rows: int) -> str:
    """A Markdown table: for one bulk run on the registered table, how long the capture
    trigger's log INSERT took, and its JIT compilation (auto_explain, nested statements)."""
    import re

    plans: list[str] = []
    lines = ["| statement | total | trigger's log INSERT | of which JIT compilation |", "|---|---:|---:|---:|"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: plans.append(d.message_primary))
        conn.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 1", "log_nested_statements = on", "log_analyze = on",
                        "log_level = notice"):
            conn.execute(f"SET auto_explain.{setting}")
        _reset(conn)
        for op, sql in BULK.items():
            plans.clear()
            total = timed(conn, sql.format(table=REGISTERED, n=rows))
            log = next(p for p in plans if "INSERT INTO graph._sync_log" in p)
            trigger = float(re.search(r"duration: ([\d.]+) ms", log).group(1))
            jit = re.search(r"JIT:.*Total ([\d.]+) ms", log, re.DOTALL)
            jit_ms = f"{float(jit.group(1)):.0f} ms" if jit else "none"
            lines.append(f"| bulk {op} of {rows:,} rows | {total * 1000:.0f} ms | {trigger:.0f} ms | {jit_ms} |")
    return "\n".join(lines)


NOTES = """
## How it is measured

`.venv/bin/python benchmarks/capture.py` (about 22 minutes with `--reps 6` at a load of 15–22 on 2 cores, 41 s with
`--reps 4` on the idle machine; the default is 12 repetitions; `--quick` for a smoke test;
`--before TREE` adds graphsync's capture as the
code in the repository tree TREE generates it, in its own database on the same server, alternating with
the others). Four twin tables
(same columns, primary key, foreign key) differ only in what fires on a write: nothing; a minimal
PL/pgSQL statement-level trigger with transition tables that logs each row as jsonb into a table with a
bigserial key; PgQ's C row trigger `pgq.logutriga('bench')` (Debian package `postgresql-15-pgq3`,
installed by `make setup`); graphsync's capture (node table with two properties and a tenant, one FK
edge). Single-row statements run in a server-side PL/pgSQL loop, one transaction of N statements per
operation, timed by the server's clock, so neither the round trip nor the commit's fsync is in the
figure; added µs = (variant - no trigger) / N within the same repetition. Bulk: one statement each of
INSERT into the empty table, UPDATE of two captured columns of every row, DELETE of every row. The
order of the variants rotates every repetition. The machine is shared and heavily loaded (the load
average is stated above): absolute µs are several times what an idle machine shows, ratios within a
repetition are the figure to read, and the min–max ranges show how much the load moved them. The
single-row statements are also stated in the server backend's CPU time (every thread, `/proc/<pid>/task/*/schedstat`,
when the server runs on the benchmark's machine), which waiting for a CPU does not inflate. The
cluster the benchmark starts runs with fsync = off, synchronous_commit = off (tools/pgcluster.py);
the single-row figures come from one transaction per operation, so commits are not in them.

`.venv/bin/python benchmarks/capture_instructions.py [--before TREE]` counts instead of timing: the
same single-row loops (200 statements of each kind after a warm-up of as many) in a single-user
server under callgrind (Debian package `valgrind`), each top-level statement's instructions
dumped apart; added instructions per statement = (variant - no trigger) / 200. The counts do not
move with the load (about 0.1k per statement between runs of the same code).

## What changed in capture

This change (instructions added per single-row statement over no trigger, the code before →
this code, both counted in one run of `capture_instructions.py --before`: INSERT 130.4k → 119.4k,
UPDATE 185.2k → 173.4k, DELETE 125.4k → 114.5k; PgQ 113.3k, 112.8k, 111.1k; the minimal PL/pgSQL
trigger 68k; graphsync / PgQ 1.05×, 1.54×, 1.03×, from 1.15×, 1.63×, 1.12×: still above PgQ):
- The log lost its partial index of the rows that need attention (migration 385), which every
  statement that logs a row opened, planned the predicate of and tested each row against, though
  no captured row matches it (−7.8k to −8.1k each). The rows that do (failed replay:
  `error_message`; unfolded TRUNCATE markers: `needs_vacuum`) are flagged by three statements
  (replay's and retry's error record, capture's TRUNCATE branch), which note the id in
  `graph._sync_log_attention`; health, retry, maintenance, rebuild reasons and the build's
  bookkeeping reach them by `id = ANY (ARRAY(SELECT id FROM graph._sync_log_attention))`,
  through the primary key (an `IN` subquery let the planner hash-join a sequential scan of the
  log instead).
- The log's `created_at` defaults to `CURRENT_TIMESTAMP` instead of `now()` (migration 386): the
  same value, without a function call to look up and permission-check at each statement's start
  (−0.9k to −1.1k each).
- The log's `id` is an identity column (`GENERATED BY DEFAULT AS IDENTITY`, migration 387), not a
  bigserial's `nextval()` default: the same numbers from a sequence of the same name, which the
  migration sets to go on from the old one's position, but the executor takes the next value
  directly, where `nextval()` is a function call looked up and permission-checked at each start
  and checks the caller's right on the sequence at every call (−1.8k to −2.5k each).
- By the clock: see the tables above (this code, 4 rotated repetitions on 2 cores shared with
  other work; the load is stated at the top). An earlier run of the code with migration 385 alone
  (load 4.7–8.8) gave, single-row, this code over the code before 1.01× INSERT, 0.91× UPDATE,
  0.89× DELETE (CPU 0.95×, 0.92×, 0.93×) and graphsync / PgQ 1.01×, 1.28×, 0.90× (CPU 1.05×,
  1.43×, 1.00×); its bulk statements read 1.18×, 1.05×, 1.06× the code before with ranges of
  0.43×–1.77×, the load's noise (a bulk statement lost one index insertion per row and gained no
  work).

Measured and not kept (callgrind, same table, 200 statements each; instructions per statement
against this code's base at the time):
- dropping the btree on `xid` saves as much as the attention index did (−7.9k), but the reads
  find the rows of transactions that committed after the applied snapshot by it, and a replay
  pass's range and pruning go by it: it stays;
- a non-unique index on `id` instead of the primary key: no difference (+0.1k to +0.6k);
- rendering the key once in a subquery (`OFFSET 0`) that the INSERT's `pk` and `new_pk` both
  read: +3.8k (the subquery scan costs more than the second cast);
- not writing `pk` (replay reads `old_pk`/`new_pk` only): −1.8k per INSERT, but `pk` is a
  documented column of the log;
- the single-row UPDATE's logging statement without its two subqueries (old and new rendered
  where used): +29k, every expression initialized twice;
- the single-row UPDATE's count of its old rows (`PERFORM … LIMIT 2`) is 12k of the UPDATE's
  177k; no cheaper way was found to tell one row from two (a subquery inside the logging statement
  cost 17k, `SELECT … INTO STRICT` needs an exception block).

The change before (instructions added per single-row statement over no trigger, the code before →
this code, both counted in one run of `capture_instructions.py`: INSERT 141.9k → 130.2k, UPDATE
203.0k → 185.1k, DELETE 134.2k → 125.3k; PgQ 113.5k, 113.3k, 111.7k; the minimal PL/pgSQL
trigger 68k):
- The type check of the unchecked forms is computed when a statement is planned, not when it
  runs: `graph._type_of(value)` is `pg_typeof()` declared IMMUTABLE (its result depends on the
  argument's type only), and the check passes it a typed NULL, `CASE WHEN false THEN col END`,
  which the planner folds to a NULL of the column's type; the planner then folds the whole
  comparison to true (the filter vanishes) or false (a plan that reads no row, and the checked
  forms log the rows). `pg_typeof()` reports the type the parser resolved, so the check says what
  it said before, once per plan instead of once per execution, where each call's start (lookup,
  permission check) cost about 2,000 instructions (INSERT −12k, UPDATE −13k, DELETE −9k on this
  table).
- A single-row UPDATE counts its old rows up to two first (`PERFORM … LIMIT 2`, `GET
  DIAGNOSTICS`), then logs its one row by the statement with no join on a key, which no longer
  tests for a second row by a subquery (an InitPlan): UPDATE −5k.

Where a single-row INSERT's capture went then (callgrind, this table, 130k): the SECURITY DEFINER
call with its three SET clauses (about 15k); starting the logging statement's executor, mostly
its projection (the key rendered twice, the two JSON objects, the defaults `nextval`,
`txid_current()`, `now()`: each function or I/O conversion looked up and permission-checked at
each start, about 23k) and the log's three indexes (about 18k, of which the two besides the
primary key 8k each). Tried and not kept (callgrind, same table): dropping `jit` and
`enable_mergejoin` from the SET clause saves 5.1k per statement, but no statement shape was found
whose kept plan cannot carry JIT: reading the transition table through `LIMIT 2` (a bounded cost
whatever the row count that planned it; the rows past two by a statement planned at each run)
cost about 9k per INSERT, more than the 5k it saved (net +4.3k). A merge join could be ruled
out by pairing a multi-row UPDATE's rows without a join (`unnest` of the two sides' arrays of
rows, by position): tried by hand, a bulk UPDATE of 100,000 rows took longer than the positional
hash join (2.96 s and 3.42 s against 2.15 s and 3.15 s, load about 8), so `enable_mergejoin` stays.

Earlier changes:

The change before that (instructions added per single-row statement over no trigger, the code before →
this code, both counted in one run of `capture_instructions.py`: INSERT 153.1k → 142.6k, UPDATE
214.4k → 203.0k, DELETE 149.2k → 134.0k; PgQ 113k, 113k, 112k; the minimal PL/pgSQL trigger 67k,
68k, 68k):
- The log lost its BRIN index on `xid` (migration 310): the btree on `xid` (migration 200) answers
  every query it served (the readers' plans did not change: they already went by the btree and
  the primary key), and every statement that logs a row opened it and inserted into it,
  10–12k instructions per single-row statement.
- A DELETE's single statement checks the types of the columns it renders only (the key and the
  captured columns; it renders no property): each `pg_typeof()` call of the check costs about
  1.85k instructions per statement (DELETE −3.7k on this table, two property columns).

Where a single-row statement's capture went then (callgrind, this table, INSERT 142.6k): a
minimal PL/pgSQL statement trigger with transition tables logging `to_jsonb(row)` into a table
with one index costs 67k in all, less than PgQ's C row trigger (113k); so what graphsync adds
above it is its own work, not the trigger machinery: the SECURITY DEFINER call with its three
SET clauses (about 19k; `jit` and `enable_mergejoin` are 4–6k of it), the type check of the
unchecked forms (13.6k for five columns), the log's two other indexes (about 10k), the key
rendered twice (`pk` and `new_pk`), the two JSON objects, the defaults (`txid_current()`,
`now()`, the sequence). A single-row UPDATE adds its test that the transition table holds one
row (`NOT EXISTS (SELECT FROM old_rows OFFSET 1)`, an InitPlan: 17.4k), the join of the two
sides and the old side's values. Tried and not kept (callgrind, same table): rendering values by
`format('%s', …)` under `IS NULL` instead of casts under the type check (INSERT +7k: `format`
looks the type's output function up per call); `(SELECT count(*) FROM old_rows) = 1` instead of
the `NOT EXISTS` (UPDATE +13k). Dropping `jit` and `enable_mergejoin` from the SET clause would
save 4–6k, but the plans kept for the session would then carry JIT or a merge join made for a
first run of many rows into every later single-row statement; no cheaper way to keep them out
was found.


Where a single-row statement's capture went (instructions counted per statement in a
single-user server, 200 warm statements of each kind, the INSERT loop of this benchmark): about a
third in starting the capture statements' executor (each function call in a statement is looked
up and permission-checked at every start: the per-column type checks were ten of them),
an eighth in `jsonb_build_object` looking up each value's type and output function, a tenth in
the SET clauses, the rest in the log row's insert and its indexes and in the trigger machinery.

- One statement per single-row INSERT or DELETE (there were two: a count of the rows with the
  type check, then the INSERT into the log). The statement logs the rows with the unchecked
  forms (`::text`, typed JSON) under the type check, whatever the row count (the types are the
  columns', so the check passes for every row or for none); when it logs nothing (no row, or a
  stale function whose column was retyped) the checked forms log the rows, so an owner's cast
  still never runs. A single-row UPDATE is logged by one statement that runs only when the old
  transition table holds one row (`NOT EXISTS (... OFFSET 1)`); when it logs nothing (nothing
  captured changed, or more rows) the rows are counted up to two, as before.
- The type check is one comparison of two arrays (`ARRAY[pg_typeof(a), ...] = '{...}'::regtype[]`)
  instead of one comparison per column, and the new side of an UPDATE is not checked again
  (both sides are rows of one relation).
- Objects of text values (the captured columns; properties whose columns are all `text` or
  `varchar`) are made by `jsonb_object(keys, values)`, the keys one constant array: equal jsonb,
  without `jsonb_build_object`'s type lookups per value.
- `jit` and `enable_mergejoin` are pinned off by the capture function's SET clause beside
  `search_path` (one mechanism where three blocks of `set_config()` saved, set and restored them
  around the bulk statements): the statements now serve every row count with plans kept for the
  session, made for the row count of their first run, and a first run of millions of rows must
  not leave a JIT-compiled plan to every later single-row write. The two booleans cost less per
  call than the counting statement they replace.
- A bulk UPDATE pairs old and new rows by position (`row_number()` over each transition table,
  one hash join; PostgreSQL appends an updated row's old and new version to them together), with
  the unchecked forms when the types check; before, it full-joined them on the key text, with the
  checked forms, materialized the join and paired the rows whose key changed by two windows.
- The log's `xid` defaults to `txid_current()` (migration 215), the same number as
  `pg_current_xact_id()::text::bigint` without the text round trip per row.
- Instruction counts per single-row statement added over no trigger, same method, this code
  against the code before it (PgQ in the same runs): INSERT 157k → 136k (PgQ 111k), UPDATE
  208k → 195k (116k), DELETE 148k → 132k (113k).
- Earlier: the log lost its CHECK on `op` (migration 175) and one of its partial indexes
  (migration 176). The primary key (replay reads by id) and the BRIN on `xid` (where a replay
  pass starts, pending rows, pruning) stay; the attention index holds no captured row.
- Not done: a C trigger, as PgQ has (graphsync installs over a connection, packages only).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes; print, do not write CAPTURE.md")
    parser.add_argument("--reps", type=int, default=12, help="repetitions (default 12)")
    parser.add_argument("--before", help="a repository tree (a checkout of the code before): measure its"
                        " capture too, side by side")
    parser.add_argument("--plot", help="where to write the plot (default: capture.png beside CAPTURE.md;"
                        " --quick writes none unless given)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    with contextlib.ExitStack() as stack:
        admin = stack.enter_context(server())
        conn = stack.enter_context(psycopg.connect(stack.enter_context(database(admin, "graphsync_bench_capture")),
                                                   autocommit=True))
        setup(conn)
        before = None
        if args.before:
            before = stack.enter_context(psycopg.connect(stack.enter_context(
                database(admin, "graphsync_bench_capture_before", args.before)), autocommit=True))
            setup(before)
        figures = measure(conn, 100_000 // scale, 10_000 // scale, args.reps, before)
        version = conn.execute("SHOW server_version").fetchone()[0]
        pgq = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgq'").fetchone()[0]
    text = (f"{datetime.date.today()}, {os.cpu_count()} cores, PostgreSQL {version}, PgQ {pgq}; "
            f"load average (1, 5, 15 min) at start, between, end: {' / '.join(figures['loads'])}; "
            f"{args.reps} repetitions.\n\n{markdown(figures)}\n{NOTES}")
    png = args.plot or (None if args.quick else png_beside(HERE / "CAPTURE.md"))
    if png:
        plot(figures, png, f"capture: graphsync vs PgQ logutriga and a minimal PL/pgSQL trigger"
                           f"{' (--quick)' if args.quick else ''}, {args.reps} repetitions, {os.cpu_count()} cores,"
                           f" load {figures['loads'][0]} at start")
        text += f"\n![The ratios above: graphsync time / peer time]({os.path.basename(png)})\n"
    print(text)
    if not args.quick:
        (HERE / "CAPTURE.md").write_text("# Capture on the OLTP path\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
