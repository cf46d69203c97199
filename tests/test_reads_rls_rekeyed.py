"""A registry column name that no longer means the registered column never shows a
reader what a source table's row-level security hides from it.

graph._nodes' row policy asks a secured source table for a node's row by the
registered key columns' NAMES (graph._node_tables.id_columns), and graph._labels'
policy reads a label column by its name. A table owner who is not a graph_admin
member migrates the schema by a SECURITY DEFINER function of its own that another
role calls: renames the key column `id` to `legacy_id` and adds a new `id` (every
row 2). The schema-change follower cannot regenerate capture in a session whose
user is neither a graph_admin member nor the owner, so it records follow_failed
and the registry keeps `id`; the policy then asked the NEW `id` column for each
node's key, and the node of a row the reader cannot see (key 2, 'bob') showed
with its properties, because a row the reader sees now holds id = 2 -- in fresh
statements, for every reader, until an admin reconciled. A label column renamed and replaced the
same way showed a label only hidden rows hold.

Now a registered column counts only while its name still means the column capture
was generated for (graph._column_map: same attribute number, reads/row_policy.py,
reads/label_policy.py, reads/access.py): until graph.reconcile() follows the
rename, the table's nodes (and that column's labels) are shown to no reader its
row-level security applies to, and sync_health() tells the admins. A join table's
end, weight and label columns, which reads/edge_rows.py reads by name for the edges
the rows a reader sees carry, are checked the same way: renamed and replaced, they
made the reader's own link carry a hidden link's edge, weight or label; now the join
table's rows carry no edge for the reader until reconcile.

Real roles, real connections: OWNER owns the tables (no graphsync privilege),
READER may SELECT them under a `member = current_user` policy."""

import uuid

import pytest
from psycopg import sql

from conftest import as_role, connect, health

SCHEMA = """
DROP SCHEMA IF EXISTS rvk CASCADE;
CREATE SCHEMA rvk;
CREATE TABLE rvk.people (member name NOT NULL, id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rvk.links (member name NOT NULL, id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL,
                        kind text NOT NULL);
CREATE INDEX ON rvk.links (src);
CREATE INDEX ON rvk.links (dst);
CREATE INDEX ON rvk.links (kind);
INSERT INTO rvk.people VALUES (:'reader', 1, 'ann'), ('nobody', 2, 'bob');
INSERT INTO rvk.links VALUES (:'reader', 1, 1, 1, 'mine'), ('nobody', 2, 2, 2, 'secret');
SELECT graph.add_table('rvk.people', columns => '{name}');
SELECT graph.add_edge('rvk.people', 'src', 'rvk.people', to_column => 'dst', via_table => 'rvk.links',
                      label_column => 'kind');
SELECT graph.build();
"""

# The owner's: its policies, and its migrations as SECURITY DEFINER functions (a
# reader may call them, so that a reader's one statement can span one).
OWNER = """
ALTER TABLE rvk.people ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON rvk.people FOR SELECT USING (member = current_user);
ALTER TABLE rvk.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON rvk.links FOR SELECT USING (member = current_user);
CREATE FUNCTION rvk.renumber() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ALTER TABLE rvk.people RENAME COLUMN id TO legacy_id;
    ALTER TABLE rvk.people ADD COLUMN id int NOT NULL DEFAULT 2;
END $$;
CREATE FUNCTION rvk.relabel(indexed boolean) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ALTER TABLE rvk.links RENAME COLUMN kind TO old_kind;
    ALTER TABLE rvk.links ADD COLUMN kind text NOT NULL DEFAULT 'secret';
    IF indexed THEN
        CREATE INDEX links_new_kind_idx ON rvk.links (kind);
    END IF;
END $$;
"""

PEOPLE = "SELECT properties ->> 'name' FROM graph._nodes WHERE table_oid = 'rvk.people'::regclass ORDER BY 1"
COMPONENT_NODES = ("SELECT count(*) FROM graph.connected_components()"
                   " WHERE node_table = 'rvk.people'::regclass")


@pytest.fixture
def roles(db):
    suffix = uuid.uuid4().hex[:8]
    owner, reader = "gs_rvk_own_" + suffix, "gs_rvk_rd_" + suffix
    with connect(db) as c:
        for r in (owner, reader):
            c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(r)))
        c.execute(SCHEMA.replace(":'reader'", sql.Literal(reader).as_string(c)))
        c.execute(sql.SQL("ALTER TABLE rvk.people OWNER TO {0}; ALTER TABLE rvk.links OWNER TO {0}")
                  .format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA rvk TO {}").format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE ON SCHEMA rvk TO {}").format(sql.Identifier(reader)))
    with as_role(db, owner) as o:
        o.execute(OWNER)
        o.execute(sql.SQL("GRANT SELECT ON rvk.people, rvk.links TO {}").format(sql.Identifier(reader)))
        o.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rvk TO {}").format(sql.Identifier(reader)))
    try:
        yield owner, reader
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_edge('rvk.people', 'src', 'rvk.people', via_table => 'rvk.links')")
            c.execute("SELECT graph.remove_table('rvk.people', true)")
            c.execute("DROP SCHEMA rvk CASCADE")
            for r in (owner, reader):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


def names(c, query=PEOPLE):
    return [r[0] for r in c.execute(query)]


def test_a_key_column_the_owner_renamed_and_replaced_shows_no_hidden_node(db, roles):
    """The owner's migration, committed (its function called by the reader, so the
    follow fails): the reader never sees bob's node (nor,
    until reconcile, ann's: the registry's key name no longer means ann's key), by a
    SELECT of graph._nodes or a read; the admins see the drift; reconcile follows
    the rename and the reader sees its own node again."""
    owner, reader = roles
    with as_role(db, reader) as r:
        assert names(r) == ["ann"]
        assert r.execute(COMPONENT_NODES).fetchone()[0] == 1
        r.execute("SELECT rvk.renumber()")
    with as_role(db, reader) as r:
        assert names(r) == [], "the reader saw the node of a row it cannot see"
        assert r.execute(COMPONENT_NODES).fetchone()[0] == 0
    with connect(db) as c:
        assert c.execute("SELECT id_columns FROM graph._node_tables"
                         " WHERE table_oid = 'rvk.people'::regclass").fetchone()[0] == ["id"]
        h = health(c)
        assert h["schema_state"] == "drifted", h
        assert "follow_failed: rvk.people" in h["schema_drift"], h["schema_drift"]
        assert "column_replaced: rvk.people.id" in h["schema_drift"], h["schema_drift"]
        assert h["reconcile_recommended"], h
        c.execute("SELECT * FROM graph.reconcile()")
        assert c.execute("SELECT id_columns FROM graph._node_tables"
                         " WHERE table_oid = 'rvk.people'::regclass").fetchone()[0] == ["legacy_id"]
    with as_role(db, reader) as r:
        assert names(r) == ["ann"]
        assert r.execute(COMPONENT_NODES).fetchone()[0] == 1


def test_a_key_column_renamed_and_replaced_within_a_readers_statement(db, roles):
    """The owner's migration run by its SECURITY DEFINER function within one
    statement of the reader's: between two queries (the second one's kept key
    statements asked the new column), and between two rows of one query."""
    owner, reader = roles
    with as_role(db, reader) as r:
        r.execute("""
            CREATE FUNCTION pg_temp.two_queries() RETURNS SETOF text LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM count(*) FROM graph._nodes AS n WHERE n.table_oid = 'rvk.people'::regclass;
                PERFORM rvk.renumber();
                RETURN QUERY SELECT n.properties ->> 'name' FROM graph._nodes AS n
                             WHERE n.table_oid = 'rvk.people'::regclass;
            END $$""")
        r.execute("""
            CREATE FUNCTION pg_temp.between_rows() RETURNS SETOF text LANGUAGE plpgsql
            SET enable_hashjoin = off SET enable_mergejoin = off SET enable_material = off AS $$
            DECLARE
                c refcursor;
                x record;
            BEGIN
                OPEN c FOR SELECT n.properties ->> 'name' AS seen FROM (VALUES (1, '1'), (2, '2')) AS v (o, k)
                           CROSS JOIN LATERAL (SELECT * FROM graph._nodes AS m
                                               WHERE m.table_oid = 'rvk.people'::regclass AND m.pk = v.k
                                               OFFSET 0) AS n;
                FETCH c INTO x;
                RETURN NEXT x.seen;
                PERFORM rvk.renumber();
                LOOP
                    FETCH c INTO x;
                    EXIT WHEN NOT FOUND;
                    RETURN NEXT x.seen;
                END LOOP;
            END $$""")
        for fn in ("two_queries", "between_rows"):
            r.execute("BEGIN")
            try:
                got = sorted(x[0] for x in r.execute("SELECT pg_temp.%s()" % fn))
            finally:
                r.execute("ROLLBACK")
            assert "bob" not in got, "%s: the reader saw the node of a row it cannot see: %s" % (fn, got)


@pytest.mark.parametrize("indexed", [True, False], ids=["probed", "read_by_pages"])
def test_a_label_column_the_owner_renamed_and_replaced_shows_no_hidden_label(db, roles, indexed):
    """The owner's function, called by the reader, renames the join table's label
    column and adds one of its name holding, in every row, the label only a hidden
    row held: graph._labels never shows the reader that label (asked through the new
    column's index, or read a range of pages at a time), within one statement or
    after the migration committed."""
    owner, reader = roles
    labels = "SELECT label FROM graph._labels ORDER BY 1"
    with as_role(db, reader) as r:
        assert "secret" not in names(r, labels) and "mine" in names(r, labels)
        r.execute("""
            CREATE FUNCTION pg_temp.two_queries(indexed boolean) RETURNS SETOF text LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM count(*) FROM graph._labels;
                PERFORM rvk.relabel(indexed);
                RETURN QUERY SELECT l.label FROM graph._labels AS l;
            END $$""")
        r.execute("BEGIN")
        try:
            got = sorted(x[0] for x in r.execute("SELECT pg_temp.two_queries(%s)", [indexed]))
        finally:
            r.execute("ROLLBACK")
        assert "secret" not in got, "the reader saw a label only a hidden row holds: %s" % got
        r.execute("SELECT rvk.relabel(%s)", [indexed])
    with as_role(db, reader) as r:
        got = names(r, labels)
        assert "secret" not in got, "the reader saw a label only a hidden row holds: %s" % got
    with connect(db) as c:
        assert "follow_failed: rvk.links" in health(c)["schema_drift"]
        c.execute("SELECT * FROM graph.reconcile()")
    with as_role(db, reader) as r:
        got = names(r, labels)
        assert "mine" in got and "secret" not in got, got


def test_a_followed_rename_keeps_what_the_reader_sees(db, roles):
    """The same migrations in an admin's session, followed as they happen: the
    registry takes the new names at once, and the reader goes on seeing its own node
    and label, never bob's or the hidden label."""
    owner, reader = roles
    with connect(db) as c:
        c.execute("ALTER TABLE rvk.people RENAME COLUMN id TO ident;"
                  " ALTER TABLE rvk.people ADD COLUMN id int NOT NULL DEFAULT 2;"
                  " ALTER TABLE rvk.links RENAME COLUMN kind TO category;"
                  " ALTER TABLE rvk.links ADD COLUMN kind text NOT NULL DEFAULT 'secret'")
        assert c.execute("SELECT id_columns FROM graph._node_tables"
                         " WHERE table_oid = 'rvk.people'::regclass").fetchone()[0] == ["ident"]
    with as_role(db, reader) as r:
        assert names(r) == ["ann"]
        assert r.execute(COMPONENT_NODES).fetchone()[0] == 1
        got = names(r, "SELECT label FROM graph._labels ORDER BY 1")
        assert "mine" in got and "secret" not in got, got
        assert [x[0] for x in r.execute(
            "SELECT node_id FROM graph.traverse('rvk.people', '1', max_depth => 1)")] != []


# -- a join table's end, weight and label columns --------------------------------------
#
# A read whose caller a join table's row-level security applies to asks that table
# which edges the rows it sees carry (reads/edge_rows.py), by the registry's names
# of the end, weight and label columns. Items are visible to everyone; of the
# links, the reader sees only its own (1 -> 3, weight 1, 'mine'); the others, hidden,
# carry the same edge to bob (2), the same ends under the label 'secret', and the
# same ends and label under the weight 0.25. The owner renames one of the link's
# registered columns and adds another of its name whose value in every row is the
# hidden rows': the reader's visible row would then carry the hidden row's edge.
# (bob's reference to cat, an edge everyone sees, makes 'secret' a label the reader
# knows: a hidden link's label is then told by its id, not by its name.)

EDGE_SCHEMA = """
DROP SCHEMA IF EXISTS rve CASCADE;
CREATE SCHEMA rve;
CREATE TABLE rve.items (id int PRIMARY KEY, name text NOT NULL, ref int);
CREATE TABLE rve.links (member name NOT NULL, id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL,
                        weight float8 NOT NULL, kind text NOT NULL);
CREATE INDEX ON rve.links (src);
CREATE INDEX ON rve.links (dst);
INSERT INTO rve.items VALUES (1, 'ann', NULL), (2, 'bob', 3), (3, 'cat', NULL);
INSERT INTO rve.links VALUES (:'reader', 1, 1, 3, 1, 'mine'), ('nobody', 2, 1, 2, 1, 'mine'),
                             ('nobody', 3, 1, 3, 1, 'secret'), ('nobody', 4, 1, 3, 0.25, 'mine');
SELECT graph.add_table('rve.items', columns => '{name}');
SELECT graph.add_edge('rve.items', 'src', 'rve.items', to_column => 'dst', via_table => 'rve.links',
                      weight_column => 'weight', label_column => 'kind');
SELECT graph.add_edge('rve.items', 'ref', 'rve.items', label => 'secret');
SELECT graph.build();
"""

EDGE_OWNER = """
ALTER TABLE rve.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON rve.links FOR SELECT USING (member = current_user);
CREATE FUNCTION rve.replace_column(col text, typ text, val text, indexed boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE rve.links RENAME COLUMN %I TO %I', col, 'old_' || col);
    EXECUTE format('ALTER TABLE rve.links ADD COLUMN %I %s NOT NULL DEFAULT %L', col, typ, val);
    IF indexed THEN
        EXECUTE format('CREATE INDEX ON rve.links (%I)', col);
    END IF;
END $$;
"""

# (column, its type, the value the new column holds in every row, whether it is indexed)
REPLACED = {
    "dst": ("dst", "int", "2", False),  # read a table at a time (no index on the new dst)
    "dst_indexed": ("dst", "int", "2", True),  # asked node by node (the new dst's index)
    "kind": ("kind", "text", "secret", False),
    "weight": ("weight", "float8", "0.25", False),
}


@pytest.fixture
def edge_roles(db):
    suffix = uuid.uuid4().hex[:8]
    owner, reader = "gs_rve_own_" + suffix, "gs_rve_rd_" + suffix
    with connect(db) as c:
        for r in (owner, reader):
            c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(r)))
        c.execute(EDGE_SCHEMA.replace(":'reader'", sql.Literal(reader).as_string(c)))
        c.execute(sql.SQL("ALTER TABLE rve.items OWNER TO {0}; ALTER TABLE rve.links OWNER TO {0}")
                  .format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA rve TO {}").format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE ON SCHEMA rve TO {}").format(sql.Identifier(reader)))
    with as_role(db, owner) as o:
        o.execute(EDGE_OWNER)
        o.execute(sql.SQL("GRANT SELECT ON rve.items, rve.links TO {}").format(sql.Identifier(reader)))
        o.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rve TO {}").format(sql.Identifier(reader)))
    try:
        yield owner, reader
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_edge('rve.items', 'src', 'rve.items', via_table => 'rve.links')")
            c.execute("SELECT graph.remove_edge('rve.items', 'ref', 'rve.items')")
            c.execute("SELECT graph.remove_table('rve.items', true)")
            c.execute("DROP SCHEMA rve CASCADE")
            for r in (owner, reader):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


# What the reader's reads show of the links out of ann (1), each a text[] of one
# statement (so that a statement of the reader's may run the migration first).
EDGE_READS = {
    "traverse": "ARRAY(SELECT t.node_id || ' ' || t.edge_label FROM graph.traverse('rve.items', '1', max_depth => 1)"
                " AS t WHERE t.depth = 1 ORDER BY 1)",
    "path to bob": "ARRAY(SELECT p.node_id FROM graph.shortest_path('rve.items', '1', 'rve.items', '2') AS p)",
    "cost to cat": "ARRAY(SELECT p.cost::text FROM graph.weighted_shortest_path('rve.items', '1', 'rve.items', '3')"
                   " AS p WHERE p.node_id = '3')",
    "export": "ARRAY[graph.export_dot('rve.items', '1', max_depth => 1)]",
}
SEEN = {"traverse": ["3 mine"], "path to bob": [], "cost to cat": ["1"]}


def edge_reads(c, before=""):
    """{read: what it showed}, all in one statement of ``c``'s, after ``before`` (SQL of
    a function call, or nothing)."""
    row = c.execute("SELECT %s%s" % (before + ", " if before else "",
                                     ", ".join("%s AS \"%s\"" % (q, k) for k, q in EDGE_READS.items()))).fetchone()
    got = dict(zip(EDGE_READS, row[1:] if before else row, strict=True))
    got["export"] = got["export"][0]
    return got


def hidden_in(got):
    """What of the hidden links ``got`` (edge_reads) shows."""
    out = []
    if any(x.startswith("2 ") for x in got["traverse"]) or got["path to bob"]:
        out.append("the edge to bob")
    if any(x.endswith(" secret") for x in got["traverse"]) or "secret" in got["export"]:
        out.append("the label 'secret'")
    if got["cost to cat"] == ["0.25"] or "(0.25)" in got["export"]:
        out.append("the weight 0.25")
    if "<BR/>2>" in got["export"]:  # (a node's label: its table and key)
        out.append("bob in the export")
    return out


def replace_call(case):
    col, typ, val, indexed = REPLACED[case]
    return "rve.replace_column(%s, %s, %s, %s)" % (
        sql.quote(col), sql.quote(typ), sql.quote(val), "true" if indexed else "false")


@pytest.mark.parametrize("case", sorted(REPLACED))
def test_a_join_column_the_owner_renamed_and_replaced_shows_no_hidden_edge(db, edge_roles, case):
    """The owner's function, called by the reader, renames a registered column of the
    join table and adds one of its name holding the hidden rows' value: no read of
    the reader's ever walks, weighs or labels an edge by a hidden row, in the
    statement that ran the migration (after a first read kept its statements) or
    after it committed; the join table's edges are hidden from the reader until
    reconcile follows the rename, and then the reader sees its own edge again."""
    owner, reader = edge_roles
    with as_role(db, reader) as r:
        got = edge_reads(r)
        assert {k: got[k] for k in SEEN} == SEEN, got
        assert hidden_in(got) == [], got
        r.execute("BEGIN")
        try:
            got = edge_reads(r, replace_call(case))
        finally:
            r.execute("ROLLBACK")
        assert hidden_in(got) == [], "within the statement: %s (%s)" % (hidden_in(got), got)
        assert got["traverse"] == [] and got["cost to cat"] == [], got
        r.execute("SELECT " + replace_call(case))
    with as_role(db, reader) as r:
        got = edge_reads(r)
        assert hidden_in(got) == [], "after the commit: %s (%s)" % (hidden_in(got), got)
        assert got["traverse"] == [] and got["cost to cat"] == [], got
    with connect(db) as c:
        h = health(c)
        assert "follow_failed: rve.links" in h["schema_drift"], h["schema_drift"]
        c.execute("SELECT * FROM graph.reconcile()")
    with as_role(db, reader) as r:
        got = edge_reads(r)
        assert {k: got[k] for k in SEEN} == SEEN, got
        assert hidden_in(got) == [], got


def test_a_followed_join_column_rename_keeps_the_readers_edges(db, edge_roles):
    """The same migrations in an admin's session, followed as they happen: the
    reader still sees its own edge, and nothing of the hidden links."""
    owner, reader = edge_roles
    with connect(db) as c:
        for case in ("dst", "kind", "weight"):
            col, typ, val, _ = REPLACED[case]
            c.execute(sql.SQL("ALTER TABLE rve.links RENAME COLUMN {} TO {}").format(
                sql.Identifier(col), sql.Identifier("old_" + col)))
            c.execute(sql.SQL("ALTER TABLE rve.links ADD COLUMN {} {} NOT NULL DEFAULT {}").format(
                sql.Identifier(col), sql.SQL(typ), sql.Literal(val)))
        h = health(c)
        assert "follow_failed" not in (h["schema_drift"] or ""), h
    with as_role(db, reader) as r:
        got = edge_reads(r)
        assert {k: got[k] for k in SEEN} == SEEN, got
        assert hidden_in(got) == [], got
