#!/usr/bin/env python3
"""What deciding health's visibility as the caller costs graph.sync_health().

    .venv/bin/python benchmarks/health_visibility.py [--calls C] [--reps R] [--out FILE]

Since migration 285 graph.sync_health() is a SECURITY INVOKER wrapper: it asks
whether its caller (current_user) may EXECUTE graph._health, calls graph._health(true)
or graph._health_masked() (SECURITY DEFINER), and for a role that is no admin looks
the latest failed log row up in the view graph._failed_visible. Before, it was one
SECURITY DEFINER function that asked graph._session_is_admin and
graph._session_may_read about the session user. bench.health_before rebuilds that
function here from graph._health's own definition (each "reveal" test put back as
the session-user check, the old graph._session_may_read as bench.session_may_read),
owned by graph_sync as the old one was. Both run side by side: as a superuser (the
admin path) and as a role that is no admin and may read the table of the one failed
log row (the masked path, whose message the view then shows). Each repetition runs
an in-server loop of C calls per variant and role (a PL/pgSQL function timing
itself with clock_timestamp, so no client round trip is measured), the two variants
alternating which goes first. Reports after / before per repetition (median,
min-max) and the machine's load. Starts a throwaway cluster (tools/pgcluster.py)
unless GRAPHSYNC_DSN is set. Writes benchmarks/HEALTH_VISIBILITY.md (or --out).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import psycopg  # noqa: E402
from common import FAILED_ROW, GRAPH_SCHEMA, alternating_loops, database, in_server_loop, loop_report, server  # noqa: E402

READER = "bench_health_reader"

# The check graph.sync_health made before migration 285 (graph._session_may_read).
SESSION_MAY_READ = """
CREATE FUNCTION bench.session_may_read(tbl oid) RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT graph._session_is_admin() OR coalesce((
        SELECT pg_catalog.has_table_privilege(session_user, c.oid, 'SELECT')
           AND (NOT c.relrowsecurity
                OR r.rolbypassrls
                OR (NOT c.relforcerowsecurity AND pg_catalog.pg_has_role(session_user, c.relowner, 'USAGE')))
        FROM pg_catalog.pg_class AS c, pg_catalog.pg_roles AS r
        WHERE c.oid = tbl AND r.rolname = session_user), false)
$$;
"""

# ms per call of C calls in one statement (common.in_server_loop).
LOOP = in_server_loop("after boolean", """
    e text;
""", """
        IF after THEN
            SELECT h.last_error INTO e FROM graph.sync_health() AS h;
        ELSE
            SELECT (h.health).last_error INTO e FROM bench.health_before() AS h;
        END IF;
""")

SWAPS = (
    ("CREATE OR REPLACE FUNCTION graph._health(reveal boolean, ", "CREATE OR REPLACE FUNCTION bench.health_before("),
    ("reveal := reveal AND graph._session_is_admin();", ""),
    ("CASE WHEN reveal THEN format('log row", "CASE WHEN bench.session_may_read(l.table_oid) THEN format('log row"),
    ("OR reveal THEN", "OR graph._session_is_admin() THEN"),
    ("CASE WHEN reveal THEN (f.value", "CASE WHEN graph._session_is_admin() THEN (f.value"),
)


def before_copy(conn: psycopg.Connection) -> None:
    """bench.health_before: graph._health with the session-user checks of the old sync_health."""
    src = conn.execute("SELECT pg_get_functiondef('graph._health(boolean)'::regprocedure)").fetchone()[0]
    for old, new in SWAPS:
        assert old in src, old
        src = src.replace(old, new)
    assert not re.search(r"\breveal\b", src), "graph._health tests reveal where this copy does not"
    conn.execute(SESSION_MAY_READ)
    conn.execute(src)
    conn.execute("GRANT USAGE ON SCHEMA bench TO graph_sync, PUBLIC")
    conn.execute("ALTER FUNCTION bench.health_before() OWNER TO graph_sync")
    conn.execute(f"GRANT EXECUTE ON FUNCTION bench.health_before() TO {READER}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2_000)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100, help="calls per loop (variant, role, repetition)")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", default=str(HERE / "HEALTH_VISIBILITY.md"))
    args = parser.parse_args()
    roles = {"superuser (admin path)": None, "reader of the failed row's table (masked path + view)": READER}
    with server() as admin, database(admin, "graphsync_bench_health_visibility") as dsn, \
            psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=args.edges))
        conn.execute("SELECT graph.build()")
        conn.execute(f"DROP ROLE IF EXISTS {READER}")
        conn.execute(f"CREATE ROLE {READER} LOGIN")
        conn.execute(f"GRANT SELECT ON bench.nodes TO {READER}")
        conn.execute(FAILED_ROW)  # whose message the reader may see
        before_copy(conn)
        conn.execute(LOOP)
        reader = psycopg.connect(psycopg.conninfo.make_conninfo(dsn, user=READER), autocommit=True)
        conns = {None: conn, READER: reader}
        try:
            for role in roles.values():  # the same answer both ways; warm plans and caches
                c = conns[role]
                a = c.execute("SELECT * FROM graph.sync_health()").fetchone()
                b = c.execute("SELECT (h.health).* FROM bench.health_before() AS h").fetchone()
                same = [i for i in range(len(a)) if i != 7]  # but oldest_pending_age: now() - ...
                assert [a[i] for i in same] == [b[i] for i in same], (role, a, b)
                assert "bench failure of node 1" in a[9], a
                for after in (False, True):
                    c.execute("SELECT bench.loop(%s, 20)", (after,))
            per_call, loads = alternating_loops(
                args.reps, list(roles), ("before", "after"),
                lambda name, variant: conns[roles[name]].execute(
                    "SELECT bench.loop(%s, %s)", (variant == "after", args.calls)).fetchone()[0])
        finally:
            reader.close()
            conn.execute("DROP SCHEMA bench CASCADE")
            conn.execute(f"DROP OWNED BY {READER}")
            conn.execute(f"DROP ROLE {READER}")
    text = loop_report(
        "Health visibility decided as the caller: the cost on sync_health()",
        f"graph.sync_health() (SECURITY INVOKER wrapper since migration 285) and bench.health_before (the"
        f" one SECURITY DEFINER function it was, deciding by the session user), {args.calls} calls per"
        f" in-server loop, {args.reps} repetitions alternating which goes first, one failed log row,"
        f" {args.nodes} nodes / {args.edges} edges (benchmarks/health_visibility.py).",
        "caller", per_call, ("after", "before"), loads)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
