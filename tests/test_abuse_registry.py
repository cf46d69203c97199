"""A graph_admin member names no table in the registry it may not register.

graph_admin may write the registry's tables (registration runs as its caller), and
graph.add_table refuses a table the caller may not SELECT and put triggers on. A
row written by hand did not: privileged code then read or captured the table for
the admin -- a superuser's graph.build() or pg_cron's maintenance read its rows into
graph._node_rows, a superuser's reconcile attached capture to it, a planted
graph._capture_members row made the owner's own DDL attach it (found in review; all
four seen failing). The registry's tables now refuse such a row (migration 426,
graph._check_registration)."""

import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import as_role, connect


@pytest.fixture
def roles(db):
    suffix = uuid.uuid4().hex[:8]
    adm, owner = "gs_rg_adm_" + suffix, "gs_rg_own_" + suffix
    secret = "s3cr3t-" + suffix
    with connect(db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE graph_admin").format(sql.Identifier(adm)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        c.execute(sql.SQL("CREATE SCHEMA vault AUTHORIZATION {}").format(sql.Identifier(owner)))
        c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
        c.execute("CREATE TABLE vault.salaries (id int PRIMARY KEY, note text)")
        c.execute("INSERT INTO vault.salaries VALUES (1, %s)", (secret,))
        c.execute("RESET ROLE")
    try:
        yield adm, owner, secret
    finally:
        with connect(db) as c:
            c.execute("DELETE FROM graph._node_tables WHERE table_name = 'vault.salaries'")
            c.execute("DELETE FROM graph._capture_members WHERE member_name = 'vault.old_name'")
            c.execute("DROP SCHEMA vault CASCADE")
            c.execute("SELECT * FROM graph.reconcile()").fetchall()
            for r in (adm, owner):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


def plant(db, adm):
    """The admin tries to write vault.salaries into the registry by hand (it may not
    graph.add_table it), and a record that its capture was made under another name."""
    with as_role(db, adm) as a:
        oid = a.execute("SELECT c.oid FROM pg_class AS c JOIN pg_namespace AS s ON s.oid = c.relnamespace"
                        " WHERE s.nspname = 'vault' AND c.relname = 'salaries'").fetchone()[0]
        assert not a.execute("SELECT has_table_privilege(%s::oid, 'SELECT')", (oid,)).fetchone()[0]
        with pytest.raises(psycopg.Error):
            a.execute("SELECT graph.add_table(%s::oid::regclass, columns => '{note}')", (oid,))
        refused = []
        for statement, args in (
                ("INSERT INTO graph._node_tables (table_oid, table_name, id_columns, columns)"
                 " VALUES (%s, 'vault.salaries', '{id}', '{note}')", (oid,)),
                ("INSERT INTO graph._capture_members (member_oid, table_oid, member_name)"
                 " VALUES (%s, %s, 'vault.old_name')", (oid, oid)),
                # a registration of its own re-pointed at the table
                ("UPDATE graph._node_tables SET table_oid = %s WHERE table_name = 'public.mine'", (oid,))):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="vault.salaries"):
                a.execute(statement, args)
            refused.append(statement)
        a.execute("UPDATE graph._sync_state SET build_required = true")
    return refused


def admin_sees_secret(db, adm, secret):
    with as_role(db, adm) as a:
        nodes = a.execute("SELECT count(*) FROM graph._node_rows AS n WHERE n::text LIKE %s",
                          ("%" + secret + "%",)).fetchone()[0]
        logged = a.execute("SELECT count(*) FROM graph._sync_log AS l WHERE l::text LIKE %s",
                           ("%" + secret + "%",)).fetchone()[0]
    return nodes, logged


@pytest.fixture
def mine(db, roles):
    """public.mine: a table the admin owns and registered (graph.add_table)."""
    adm = roles[0]
    with connect(db) as c:
        c.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(adm)))
    with as_role(db, adm) as a:
        a.execute("CREATE TABLE public.mine (id int PRIMARY KEY)")
        a.execute("SELECT graph.add_table('public.mine')")
    yield
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('public.mine', cascade => true)")
        c.execute("DROP TABLE public.mine")


@pytest.mark.parametrize("then", ["maintenance", "build", "reconcile", "owner's DDL"])
def test_no_privileged_run_reads_or_captures_a_table_an_admin_wrote_into_the_registry(db, roles, mine, then):
    adm, owner, secret = roles
    assert len(plant(db, adm)) == 3
    with connect(db) as c:  # a superuser's run (pg_cron's maintenance is one)
        if then == "maintenance":
            c.execute("SELECT graph.run_scheduled_maintenance()")
        elif then == "build":
            c.execute("SELECT graph.build()")
        elif then == "reconcile":
            c.execute("SELECT * FROM graph.reconcile()").fetchall()
    if then == "owner's DDL":
        with as_role(db, owner) as o:
            o.execute("ALTER TABLE vault.salaries ADD COLUMN extra int")
    with as_role(db, owner) as o:
        o.execute("INSERT INTO vault.salaries VALUES (2, %s)", (secret,))
    with connect(db) as c:
        triggers = c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'vault.salaries'::regclass"
                             " AND NOT tgisinternal").fetchone()[0]
    assert (triggers, admin_sees_secret(db, adm, secret)) == (0, (0, 0))


def test_an_admin_registers_what_it_may_as_before(db, roles, mine):
    """The admin's own table registers, changes and leaves the registry as before."""
    adm = roles[0]
    with as_role(db, adm) as a:
        a.execute("ALTER TABLE public.mine ADD COLUMN note text")
        a.execute("SELECT graph.alter_table('public.mine', add_properties => '{note}')")
        a.execute("ALTER TABLE public.mine RENAME TO mine2")  # followed by graph_sync's definers
        a.execute("ALTER TABLE public.mine2 RENAME TO mine")
        assert a.execute("SELECT table_name FROM graph._node_tables WHERE table_oid = 'public.mine'::regclass"
                         ).fetchone() == ("public.mine",)


def test_an_admin_names_no_table_that_does_not_exist_yet(db, roles):
    """Oids are handed out in order: rows naming the next few named the table its
    owner created next, which a superuser's build then read for the admin (found in
    review of the first fix; seen failing). An oid no table holds is refused."""
    adm = roles[0]
    with connect(db) as c:
        c.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(adm)))
    with as_role(db, adm) as a:
        a.execute("CREATE TABLE public.probe ()")
        oid = a.execute("SELECT 'public.probe'::regclass::oid::int8").fetchone()[0]
        a.execute("DROP TABLE public.probe")
        for statement in ("INSERT INTO graph._node_tables (table_oid, table_name, id_columns, columns)"
                          " VALUES ((%s + 1)::oid, 'planted', '{id}', '{note}')",
                          "INSERT INTO graph._capture_members (member_oid, table_oid, member_name)"
                          " VALUES ((%s + 1)::oid, (%s + 1)::oid, 'planted')"):
            with pytest.raises(psycopg.errors.UndefinedTable, match="does not exist"):
                a.execute(statement, (oid,) * statement.count("%s"))


def test_an_edge_sources_target_lets_no_admin_lock_a_table_it_may_not_read(db, roles):
    """graph._hold_sources (SECURITY DEFINER, the installing superuser's: only a table's
    owner or a role that may write it takes SHARE UPDATE EXCLUSIVE) locks the tables the
    registry names. The registry check (graph._check_registration) vets an edge source's
    carrying tables (from_table, via_table), not its to_table, which registration takes
    from the registered node tables: an admin's own edge source written by hand, its
    to_table another role's table, had the superuser's definer lock that table for the
    admin to the end of its transaction, holding off the owner's CREATE INDEX, ALTER
    TABLE, VACUUM and ANALYZE (and autovacuum) for as long as it liked (found in review;
    seen failing). Only node tables and carrying tables are locked now."""
    adm, owner, _ = roles
    mine = "gs_rg_mine_" + adm[-8:]
    with connect(db) as c:
        c.execute(sql.SQL("CREATE TABLE public.{} (id int PRIMARY KEY, ref int)").format(sql.Identifier(mine)))
        c.execute(sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(sql.Identifier(mine), sql.Identifier(adm)))
    try:
        with as_role(db, adm) as a, a.transaction():
            victim = a.execute("SELECT c.oid FROM pg_class AS c JOIN pg_namespace AS s ON s.oid = c.relnamespace"
                               " WHERE s.nspname = 'vault' AND c.relname = 'salaries'").fetchone()[0]
            assert not a.execute("SELECT has_table_privilege(%s::oid, 'SELECT')", (victim,)).fetchone()[0]
            a.execute("INSERT INTO graph._edge_sources (kind, from_table, from_column, to_table, label)"
                      " VALUES ('fk', %s::regclass, 'ref', %s, 'x')", (f"public.{mine}", victim))
            a.execute("SELECT graph._hold_sources(ARRAY[%s::oid], true)", (victim,))
            held = [m for (m,) in a.execute("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid()"
                                            " AND granted AND relation = %s", (victim,)).fetchall()]
            raise psycopg.Rollback()  # nothing it wrote stays
    finally:
        with connect(db) as c:
            c.execute(sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(mine)))
    assert held == [], held
