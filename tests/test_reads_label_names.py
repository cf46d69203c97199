"""A read asks graph._labels only for the labels it needs (reads.view.LabelNames):
those its answer carries, the edge types it follows, the labels of the pending rows
it folds. graph._labels' policy asks about each label row it checks (migration 425:
a PL/Python call of graph._label_visible per row), so a read that asked for every
label paid for every label in the graph: at 2,000 labels some 2,000 calls a read
under a label column's row-level security, and as many at the first read of each
graph version for any other role that is no graph_admin member.

Real roles, each reading through its own connection; the policy's calls are
counted by PostgreSQL (track_functions, pg_stat_xact_user_functions), within one
transaction."""

import pytest

from conftest import apply, connect, rows_read
from rls_helpers import reader, with_schema

SECURED = "gs_ln_secured"  # reads ln.links, under its row-level security: told labels anew on every read
PLAIN = "gs_ln_plain"  # may not read ln.links; ln.plain has no row-level security: told once a version
ITEMS, LINKS, KINDS = 3000, 6000, 2000

SCHEMA = f"""
DROP SCHEMA IF EXISTS ln CASCADE;
CREATE SCHEMA ln;
CREATE TABLE ln.items (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE ln.links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, kind text NOT NULL);
CREATE TABLE ln.plain (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, kind text NOT NULL);
INSERT INTO ln.items SELECT g, 'item ' || g FROM generate_series(1, {ITEMS}) AS g;
INSERT INTO ln.links SELECT g, 1 + (g * 7) % {ITEMS}, 1 + (g * 13) % {ITEMS}, 'k' || g % {KINDS}
FROM generate_series(1, {LINKS}) AS g;
INSERT INTO ln.plain SELECT g, 1 + (g * 11) % {ITEMS}, 1 + (g * 17) % {ITEMS}, 'p' || g % {KINDS}
FROM generate_series(1, {LINKS}) AS g;
CREATE INDEX ON ln.links (src);
CREATE INDEX ON ln.links (dst);
CREATE INDEX ON ln.plain (src);
CREATE INDEX ON ln.plain (dst);
SELECT graph.add_table('ln.items', columns => '{{name}}');
SELECT graph.add_edge('ln.items', 'src', 'ln.items', to_column => 'dst', via_table => 'ln.links',
                      label_column => 'kind');
SELECT graph.add_edge('ln.items', 'src', 'ln.items', to_column => 'dst', via_table => 'ln.plain',
                      label_column => 'kind');
SELECT graph.build();
DROP ROLE IF EXISTS {SECURED};
DROP ROLE IF EXISTS {PLAIN};
CREATE ROLE {SECURED};
CREATE ROLE {PLAIN};
GRANT USAGE ON SCHEMA ln TO {SECURED}, {PLAIN};
GRANT SELECT ON ALL TABLES IN SCHEMA ln TO {SECURED};
GRANT SELECT ON ln.items, ln.plain TO {PLAIN};
ALTER TABLE ln.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON ln.links FOR SELECT USING (true);
"""


@pytest.fixture(scope="module")
def ln_db(db):
    return with_schema(db, SCHEMA)


def as_role(dsn, role):
    """A connection reading as ``role`` that counts the calls of PL functions."""
    return reader(dsn, role, {"track_functions": "pl"})


def policy_calls(c):
    """The calls of graph._label_visible counted for ``c`` so far: its transaction's
    and those of its earlier ones not yet reported (compare two counts in one
    transaction)."""
    return c.execute("""SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
                        WHERE schemaname = 'graph' AND funcname = '_label_visible'""").fetchone()[0]


TRAVERSE = ("SELECT node_id, edge_label FROM graph.traverse('ln.items', %s, max_depth => 1, edge_types => %s)"
            " WHERE depth = 1")


def reference(c, seed, tables, kinds=None):
    """{node id: the labels of the rows linking seed to it} of ``tables``, as ``c`` reads them."""
    got = {}
    for table in tables:
        for dst, kind in c.execute(f"SELECT dst, kind FROM {table} WHERE src = %s", (seed,)):
            if kinds is None or kind in kinds:
                got.setdefault(str(dst), set()).add(kind)
    return got


def check(c, seed, tables, kinds=None):
    """A depth-1 traversal from ``seed`` answers the reference, each node with the label
    of a row linking the seed to it; the labels it shows."""
    want = reference(c, seed, tables, kinds)
    got = c.execute(TRAVERSE, (str(seed), kinds)).fetchall()
    assert {node for node, _ in got} == set(want)
    for node, label in got:
        assert label in want[node], (seed, node, label, want[node])
    return {label for _, label in got}


def test_a_read_under_a_label_columns_row_level_security_asks_only_for_its_labels(ln_db):
    with as_role(ln_db, SECURED) as c:
        assert c.execute("SELECT count(*) FROM graph._labels").fetchone()[0] >= 2 * KINDS
        for seed in (5, 77, 1234):
            with c.transaction():
                before = policy_calls(c)
                shown = check(c, seed, ("ln.links", "ln.plain"))
                calls = policy_calls(c) - before
            assert len(shown) >= 2
            assert 0 < calls <= 3 * len(shown), (seed, shown, calls)
        with c.transaction():
            seed = 77
            kind = sorted(reference(c, seed, ("ln.links",)).popitem()[1])[0]
            before = policy_calls(c)
            check(c, seed, ("ln.links", "ln.plain"), [kind, "no such label"])
            assert 0 < policy_calls(c) - before <= 6


def test_a_role_is_told_the_labels_it_needs_once_a_graph_version(ln_db):
    seed = 42
    with as_role(ln_db, PLAIN) as c, connect(ln_db) as admin:
        with c.transaction():
            before = policy_calls(c)
            shown = check(c, seed, ("ln.plain",))
            assert 0 < policy_calls(c) - before <= 3 * len(shown)
        with c.transaction():
            before = policy_calls(c)
            check(c, seed, ("ln.plain",))
            assert policy_calls(c) == before  # the same version: told already
        admin.execute("INSERT INTO ln.plain VALUES (%s, %s, 2999, 'a label new to the graph')", (LINKS + 1, seed))
        apply(admin)
        try:
            with c.transaction():
                before = policy_calls(c)
                assert "a label new to the graph" in check(c, seed, ("ln.plain",))
                assert 0 < policy_calls(c) - before <= 3
        finally:
            admin.execute("DELETE FROM ln.plain WHERE id = %s", (LINKS + 1,))
            apply(admin)


def test_pending_rows_with_labels_the_read_was_not_told_fold_onto_the_same_labels(ln_db):
    """A read that cannot apply folds the pending rows: their labels name the graph's
    labels (an edge_types filter follows the base's edges and the pending rows' alike),
    or, for a label the graph has none of, a new one the answer shows by name."""
    seed = 43
    with connect(ln_db) as admin:
        kind = sorted(reference(admin, seed, ("ln.plain",)).popitem()[1])[0]
        admin.execute("INSERT INTO ln.plain VALUES (%s, %s, 2998, %s), (%s, %s, 2997, 'pending and new')",
                      (LINKS + 2, seed, kind, LINKS + 3, seed))
        try:
            with as_role(ln_db, PLAIN) as c:
                c.execute("SET default_transaction_read_only = on")  # cannot apply: folds
                assert check(c, seed, ("ln.plain",), [kind]) == {kind}
                assert len(reference(c, seed, ("ln.plain",), [kind])) >= 2
                assert "pending and new" in check(c, seed, ("ln.plain",))
        finally:
            admin.execute("DELETE FROM ln.plain WHERE id > %s", (LINKS,))
            apply(admin)


def test_a_label_column_that_leads_an_index_is_asked_label_by_label_through_it(ln_db):
    """graph._labels' policy asks an indexed label column (text or varchar) whether a
    row the caller can see holds the label, by the index, where it reads other label
    columns' rows a range of pages at a time until it finds the label (most of the
    table for a label few rows hold). A label only hidden rows hold stays hidden."""
    seeds = (5, 77, 1234)
    with as_role(ln_db, SECURED) as c:
        paged = []
        for seed in seeds:
            with c.transaction():
                want = reference(c, seed, ("ln.links", "ln.plain"))
                before = rows_read(c, "ln.links")
                got = c.execute(TRAVERSE, (str(seed), None)).fetchall()
                paged.append(rows_read(c, "ln.links") - before)
            assert {node for node, _ in got} == set(want)
    with connect(ln_db) as admin:
        admin.execute("CREATE INDEX ln_links_kind ON ln.links (kind)")
        admin.execute("CREATE POLICY not_k5 ON ln.links AS RESTRICTIVE FOR SELECT USING (kind <> 'k5')")
    try:
        with as_role(ln_db, SECURED) as c:
            for seed, before_index in zip(seeds, paged, strict=True):
                with c.transaction():
                    want = reference(c, seed, ("ln.links", "ln.plain"))
                    before = rows_read(c, "ln.links")
                    got = c.execute(TRAVERSE, (str(seed), None)).fetchall()
                    probed = rows_read(c, "ln.links") - before
                assert {node for node, _ in got} == set(want)
                for node, label in got:
                    assert label in want[node]
                assert probed < 50 < before_index, (seed, probed, before_index)
            assert c.execute("SELECT label FROM graph._labels WHERE label IN ('k5', 'k6')").fetchall() == [("k6",)]
            # every label: past label_policy.PROBES the indexed column is read a range of pages at a time
            fixed = {r[0] for r in c.execute("SELECT label FROM graph._edge_sources WHERE label IS NOT NULL")}
            want = fixed | {r[0] for r in c.execute("SELECT kind FROM ln.links UNION SELECT kind FROM ln.plain")}
            with c.transaction():
                before = rows_read(c, "ln.links")
                assert {r[0] for r in c.execute("SELECT label FROM graph._labels")} == want
                assert rows_read(c, "ln.links") - before <= 2 * LINKS
    finally:
        with connect(ln_db) as admin:
            admin.execute("DROP POLICY not_k5 ON ln.links")
            admin.execute("DROP INDEX ln.ln_links_kind")
