#!/usr/bin/env python3
"""What the one error-message helper (graph._error_message) costs a read.

    .venv/bin/python benchmarks/error_message.py [--nodes N --edges M] [--calls C] [--reps R] [--out FILE]

Every public PL/pgSQL wrapper cleans an error's message with graph._error_message
where it used to repeat the same regexp_replace inline. This measures both paths
of graph.traverse side by side with bench.traverse_inline, the same function with
the regexp_replace written inline again (made from graph.traverse's own
definition): a depth-0 traverse (the path every successful read takes: the
helper is not called) and a traverse refused for a bad argument (22023: the
handler runs and calls the helper). Each repetition runs an in-server loop of C
calls per variant and path (a PL/pgSQL function timing itself with
clock_timestamp, so no client round trip is measured), the two variants
alternating which goes first. Reports helper / inline per repetition (median,
min-max) and the machine's load. Starts a throwaway cluster (tools/pgcluster.py)
unless GRAPHSYNC_DSN is set. Writes benchmarks/ERROR_MESSAGE.md (or --out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import psycopg  # noqa: E402
from common import GRAPH_SCHEMA, alternating_loops, database, in_server_loop, loop_report, server  # noqa: E402

HELPER = "e_message := graph._error_message(e_message);"
INLINE = ("e_message := pg_catalog.regexp_replace(e_message,"
          " '^((spiexceptions[.][A-Za-z]+|plpy[.]SPIError): )+', '');")

# ms per call of C calls in one statement (common.in_server_loop).
LOOP = in_server_loop("inline boolean, fail boolean", """
    n bigint;
    seed text;
""", """
        seed := (i % 1000 + 1)::text;
        IF NOT fail AND inline THEN
            SELECT count(*) INTO n FROM bench.traverse_inline('bench.nodes', seed, max_depth => 0);
        ELSIF NOT fail THEN
            SELECT count(*) INTO n FROM graph.traverse('bench.nodes', seed, max_depth => 0);
        ELSE
            BEGIN
                IF inline THEN
                    SELECT count(*) INTO n FROM bench.traverse_inline('bench.nodes', seed, max_depth => -1);
                ELSE
                    SELECT count(*) INTO n FROM graph.traverse('bench.nodes', seed, max_depth => -1);
                END IF;
                RAISE EXCEPTION 'the bad argument was taken';
            EXCEPTION WHEN invalid_parameter_value THEN
                NULL;
            END;
        END IF;
""")


def inline_copy(conn: psycopg.Connection) -> None:
    """bench.traverse_inline: graph.traverse with the regexp_replace written inline."""
    src = conn.execute("SELECT pg_get_functiondef('graph.traverse(regclass, text, integer, text, text[],"
                       " regclass[], jsonb, text, text, integer, boolean, regclass[], text[])'::regprocedure)"
                       ).fetchone()[0]
    assert src.count(HELPER) == 1, "graph.traverse does not call graph._error_message"
    src = src.replace(HELPER, INLINE).replace("FUNCTION graph.traverse(", "FUNCTION bench.traverse_inline(", 1)
    conn.execute(src)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=500, help="calls per loop (variant, path, repetition)")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", default=str(HERE / "ERROR_MESSAGE.md"))
    args = parser.parse_args()
    paths = {"depth-0 traverse (success)": False, "refused traverse (22023, handler runs)": True}
    with server() as admin, database(admin, "graphsync_bench_error_message") as dsn, \
            psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=args.edges))
        conn.execute("SELECT graph.build()")
        inline_copy(conn)
        conn.execute(LOOP)
        for fail in paths.values():  # warm the backend's view, plans and both functions
            for inline in (False, True):
                conn.execute("SELECT bench.loop(%s, %s, 200)", (inline, fail))
        per_call, loads = alternating_loops(
            args.reps, list(paths), ("helper", "inline"),
            lambda path, variant: conn.execute("SELECT bench.loop(%s, %s, %s)",
                                               (variant == "inline", paths[path], args.calls)).fetchone()[0])
    text = loop_report(
        "One error-message helper: the cost on a read",
        f"graph.traverse (its handler calls graph._error_message) and the same function with the"
        f" regexp_replace inline, {args.calls} calls per in-server loop, {args.reps} repetitions alternating"
        f" which goes first, on {args.nodes} nodes / {args.edges} edges (benchmarks/error_message.py).",
        "path", per_call, ("helper", "inline"), loads, unit="µs")
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
