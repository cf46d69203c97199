"""A read keeps no statement naming a source by a name that now holds another role's view.

A backend keeps the statements that read a node table's rows (``hydrate => true``'s,
reads/nodes.py; the row-level security check's, reads/access.py), keyed by the table's
registry entry, which holds the name the table was registered under. The schema-change
follower brings that name in step when the table or its schema is renamed; when it
cannot (a lock it waits for past the owner's own lock_timeout: it never fails the DDL,
it records ``follow_failed`` for graph.reconcile()), the registry keeps the old name.
The table's owner (no admin) renamed its schema with a lock_timeout while another
transaction of its own held the capture generation's lock, and so had the rename go
unfollowed; it then made a schema of the old name holding a view of the table's name
whose query called its function. A backend that had read the table before ran the
kept statement, which named the view: a superuser's ``graph.traverse(hydrate =>
true)`` ran the owner's function as that superuser (the owner made itself one), a
reader's read under row-level security ran it as the reader (seen failing).

Now the kept statements are keyed by the name the table is read by now
(graph._source_name, asked at every read), as the join tables' are
(tests/test_reads_rls_edges.py): a kept statement names the table itself or is made
again."""

import pytest

from conftest import as_role, connect

OWNER, READER = "gs_p44_owner", "gs_p44_reader"

SETUP = f"""
DROP SCHEMA IF EXISTS p44 CASCADE;
DROP SCHEMA IF EXISTS p44_old CASCADE;
DROP SCHEMA IF EXISTS p44_spy CASCADE;
DROP ROLE IF EXISTS {OWNER}; DROP ROLE IF EXISTS {READER};
CREATE ROLE {OWNER} LOGIN; CREATE ROLE {READER} LOGIN;
GRANT CREATE ON DATABASE {{db}} TO {OWNER};
CREATE SCHEMA p44_spy;
CREATE TABLE p44_spy.calls (who name);
GRANT USAGE ON SCHEMA p44_spy TO PUBLIC;
GRANT INSERT ON p44_spy.calls TO PUBLIC;
CREATE SCHEMA p44 AUTHORIZATION {OWNER};
SET ROLE {OWNER};
CREATE TABLE p44.items (id int PRIMARY KEY, name text NOT NULL, ws int NOT NULL DEFAULT 1);
CREATE TABLE p44.side (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO p44.items SELECT i, 'item ' || i, 1 FROM generate_series(1, 4) AS i;
INSERT INTO p44.side VALUES (1, 'one');
CREATE TABLE p44.links (src int NOT NULL, dst int NOT NULL, PRIMARY KEY (src, dst));
INSERT INTO p44.links VALUES (1, 2), (2, 3);
GRANT USAGE ON SCHEMA p44 TO PUBLIC;
GRANT SELECT ON p44.items, p44.side, p44.links TO PUBLIC;
ALTER TABLE p44.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY ws ON p44.items FOR SELECT USING (ws = 1);
RESET ROLE;
SELECT graph.add_table('p44.items', columns => '{{name}}');
SELECT graph.add_table('p44.side', columns => '{{name}}');
SELECT graph.add_edge('p44.items', 'src', 'p44.items', to_column => 'dst', via_table => 'p44.links',
                      label => 'link');
SELECT graph.build();
"""

# The owner's function, and the view of the old name that calls it: it records who
# runs it and, run by a superuser, makes the owner one.
TAKE_THE_NAME = f"""
CREATE FUNCTION p44_old.steal() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO p44_spy.calls VALUES (current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN 1;
END $$;
CREATE SCHEMA p44;
CREATE VIEW p44.items AS SELECT i AS id, 'item ' || i AS name, p44_old.steal() AS ws
FROM generate_series(1, 4) AS i;
GRANT USAGE ON SCHEMA p44 TO PUBLIC;
GRANT SELECT ON p44.items TO PUBLIC;
"""


@pytest.fixture
def world(db):
    with connect(db) as c:
        c.execute(SETUP.replace("{db}", c.info.dbname))
    yield db
    with connect(db) as c:
        for schema in ("p44", "p44_old"):
            if c.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.items",)).fetchone()[0] and \
               c.execute("SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass(%s)",
                         (f"{schema}.items",)).fetchone()[0]:
                c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"{schema}.items",))
                c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"{schema}.side",))
        c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")
        c.execute("DROP SCHEMA IF EXISTS p44 CASCADE; DROP SCHEMA IF EXISTS p44_old CASCADE;"
                  " DROP SCHEMA p44_spy CASCADE")
        c.execute(f"REVOKE CREATE ON DATABASE {c.info.dbname} FROM {OWNER}")
        c.execute(f"DROP ROLE {OWNER}; DROP ROLE {READER}")
        c.execute("SELECT graph.build()")


def _unfollowed_schema_rename(db):
    """The owner renames schema p44 to p44_old with the follower kept from the capture
    lock (another transaction of its own holds it) past its own lock_timeout: the
    rename commits, the registry keeps the name p44.items."""
    with as_role(db, OWNER) as holder, as_role(db, OWNER) as o:
        holder.execute("BEGIN")
        holder.execute("ALTER TABLE p44.side RENAME COLUMN name TO name2")  # capture regenerated: the lock held
        o.execute("SET lock_timeout = '200ms'")
        o.execute("ALTER SCHEMA p44 RENAME TO p44_old")
        holder.execute("ROLLBACK")
        with connect(db) as c:
            assert c.execute("SELECT table_oid::regclass::text, table_name FROM graph._node_tables"
                             " WHERE table_oid = 'p44_old.items'::regclass").fetchone() \
                == ("p44_old.items", "p44.items"), "the rename was followed: the test set nothing up"
        o.execute(TAKE_THE_NAME)


def _calls(db):
    with connect(db) as c:
        return [r[0] for r in c.execute("SELECT who FROM p44_spy.calls")]


def _hydrated(c):
    return sorted(r[0]["name"] for r in c.execute(
        "SELECT node FROM graph.traverse('p44_old.items', '1', max_depth => 1, hydrate => true)"))


def test_a_superusers_kept_hydrate_statement_never_reads_a_view_that_took_the_name(world):
    db = world
    with connect(db) as pooled:
        assert sorted(r[0]["name"] for r in pooled.execute(
            "SELECT node FROM graph.traverse('p44.items', '1', max_depth => 1, hydrate => true)")) \
            == ["item 1", "item 2"]
        _unfollowed_schema_rename(db)
        assert _hydrated(pooled) == ["item 1", "item 2"]  # the table, by its name now
    with connect(db) as c:
        assert not c.execute(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{OWNER}'").fetchone()[0]
    assert _calls(db) == []


def test_a_readers_kept_row_security_statement_never_reads_a_view_that_took_the_name(world):
    db = world
    nodes = "SELECT node_id FROM graph.connected_components() WHERE node_table = %s::regclass ORDER BY 1"
    with as_role(db, READER) as pooled:
        assert [r[0] for r in pooled.execute(nodes, ("p44.items",))] == ["1", "2", "3", "4"]
        _unfollowed_schema_rename(db)
        assert [r[0] for r in pooled.execute(nodes, ("p44_old.items",))] == ["1", "2", "3", "4"]
    assert _calls(db) == []


def test_the_follower_catches_up_at_reconcile(world):
    """What the tests above set up is an unfollowed rename that reconcile() repairs:
    after it the registry names the table by its new name."""
    db = world
    _unfollowed_schema_rename(db)
    with connect(db) as c:
        c.execute("SELECT * FROM graph.reconcile()")
        assert c.execute("SELECT table_name FROM graph._node_tables"
                         " WHERE table_oid = 'p44_old.items'::regclass").fetchone()[0] == "p44_old.items"
