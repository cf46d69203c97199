"""graphsync's event triggers switched off (issue 11): graphsync_follow_ddl and
graphsync_follow_drop (DDL on registered tables) and graphsync_follow_subscription
(CREATE/ALTER SUBSCRIPTION: replica capture). A superuser may disable, drop or
re-enable one for origin or replica sessions only (then session_replication_role
decides whether it fires). sync_health() reports each such trigger in
schema_drift (ddl_not_followed, with the exact statement a superuser runs),
recommends reconcile and says so in next_action; graph.reconcile() run by a
superuser enables or re-creates it as install made it; run by a graph_admin member
who is no superuser, it changes nothing, warns with the statement in its hint and
reports needs_attention (reconcile is then partial)."""

import threading

import psycopg
import pytest

from conftest import as_role, blocked_by, connect, wait_until

ADMIN = "gs_evt_admin"
TRIGGERS = ("graphsync_follow_ddl", "graphsync_follow_drop", "graphsync_follow_subscription")
EVENT_TRIGGER = ("SELECT evtevent, evtfoid::regprocedure::text, evtenabled, evttags FROM pg_event_trigger"
                 " WHERE evtname = %s")
HEALTH = "SELECT schema_state, schema_drift, reconcile_recommended, next_action FROM graph.sync_health()"


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(f"DROP ROLE IF EXISTS {ADMIN}")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute("CREATE TABLE people (id int PRIMARY KEY, name text, boss int)")
        c.execute("INSERT INTO people VALUES (1, 'a', NULL), (2, 'b', 1)")
        c.execute("SELECT graph.add_table('people', columns => '{name}')")
        c.execute("SELECT graph.add_edge('people', 'boss', 'people', label => 'reports_to')")
        c.execute("SELECT graph.build()")
        c.execute(f"GRANT SELECT, TRIGGER ON people TO {ADMIN}")
        installed = {t: c.execute(EVENT_TRIGGER, (t,)).fetchone() for t in TRIGGERS}
    assert all(row is not None and row[2] == "A" for row in installed.values()), installed
    yield db, installed
    with connect(db) as c:
        c.execute(f"DROP OWNED BY {ADMIN}")
        c.execute(f"DROP ROLE {ADMIN}")


def health(c):
    return dict(zip(("state", "drift", "reconcile", "next"), c.execute(HEALTH).fetchone(), strict=True))


@pytest.mark.parametrize("name", TRIGGERS)
@pytest.mark.parametrize("how, said, statement", [
    ("ALTER EVENT TRIGGER {} DISABLE", "is disabled", "ALTER EVENT TRIGGER {} ENABLE ALWAYS"),
    ("ALTER EVENT TRIGGER {} ENABLE", "is enabled for origin sessions only (not with session_replication_role"
     " = replica)", "ALTER EVENT TRIGGER {} ENABLE ALWAYS"),
    ("ALTER EVENT TRIGGER {} ENABLE REPLICA", "is enabled for replica sessions only",
     "ALTER EVENT TRIGGER {} ENABLE ALWAYS"),
    ("DROP EVENT TRIGGER {}", "is missing", "CREATE EVENT TRIGGER {} ON "),
])
def test_an_event_trigger_switched_off_shows_in_health_and_a_superusers_reconcile_restores_it(
        world, name, how, said, statement):
    db, installed = world
    with connect(db) as su:
        assert health(su)["state"] == "current"
        su.execute(how.format(name))
        h = health(su)
        assert h["state"] == "drifted" and h["reconcile"] is True, h
        assert f"ddl_not_followed: {name} (event trigger {name} {said}" in h["drift"], h
        assert f"a superuser runs {statement.format(name)}" in h["drift"], h
        assert h["next"].startswith("run graph.reconcile(): ddl_not_followed: " + name), h
        if name == "graphsync_follow_subscription":
            assert "replica capture" in h["drift"]
        # A graph_admin member who is no superuser: told what to run, nothing changed.
        with as_role(db, ADMIN) as a:
            warnings = []
            a.add_notice_handler(lambda d: warnings.append((d.message_primary, d.message_hint))
                                 if d.severity_nonlocalized == "WARNING" else None)
            done = a.execute("SELECT action, table_name, detail FROM graph.reconcile()").fetchall()
            prefix = f"ddl_not_followed: {name} ("
            assert h["drift"].startswith(prefix) and h["drift"].endswith(")"), h  # the only drift
            assert [r for r in done if r[1] == name] == [("needs_attention", name, h["drift"][len(prefix):-1])], done
            hinted = [w for w in warnings if name in w[0]]
            assert len(hinted) == 1, warnings
            assert hinted[0][0] == f"graphsync: only a superuser may enable or create event trigger {name}"
            assert hinted[0][1].startswith("As a superuser run: " + statement.format(name)), hinted[0]
            assert a.execute("SELECT last_maintenance_status FROM graph.sync_health()").fetchone() == ("partial",)
        assert health(su)["state"] == "drifted"
        # A superuser's reconcile enables it, or creates it as install made it.
        done = su.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("enabled_event_trigger", name) in done, done
        assert su.execute(EVENT_TRIGGER, (name,)).fetchone() == installed[name]
        h = health(su)
        assert h["state"] == "current" and h["next"] == "nothing to do", h


def test_the_statement_health_quotes_for_a_missing_trigger_recreates_it_as_installed(world):
    """What a DBA copies from the detail is exactly what install made."""
    db, installed = world
    with connect(db) as su:
        for name in TRIGGERS:
            su.execute(f"DROP EVENT TRIGGER {name}")
        drift = health(su)["drift"]
        for name in TRIGGERS:
            statement = drift.split(f"event trigger {name} is missing", 1)[1].split("a superuser runs ", 1)[1]
            statement = statement.split(" (graph.reconcile()", 1)[0]
            su.execute(statement)
            su.execute(f"ALTER EVENT TRIGGER {name} ENABLE ALWAYS")
            assert su.execute(EVENT_TRIGGER, (name,)).fetchone() == installed[name], name
        assert health(su)["state"] == "current"



def test_a_reconcile_that_runs_its_repair_again_warns_once(world):
    """reconcile() repairs under its sources' locks, then waits for graph._sync_state's
    row at most 10 s; past that it gives the locks back with the repair, waits for the
    row holding none, and runs the repair again. The repair's WARNING (an event
    trigger only a superuser may enable) came twice, once per run of the repair: a
    client is given it once now, and the run's rows say it once."""
    db, _installed = world
    with connect(db) as su:
        su.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
    warnings, out = [], {}

    def reconcile(a):
        try:
            out["done"] = a.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        except psycopg.Error as exc:
            out["done"] = exc

    try:
        with as_role(db, ADMIN) as a, connect(db) as holder, connect(db) as look, connect(db) as owner:
            a.add_notice_handler(lambda d: warnings.append(d.message_primary)
                                 if d.severity_nonlocalized == "WARNING" else None)
            a.execute("SET statement_timeout = '120s'")  # a guard against a hang, not a timing
            holder.execute("BEGIN")
            holder.execute("SELECT FROM graph._sync_state FOR UPDATE")
            t = threading.Thread(target=reconcile, args=(a,))
            t.start()
            try:
                assert wait_until(lambda: blocked_by(look, a.info.backend_pid, holder.info.backend_pid))

                def given_back():  # the run waits for the row holding no source lock
                    owner.execute("BEGIN")
                    try:
                        owner.execute("LOCK TABLE people IN SHARE UPDATE EXCLUSIVE MODE NOWAIT")
                        return blocked_by(look, a.info.backend_pid, holder.info.backend_pid)
                    except psycopg.errors.LockNotAvailable:
                        return False
                    finally:
                        owner.execute("ROLLBACK")

                assert wait_until(given_back, timeout=60)
            finally:
                holder.execute("COMMIT")
                t.join()
        done = out["done"]
        assert not isinstance(done, Exception), done
        assert done.count(("needs_attention", "graphsync_follow_ddl")) == 1, done
        said = [w for w in warnings if "only a superuser may enable" in w]
        assert len(said) == 1, warnings
    finally:
        with connect(db) as su:
            su.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
            assert health(su)["state"] == "current"
