#!/usr/bin/env python3
"""graph.add_schema on the MusicBrainz schema: this tree against a baseline commit, one run.

    .venv/bin/python benchmarks/add_schema.py [--baseline REF] [--reps R] [--out FILE]
    .venv/bin/python benchmarks/add_schema.py --replica-capture [--reps R] [--out FILE]
    .venv/bin/python benchmarks/add_schema.py --tables N [--registered M] [--baseline REF] [--reps R] --out FILE

The MusicBrainz schema as the mbdata package ships it (CreateTypes, CreateTables,
CreatePrimaryKeys, CreateFKConstraints; loaded by tools/musicbrainz.py, as
tests/test_add_schema.py loads it), empty tables. For each variant (``baseline``:
the tree of git commit REF, extracted with git archive; ``this``: the working tree) one template database
holds graphsync installed from that tree and the schema; every repetition copies
the template (CREATE DATABASE ... TEMPLATE) and times one
``SELECT count(*) FROM graph.add_schema('musicbrainz')`` from a fresh connection,
the variants alternating which goes first. Reports medians (min-max) and the
ratio baseline / this per repetition pair. Writes benchmarks/ADD_SCHEMA.md (or --out).
With --replica-capture the baseline is this tree too, its template database with
graph.enable_replica_capture() called before the schema is loaded: every table
registered gets the row-level replica capture as well (README "Scaling out"), so the
ratio is what replica capture costs registration.
With --tables N the schema is a made-up one instead (schema ``added``: N tables of a key,
a text column and a foreign key to the table before), and with --registered M the
template holds M more tables (schema ``before``, alike) registered by an add_schema of
their own: what one more add_schema costs a database that registered M tables before.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import install_tree, server  # noqa: E402

from musicbrainz import load_musicbrainz, musicbrainz_sql  # noqa: E402

BASELINE = "ac45690"  # the last commit before add_schema's capture was batched


def extract(ref: str, into: str) -> Path:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return Path(into)


def dsn_for(admin_dsn: str, name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**params)


def chain_sql(schema: str, tables: int) -> str:
    """``tables`` tables in ``schema``, each with a key, a text column and a foreign key
    to the one before."""
    return f"CREATE SCHEMA {schema};" + "".join(
        f"CREATE TABLE {schema}.t{i} (id int PRIMARY KEY, v text"
        + (f", prev int REFERENCES {schema}.t{i - 1}" if i else "") + ");"
        for i in range(tables))


def make_template(admin_dsn: str, name: str, root: Path, schema_sql: tuple[str, str, str] | None,
                  replica_capture: bool = False, tables: int = 0, registered: int = 0) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    install_tree(dsn_for(admin_dsn, name), root)
    with psycopg.connect(dsn_for(admin_dsn, name), autocommit=True) as conn:
        if replica_capture:
            conn.execute("SELECT graph.enable_replica_capture()")
        if schema_sql is None:
            if registered:
                conn.execute(chain_sql("before", registered))
                conn.execute("SELECT count(*) FROM graph.add_schema('before')")
            conn.execute(chain_sql("added", tables))
        else:
            load_musicbrainz(conn, schema_sql)


def one_run(admin_dsn: str, template: str, schema: str) -> tuple[float, int]:
    name = template + "_run"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        with psycopg.connect(dsn_for(admin_dsn, name), autocommit=True) as conn:
            conn.execute("SELECT 1")
            start = time.perf_counter()
            conn.execute("SELECT count(*) FROM graph.add_schema(%s)", (schema,))
            seconds = time.perf_counter() - start
            tables = conn.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0]
        return seconds, tables
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the baseline tree")
    parser.add_argument("--replica-capture", action="store_true",
                        help="baseline: this tree with replica capture turned on for every table")
    parser.add_argument("--tables", type=int, default=0,
                        help="a made-up schema of this many tables instead of MusicBrainz")
    parser.add_argument("--registered", type=int, default=0,
                        help="with --tables: this many tables registered before, in another schema")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "ADD_SCHEMA.md"))
    args = parser.parse_args()
    schema_sql = None if args.tables else musicbrainz_sql()
    schema = "added" if args.tables else "musicbrainz"
    load_before = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="graphsync-bench-baseline-")
    times: dict[str, list[float]] = {"baseline": [], "this": []}
    tables = {}
    try:
        roots = {"baseline": ROOT if args.replica_capture else extract(args.baseline, tmp), "this": ROOT}
        with server() as admin_dsn:
            for variant, root in roots.items():
                make_template(admin_dsn, "gs_bench_schema_" + variant, root, schema_sql,
                              replica_capture=args.replica_capture and variant == "baseline",
                              tables=args.tables, registered=args.registered)
            order = list(roots)
            for rep in range(args.reps):
                for variant in order if rep % 2 == 0 else reversed(order):
                    seconds, n = one_run(admin_dsn, "gs_bench_schema_" + variant, schema)
                    times[variant].append(seconds)
                    tables[variant] = n
                    print(f"rep {rep + 1} {variant}: {seconds:.2f} s ({n} node tables), load {os.getloadavg()[0]:.1f}",
                          flush=True)
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                for variant in roots:
                    admin.execute(f'DROP DATABASE IF EXISTS "gs_bench_schema_{variant}" WITH (FORCE)')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()[0]
    ratios = [b / t for b, t in zip(times["baseline"], times["this"], strict=True)]
    med = {v: statistics.median(ts) for v, ts in times.items()}

    baseline = ("this tree, `graph.enable_replica_capture()`" if args.replica_capture
                else "baseline `%s`" % args.baseline)
    compared = ("this tree with replica capture on for every table (`graph.enable_replica_capture()`) and"
                " without (the default where no subscription applies)" if args.replica_capture
                else f"baseline commit `{args.baseline}` against this tree")

    def row(name, v):
        return f"| {name} | {tables[v]} | {med[v]:.1f} s | {min(times[v]):.1f}–{max(times[v]):.1f} s |"

    if args.tables:
        title = f"add_schema of {args.tables} tables, {args.registered} registered before"
        what = (f"`graph.add_schema('added')` on a made-up schema of {args.tables} empty tables (a key, a"
                f" text column, a foreign key to the table before; `--tables {args.tables}"
                f" --registered {args.registered}`), {args.registered} tables alike registered before (counted"
                " among the node tables below)")
    else:
        title = "add_schema on the MusicBrainz schema"
        what = "`graph.add_schema('musicbrainz')` on the MusicBrainz schema of the `mbdata` package (empty tables)"
    text = f"""# {title}

`benchmarks/add_schema.py`: {what}, {compared}, each in a
fresh copy of its own template database, {args.reps} alternating repetitions in one run on one
throwaway cluster. Load average {load_before:.1f} before, {load_after:.1f} after (2 cores, shared
with other work: the absolute times are noisy, the ratio less so).

| variant | node tables registered | median | min–max |
| --- | ---: | ---: | ---: |
{row(baseline, 'baseline')}
{row('this tree', 'this')}

Speed-up (baseline / this, per repetition pair): median {statistics.median(ratios):.1f}×
({min(ratios):.1f}–{max(ratios):.1f}×).
"""
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
