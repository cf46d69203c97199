#!/usr/bin/env python3
"""Small traversals in instructions: what benchmarks/reads.py times at depth 2 and 3, counted instead.

    .venv/bin/python benchmarks/read_instructions.py                 # this code
    .venv/bin/python benchmarks/read_instructions.py --before TREE   # and the code of TREE
    .venv/bin/python benchmarks/read_instructions.py --variants FILE # and SQL variants of the read

The clock of a read of some hundred microseconds moves with the load of a shared
machine by more than most changes to it; the instructions a backend executes do
not. This builds reads.py's graph (bench.nodes, bench.links; 200k nodes / 1M edges
by default), then runs, in a single-user server under valgrind's callgrind (Debian
package valgrind), one statement a line, each its own transaction as an autocommit
read is: a warm-up (a depth-6 read, which makes the backend keep the base's keys as
a pooled backend that has served reads does, then warm-up pairs), then for each
seed the traversal and the recursive CTE of reads.py through plans prepared once,
alternating which goes first (--unprepared: each read a query of its own, planned
at its call, as a client that prepares nothing sends it). callgrind dumps its count at each top-level statement
(before pgstat_report_activity), so each statement's instructions are known.
Reported: instructions per call, median over the seeds, and the CTE's over the
traversal's (the ratio reads.py's goal is stated in: within 1.5x, >= 0.67x).

--variants FILE: a SQL file whose part before its first line "-- variant NAME" is run
in each database after the graph is built (functions the variants call), and whose
part after each such line is a query of $1 (the seed, text) and $2 (the depth,
integer) returning the number of nodes reached, as the CTE's count does: prepared
as NAME and counted like the traversal. A way to weigh a change to the read's shape
before making it.

--reader: every read (the traversal, the CTE, the variants) runs as a plain reader,
role bench_reader: SELECT on bench's tables and USAGE on its schema, no member of
graph_admin, so graphsync's reads take a reader's path (graph._nodes' read policy)
instead of the superuser's, which is an admin's. It is made by SET ROLE before the
statements are prepared.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE.parent / "tools"))

from common import GRAPH_SCHEMA, install_tree, statement_instructions  # noqa: E402

import pgcluster  # noqa: E402

READS = {
    "traverse": "SELECT count(*) FROM graph.traverse('bench.nodes', $1, max_depth => $2, max_nodes => 1000000)",
    "cte": "WITH RECURSIVE walk (id, depth) AS (SELECT $1::int, 0 UNION SELECT l.dst, w.depth + 1"
           " FROM walk AS w JOIN bench.links AS l ON l.src = w.id WHERE w.depth < $2)"
           " SELECT count(*) FROM (SELECT id, min(depth) FROM walk GROUP BY id) AS reached",
}


def _call(kind: str, seed: int, depth: int, queries: dict[str, str] | None = None) -> str:
    """The statement running read ``kind``: EXECUTE of its prepared plan, or with
    ``queries`` (--unprepared) its query, the seed and depth written in."""
    if queries is not None:
        return queries[kind].replace("$1", f"'{seed}'").replace("$2", str(depth))
    if kind == "cte":
        return f"EXECUTE cte({seed}, {depth})"
    return f"EXECUTE {kind}('{seed}', {depth})"


# The reader of --reader: made once in the cluster, granted in each database.
READER = "bench_reader"
READER_SETUP = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{READER}') THEN
        CREATE ROLE {READER};
    END IF;
END $$;
GRANT USAGE ON SCHEMA bench TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO {READER};
"""


def _script(kinds: list[str], variants: dict[str, str], seeds: list[int], warm: list[int],
            depths: tuple[int, ...], unprepared: bool = False, reader: bool = False):
    """The statements the single-user server reads, one a line, and for each measured
    one (its position, kind, depth)."""
    reads = READS | {k: " ".join(query.split()) for k, query in variants.items()}
    queries = [f"SET ROLE {READER}"] if reader else []
    queries += [f"PREPARE {k} ({'int' if k == 'cte' else 'text'}, int) AS {query}" for k, query in reads.items()]
    written = reads if unprepared else None
    queries.append(_call("traverse", 1, 6, written))  # the backend keeps the base's keys, as a pooled one does
    for i, s in enumerate(warm):
        for k in (kinds if i % 2 == 0 else kinds[::-1]):
            queries.append(_call(k, s, 2, written))
    marks = []
    for depth in depths:
        for i, s in enumerate(seeds):
            for k in (kinds if i % 2 == 0 else kinds[::-1]):
                marks.append((len(queries), k, depth))
                queries.append(_call(k, s, depth, written))
    return "\n".join(queries) + "\n", marks


def count(directory: str, dbname: str, kinds, variants, seeds, warm, depths,
          unprepared: bool = False, reader: bool = False) -> dict[tuple[str, int], list[int]]:
    """Instructions of each measured statement, by (kind, depth), in database
    ``dbname`` of the stopped cluster in ``directory`` (as READER with ``reader``)."""
    text, marks = _script(kinds, variants, seeds, warm, depths, unprepared, reader)
    totals = statement_instructions(directory, dbname, text)
    found: dict[tuple[str, int], list[int]] = {}
    for position, kind, depth in marks:
        found.setdefault((kind, depth), []).append(totals[position])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a repository tree (a checkout of the code before): count it too")
    parser.add_argument("--variants", help="a SQL file of variants of the read (see above)")
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("-n", type=int, default=200, help="seeds (default 200)")
    parser.add_argument("--warm", type=int, default=100, help="unmeasured warm-up pairs (default 100)")
    parser.add_argument("--depths", default="2,3", help="depths counted (default 2,3)")
    parser.add_argument("--unprepared", action="store_true",
                        help="each read a query of its own (planned at each call), not EXECUTE of a prepared one")
    parser.add_argument("--reader", action="store_true",
                        help=f"run the reads as {READER}, a plain reader outside graph_admin, not the superuser")
    args = parser.parse_args(argv)
    depths = tuple(int(d) for d in args.depths.split(","))
    rng = random.Random(7)
    seeds = [rng.randint(1, args.nodes) for _ in range(args.n)]
    warm = [rng.randint(1, args.nodes) for _ in range(args.warm)]
    setup, variants = "", {}
    if args.variants:
        setup, *parts = re.split(r"^-- variant (\w+)\s*$", Path(args.variants).read_text(), flags=re.M)
        variants = {name: query.strip().rstrip(";") for name, query in zip(parts[::2], parts[1::2], strict=True)}
    kinds = ["traverse", "cte"] + list(variants)
    directory = tempfile.mkdtemp(prefix="graphsync-instructions-")
    trees = ({"before": args.before} if args.before else {}) | {"this": None}
    try:
        admin = pgcluster.start(directory)
        for name, tree in trees.items():
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "count_{name}"')
            dsn = pgcluster.dsn_for(directory, f"count_{name}")
            install_tree(dsn, tree)
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=args.edges))
                c.execute("SELECT graph.build()")
                if setup.strip():
                    c.execute(setup)
                if args.reader:
                    c.execute(READER_SETUP)
                c.execute("VACUUM ANALYZE")
        pgcluster.stop(directory, remove=False)
        results = {name: count(directory, f"count_{name}", kinds, variants, seeds, warm, depths,
                                    args.unprepared, args.reader) for name in trees}
    finally:
        pgcluster.stop(directory)
    how = "each a query planned at its call" if args.unprepared else "each through a plan prepared once"
    who = f"as {READER}, a reader outside graph_admin" if args.reader else "as the superuser"
    print(f"Instructions per read ({args.n} seeds, {how}, {who}, {args.nodes} nodes / {args.edges} edges,"
          " single-user server, counted by callgrind; median per call, CTE / read):\n")
    print("| code | read | depth | instructions | CTE's | CTE / read |")
    print("|---|---|---:|---:|---:|---:|")
    for name in trees:
        for depth in depths:
            cte = statistics.median(results[name]["cte", depth])
            for kind in kinds:
                if kind == "cte":
                    continue
                mine = statistics.median(results[name][kind, depth])
                print(f"| {name} | {kind} | {depth} | {mine / 1000:.1f}k | {cte / 1000:.1f}k | {cte / mine:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
