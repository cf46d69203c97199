"""graph._enable_capture_trigger enables only graphsync's own capture trigger, whole.

It runs as the installing superuser for a graph_admin member, and checked only the
trigger's name and function: an admin's own trigger under the replica trigger's name,
calling the capture function but with a WHEN clause of its own, was enabled REPLICA,
and logical replication's apply worker (the subscription owner, a superuser in
PostgreSQL 15) ran the admin's code (found in review; seen failing). It now checks the
trigger's whole shape as graph._trigger_states expects it (no WHEN, AFTER, the level,
no columns or arguments, the transition tables)."""
import psycopg

from conftest import as_role, connect

ROLES = ("gs_j_own", "gs_j_adm")


def test_an_admin_cannot_have_its_own_trigger_enabled_replica_on_a_table_it_does_not_own(db):
    """A graph_admin that is no superuser and does not own own.t (it holds SELECT and
    TRIGGER, as registration needs) writes graph._sync_state (GRANT ALL), generates
    the row function alone (graph._write_capture), creates a trigger of its own under
    the replica trigger's name, calling that function, with a WHEN clause running its
    own function, and has graph._enable_capture_trigger (SECURITY DEFINER, superuser)
    enable it REPLICA. In a replica-role session (logical replication's apply worker,
    running as the subscription owner, in PostgreSQL 15 a superuser) the WHEN clause runs
    the admin's code as that role."""
    with connect(db) as c:
        for r in ROLES:
            c.execute(f"DROP ROLE IF EXISTS {r}")
        c.execute("CREATE ROLE gs_j_own LOGIN")
        c.execute("CREATE ROLE gs_j_adm LOGIN IN ROLE graph_admin")
        c.execute("CREATE SCHEMA own AUTHORIZATION gs_j_own")
        c.execute("CREATE SCHEMA adm AUTHORIZATION gs_j_adm")
        c.execute("CREATE TABLE adm.seen (who name, super boolean)")
        c.execute("ALTER TABLE adm.seen OWNER TO gs_j_adm")
    with as_role(db, "gs_j_own") as o:
        o.execute("CREATE TABLE own.t (id int PRIMARY KEY, name text)")
        o.execute("GRANT SELECT, TRIGGER ON own.t TO graph_admin")
        o.execute("GRANT USAGE ON SCHEMA own TO graph_admin")
    with as_role(db, "gs_j_adm") as a:
        a.execute("SELECT graph.add_table('own.t', columns => '{name}')")
        oid = a.execute("SELECT 'own.t'::regclass::oid").fetchone()[0]
        a.execute("""CREATE FUNCTION adm.evil() RETURNS boolean LANGUAGE sql AS
                     $$ INSERT INTO adm.seen SELECT current_user, rolsuper FROM pg_roles
                        WHERE rolname = current_user RETURNING false $$""")
        a.execute("UPDATE graph._sync_state SET replica_capture = true")
        assert a.execute("SELECT graph._write_capture(%s, true)", (oid,)).fetchone() == (True,)
        a.execute(f"""CREATE TRIGGER graphsync_replica_capture_insert BEFORE INSERT ON own.t
                      FOR EACH ROW WHEN (adm.evil()) EXECUTE FUNCTION graph._capture_row_{oid}()""")
        a.execute("UPDATE graph._sync_state SET replica_capture = false")
        try:
            a.execute("SELECT graph._enable_capture_trigger(%s, 'graphsync_replica_capture_insert')", (oid,))
            refused = None
        except psycopg.Error as e:
            refused = e
    with connect(db) as c:
        enabled = c.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'own.t'::regclass"
                            " AND tgname = 'graphsync_replica_capture_insert'").fetchone()
        # the apply worker: session_replication_role = replica, as the subscription owner (superuser)
        with c.transaction():
            c.execute("SET LOCAL session_replication_role = replica")
            c.execute("INSERT INTO own.t VALUES (1, 'x')")
        seen = c.execute("SELECT who, super FROM adm.seen").fetchall()
    assert refused is not None and seen == [], (enabled, seen)
