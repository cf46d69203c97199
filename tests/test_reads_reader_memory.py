"""What an ordinary reader's arguments make a backend keep: bounded.

A reader's arguments chose what its backend kept across statements, without bound
(found in review; each seen failing): every edge_types name asked for (200 reads of
new 100 kB names: 100 MB), a statement and a kept plan per set of secured join
tables a read follows (189 reads: 186 plans, 70 MB), a filter's whole value list in
the key of its kept mask (16 reads of 40,000 values: 66 MB). Now the names asked are
forgotten past view.ASKED_AT_MOST, the statements past edge_rows.KEPT_STATEMENTS, the
plans past db.KEPT_PLANS (each made again when asked), and a filter is keyed by a
digest of its values. The tests lower the bounds in the reader's backend (the probe
below) and count what stays."""

import json

import pytest

from conftest import connect

READER = "gs_rm_reader"

SCHEMA = f"""
DROP SCHEMA IF EXISTS rm CASCADE;
CREATE SCHEMA rm;
CREATE TABLE rm.n (id int PRIMARY KEY, name text, kind text);
INSERT INTO rm.n SELECT g, 'n' || g, 'k' || (g % 3) FROM generate_series(1, 30) g;
SELECT graph.add_table('rm.n', columns => '{{name}}');
SELECT graph.add_filter_column('rm.n', 'kind');
DO $$
BEGIN
    FOR i IN 0..5 LOOP
        EXECUTE format('CREATE TABLE rm.j%s (id serial PRIMARY KEY, src int NOT NULL, dst int NOT NULL)', i);
        EXECUTE format('CREATE INDEX ON rm.j%s (src)', i);
        EXECUTE format('CREATE INDEX ON rm.j%s (dst)', i);
        EXECUTE format('INSERT INTO rm.j%s (src, dst) SELECT g, g %% 30 + 1 FROM generate_series(1, 30) g', i);
        PERFORM graph.add_edge('rm.n', 'src', 'rm.n', to_column => 'dst', via_table => format('rm.j%s', i),
                               label => 'l' || i);
    END LOOP;
END $$;
SELECT graph.build();
DROP ROLE IF EXISTS {READER};
CREATE ROLE {READER};
GRANT USAGE ON SCHEMA rm TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA rm TO {READER};
"""

PROBE = """
CREATE OR REPLACE FUNCTION pg_temp.probe(asked_at_most int DEFAULT NULL, kept_plans int DEFAULT NULL)
RETURNS text LANGUAGE plpython3u AS $$
import json, sys
db = sys.modules.get("graphsync.db")
v = sys.modules.get("graphsync.reads.view")
e = sys.modules.get("graphsync.reads.edge_rows")
b = sys.modules.get("graphsync.sync.base")
if asked_at_most is not None:
    v.ASKED_AT_MOST = asked_at_most
if kept_plans is not None:
    db.KEPT_PLANS = kept_plans
told = v._told["names"] if v and v._told["names"] is not None else None
view = b._cache.get("view") if b else None
keys = [k for k in (view._derived if view is not None else {}) if k and k[0] == "filter"]
return json.dumps({"kept_plans": len(db._plans), "asked_names": len(told.asked_names) if told else 0,
                   "node_statements": len(e._node_sql) if e else 0,
                   "filter_key_bytes": max((len(repr(k)) for k in keys), default=0)})
$$
"""


@pytest.fixture(scope="module")
def rm_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def probe(c, **bounds):
    c.execute("RESET ROLE")
    try:
        return json.loads(c.execute("SELECT pg_temp.probe(%s, %s)", (bounds.get("asked"), bounds.get("plans"))
                                    ).fetchone()[0])
    finally:
        c.execute(f"SET ROLE {READER}")


def test_the_edge_types_names_a_backend_keeps_are_bounded(rm_db):
    with connect(rm_db) as c:
        c.execute(PROBE)
        c.execute(f"SET ROLE {READER}")
        c.execute("SELECT count(*) FROM graph.traverse('rm.n', '1', max_depth => 1, edge_types => '{l0}')")
        probe(c, asked=50)
        for i in range(40):
            names = ["no such label %d-%d" % (i, k) for k in range(5)]  # 200 names no label has
            c.execute("SELECT count(*) FROM graph.traverse('rm.n', '1', max_depth => 1, edge_types => %s)",
                      (names,)).fetchone()
        assert probe(c)["asked_names"] <= 50


SUBSETS = [[("l%d" % i) for i in range(6) if mask >> i & 1] for mask in range(1, 64)]


def test_the_statements_and_plans_a_reader_chooses_are_bounded(rm_db):
    """Under row-level security on six join tables, each subset of labels a read
    follows is a statement of its own (edge_rows._node_statement) and its plan."""
    with connect(rm_db) as admin:
        for i in range(6):
            admin.execute(f"ALTER TABLE rm.j{i} ENABLE ROW LEVEL SECURITY")
            admin.execute(f"DROP POLICY IF EXISTS p ON rm.j{i}")
            admin.execute(f"CREATE POLICY p ON rm.j{i} FOR SELECT USING (true)")
    with connect(rm_db) as c:
        c.execute(PROBE)
        c.execute(f"SET ROLE {READER}")
        c.execute("SELECT count(*) FROM graph.traverse('rm.n', '1', max_depth => 2, edge_types => '{l0}')")
        probe(c, plans=60)
        seen = []
        for names in SUBSETS:
            got = c.execute("SELECT count(*) FROM graph.traverse('rm.n', '1', max_depth => 2, edge_types => %s)",
                            (names,)).fetchone()[0]
            seen.append(got)
            p = probe(c)
            assert p["kept_plans"] <= 60 and p["node_statements"] <= 32, p
        assert seen[-1] > 1  # (the reads answered throughout)


def test_a_filter_is_kept_by_a_digest_of_its_values(rm_db):
    with connect(rm_db) as c:
        c.execute(PROBE)
        c.execute(f"SET ROLE {READER}")
        values = ["k1"] + ["%07d-%s" % (k, "y" * 40) for k in range(2000)]  # ~100 kB of JSON
        got = c.execute("SELECT count(*) FROM graph.traverse('rm.n', '1', max_depth => 1, filter => %s)",
                        (json.dumps({"kind": values}),)).fetchone()[0]
        assert got >= 1
        assert 0 < probe(c)["filter_key_bytes"] < 2000
