"""standard_conforming_strings never changes what a registered row filter means.

A row filter is stored as PostgreSQL deparses it (graph._check_filter), and the
deparser writes a backslash in a string literal as it stands when
standard_conforming_strings is on ('%\\_tmp'), and doubled when it is off: the
text is read correctly only in a session with the setting it was written under.
Capture parses the filter in each writer's own session (the capture function's
body is compiled there), build and verify in the caller's, and any role may SET
standard_conforming_strings. A writer of a registered table whose session had it
off had capture read the filter ``name NOT LIKE '%\\_tmp'`` as ``NOT LIKE '%_tmp'``
(the backslash taken as an escape): its row 'atmp' logged as failing the filter,
and the graph drifted from its sources for everyone (verify: missing_node) until a
rebuild; a superuser's build with it off left such rows out of the graph (both
seen failing). graphsync now parses and deparses filters, and runs the statements
that embed them (capture, build, verify, reads), with standard_conforming_strings
on (graph._output_settings).

Real roles: OWNER owns scs.items and grants WRITER INSERT and UPDATE; the
superuser registers.
"""

import pytest

from conftest import apply, as_role, connect, verify

OWNER = "gs_scs_owner"
WRITER = "gs_scs_writer"
FILTER = r"name NOT LIKE '%\_tmp'"  # a literal underscore: 'atmp' passes, 'a_tmp' does not


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for r in (OWNER, WRITER):
            c.execute(f"DROP ROLE IF EXISTS {r}")
            c.execute(f"CREATE ROLE {r} LOGIN")
        c.execute(f"CREATE SCHEMA scs AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        # text only: the capture function pins no output setting for this table's values
        o.execute("CREATE TABLE scs.items (id text PRIMARY KEY, name text)")
        o.execute("CREATE TABLE scs.stamped (id int PRIMARY KEY, name text, at timestamptz)")
        o.execute(f"GRANT USAGE ON SCHEMA scs TO {WRITER}")
        o.execute(f"GRANT SELECT, INSERT, UPDATE ON scs.items, scs.stamped TO {WRITER}")
        o.execute("INSERT INTO scs.items VALUES ('1', 'a_tmp'), ('2', 'btmp')")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('scs.items', columns => '{name}', row_filter => %s)", (FILTER,))
        c.execute("SELECT graph.add_table('scs.stamped', columns => '{name,at}', row_filter => %s)", (FILTER,))
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('scs.items')")
        c.execute("SELECT graph.remove_table('scs.stamped')")
        c.execute("DROP SCHEMA scs CASCADE")
        for r in (OWNER, WRITER):
            c.execute(f"DROP OWNED BY {r}")
            c.execute(f"DROP ROLE {r}")


def nodes(c, table):
    return sorted(r[0] for r in c.execute("SELECT pk FROM graph._nodes WHERE table_oid = %s::regclass AND alive",
                                          (table,)).fetchall())


def test_the_filter_is_stored_as_written(world):
    with connect(world) as c:
        stored = c.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = 'scs.items'::regclass")
        assert stored.fetchone()[0] == r"(name !~~ '%\_tmp'::text)"
        assert nodes(c, "scs.items") == ["2"]


def test_a_writers_string_setting_is_not_what_capture_reads(world):
    with as_role(world, WRITER) as w:
        w.execute("SET standard_conforming_strings = off")
        w.execute("SET escape_string_warning = off")
        w.execute("INSERT INTO scs.items VALUES ('3', 'ctmp'), ('4', 'd_tmp')")
        w.execute("INSERT INTO scs.stamped VALUES (3, 'ctmp', now()), (4, 'd_tmp', now())")
        w.execute("UPDATE scs.items SET name = 'e_tmp' WHERE id = '2'")  # now fails the filter
    with connect(world) as c:
        apply(c)
        assert verify(c) == []
        assert nodes(c, "scs.items") == ["3"]
        assert nodes(c, "scs.stamped") == ["3"]


def test_a_build_in_a_session_with_backslash_escapes_reads_the_filter_as_registered(world):
    with connect(world) as c:
        c.execute("SET standard_conforming_strings = off")
        c.execute("SET escape_string_warning = off")
        c.execute("SELECT graph.build()")
        c.execute("RESET standard_conforming_strings")
        assert verify(c) == []
        assert nodes(c, "scs.items") == ["3"]
