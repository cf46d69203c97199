"""The owner of an enum type that keys another role's table relabels its values.

graphsync keys a node by its key's text as capture rendered it, and graph._nodes'
policy shows a reader a node of a table under row-level security when the reader can
see a row whose key renders the same text now (for a key of a type a role made: every
visible row's key, read as the caller, rendered). ``ALTER TYPE ... RENAME VALUE``
changes the text of every stored value of an enum at once, without a write, a
capture or any DDL on the table (no event trigger follows it). So the owner of the
enum -- here the reader itself, whose type the table's owner used for its key --
swapped two labels: the reader's visible row ('b') now renders 'a', and the node 'a',
captured from a row the policy hides from it, showed with that hidden row's
properties (found in review; not fixed yet).

Known gap (strict xfail): the fix needs the labels an enum key had when capture was
generated recorded and compared where the policy compares texts (as a registered
column's name is: graph._column_map), for keys, label columns and join-table ends.
"""

import pytest

from conftest import as_role, connect

OWNER, READER = "gs_er_owner", "gs_er_reader"


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for r in (OWNER, READER):
            c.execute(f"DROP ROLE IF EXISTS {r}")
            c.execute(f"CREATE ROLE {r} LOGIN")
        c.execute(f"CREATE SCHEMA er_types AUTHORIZATION {READER}")
        c.execute(f"CREATE SCHEMA er AUTHORIZATION {OWNER}")
    with as_role(db, READER) as r:
        r.execute("CREATE TYPE er_types.code AS ENUM ('a', 'b'); GRANT USAGE ON SCHEMA er_types TO PUBLIC")
    with as_role(db, OWNER) as o:
        o.execute("CREATE TABLE er.t (k er_types.code PRIMARY KEY, team text NOT NULL, note text NOT NULL)")
        o.execute("INSERT INTO er.t VALUES ('a', 'red', 'hidden red note'), ('b', 'blue', 'blue note')")
        o.execute("ALTER TABLE er.t ENABLE ROW LEVEL SECURITY; CREATE POLICY blue ON er.t USING (team = 'blue')")
        o.execute(f"GRANT USAGE ON SCHEMA er TO {READER}; GRANT SELECT ON er.t TO {READER}")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('er.t', columns => '{note}'); SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('er.t')")
        c.execute("DROP SCHEMA er CASCADE; DROP SCHEMA er_types CASCADE")
        for r in (OWNER, READER):
            c.execute(f"DROP OWNED BY {r}")
            c.execute(f"DROP ROLE {r}")


def seen(r):
    return sorted(tuple(x) for x in r.execute(
        "SELECT pk, properties ->> 'note' FROM graph._nodes WHERE table_oid = 'er.t'::regclass").fetchall())


@pytest.mark.xfail(strict=True, reason="an enum's relabel is not compared with the labels capture rendered")
def test_a_relabelled_enum_key_shows_no_hidden_rows_node(world):
    with as_role(world, READER) as r:
        assert seen(r) == [("b", "blue note")]
        r.execute("ALTER TYPE er_types.code RENAME VALUE 'a' TO 'tmp'")
        r.execute("ALTER TYPE er_types.code RENAME VALUE 'b' TO 'a'")
        r.execute("ALTER TYPE er_types.code RENAME VALUE 'tmp' TO 'b'")
        assert r.execute("SELECT k::text, note FROM er.t").fetchall() == [("a", "blue note")]
        assert "hidden red note" not in [note for _, note in seen(r)]
