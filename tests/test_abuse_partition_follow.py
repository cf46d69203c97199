"""A table owner, a plain reader and a graph_admin member who is no superuser, each at
what the fifty-first stop changed in the DDL follower of partitioned tables: the
follower looks at the relations a DDL names (graph._trigger_states(tbls,
only_members), graph._attach_capture(tbls, only_members), graph._map_capture(tbl,
only_members), graph._follow_registry given those relations, graph._grant_capture's
short path). Each of them is PUBLIC's to run but _map_capture; the definers derive
what they do from the catalog. No role may, by naming relations of its choosing:
see or change another role's capture triggers, record a member that is not one,
drop one that is, or come to hold EXECUTE on a capture function; and an owner's own
search_path and functions run in none of it. Written after the change (the new
functions did not exist before it)."""

import psycopg
import pytest

from conftest import as_role, connect

OWNER = "gs_pf_owner"  # owns the registered partitioned table
READER = "gs_pf_reader"  # may read it, owns nothing
ADMIN = "gs_pf_admin"  # a graph_admin member, no superuser
THREE = (OWNER, READER, ADMIN)

SETUP = f"""
CREATE ROLE {OWNER} LOGIN;
CREATE ROLE {READER} LOGIN;
CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin;
CREATE SCHEMA pf;
GRANT USAGE ON SCHEMA pf TO {READER}, {ADMIN};
GRANT USAGE, CREATE ON SCHEMA pf TO {OWNER};
CREATE TABLE pf.days (id int, day int, PRIMARY KEY (id, day)) PARTITION BY LIST (day);
CREATE TABLE pf.days_0 PARTITION OF pf.days FOR VALUES IN (0);
CREATE TABLE pf.days_1 PARTITION OF pf.days FOR VALUES IN (1);
ALTER TABLE pf.days OWNER TO {OWNER};
ALTER TABLE pf.days_0 OWNER TO {OWNER};
ALTER TABLE pf.days_1 OWNER TO {OWNER};
GRANT SELECT ON pf.days TO {READER};
CREATE TABLE pf.loose (id int, day int);
ALTER TABLE pf.loose OWNER TO {READER};
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {OWNER}', current_database()); END $$;
SELECT graph.add_table('pf.days');
"""

MEMBERS = "SELECT member_oid::regclass::text FROM graph._capture_members WHERE table_oid = 'pf.days'::regclass"
STATES = "SELECT member_oid::regclass::text, trigger_name, state FROM graph._trigger_states('pf.days'::regclass)"
GRANTEES = """SELECT coalesce(array_agg(a.grantee::regrole::text ORDER BY a.grantee::regrole::text), '{}')
              FROM pg_proc AS p CROSS JOIN aclexplode(p.proacl) AS a
              WHERE p.oid = to_regprocedure(format('graph.%I()', '_capture_' || 'pf.days'::regclass::oid))
                AND a.grantee <> p.proowner"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(SETUP)
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('pf.days')")
        c.execute("DROP SCHEMA pf CASCADE")
        for role in THREE:
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def _snapshot(world):
    with connect(world) as c:
        return (sorted(c.execute(MEMBERS).fetchall()), sorted(c.execute(STATES).fetchall()),
                c.execute(GRANTEES).fetchone()[0])


@pytest.mark.parametrize("role", THREE)
def test_naming_relations_of_ones_choosing_changes_nothing(world, role):
    before = _snapshot(world)
    assert {s for _, _, s in before[1]} == {"ok"}, before
    with as_role(world, role) as r:
        oids = dict(r.execute("SELECT t, t::regclass::oid FROM unnest(%s::text[]) AS t",
                              (["pf.days", "pf.days_0", "pf.days_1", "pf.loose", "pg_catalog.pg_class"],)).fetchall())
        hostile = [[oids["pf.loose"]], [oids["pf.days_0"], oids["pf.loose"]], [oids["pg_catalog.pg_class"]],
                   [None], [], [0, 4294967295], list(oids.values()) * 50]
        said = []
        r.add_notice_handler(lambda d: said.append(d.message_primary))
        for named in hostile:
            # the states of relations given: those of the tree only, never another table's
            rows = r.execute("SELECT member_oid FROM graph._trigger_states(ARRAY[%s::oid], %s::oid[])",
                             (oids["pf.days"], named)).fetchall()
            assert {m for (m,) in rows} <= {oids["pf.days_0"], oids["pf.days_1"], oids["pf.days"]}, (named, rows)
            # the follower's steps, called directly with them: in step, they do nothing
            r.execute("SELECT count(*) FROM graph._follow_registry(%s::oid[])", (named,))
            r.execute("SELECT graph._grant_capture(%s::oid[])", (named,))
            with r.transaction():
                r.execute("SAVEPOINT attach")
                try:  # as an invoker: the caller's own rights on the triggers, or a WARNING
                    r.execute("SELECT graph._attach_capture(ARRAY[%s::oid], %s::oid[])", (oids["pf.days"], named))
                except psycopg.errors.InsufficientPrivilege:
                    r.execute("ROLLBACK TO SAVEPOINT attach")
            # recording members is the follower's (graph_sync's) alone
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                r.execute("SELECT graph._map_capture(%s, %s::oid[])", (oids["pf.days"], named))
            # its note of a former member's triggers: none left anywhere, nothing said
            said.clear()
            r.execute("SELECT graph._note_leftover_capture(%s, %s::oid[])", (oids["pf.days"], named))
            r.execute("SELECT graph._note_leftover_capture(%s, %s::oid[])", (oids["pg_catalog.pg_class"], named))
            assert said == [], (named, said)
    assert _snapshot(world) == before


def test_the_owners_search_path_runs_none_of_its_functions_in_the_follower(world):
    with as_role(world, OWNER) as o:
        o.execute("CREATE SCHEMA IF NOT EXISTS gs_pf_trap")
        for fn, args, returns in (("array_agg", "anyelement", "anyarray"), ("unnest", "anyarray", "anyelement"),
                                  ("format", "text, VARIADIC text[]", "text"),
                                  ("pg_has_role", "oid, oid, text", "bool")):
            o.execute(f"CREATE OR REPLACE FUNCTION gs_pf_trap.{fn}({args}) RETURNS {returns} LANGUAGE plpgsql"
                      f" AS $$ BEGIN RAISE EXCEPTION 'the owner''s {fn} ran'; END $$")
        # (before pg_catalog: unqualified calls in the owner's session are its own now)
        o.execute("SET search_path = gs_pf_trap, pg_catalog, pf, public")
        with pytest.raises(psycopg.errors.RaiseException, match="owner's unnest ran"):
            o.execute("SELECT unnest(ARRAY[1])")
        o.execute("CREATE TABLE pf.days_2 PARTITION OF pf.days FOR VALUES IN (2)")
        o.execute("INSERT INTO pf.days VALUES (1, 2)")
        o.execute("DROP TABLE pf.days_2")
        o.execute("DROP SCHEMA gs_pf_trap CASCADE")
    with connect(world) as c:
        assert "pf.days_2" not in {m for (m,) in c.execute(MEMBERS).fetchall()}
        assert c.execute("SELECT count(*) FROM graph._sync_log WHERE table_oid = 'pf.days'::regclass"
                         " AND op = 'I'").fetchone()[0] >= 1
        assert {s for _, _, s in c.execute(STATES).fetchall()} == {"ok"}


def test_a_reader_cannot_make_the_follower_record_its_own_table(world):
    # attaching its table as a partition is refused by PostgreSQL (it does not own
    # pf.days); named to the follower, a table outside the tree records nothing
    with as_role(world, READER) as r:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("ALTER TABLE pf.days ATTACH PARTITION pf.loose FOR VALUES IN (9)")
        loose = r.execute("SELECT 'pf.loose'::regclass::oid").fetchone()[0]
        r.execute("SELECT count(*) FROM graph._follow_registry(ARRAY[%s::oid])", (loose,))
    with connect(world) as c:
        assert "pf.loose" not in {m for (m,) in c.execute(MEMBERS).fetchall()}
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pf.loose'::regclass").fetchone()[0] == 0


# The fifty-second stop: after an ATTACH, DETACH or a member's DROP the follower checks
# the triggers of the members that joined or left only (graph._follow_registry returns
# them with each table, migration 473), and asks graph._named_members_only (PUBLIC, an
# invoker) whether a DDL concerns a table through members only. Written after those
# changes, not before them.


@pytest.mark.parametrize("role", THREE)
def test_attaching_detaching_and_dropping_is_the_owners_alone_and_leaves_capture_whole(world, role):
    """Each role tries to move a partition out of the registered table and back, and to
    drop one: PostgreSQL lets the owner only (the admin is no superuser and owns
    nothing). What the owner moved is followed: a detached partition has no capture
    trigger left and is no member, attached again it has all four, and every other
    member's triggers are as they were; the grants stay graph_admin's and the owner's."""
    before = _snapshot(world)
    with as_role(world, role) as r:
        if role != OWNER:
            for ddl in ("ALTER TABLE pf.days DETACH PARTITION pf.days_1", "DROP TABLE pf.days_1",
                        "CREATE TABLE pf.days_7 PARTITION OF pf.days FOR VALUES IN (7)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    r.execute(ddl)
        else:
            r.execute("ALTER TABLE pf.days DETACH PARTITION pf.days_1")
            with connect(world) as c:
                assert "pf.days_1" not in {m for (m,) in c.execute(MEMBERS).fetchall()}
                assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pf.days_1'::regclass"
                                 " AND tgname LIKE 'graphsync%'").fetchone()[0] == 0
                assert {s for _, _, s in c.execute(STATES).fetchall()} == {"ok"}
            r.execute("ALTER TABLE pf.days ATTACH PARTITION pf.days_1 FOR VALUES IN (1)")
            r.execute("CREATE TABLE pf.days_7 PARTITION OF pf.days FOR VALUES IN (7)")
            r.execute("DROP TABLE pf.days_7")
    assert _snapshot(world) == before


def test_a_detached_members_owner_loses_execute_and_its_writes_go_on_uncaptured(world):
    """A partition another role owns (here the reader, given it by a superuser) holds
    EXECUTE on the table's capture function. The table's owner detaches it: that DDL
    names the parent, so the grants are still walked over every member's owner and the
    reader's EXECUTE goes, though only the members that moved have their triggers
    checked; the partition is no member any more. Its capture triggers stay (the
    table's owner may not drop them from a table it does not own), and its owner's
    writes to it go on, logged nowhere: a capture function fired on a table outside its
    own table's tree logs nothing. Before the fifty-third stop each such write failed
    (42501), against "a write never fails because of graphsync". The owner who
    detached it is told (a NOTICE, graph._note_leftover_capture): the triggers still
    cost each write of the former member, and only its owner may drop them."""
    with connect(world) as c:
        c.execute("CREATE TABLE pf.days_8 PARTITION OF pf.days FOR VALUES IN (8)")
        c.execute(f"ALTER TABLE pf.days_8 OWNER TO {READER}")
        assert READER in c.execute(GRANTEES).fetchone()[0]
    try:
        with as_role(world, OWNER) as o:
            said = []
            o.add_notice_handler(lambda d: said.append((d.severity_nonlocalized, d.message_primary, d.message_hint)))
            o.execute("ALTER TABLE pf.days DETACH PARTITION pf.days_8")
        # ... and the owner who detached it hears of them, with its owner's statements
        with connect(world) as c:
            days = c.execute("SELECT 'pf.days'::regclass::oid").fetchone()[0]
        names = [f"graphsync_capture_{e}_{days}" for e in ("delete", "insert", "truncate", "update")]
        assert said == [("NOTICE", f"graphsync: pf.days_8 is no longer a partition or child of pf.days and keeps"
                                   f" its capture triggers {', '.join(names)}, which log nothing there: its owner"
                                   f" {READER} (or a superuser) may drop them",
                         f"As {READER}: " + " ".join(f"DROP TRIGGER {n} ON pf.days_8;" for n in names))], said
        with connect(world) as c:
            assert c.execute(GRANTEES).fetchone()[0] == ["graph_admin", OWNER]
            assert "pf.days_8" not in {m for (m,) in c.execute(MEMBERS).fetchall()}
            assert {s for _, _, s in c.execute(STATES).fetchall()} == {"ok"}
            assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pf.days_8'::regclass"
                             " AND tgname LIKE 'graphsync\\_capture\\_%'").fetchone()[0] == 4
            start = c.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]
        with as_role(world, READER) as r:
            r.execute("INSERT INTO pf.days_8 VALUES (1, 8), (2, 8)")
            r.execute("UPDATE pf.days_8 SET id = id + 10")
            r.execute("DELETE FROM pf.days_8 WHERE id = 11")
            r.execute("TRUNCATE pf.days_8")
        with connect(world) as c:
            assert c.execute("SELECT count(*) FROM graph._sync_log WHERE id > %s", (start,)).fetchone()[0] == 0
            assert {s for _, _, s in c.execute(STATES).fetchall()} == {"ok"}
    finally:
        with connect(world) as c:
            c.execute("DROP TABLE IF EXISTS pf.days_8")


def test_a_detached_partition_of_the_tables_owner_keeps_no_capture_trigger_and_nothing_is_said(world):
    """The same detach of a partition the table's owner owns: the follower drops its
    capture triggers (graph._attach_capture), so nothing is left to tell of; a
    partition created is no member that left (no NOTICE either)."""
    said = []
    with as_role(world, OWNER) as o:
        o.add_notice_handler(lambda d: said.append((d.severity_nonlocalized, d.message_primary)))
        o.execute("CREATE TABLE pf.days_9 PARTITION OF pf.days FOR VALUES IN (9)")
        o.execute("ALTER TABLE pf.days DETACH PARTITION pf.days_9")
    try:
        assert said == [], said
        with connect(world) as c:
            assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pf.days_9'::regclass").fetchone()[0] == 0
            assert {s for _, _, s in c.execute(STATES).fetchall()} == {"ok"}
    finally:
        with connect(world) as c:
            c.execute("DROP TABLE IF EXISTS pf.days_9")


@pytest.mark.parametrize("role", THREE)
def test_the_followers_answers_given_hostile_relations_change_nothing(world, role):
    """graph._follow_registry (a definer, PUBLIC's) answers, for each table whose
    capture triggers to attach, the members to check: called by any role with relations
    of its choosing, while everything is in step, it answers nothing and changes
    nothing. graph._named_members_only (an invoker) reads relkinds only: what it says
    of any relations, even another role's or a catalog's, is true or false, never an
    error or a change."""
    before = _snapshot(world)
    with as_role(world, role) as r:
        oids = [o for (o,) in r.execute("SELECT t::regclass::oid FROM unnest(%s::text[]) AS t",
                                        (["pf.days", "pf.days_0", "pf.loose", "pg_catalog.pg_class"],))]
        days = oids[0]
        for named in ([oids[1]], [oids[0]], [oids[2]], [oids[3]], [None], [], [0, 4294967295], oids * 50):
            assert r.execute("SELECT * FROM graph._follow_registry(%s::oid[])", (named,)).fetchall() == [], named
            assert r.execute("SELECT graph._named_members_only(%s, %s::oid[])",
                             (days, named)).fetchone()[0] in (True, False), named
    assert _snapshot(world) == before
