"""What one graph.sync_health() call reads, counted (never timed): no sequential
scan of the graph tables that grow with the graph or the log (graph._node_rows,
graph._sync_log, graph._edge_overlay), so a monitor calling it often costs
O(registered tables) catalog work plus index lookups, whatever the graph's size;
and schema drift, whose catalog checks are most of a call, read once, not once
per column that quotes it (sync_health's schema_drift, missing_triggers,
reconcile_recommended and graph._rebuild_reasons' drift reason).

Counts come from pg_stat_xact_user_tables (this transaction's scans of each
table) and pg_stat_xact_user_functions (track_functions = 'all': this
transaction's calls of each function), read before and after one call."""

import pytest

from conftest import apply, connect

GRAPH = """
CREATE TABLE public.people (id int PRIMARY KEY, name text NOT NULL, boss int);
CREATE TABLE public.knows (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
INSERT INTO public.people SELECT g, 'p' || g, NULLIF(g / 10, 0) FROM generate_series(1, 3000) AS g;
INSERT INTO public.knows SELECT g, 1 + g % 3000, 1 + (g * 7) % 3000 FROM generate_series(1, 6000) AS g;
SELECT graph.add_table('public.people', columns => '{name}');
SELECT graph.add_edge('public.people', 'boss', 'public.people');
SELECT graph.add_edge('public.people', 'a', 'public.people', to_column => 'b', via_table => 'public.knows');
"""

BIG_TABLES = ("_node_rows", "_sync_log", "_edge_overlay")

SCANS = """SELECT s.relname, s.seq_scan FROM pg_catalog.pg_stat_xact_user_tables AS s
           WHERE s.schemaname = 'graph' AND s.relname = ANY (%s)"""
CALLS = """SELECT coalesce(sum(f.calls), 0)::int FROM pg_catalog.pg_stat_xact_user_functions AS f
           WHERE f.schemaname = 'graph' AND f.funcname = %s"""


@pytest.fixture(scope="module")
def big(db):
    """A graph of 3,000 nodes and 9,000 edges: thousands of applied log rows,
    overlay rows and tombstones, a few pending and one failed row, analyzed."""
    with connect(db) as c:
        c.execute(GRAPH)
        c.execute("SELECT graph.build()")
        c.execute("UPDATE public.people SET name = name || '!' WHERE id <= 2000")
        c.execute("INSERT INTO public.knows SELECT g, 1 + g % 3000, 1 + (g * 11) % 3000"
                  " FROM generate_series(6001, 8000) AS g")
        c.execute("DELETE FROM public.knows WHERE id <= 200")
        c.execute("DELETE FROM public.people WHERE id > 2900")
        apply(c)
        c.execute("UPDATE public.people SET name = name || '?' WHERE id <= 5")  # pending
        c.execute("WITH f AS (INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message)"
                  " VALUES ('U', 'public.people'::regclass, 'public.people', '1', 'failed on purpose') RETURNING id)"
                  " INSERT INTO graph._sync_log_attention SELECT id FROM f")
        c.execute("ANALYZE graph._node_rows, graph._sync_log, graph._edge_overlay")
        h = c.execute("SELECT pending_sync_rows, failed_sync_rows, edge_buffer_used, tombstone_count"
                      " FROM graph.sync_health()").fetchone()
        assert h[0] > 0 and h[1] == 1 and h[2] > 1000 and h[3] > 0, h
    return db


def test_sync_health_scans_no_graph_table_or_log_sequentially(big):
    with connect(big) as c:
        c.execute("SELECT * FROM graph.sync_health()")  # plans cached, package imported
        with c.transaction():
            before = dict(c.execute(SCANS, (list(BIG_TABLES),)).fetchall())
            c.execute("SELECT * FROM graph.sync_health()")
            after = dict(c.execute(SCANS, (list(BIG_TABLES),)).fetchall())
        scanned = {t: after.get(t, 0) - before.get(t, 0) for t in BIG_TABLES}
        assert scanned == dict.fromkeys(BIG_TABLES, 0), scanned


def test_sync_health_reads_schema_drift_once(big):
    with connect(big) as c:
        c.execute("SET track_functions = 'all'")
        with c.transaction():
            drift_before = c.execute(CALLS, ("_schema_drift",)).fetchone()[0]
            states_before = c.execute(CALLS, ("_trigger_states",)).fetchone()[0]
            c.execute("SELECT * FROM graph.sync_health()")
            drift = c.execute(CALLS, ("_schema_drift",)).fetchone()[0] - drift_before
            states = c.execute(CALLS, ("_trigger_states",)).fetchone()[0] - states_before
        assert drift == 1
        # once, inside drift (the SQL overload and the PL/pgSQL one it calls): with
        # no trigger drifted, health's trigger counts are 0 without a second read
        assert states == 2, states


def test_trigger_counts_read_again_only_when_drift_shows_triggers(big):
    """With triggers drifted, health counts them from graph._trigger_states() itself:
    the same counts as a direct read."""
    disable = [("public.knows", "graphsync_capture_delete"), ("public.people", "graphsync_capture_insert")]
    with connect(big) as c:
        for table, trigger in disable:
            c.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        c.execute("ALTER TABLE public.people ENABLE REPLICA TRIGGER graphsync_capture_update")
        try:
            c.execute("SET track_functions = 'all'")
            with c.transaction():
                states_before = c.execute(CALLS, ("_trigger_states",)).fetchone()[0]
                h = c.execute("SELECT disabled_trigger_count, missing_trigger_count FROM graph.sync_health()"
                              ).fetchone()
                states = c.execute(CALLS, ("_trigger_states",)).fetchone()[0] - states_before
            direct = c.execute("SELECT count(*) FILTER (WHERE state = 'disabled'),"
                               " count(*) FILTER (WHERE state IN ('missing', 'impostor'))"
                               " FROM graph._trigger_states()").fetchone()
        finally:
            for table, trigger in [*disable, ("public.people", "graphsync_capture_update")]:
                c.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")
        assert h == direct == (3, 0), (h, direct)
        assert states == 4, states  # inside drift, and for the counts
        assert c.execute("SELECT disabled_trigger_count FROM graph.sync_health()").fetchone()[0] == 0
