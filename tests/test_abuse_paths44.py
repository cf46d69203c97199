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

import psycopg
import pytest

from conftest import as_role, connect

OWNER, READER = "gs_p44_owner", "gs_p44_reader"

SETUP = f"""
DROP SCHEMA IF EXISTS p44 CASCADE;
DROP SCHEMA IF EXISTS p44_old CASCADE;
DROP SCHEMA IF EXISTS p44_spy CASCADE;
DROP SCHEMA IF EXISTS p44x CASCADE;
DROP ROLE IF EXISTS {OWNER}; DROP ROLE IF EXISTS {READER};
CREATE ROLE {OWNER} LOGIN; CREATE ROLE {READER} LOGIN;
GRANT CREATE ON DATABASE {{db}} TO {OWNER};
CREATE SCHEMA p44_spy;
CREATE TABLE p44_spy.calls (who name);
GRANT USAGE ON SCHEMA p44_spy TO PUBLIC;
GRANT INSERT ON p44_spy.calls TO PUBLIC;
CREATE SCHEMA p44 AUTHORIZATION {OWNER};
CREATE SCHEMA p44x AUTHORIZATION {OWNER};
SET ROLE {OWNER};
CREATE TABLE p44x.other (id int PRIMARY KEY, name text NOT NULL);
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
SELECT graph.add_table('p44x.other', columns => '{{name}}');
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
        c.execute("SELECT graph.remove_table('p44x.other', cascade => true)")
        c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")
        c.execute("DROP SCHEMA IF EXISTS p44 CASCADE; DROP SCHEMA IF EXISTS p44_old CASCADE;"
                  " DROP SCHEMA p44_spy CASCADE; DROP SCHEMA p44x CASCADE")
        c.execute(f"REVOKE CREATE ON DATABASE {c.info.dbname} FROM {OWNER}")
        c.execute(f"DROP ROLE {OWNER}; DROP ROLE {READER}")
        c.execute("SELECT graph.build()")


def _unfollowed_schema_rename(db):
    """The owner renames schema p44 to p44_old with the follower kept from the capture
    lock (another transaction of its own holds it, renaming a column of its table of
    another schema: a rename of a schema locks the registered tables in it) past its
    own lock_timeout: the rename commits, the registry keeps the name p44.items."""
    with as_role(db, OWNER) as holder, as_role(db, OWNER) as o:
        holder.execute("BEGIN")
        holder.execute("ALTER TABLE p44x.other RENAME COLUMN name TO name2")  # capture regenerated: the lock held
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


# -- Another role's follow switches off no one's capture ------------------------------
#
# A captured table out of step with the catalog is followed (ops/follow.py) by whoever's
# DDL concerns it, or by a direct call of graph._follow_registry (PUBLIC's: "it can do
# nothing but what the next schema change of those tables would"). Capture generation
# refuses (42501) a session user who neither owns the table nor is a graph_admin member;
# the follower took that refusal for a table it could not follow and gave the table a
# capture function that captures nothing. So the owner of a type a victim's column uses
# renamed it (the table is then out of step: the column's type is named otherwise) and
# called graph._follow_registry on the victim's table, and the owner of a schema holding
# another role's registered table renamed the schema: the victim's writes were no longer
# captured, until an admin's reconcile and rebuild (seen failing). Now a follow that such
# a session cannot make fails (55000): the direct call or the DDL, not the victim's
# capture; the owner's next schema change of the table, or graph.reconcile(), follows it.

TYPE_OWNER, VICTIM = "gs_p44_types", "gs_p44_victim"

OTHERS = f"""
DROP SCHEMA IF EXISTS p44t CASCADE; DROP SCHEMA IF EXISTS p44t2 CASCADE;
DROP SCHEMA IF EXISTS p44v CASCADE; DROP SCHEMA IF EXISTS p44v2 CASCADE;
DROP ROLE IF EXISTS {TYPE_OWNER}; DROP ROLE IF EXISTS {VICTIM};
CREATE ROLE {TYPE_OWNER} LOGIN; CREATE ROLE {VICTIM} LOGIN;
GRANT CREATE ON DATABASE {{db}} TO {TYPE_OWNER};  -- (renaming a schema takes it)
CREATE SCHEMA p44t AUTHORIZATION {TYPE_OWNER};
SET ROLE {TYPE_OWNER};
CREATE TYPE p44t.mood AS ENUM ('ok', 'sad');
GRANT USAGE ON SCHEMA p44t TO PUBLIC;
GRANT CREATE ON SCHEMA p44t TO {VICTIM};
RESET ROLE;
CREATE SCHEMA p44v AUTHORIZATION {VICTIM};
SET ROLE {VICTIM};
CREATE TABLE p44v.t (id int PRIMARY KEY, m p44t.mood, name text);
CREATE TABLE p44t.u (id int PRIMARY KEY, name text);
GRANT USAGE ON SCHEMA p44v TO PUBLIC;
RESET ROLE;
SELECT graph.add_table('p44v.t', columns => '{{name,m}}');
SELECT graph.add_table('p44t.u', columns => '{{name}}');
SELECT graph.build();
"""


@pytest.fixture
def others(db):
    with connect(db) as c:
        c.execute(OTHERS.replace("{db}", c.info.dbname))
    yield db
    with connect(db) as c:
        for t in ("p44v.t", "p44t.u", "p44t2.u"):
            if c.execute("SELECT to_regclass(%s) IS NOT NULL", (t,)).fetchone()[0]:
                c.execute("SELECT graph.remove_table(%s, cascade => true)", (t,))
        c.execute("DROP SCHEMA IF EXISTS p44t CASCADE; DROP SCHEMA IF EXISTS p44t2 CASCADE;"
                  " DROP SCHEMA IF EXISTS p44v CASCADE")
        c.execute(f"REVOKE CREATE ON DATABASE {c.info.dbname} FROM {TYPE_OWNER}")
        c.execute(f"DROP ROLE {TYPE_OWNER}; DROP ROLE {VICTIM}")
        c.execute("SELECT graph.build()")


def _captured(db, table, row):
    """Whether the victim's INSERT of ``row`` into ``table`` writes a log row."""
    with connect(db) as c:
        before = c.execute("SELECT count(*) FROM graph._sync_log WHERE table_oid = %s::regclass",
                           (table,)).fetchone()[0]
    with as_role(db, VICTIM) as v:
        v.execute(f"INSERT INTO {table} (id, name) VALUES (%s, 'new')", (row,))
    with connect(db) as c:
        return c.execute("SELECT count(*) FROM graph._sync_log WHERE table_oid = %s::regclass",
                         (table,)).fetchone()[0] > before


def test_a_type_owners_follow_of_another_roles_table_switches_off_none_of_its_capture(others):
    db = others
    assert _captured(db, "p44v.t", 10)
    with as_role(db, TYPE_OWNER) as a:
        a.execute("ALTER TYPE p44t.mood RENAME TO mood2")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="p44v.t"):
            a.execute("SELECT graph._follow_registry(ARRAY['p44v.t'::regclass::oid])")
    assert _captured(db, "p44v.t", 11)
    with as_role(db, VICTIM) as v:  # the owner's own next change of it follows it
        v.execute("ALTER TABLE p44v.t ADD COLUMN extra int")
    with connect(db) as c:
        assert c.execute("SELECT type_name FROM graph._column_map WHERE table_oid = 'p44v.t'::regclass"
                         " AND column_name = 'm'").fetchone()[0] == "p44t.mood2"
    assert _captured(db, "p44v.t", 12)


def test_a_type_owners_drop_of_another_roles_column_fails_rather_than_switch_its_capture_off(others):
    db = others
    with as_role(db, TYPE_OWNER) as a:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="p44v.t"):
            a.execute("DROP TYPE p44t.mood CASCADE")
    assert _captured(db, "p44v.t", 10)


def test_a_schema_owners_rename_switches_off_no_capture_of_another_roles_table_in_it(others):
    db = others
    assert _captured(db, "p44t.u", 10)
    with as_role(db, TYPE_OWNER) as a:
        # refused: a schema's rename locks the registered tables in it as the renaming
        # role, which may not lock another role's table (else the follow fails, 55000)
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState)):
            a.execute("ALTER SCHEMA p44t RENAME TO p44t2")
    assert _captured(db, "p44t.u", 11)
    with connect(db) as c:  # an admin's rename is followed, as before
        c.execute("ALTER SCHEMA p44t RENAME TO p44t2")
        assert c.execute("SELECT table_name FROM graph._node_tables"
                         " WHERE table_oid = 'p44t2.u'::regclass").fetchone()[0] == "p44t2.u"
    assert _captured(db, "p44t2.u", 12)
