"""graph.dangling_references() and graph.duplicate_edges() against SQL queries written
here, independently, over the source tables, through random churn; the counts in
sync_health(); bounds; admins only; row-level security refuses rather than filters."""

from __future__ import annotations

import random

import psycopg
import pytest

from conftest import apply, connect

OBJECTS = """
CREATE TABLE people (id int PRIMARY KEY, name text);
CREATE TABLE tasks (id int PRIMARY KEY, owner_id int, reviewer text);  -- no FK constraints
CREATE TABLE relations (id int PRIMARY KEY, src int, dst int, kind text);
SELECT graph.add_table('people', columns => '{name}');
SELECT graph.add_table('tasks');
SELECT graph.add_edge('tasks', 'owner_id', 'people', label => 'owner');
SELECT graph.add_edge('tasks', 'reviewer', 'people', label => 'reviewer');
SELECT graph.add_edge('people', 'src', 'people', to_column => 'dst', via_table => 'relations',
                      label_column => 'kind', label => 'related', bidirectional => true);
"""

# The same questions in plain SQL over the sources.
DANGLING = """
SELECT e.id, 'tasks', t.id::text, 'people', t.owner_id::text FROM tasks t
    JOIN graph._edge_sources e ON e.label = 'owner'
WHERE t.owner_id IS NOT NULL AND NOT EXISTS (SELECT FROM people p WHERE p.id = t.owner_id)
UNION ALL
SELECT e.id, 'tasks', t.id::text, 'people', t.reviewer FROM tasks t JOIN graph._edge_sources e ON e.label = 'reviewer'
WHERE t.reviewer IS NOT NULL AND NOT EXISTS (SELECT FROM people p WHERE p.id::text = t.reviewer)
UNION ALL
SELECT e.id, 'people', r.src::text, 'people', r.dst::text FROM relations r
    JOIN graph._edge_sources e ON e.kind = 'join'
WHERE r.src IS NOT NULL AND r.dst IS NOT NULL
  AND (NOT EXISTS (SELECT FROM people p WHERE p.id = r.src) OR NOT EXISTS (SELECT FROM people p WHERE p.id = r.dst))
"""
DUPLICATES = """
SELECT e.id, 'people', r.src::text, 'people', r.dst::text, coalesce(r.kind, 'related'), count(*)
FROM relations r JOIN graph._edge_sources e ON e.kind = 'join'
WHERE r.src IS NOT NULL AND r.dst IS NOT NULL
GROUP BY e.id, r.src, r.dst, coalesce(r.kind, 'related') HAVING count(*) > 1
"""
DANGLING = DANGLING.replace("e.id", "e.edge_source_id")
DUPLICATES = DUPLICATES.replace("e.id", "e.edge_source_id")


@pytest.fixture(scope="module")
def objects(db):
    with connect(db) as c:
        c.execute(OBJECTS)
        c.execute("SELECT graph.build()")
    return db


def report(c, fn, max_rows=100000):
    return sorted(tuple(r) for r in c.execute(
        f"SELECT edge_source, from_table::text, from_id, to_table::text, to_id"
        f"{', label, copies' if fn == 'duplicate_edges' else ''} FROM graph.{fn}(max_rows => %s)", (max_rows,)))


def expected(c, sql):
    return sorted(tuple(r) for r in c.execute(sql))


def health(c):
    cur = c.execute("SELECT dangling_references, duplicate_edges, integrity_checked_at FROM graph.sync_health()")
    return cur.fetchone()


def churn(c, rng, steps):
    for _ in range(steps):
        op = rng.random()
        pid = rng.randint(1, 30)
        if op < 0.2:
            c.execute("INSERT INTO people VALUES (%s, %s) ON CONFLICT DO NOTHING", (pid, f"p{pid}"))
        elif op < 0.3:
            c.execute("DELETE FROM people WHERE id = %s", (pid,))
        elif op < 0.5:
            c.execute("INSERT INTO tasks VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE"
                      " SET owner_id = excluded.owner_id, reviewer = excluded.reviewer",
                      (rng.randint(1, 40), rng.choice([None, pid]),
                       rng.choice([None, str(pid), "nobody", f"{pid}.0"])))
        elif op < 0.8:
            c.execute("INSERT INTO relations VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                      (rng.randint(1, 200), rng.randint(1, 12), rng.choice([None, rng.randint(1, 12)]),
                       rng.choice([None, "knows", "manages"])))
        else:
            c.execute("DELETE FROM relations WHERE id = %s", (rng.randint(1, 200),))


def test_reports_equal_sql_over_the_sources_through_churn(objects):
    rng = random.Random(20261130)
    with connect(objects) as c:
        assert health(c) == (None, None, None)
        for round_ in range(4):
            churn(c, rng, 150)
            if round_ % 2:
                apply(c)  # the reports read the sources: pending rows or not, the same answer
            dangling = report(c, "dangling_references")
            assert dangling == expected(c, DANGLING)
            duplicates = report(c, "duplicate_edges")
            assert duplicates == expected(c, DUPLICATES)
            counts = health(c)
            assert counts[:2] == (len(dangling), len(duplicates))
            assert counts[2] is not None
        assert dangling and duplicates, "the churn made none: the test would prove nothing"


def test_max_rows_bounds_the_rows_not_the_counts(objects):
    with connect(objects) as c:
        total = len(expected(c, DANGLING))
        assert total > 2
        rows = report(c, "dangling_references", 2)
        assert len(rows) == 2 and set(rows) <= set(expected(c, DANGLING))
        assert health(c)[0] == total
        assert report(c, "duplicate_edges", 0) == []
        for bad, sqlstate in (("-1", "22023"), ("NULL", "22004")):
            with pytest.raises(psycopg.Error) as info:
                c.execute(f"SELECT * FROM graph.dangling_references(max_rows => {bad})")
            assert info.value.sqlstate == sqlstate


def test_maintenance_records_the_counts(objects):
    with connect(objects) as c:
        c.execute("UPDATE graph._integrity SET checked_at = NULL, dangling_references = NULL, duplicate_edges = NULL")
        c.execute("DELETE FROM graph._maintenance_jobs")  # the source check is due
        row = c.execute("SELECT status, reason FROM graph.run_scheduled_maintenance()").fetchone()
        assert "integrity:" in row[1], row
        assert health(c)[:2] == (len(expected(c, DANGLING)), len(expected(c, DUPLICATES)))


def test_admins_only_and_row_security_refuses(objects):
    with connect(objects) as c:
        for role in ("integrity_reader", "integrity_ops"):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute("CREATE ROLE integrity_reader LOGIN")
        c.execute("GRANT SELECT ON people, tasks, relations TO integrity_reader")
        c.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graph TO integrity_reader")
        c.execute("CREATE ROLE integrity_ops LOGIN IN ROLE graph_admin")
        c.execute("GRANT SELECT ON people, tasks, relations TO integrity_ops")
        c.execute("ALTER TABLE people ENABLE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY few ON people USING (id < 5)")
        counts = health(c)
    try:
        with connect(objects, user="integrity_reader") as c:
            for fn in ("dangling_references", "duplicate_edges"):
                with pytest.raises(psycopg.Error) as info:
                    c.execute(f"SELECT * FROM graph.{fn}()")
                assert info.value.sqlstate == "42501"
            assert health(c) == counts  # counts, no values: every role sees them
        with connect(objects, user="integrity_ops") as c:
            with pytest.raises(psycopg.Error) as info:  # not a report that hides the rows it cannot see
                c.execute("SELECT * FROM graph.dangling_references()")
            assert info.value.sqlstate == "42501" and "people" in str(info.value)
        with connect(objects) as c:
            c.execute("ALTER ROLE integrity_ops BYPASSRLS")
        with connect(objects, user="integrity_ops") as c:
            assert report(c, "dangling_references") == expected(c, DANGLING)
    finally:
        with connect(objects) as c:
            c.execute("DROP POLICY few ON people")
            c.execute("ALTER TABLE people DISABLE ROW LEVEL SECURITY")
            c.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA graph FROM integrity_reader")
            for role in ("integrity_reader", "integrity_ops"):
                c.execute(f"DROP OWNED BY {role}")
                c.execute(f"DROP ROLE {role}")


def test_row_filters_and_json_references(db):
    """A reference to a row its table's filter leaves out (soft-deleted) is dangling; a
    JSON array naming one id twice is two edges, a duplicate."""
    with connect(db) as c:
        c.execute("""
            CREATE TABLE ent (id int PRIMARY KEY, deleted_at timestamptz, props jsonb);
            INSERT INTO ent VALUES (1, NULL, '{"refs": [2, 2, 3, 4]}'), (2, now(), NULL),
                                   (3, NULL, '{"refs": [9, 1, 1, 1]}'), (4, NULL, '{"refs": []}');
            SELECT graph.add_table('ent', row_filter => 'deleted_at IS NULL');
            SELECT graph.add_edge('ent', NULL, 'ent', from_columns => '{props}', json_path => '{refs}',
                                  label => 'refs');
        """)
        es = c.execute("SELECT edge_source_id FROM graph._edge_sources WHERE label = 'refs'").fetchone()[0]

        def mine(rows):  # the module's other tables are registered too
            return [r for r in rows if r[0] == es]

        refs = ("SELECT e.id::text AS src, x.v AS dst FROM ent e, jsonb_array_elements_text(e.props -> 'refs') x (v)"
                " WHERE e.props ? 'refs'")
        dangling = expected(c, f"SELECT {es}, 'ent', r.src, 'ent', r.dst FROM ({refs}) r WHERE NOT EXISTS"
                               " (SELECT FROM ent t WHERE t.id::text = r.dst AND t.deleted_at IS NULL)")
        duplicates = expected(c, f"SELECT {es}, 'ent', r.src, 'ent', r.dst, 'refs', count(*) FROM ({refs}) r"
                                 " GROUP BY r.src, r.dst HAVING count(*) > 1")
        assert dangling == [(es, "ent", "1", "ent", "2"), (es, "ent", "1", "ent", "2"), (es, "ent", "3", "ent", "9")]
        assert mine(report(c, "dangling_references")) == dangling
        assert duplicates == [(es, "ent", "1", "ent", "2", "refs", 2), (es, "ent", "3", "ent", "1", "refs", 3)]
        assert mine(report(c, "duplicate_edges")) == duplicates
        c.execute("UPDATE ent SET deleted_at = NULL WHERE id = 2")  # restored
        assert mine(report(c, "dangling_references")) == [(es, "ent", "3", "ent", "9")]
