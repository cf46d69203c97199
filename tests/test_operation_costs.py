"""Operations whose cost per call must not grow with what the database keeps
(maintenance history, partitions, a failing source row), counted, never timed
(pg_stat_xact_all_tables through conftest.rows_read, pg_stat_xact_user_functions)."""

import contextlib
import re

import pytest

import install
from conftest import apply, as_role, connect, explained_plans, rows_read, table_owner, verify

GRAPH = """
CREATE TABLE public.people (id int PRIMARY KEY, name text NOT NULL, boss int);
INSERT INTO public.people SELECT g, 'p' || g, NULLIF(g / 10, 0) FROM generate_series(1, 500) AS g;
SELECT graph.add_table('public.people', columns => '{name}');
SELECT graph.add_edge('public.people', 'boss', 'public.people');
SELECT graph.build();
"""


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(GRAPH)
    return db


def test_health_reads_the_last_runs_not_the_whole_job_history(app):
    """graph._maintenance_jobs keeps graph.job_retention (7 days) of runs: a job a
    minute is some 10,000 rows. A source check (differences NOT NULL) runs at most
    every graph.verify_interval, never while rows are pending (a busy database: at
    nearly every run), and never with verify_interval = off. sync_health() looks for
    the latest run that checked: newest first by the primary key, filtered, so it read
    every run back to that one -- the whole history when none checked -- at every call
    of a monitor. It must read a bounded number of job rows, whatever the history."""
    with connect(app) as c:
        c.execute("SET graph.verify_interval = 'off'")
        for _ in range(3):  # real runs, none of which checks the sources
            r = c.execute("SELECT status, differences FROM graph.run_scheduled_maintenance()").fetchone()
            assert r == ("succeeded", None), r
        # a week of a job a minute, as those runs recorded themselves
        c.execute("""INSERT INTO graph._maintenance_jobs (kind, started_at, finished_at, status, phase, reason)
                     SELECT 'scheduled', now() - g * interval '1 minute', now() - g * interval '1 minute',
                            'succeeded', 'prune', 'no rebuild needed'
                     FROM generate_series(10000, 4, -1) AS g""")
        for _ in range(2):
            c.execute("SELECT status FROM graph.run_scheduled_maintenance()")
        assert c.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0] > 9900
        c.execute("SELECT * FROM graph.sync_health()")  # plans cached
        with c.transaction():
            before = rows_read(c, "graph._maintenance_jobs")
            h = c.execute("SELECT last_maintenance_status, last_verify_at FROM graph.sync_health()").fetchone()
            read = rows_read(c, "graph._maintenance_jobs") - before
        assert h == ("succeeded", None), h
        assert read <= 10, read


def test_maintenance_finds_its_last_source_check_without_reading_the_runs_since(app):
    """Whether a source check is due (graph.verify_interval) was decided by reading
    the runs started within the interval, oldest first, up to one that checked: with
    a week's interval and a check six days ago, every run (a minute apart) read the
    1,440 runs of the day before that check (all of the interval's runs when none
    checked in it). It must read a bounded number of job rows."""
    with connect(app) as c:
        c.execute("DELETE FROM graph._maintenance_jobs")
        c.execute("""INSERT INTO graph._maintenance_jobs (kind, started_at, finished_at, status, phase, reason,
                                                          differences)
                     SELECT 'scheduled', now() - g * interval '1 minute', now() - g * interval '1 minute',
                            'succeeded', 'prune', 'no rebuild needed',
                            CASE WHEN g = 6 * 1440 THEN 0 END
                     FROM generate_series(7 * 1440, 1, -1) AS g""")
        c.execute("SET graph.verify_interval = '7 days'")
        c.execute("SET graph.job_retention = '8 days'")
        assert apply(c)["failed"] == 0
        c.execute("SELECT status FROM graph.run_scheduled_maintenance()")  # plans cached
        with c.transaction():
            before = rows_read(c, "graph._maintenance_jobs")
            r = c.execute("SELECT status, differences FROM graph.run_scheduled_maintenance()").fetchone()
            read = rows_read(c, "graph._maintenance_jobs") - before
        assert r == ("succeeded", None), r  # no check due: one ran six days ago
        assert read <= 10, read


PARTITIONS = 200
WRITES = """SELECT coalesce(n_tup_ins, 0) + coalesce(n_tup_upd, 0) + coalesce(n_tup_del, 0)
            FROM pg_catalog.pg_stat_xact_all_tables WHERE relid = 'graph._capture_members'::regclass"""
CALLS = """SELECT coalesce(sum(f.calls), 0)::int FROM pg_catalog.pg_stat_xact_user_functions AS f
           WHERE f.schemaname = 'graph' AND f.funcname = %s"""


@pytest.fixture(scope="module")
def events(app):
    """A captured table partitioned by day: PARTITIONS partitions, a new one each day."""
    with connect(app) as c:
        c.execute("CREATE TABLE public.events (id int, day int, person int, PRIMARY KEY (id, day))"
                  " PARTITION BY LIST (day)")
        c.execute("".join(f"CREATE TABLE public.events_{d} PARTITION OF public.events FOR VALUES IN ({d});"
                          for d in range(PARTITIONS)))
        c.execute("SELECT graph.add_table('public.events')")
        c.execute("SELECT graph.add_edge('public.events', 'person', 'public.people')")
        assert c.execute("SELECT count(*) FROM graph._capture_members WHERE table_oid = 'public.events'::regclass"
                         ).fetchone()[0] == PARTITIONS + 1
    return app


@pytest.mark.parametrize("ddl", [
    f"CREATE TABLE public.events_{PARTITIONS} PARTITION OF public.events FOR VALUES IN ({PARTITIONS})",
    "ALTER TABLE public.events DETACH PARTITION public.events_0",
])
def test_a_partition_created_or_detached_rewrites_only_its_own_member_row(events, ddl):
    """Following one partition created (a new day's) or detached (an old one's) must
    record that one member of graph._capture_members, not delete and insert again the
    row of every partition of the table (2 x PARTITIONS writes, and the registry's
    row trigger graph._check_registration once for each, at every day's partition)."""
    with connect(events) as c:
        c.execute("SET track_functions = 'all'")
        with c.transaction():
            writes_before = c.execute(WRITES).fetchone()[0]
            checks_before = c.execute(CALLS, ("_check_registration",)).fetchone()[0]
            c.execute(ddl)
            writes = c.execute(WRITES).fetchone()[0] - writes_before
            checks = c.execute(CALLS, ("_check_registration",)).fetchone()[0] - checks_before
        members = {r[0] for r in c.execute(
            "SELECT member_oid::regclass::text FROM graph._capture_members"
            " WHERE table_oid = 'public.events'::regclass").fetchall()}
        tree = {r[0] for r in c.execute(
            "SELECT relid::regclass::text FROM pg_partition_tree('public.events')").fetchall()}
        assert members == tree
        assert writes <= 2, writes
        # the registry's trigger for those rows, and for graph._column_map's rows of
        # the table's few registered columns, which are written again with them
        assert checks <= 8, checks


def test_a_source_check_that_fails_is_not_run_again_at_every_run(app):
    """A row filter that raises on some row never fails the write; replay records
    the error on that row (README, Modelling your schema). The source check of
    maintenance (graph.verify()) cannot read that table: it names it as not checked
    (it failed the whole check, in phase verify, before migration 436), and the run
    is partial. That check counts as a check (migration 428): a run within
    graph.verify_interval of it reads no row of the sources -- it read every source
    table in full at every run (a minute apart) for as long as the row was there --
    and says, as a partial run, that the table went unchecked; past the interval,
    with the cause fixed, the check runs and the run succeeds."""
    with connect(app) as c:
        c.execute("DELETE FROM graph._maintenance_jobs")
        c.execute("CREATE TABLE public.scores (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO public.scores SELECT g, g::text FROM generate_series(1, 2000) AS g")
        c.execute("SELECT graph.add_table('public.scores', columns => '{v}', row_filter => 'v::int > 0')")
        c.execute("SELECT graph.build()")
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute("SET graph.verify_interval = '1 day'")
        c.execute("INSERT INTO public.scores VALUES (0, 'x')")  # its filter raises
        assert apply(c)["failed"] == 1
        first = c.execute("SELECT job_id, status FROM graph.run_scheduled_maintenance()").fetchone()
        assert first[1] == "partial"
        assert c.execute("SELECT check_failures -> 0 ->> 'table' FROM graph._maintenance_jobs WHERE job_id = %s",
                         (first[0],)).fetchone() == ("public.scores",)
        with c.transaction():
            before = rows_read(c, "public.scores")
            again = c.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
            read = rows_read(c, "public.scores") - before
        assert read == 0, (read, first, again)
        assert again[0] == "partial", again
        assert "the source check of maintenance run %d could not read public.scores" % first[0] in again[1], again
        # the data fixed, the interval passed: the check runs again, finds the node the
        # failed rows left out, and the run rebuilds (README: what clears a filter's errors)
        c.execute("UPDATE public.scores SET v = '1' WHERE id = 0")
        apply(c)
        c.execute("SET graph.verify_interval = '0'")
        with c.transaction():
            before = rows_read(c, "public.scores")
            m = c.execute("SELECT status, error, differences, rebuilt FROM graph.run_scheduled_maintenance()"
                          ).fetchone()
            assert rows_read(c, "public.scores") - before >= 2000
        assert m == ("succeeded", None, 1, True), m
        assert verify(c) == []


def _applied_history(c, rounds):
    """rounds x 500 applied log rows (and as many recorded changes), analyzed."""
    for r in range(rounds):
        c.execute("UPDATE public.people SET name = 'p' || id || '_' || %s", (r,))
        assert apply(c)["failed"] == 0
    c.execute("ANALYZE graph._sync_log, graph._sync_log_attention, graph._change_log_rows")


def test_retry_failed_reads_no_applied_history(app):
    """graph.retry_failed() looked for TRUNCATE markers logged after the first failed
    row it retries (a failed row's edge changes are dropped when a later TRUNCATE of
    its table cut them) by reading every log row after it: with nothing failed, from
    id 0 -- every row the log keeps (graph.log_retention of applied rows: 20,000 here,
    millions under a steady write load) -- and with one failed row, every row logged
    since it. A TRUNCATE marker that can cut a failed row is one no build has folded
    since (a build clears every failed row it reads), whose id is in
    graph._sync_log_attention. The call must read no more log rows than the idle
    apply_sync() it ends with (at most 256: where a pass would start)."""
    with connect(app) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute("CREATE TABLE public.marks (id int PRIMARY KEY, v text)")
        c.execute("SELECT graph.add_table('public.marks', columns => '{v}', row_filter => 'v::int > 0')")
        c.execute("SELECT graph.build()")
        _applied_history(c, 40)
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] >= 20000
        c.execute("SELECT * FROM graph.retry_failed()")  # plans cached
        with c.transaction():
            before = rows_read(c, "graph._sync_log")
            r = c.execute("SELECT retried, still_failed FROM graph.retry_failed()").fetchone()
            read = rows_read(c, "graph._sync_log") - before
        assert r == (0, 0), r
        assert read <= 300, read
        # one failed row (its filter raises), older than the rows applied since
        c.execute("INSERT INTO public.marks VALUES (1, 'x')")
        assert apply(c)["failed"] == 1
        _applied_history(c, 40)
        with c.transaction():
            before = rows_read(c, "graph._sync_log")
            r = c.execute("SELECT retried, still_failed FROM graph.retry_failed()").fetchone()
            read = rows_read(c, "graph._sync_log") - before
        assert r == (1, 1), r
        assert read <= 300, read
        c.execute("UPDATE public.marks SET v = '1' WHERE id = 1")  # the data fixed, a rebuild clears them
        c.execute("SELECT graph.build()")
        assert c.execute("SELECT failed_sync_rows FROM graph.sync_health()").fetchone() == (0,)
        assert verify(c) == []


def test_status_reads_the_last_rebuild_not_the_job_history(app):
    """status().last_rebuild_by_maintenance_at was the latest finish of a succeeded run
    that rebuilt, found by reading every row of graph._maintenance_jobs (a week of a
    job a minute: some 10,000) at every call of a monitor. It must read a bounded
    number of job rows."""
    with connect(app) as c:
        c.execute("DELETE FROM graph._maintenance_jobs")
        c.execute("""INSERT INTO graph._maintenance_jobs (kind, started_at, finished_at, status, phase, reason,
                                                          rebuilt)
                     SELECT 'scheduled', now() - g * interval '1 minute', now() - g * interval '1 minute',
                            'succeeded', 'prune', CASE WHEN g = 5000 THEN 'rebuilt' ELSE 'no rebuild needed' END,
                            g = 5000
                     FROM generate_series(10000, 1, -1) AS g""")
        c.execute("ANALYZE graph._maintenance_jobs")
        c.execute("SELECT * FROM graph.status()")  # plans cached
        with c.transaction():
            before = rows_read(c, "graph._maintenance_jobs")
            at = c.execute("SELECT last_rebuild_by_maintenance_at FROM graph.status()").fetchone()[0]
            read = rows_read(c, "graph._maintenance_jobs") - before
        assert at == c.execute("SELECT finished_at FROM graph._maintenance_jobs WHERE rebuilt").fetchone()[0]
        assert read <= 10, read


TABLES = 200
SCANS = """SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
           FROM pg_catalog.pg_stat_xact_all_tables WHERE relid = %s::regclass"""


def _many_tables(c):
    """TABLES more registered tables (a key and a property each), in one statement."""
    c.execute(f"""DO $$ BEGIN FOR i IN 1..{TABLES} LOOP
                      EXECUTE format('CREATE TABLE public.many_%s (id int PRIMARY KEY, v text)', i);
                      PERFORM graph.add_table(format('public.many_%s', i)::regclass, columns => '{{v}}');
                  END LOOP; END $$""")


def _scans(c, call):
    """Scans of graph._sync_state (seq or index: each is one statement reading it)
    by one ``call``, with its plans cached by a call before."""
    c.execute(call)
    with c.transaction():
        before = c.execute(SCANS, ("graph._sync_state",)).fetchone()[0]
        row = c.execute(call).fetchone()
        return c.execute(SCANS, ("graph._sync_state",)).fetchone()[0] - before, row


HEALTH = "SELECT needs_rebuild, schema_state, disabled_trigger_count, missing_trigger_count FROM graph.sync_health()"
MAINTENANCE = "SELECT status, error FROM graph.run_scheduled_maintenance()"


def test_health_and_maintenance_statements_do_not_grow_with_registered_tables(events):
    """graph._trigger_states (schema drift: sync_health() reads it once,
    run_scheduled_maintenance() twice) asked graph._replica_capture_wanted of each
    captured table, a statement on graph._sync_state each: 205 for a health call, 411
    for a maintenance run, at 200 more registered tables (5 and 11 at a few). The
    statements a call runs on graph._sync_state must be as many at 200 more registered
    tables as at a few."""
    with connect(events) as c:
        c.execute("SET graph.verify_interval = 'off'")
        c.execute("SELECT graph.build()")
        few = {call: _scans(c, call) for call in (HEALTH, MAINTENANCE)}
        _many_tables(c)
        c.execute("SELECT graph.build()")
        many = {call: _scans(c, call) for call in (HEALTH, MAINTENANCE)}
    assert many[HEALTH][1] == few[HEALTH][1] == (False, "current", 0, 0), (few, many)
    assert many[MAINTENANCE][1] == few[MAINTENANCE][1] == ("succeeded", None), (few, many)
    assert {k: v[0] for k, v in many.items()} == {k: v[0] for k, v in few.items()}, (few, many)


REGISTRY = ("graph._node_tables", "graph._capture_members", "graph._column_map")


def test_add_table_reads_what_concerns_that_table(events):
    """Registering one table read every registered table's rows of the registry and
    every captured table's partitions (graph._capture_members had no index on
    table_oid): at 200 registered tables and one of 200 partitions, 2,638
    graph._node_tables rows, 1,611 graph._capture_members rows and 412
    graph._column_map rows -- registering n tables, O(n^2). It must read a bounded
    number, whatever the number of tables registered and their partitions, in a
    session whose kept plans served a health call (drift reads every table's registry
    rows) and registrations before."""
    with connect(events) as c:
        if c.execute("SELECT to_regclass('public.many_1') IS NULL").fetchone()[0]:
            _many_tables(c)
        c.execute("ANALYZE graph._node_tables, graph._capture_members, graph._column_map")
        c.execute("SELECT * FROM graph.sync_health()")
        for i in range(6):
            c.execute(f"CREATE TABLE public.before_{i} (id int PRIMARY KEY, v text)")
            c.execute(f"SELECT graph.add_table('public.before_{i}', columns => '{{v}}')")
        assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] > TABLES
        c.execute("CREATE TABLE public.one_more (id int PRIMARY KEY, v text, w int)")
        with c.transaction():
            before = {t: rows_read(c, t) for t in REGISTRY}
            c.execute("SELECT graph.add_table('public.one_more', columns => '{v,w}')")
            read = {t: rows_read(c, t) - before[t] for t in REGISTRY}
        assert c.execute("SELECT member_name FROM graph._capture_members"
                         " WHERE table_oid = 'public.one_more'::regclass").fetchall() == [("public.one_more",)]
        assert c.execute("SELECT count(*) FROM graph._column_map"
                         " WHERE table_oid = 'public.one_more'::regclass").fetchone() == (3,)
        assert all(n <= 20 for n in read.values()), read


TRIGGER_LOOKUPS = """SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_catalog.pg_stat_xact_sys_tables
                     WHERE relid = 'pg_catalog.pg_trigger'::regclass"""


def test_add_schema_checks_the_triggers_of_the_tables_it_added_only(events):
    """graph.add_schema attaches the capture triggers of the tables it registered in one
    call of graph._attach_capture, which read graph._trigger_states() of every captured
    table to find theirs: each add_schema looked up the capture triggers of every
    registered table and of each one's partitions (four per table, and the triggers
    calling its capture function), a cost that grew with all that was registered
    before, not with what it added. At TABLES registered tables and one of PARTITIONS
    partitions, adding a schema of three tables looked pg_trigger up 4,963 times. It
    must look it up fewer times than there are other registered tables (the three
    tables' triggers are created, enabled and checked: some 40 lookups each), and ask
    graph._trigger_states of those tables only. It then asked it once per table added
    (graph._trigger_states(tbl), whose fixed cost -- the replica-capture lookup, the
    impostor test, the statement -- made add_schema on an empty registry some fifth
    slower in that call): it must ask once for all of them (graph._trigger_states(tbls))."""
    with connect(events) as c:
        if c.execute("SELECT to_regclass('public.many_1') IS NULL").fetchone()[0]:
            _many_tables(c)
        c.execute("CREATE SCHEMA few")
        c.execute("CREATE TABLE few.a (id int PRIMARY KEY, v text)")
        c.execute("CREATE TABLE few.b (id int PRIMARY KEY, a int REFERENCES few.a)")
        c.execute("CREATE TABLE few.c (id int PRIMARY KEY, b int REFERENCES few.b)")
        c.execute("SET track_functions = 'all'")
        try:
            with c.transaction():
                lookups_before = c.execute(TRIGGER_LOOKUPS).fetchone()[0]
                states_before = c.execute(CALLS, ("_trigger_states",)).fetchone()[0]
                added = c.execute("SELECT count(*) FROM graph.add_schema('few')"
                                  " WHERE kind = 'node_table' AND action = 'registered'").fetchone()[0]
                lookups = c.execute(TRIGGER_LOOKUPS).fetchone()[0] - lookups_before
                states = c.execute(CALLS, ("_trigger_states",)).fetchone()[0] - states_before
            assert added == 3
            assert c.execute("SELECT count(*) FROM graph._trigger_states() WHERE state <> 'ok'").fetchone()[0] == 0
            assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] > TABLES
            # one call by graph._attach_capture for all the tables (the DDL follower's
            # graph._note_capture_off after each table's ALTER TABLE enabling its
            # triggers made one more a table until the fifty-third stop: it asks only
            # where a capture trigger is not enabled ALWAYS now)
            assert states == 1, states
            assert lookups < TABLES, lookups
        finally:
            c.execute("SELECT graph.remove_table(t, cascade => true)"
                      " FROM unnest(ARRAY['few.c', 'few.b', 'few.a']::regclass[]) AS t")
            c.execute("DROP SCHEMA few CASCADE")


CATALOG_READS = """SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)
                   FROM pg_catalog.pg_stat_xact_sys_tables WHERE relid = %s::regclass"""


def test_trigger_states_looks_up_the_triggers_on_a_capture_function_by_that_function(fresh_db):
    """graph._trigger_states finds the triggers that call a table's capture function
    (an 'extra' one: another name, a table that left the tree) through pg_depend. The
    join, written with the dependent's class (pg_trigger) beside the function, let a
    plan whose statistics of pg_depend knew no trigger -- a database created from
    template1 and not analyzed since, as graphsync is installed and a first schema
    registered -- look up every trigger's dependencies by the dependent side's index
    and keep those on the function: each call read every dependency of every trigger
    in the database. add_schema asks once for the tables it adds and once per table
    (the DDL follower's graph._note_capture_off): beside TABLES registered tables,
    adding three read 6,592 rows of pg_depend. It must read fewer than there are
    registered tables, and no more of pg_trigger than twice that (a plan that looks
    each dependent trigger up by its oid, not one that hashes all of pg_trigger: 2,715
    rows). In one transaction from the install on, so that no analyze of pg_depend
    (autovacuum's) comes between."""
    with connect(fresh_db) as c, c.transaction():
        install.install(c)
        c.execute("CREATE SCHEMA before; CREATE SCHEMA few;" + "".join(
            f"CREATE TABLE before.t{i} (id int PRIMARY KEY, v text);" for i in range(TABLES)))
        c.execute("SELECT count(*) FROM graph.add_schema('before')")
        c.execute("CREATE TABLE few.a (id int PRIMARY KEY, v text);"
                  "CREATE TABLE few.b (id int PRIMARY KEY, a int REFERENCES few.a);"
                  "CREATE TABLE few.c (id int PRIMARY KEY, b int REFERENCES few.b)")
        catalogs = ("pg_catalog.pg_depend", "pg_catalog.pg_trigger")
        before = {t: c.execute(CATALOG_READS, (t,)).fetchone()[0] for t in catalogs}
        added = c.execute("SELECT count(*) FROM graph.add_schema('few')"
                          " WHERE kind = 'node_table' AND action = 'registered'").fetchone()[0]
        read = {t: c.execute(CATALOG_READS, (t,)).fetchone()[0] - before[t] for t in catalogs}
        assert added == 3
        assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] == TABLES + 3
        assert c.execute("SELECT count(*) FROM graph._trigger_states() WHERE state <> 'ok'").fetchone()[0] == 0
        assert read["pg_catalog.pg_depend"] < TABLES, read
        assert read["pg_catalog.pg_trigger"] < 2 * TABLES, read


CATALOG_SCANS = """SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0)
                   FROM pg_catalog.pg_stat_xact_sys_tables WHERE relid = %s::regclass"""


def test_add_schema_reads_the_foreign_keys_of_its_schema_only(fresh_db):
    """add_schema reads the foreign keys of the schema it registers. Its query read
    every foreign key of the database (pg_constraint by contype, whole) and looked the
    table of each up in pg_class to keep those of the schema: in a plan made with
    pg_class and pg_constraint statistics from before the tables were made (as in
    test_trigger_states_looks_up_the_triggers_on_a_capture_function_by_that_function),
    adding three tables beside TABLES registered ones, each with a foreign key, looked
    pg_class up 274 times and read 561 rows of pg_constraint. It must look pg_class up
    fewer times than there are registered tables and read fewer pg_constraint rows."""
    with connect(fresh_db) as c, c.transaction():
        install.install(c)
        c.execute("CREATE SCHEMA before; CREATE SCHEMA few;" + "".join(
            f"CREATE TABLE before.t{i} (id int PRIMARY KEY, v text"
            + (f", prev int REFERENCES before.t{i - 1}" if i else "") + ");" for i in range(TABLES)))
        c.execute("SELECT count(*) FROM graph.add_schema('before')")
        c.execute("CREATE TABLE few.a (id int PRIMARY KEY, v text);"
                  "CREATE TABLE few.b (id int PRIMARY KEY, a int REFERENCES few.a);"
                  "CREATE TABLE few.c (id int PRIMARY KEY, b int REFERENCES few.b)")
        before = {"scans": c.execute(CATALOG_SCANS, ("pg_catalog.pg_class",)).fetchone()[0],
                  "rows": c.execute(CATALOG_READS, ("pg_catalog.pg_constraint",)).fetchone()[0]}
        steps = c.execute("SELECT kind, action FROM graph.add_schema('few')").fetchall()
        read = {"pg_class scans": c.execute(CATALOG_SCANS, ("pg_catalog.pg_class",)).fetchone()[0] - before["scans"],
                "pg_constraint rows": c.execute(CATALOG_READS, ("pg_catalog.pg_constraint",)).fetchone()[0]
                - before["rows"]}
        assert sorted(steps) == [("fk_edge", "registered")] * 2 + [("node_table", "registered")] * 3, steps
        assert c.execute("SELECT count(*) FROM graph._edge_sources").fetchone()[0] == TABLES - 1 + 2
        assert all(n < TABLES for n in read.values()), read


# What a monitor, the scheduler and an application call, each on a connection that
# keeps its plans for the session.
KEPT_PLAN_CALLS = {
    "graph.run_scheduled_maintenance()": 300,  # an idle apply: where a pass would start
    "graph.retry_failed()": 300,  # (PASS_START), and its own statements' few rows
    "graph.apply_sync()": 300,
    "graph.sync_health()": 10,
    "graph.prune_sync_log()": 300,
    "graph.changed_nodes(0)": 300,
    "graph.traverse('public.people', '1')": 10,
}  # (not graph.status(): its log_rows counts every row)


def test_statements_planned_on_an_empty_log_read_no_applied_history(app):
    """A connection keeps the plans of graphsync's statements for the session, made for
    the log's size when first run. One that first called sync_health(), apply_sync(),
    maintenance or retry_failed() while the log was empty and known so (after a prune,
    or on a fresh install, once the log was vacuumed or analyzed) kept sequential scans
    of the log, planned for no rows, and read every row of it at each call later, until
    an ANALYZE of the log made them planned again: at 20,000 applied rows an idle apply
    read 20,256 rows (its check for rows of its own transaction), sync_health() 40,000
    (the latest id, the failed rows). Each call must read a bounded number of log rows,
    whatever the statistics its plans were made with."""
    with connect(app) as c:
        assert apply(c)["failed"] == 0
        # every row applied and pruned, the log's pages given back and that counted
        c.execute("TRUNCATE graph._sync_log, graph._sync_log_attention")
        c.execute("VACUUM ANALYZE graph._sync_log, graph._sync_log_attention")
        # no autovacuum run, which would make them planned again, between the two
        c.execute("ALTER TABLE graph._sync_log SET (autovacuum_enabled = off)")
        try:
            with contextlib.ExitStack() as stack:
                kept = {call: stack.enter_context(connect(app)) for call in KEPT_PLAN_CALLS}  # one each
                for call, h in kept.items():
                    h.execute("SELECT * FROM " + call)  # planned on the empty log,
                    c.execute("UPDATE public.people SET name = 'p1_e' WHERE id = 1")
                    h.execute("SELECT * FROM " + call)  # and with a row pending in it
                assert apply(c)["failed"] == 0
                for r in range(40):
                    c.execute("UPDATE public.people SET name = 'p' || id || '_e' || %s", (r,))
                assert apply(c)["failed"] == 0
                assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] >= 20000
                read = {}
                for call, h in kept.items():
                    with h.transaction():
                        before = rows_read(h, "graph._sync_log")
                        h.execute("SELECT * FROM " + call)
                        read[call] = rows_read(h, "graph._sync_log") - before
                assert all(read[call] <= bound for call, bound in KEPT_PLAN_CALLS.items()), str(read)
        finally:
            c.execute("ALTER TABLE graph._sync_log RESET (autovacuum_enabled)")
        assert verify(c) == []


# A graph of 20 nodes, the size a connection may first read it at, and a role whose
# reads the table's row-level security applies to.
TINY = """
CREATE TABLE public.staff (id int PRIMARY KEY, name text NOT NULL, boss int);
INSERT INTO public.staff SELECT g, 's' || g, NULLIF(g / 10, 0) FROM generate_series(1, 20) AS g;
SELECT graph.add_table('public.staff', columns => '{name}');
SELECT graph.add_edge('public.staff', 'boss', 'public.staff');
SELECT graph.build();
ALTER TABLE public.staff ENABLE ROW LEVEL SECURITY;
CREATE POLICY some_staff ON public.staff FOR SELECT USING (id % 10 <> 7);
DROP ROLE IF EXISTS gs_grown_reader;
CREATE ROLE gs_grown_reader;
GRANT SELECT ON public.staff TO gs_grown_reader;
"""
GROWN = 20_000
# (role, call, whether a row is pending when it is made), each on a connection of its own;
# boss is id / 10: 1234 -> 123 -> 12 -> 1, none of them hidden from the role
GROWN_READS = [
    (None, "graph.traverse('public.staff', '1234', max_depth => 2)", False),
    (None, "graph.traverse('public.staff', '1234', max_depth => 2)", True),
    (None, "graph.shortest_path('public.staff', '1234', 'public.staff', '1')", False),
    (None, "graph.sync_health()", False),
    ("gs_grown_reader", "graph.traverse('public.staff', '1234', max_depth => 2)", False),
    ("gs_grown_reader", "graph.shortest_path('public.staff', '1234', 'public.staff', '1')", False),
]
GROWN_TABLES = ("graph._node_rows", "graph._sync_log", "public.staff")


def test_reads_planned_on_a_tiny_graph_read_a_bounded_number_of_rows_once_it_grew(server, template):
    """A connection keeps the plans of a read's statements for the session (the read
    functions pin plan_cache_mode = force_generic_plan), made for the sizes of the
    tables when it first read. One that first read a graph of 20 nodes kept a
    sequential scan of graph._node_rows (one page: cheaper than its index) for START's
    lookup of the seed, and its reads went on scanning the table after replay had
    grown it, until an ANALYZE made them planned again (autovacuum's, after its naptime
    and threshold): at 200,000 nodes a depth-2 traverse read 200,020 rows of it, a
    shortest_path 400,040, sync_health() 200,020 (its tombstone count) and every row of
    the log (its latest id); a role under row-level security read both tables several
    times over (its keys' lookups, the policy's statement for a key): at 20,000 nodes
    here, 120,120 rows of each for a shortest_path. A fresh connection read one or two.
    Each call must read a bounded number of rows, whatever the sizes its plans were
    made for. In a database of its own: the graph must be tiny when the connections
    first read it."""
    name = "t_grown_graph"
    dsn = server.create_database(name, template)
    try:
        with connect(dsn) as c, contextlib.ExitStack() as stack:
            c.execute(TINY)
            c.execute("VACUUM ANALYZE")
            for table in ("graph._node_rows", "graph._edge_overlay", "graph._sync_log", "public.staff"):
                c.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")  # no ANALYZE replans them
            kept = []
            for role, call, pending in GROWN_READS:
                h = stack.enter_context(connect(dsn))
                if role is not None:
                    h.execute(f"SET ROLE {role}")
                for i in range(6):  # past the plan cache's five custom plans
                    if pending:
                        c.execute("UPDATE public.staff SET name = 's1_' || %s WHERE id = 1", (i,))
                    h.execute("SELECT * FROM " + call).fetchall()
                kept.append(h)
            for lo in range(21, GROWN + 21, GROWN // 10):  # a bulk load, applied by replay
                c.execute("INSERT INTO public.staff SELECT g, 's' || g, g / 10"
                          " FROM generate_series(%s::int, %s::int) AS g", (lo, lo + GROWN // 10 - 1))
                assert apply(c)["failed"] == 0
            read = {}
            for h, (role, call, pending) in zip(kept, GROWN_READS, strict=True):
                h.execute("SELECT * FROM " + call).fetchall()  # a new graph version loaded
                if pending:
                    c.execute("UPDATE public.staff SET name = 's2' WHERE id = 2")
                with h.transaction():
                    before = {t: rows_read(h, t) for t in GROWN_TABLES}
                    rows = h.execute("SELECT * FROM " + call).fetchall()
                    read[(role, call, pending)] = {t: rows_read(h, t) - before[t] for t in GROWN_TABLES}
                assert rows, (role, call)
            assert all(n <= 300 for r in read.values() for n in r.values()), str(read)
            assert verify(c) == []
    finally:
        server.drop_database(name)
        with connect(server.admin_dsn) as admin:
            admin.execute("DROP ROLE IF EXISTS gs_grown_reader")


# Unrelated tables -- never registered, none of graphsync's business -- a database
# may hold by the thousand, each a few pg_class rows (its table, key index, TOAST).
UNRELATED = (0, 200, 2000)
# What CATALOG_READS counts of a catalog (rows read sequentially, rows fetched through
# its indexes: the catalog's oid twice, then its indexes'), read without pg_stat_xact_sys_tables,
# whose own plan reads pg_class and pg_index (all of pg_index, for a small catalog).
TUPLES_READ = """SELECT (pg_catalog.pg_stat_get_xact_tuples_returned(%s)
                        + pg_catalog.pg_stat_get_xact_tuples_fetched(%s)
                        + (SELECT coalesce(sum(pg_catalog.pg_stat_get_xact_tuples_fetched(i)), 0)
                           FROM unnest(%s::oid[]) AS i))::bigint"""


def _with_unrelated(dsn, tables, statement, catalogs=("pg_catalog.pg_class",), tries=1):
    """Rows of each of ``catalogs`` that ``statement`` read, in a database holding
    ``tables`` unrelated tables (more are made to that count), each on a connection of
    its own (plans made for the catalog's size then). A statement that can run again
    is measured ``tries`` times, each on a new connection, and the fewest rows kept:
    what else the server does meanwhile (a cache invalidation, an autovacuum) only
    adds rows, a plan that reads unrelated tables' rows reads them every time."""
    with connect(dsn) as c:
        made = c.execute("SELECT count(*) FROM pg_catalog.pg_class"
                         " WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'unrelated\\_%'"
                         " AND relkind = 'r'").fetchone()[0]
        for lo in range(made + 1, tables + 1, 200):  # 200 a transaction: locks enough for those
            c.execute(f"""DO $$ BEGIN FOR i IN {lo}..{min(lo + 199, tables)} LOOP
                              EXECUTE format('CREATE TABLE public.unrelated_%s (id int PRIMARY KEY, v text)', i);
                          END LOOP; END $$""")
    read = []
    for _ in range(tries):
        with connect(dsn) as c:
            rels = {t: c.execute("SELECT %s::regclass::oid, ARRAY(SELECT i.indexrelid FROM pg_catalog.pg_index AS i"
                                 " WHERE i.indrelid = %s::regclass)", (t, t)).fetchone() for t in catalogs}
            args = {t: (oid, oid, indexes) for t, (oid, indexes) in rels.items()}
            with c.transaction():
                before = {t: c.execute(TUPLES_READ, args[t]).fetchone()[0] for t in catalogs}
                c.execute(statement)
                read.append({t: c.execute(TUPLES_READ, args[t]).fetchone()[0] - before[t] for t in catalogs})
    return {t: min(r[t] for r in read) for t in catalogs}


def test_add_table_reads_pg_class_for_its_own_table_not_for_every_table(fresh_db):
    """graph._attach_capture, which registration calls to attach a table's capture
    triggers, joined the triggers it repairs to pg_class for their tables' owners: a
    plan made for a catalog of up to some 1,400 relations read all of pg_class (a
    merge join along its oid index), unrelated tables' rows too, so registering one
    table read 640 pg_class rows beside no unrelated table and 117 beside 200 or
    2,000 (a plan of index lookups), and up to 1,400 beside 200 made in a database
    holding fewer registered tables. The rows add_table reads must not depend on how
    many unrelated tables the database holds (a few rows of difference at most)."""
    with connect(fresh_db) as c:
        install.install(c)
    read = {}
    for n in UNRELATED:
        with connect(fresh_db) as c:
            c.execute(f"CREATE TABLE public.t{n} (id int PRIMARY KEY, v text)")
        read[n] = _with_unrelated(fresh_db, n, f"SELECT graph.add_table('public.t{n}', columns => '{{v}}')"
                                  )["pg_catalog.pg_class"]
    with connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM graph._trigger_states() WHERE state <> 'ok'").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] == len(UNRELATED)
    assert max(read.values()) - min(read.values()) <= 20, read


SOURCE_CATALOGS = ("pg_catalog.pg_class", "pg_catalog.pg_attribute")


def test_build_and_reconcile_read_the_catalog_rows_of_registered_tables_not_of_every_table(fresh_db):
    """A build (and reconcile, which checks the sources and builds) locks the registered
    tables and records their registered columns. graph._hold_sources joined its tree
    of registered tables and their members to pg_class, the source read's list of
    tables to lock read pg_class for the relations that are registered, and
    graph._after_build joined the registered columns to pg_attribute: plans that read
    all of pg_class and pg_attribute, unrelated tables' rows too (hash joins, or
    pg_class filtered by the registry), until the catalog grew past what the planner
    chose them for: here a build read 795 pg_class rows beside no unrelated table and
    205 beside 200, and 4,343, 8,343 and 469 pg_attribute rows beside 0, 200 and 2,000;
    a reconcile 1,382 pg_class rows beside none and 290 beside 200. With some ten
    registered tables a build beside 2,000 unrelated ones read some 17,000 pg_class
    rows. The rows each reads must not depend on how many unrelated tables the
    database holds (some rows of difference at most: reconcile's plans made for no
    unrelated table read some 50 pg_attribute rows more, and one CI run's build read
    68 more beside 2,000, not seen again; each is measured twice, and a plan reading
    unrelated tables' rows read hundreds more)."""
    with connect(fresh_db) as c:
        install.install(c)
        c.execute(GRAPH)
    read = {}
    for n in UNRELATED:
        for call in ("SELECT graph.build()", "SELECT * FROM graph.reconcile()"):
            read[(call, n)] = _with_unrelated(fresh_db, n, call, SOURCE_CATALOGS, tries=2)
    with connect(fresh_db) as c:
        assert verify(c) == []
    for call in ("SELECT graph.build()", "SELECT * FROM graph.reconcile()"):
        for catalog in SOURCE_CATALOGS:
            counts = [read[(call, n)][catalog] for n in UNRELATED]
            assert max(counts) - min(counts) <= 120, read


HEALTH_CATALOGS = ("pg_catalog.pg_class", "pg_catalog.pg_attribute", "pg_catalog.pg_index")


def test_health_reads_the_catalog_rows_of_registered_tables_not_of_every_table(fresh_db):
    """sync_health() checks for drift (graph._schema_drift) that each registered
    table's key is still a unique index: its NOT EXISTS over pg_index was planned as an
    anti-join hashing all of pg_index, every index of the database, unrelated tables'
    too, in a plan made for a catalog of a few hundred relations: a health call read
    312 pg_index rows (and 139 pg_class, 418 pg_attribute) beside no unrelated table,
    88 (113, 352) beside 200 or 2,000. The rows of pg_class, pg_attribute and pg_index
    a health call reads must not depend on how many unrelated tables the database
    holds (a few rows of difference at most)."""
    with connect(fresh_db) as c:
        install.install(c)
        c.execute(GRAPH)
    read = {n: _with_unrelated(fresh_db, n, HEALTH, HEALTH_CATALOGS, tries=2) for n in UNRELATED}
    with connect(fresh_db) as c:
        assert c.execute(HEALTH).fetchone() == (False, "current", 0, 0)
    for catalog in HEALTH_CATALOGS:
        counts = [read[n][catalog] for n in UNRELATED]
        assert max(counts) - min(counts) <= 20, read


def test_add_schema_finds_the_tables_of_its_schema_without_reading_every_table(fresh_db):
    """add_schema found the tables of its schema, and their foreign keys, by reading
    all of pg_class for those in the schema (pg_class has no index on the namespace
    alone), twice: beside 2,000 unrelated tables, adding a schema of two tables read
    some 17,000 pg_class rows. The rows it reads must not depend on how many unrelated
    tables the database holds (a few rows of difference at most)."""
    with connect(fresh_db) as c:
        install.install(c)
    read = {}
    for n in UNRELATED:
        with connect(fresh_db) as c:
            c.execute(f"CREATE SCHEMA s{n};"
                      f"CREATE TABLE s{n}.a (id int PRIMARY KEY, v text);"
                      f"CREATE TABLE s{n}.b (id int PRIMARY KEY, a int REFERENCES s{n}.a)")
        read[n] = _with_unrelated(fresh_db, n, f"SELECT count(*) FROM graph.add_schema('s{n}')")["pg_catalog.pg_class"]
    with connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] == 2 * len(UNRELATED)
        assert c.execute("SELECT count(*) FROM graph._edge_sources").fetchone()[0] == len(UNRELATED)
    assert max(read.values()) - min(read.values()) <= 20, read


PARTITIONED = """
CREATE TABLE public.visits (id int, day int, person int, PRIMARY KEY (id, day)) PARTITION BY LIST (day);
CREATE TABLE public.visits_0 PARTITION OF public.visits FOR VALUES IN (0);
CREATE TABLE public.visits_1 PARTITION OF public.visits FOR VALUES IN (1);
INSERT INTO public.visits SELECT g, g % 2, 1 + g % 500 FROM generate_series(1, 100) AS g;
SELECT graph.add_table('public.visits');
SELECT graph.add_edge('public.visits', 'person', 'public.people');
"""


def test_build_checks_the_planned_code_of_a_partitioned_table_by_its_members_not_every_table(fresh_db):
    """Before a superuser's build reads a partitioned table, graph._source_name checks
    the code its planning would run: the indexes, statistics and CHECK constraints of
    the table and its partitions, whose join to pg_index (and to pg_statistic_ext and
    pg_constraint) was planned as a hash of all of it, every index of the database,
    unrelated tables' too, for a catalog of a few hundred relations: a build read 566,
    some 1,400 and 126 pg_index rows beside 0, 200 and 2,000 unrelated tables. The
    pg_index rows a build reads must not depend on how many unrelated tables the
    database holds (a few rows of difference at most). (Its test of whether the table needs that
    check at all still reads all of pg_constraint while it is small enough, some 160
    rows, that the planner prefers that to its index.)"""
    with connect(fresh_db) as c:
        install.install(c)
        c.execute(GRAPH + PARTITIONED)
    read = {n: _with_unrelated(fresh_db, n, "SELECT graph.build()", ("pg_catalog.pg_index",), tries=2)
            ["pg_catalog.pg_index"] for n in UNRELATED}
    with connect(fresh_db) as c:
        assert verify(c) == []
    assert max(read.values()) - min(read.values()) <= 20, read


# Catalogs a partition's creation reads walking a partitioned table's tree (pg_inherits),
# its members' triggers (pg_trigger, and pg_depend for those calling a capture function),
# and the members themselves (pg_class).
PARTITION_CATALOGS = ("pg_catalog.pg_inherits", "pg_catalog.pg_trigger", "pg_catalog.pg_depend",
                      "pg_catalog.pg_class")
SYS_ROWS_READ = """SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                   FROM pg_catalog.pg_stat_xact_sys_tables WHERE relid = %s::regclass"""


def _partition_created(c, table, day):
    """Rows of each of PARTITION_CATALOGS that creating partition ``day`` of ``table`` read."""
    with c.transaction():
        before = {t: c.execute(SYS_ROWS_READ, (t,)).fetchone()[0] for t in PARTITION_CATALOGS}
        c.execute(f"CREATE TABLE {table}_{day} PARTITION OF {table} FOR VALUES IN ({day})")
        return {t: c.execute(SYS_ROWS_READ, (t,)).fetchone()[0] - before[t] for t in PARTITION_CATALOGS}


def _partition_created_beside(fresh_db, sizes=(10, 200)):
    """What a partition's creation by its owner (not a superuser) read beyond what its
    peer's read (an unregistered table of the same shape), of each of
    PARTITION_CATALOGS, beside each of ``sizes`` partitions of the table."""
    with connect(fresh_db) as c:
        install.install(c)
    extra = {}
    with table_owner(fresh_db, "gs_pcost_") as role:
        with as_role(fresh_db, role) as o:
            o.execute(f"CREATE SCHEMA {role}")
            for n in sizes:
                for kind in ("reg", "peer"):
                    o.execute(f"CREATE TABLE {role}.{kind}{n} (id int, day int, PRIMARY KEY (id, day))"
                              f" PARTITION BY LIST (day)")
                    o.execute("".join(f"CREATE TABLE {role}.{kind}{n}_{d} PARTITION OF {role}.{kind}{n}"
                                      f" FOR VALUES IN ({d});" for d in range(n)))
                with connect(fresh_db) as c:
                    c.execute("SELECT graph.add_table(%s)", (f"{role}.reg{n}",))
                # the first of each: plans made, PL/Python started
                reg, peer = (_partition_created(o, f"{role}.{kind}{n}", n) for kind in ("reg", "peer"))
                reg, peer = (_partition_created(o, f"{role}.{kind}{n}", n + 1) for kind in ("reg", "peer"))
                extra[n] = {t: reg[t] - peer[t] for t in PARTITION_CATALOGS}
        with connect(fresh_db) as c:
            for n in sizes:
                assert c.execute("SELECT count(*) FROM graph._capture_members WHERE table_oid = %s::regclass",
                                 (f"{role}.reg{n}",)).fetchone()[0] == n + 3
                assert c.execute("SELECT count(*) FROM graph._trigger_states(%s::regclass) WHERE state <> 'ok'",
                                 (f"{role}.reg{n}",)).fetchone()[0] == 0
            c.execute(f"DROP SCHEMA {role} CASCADE")
    return extra


def test_a_partition_created_reads_no_more_catalog_rows_beside_more_partitions(fresh_db):
    """A table partitioned by day gains a partition a day, created by its owner (not a
    superuser). graph._follow_ddl follows it: graph._followed_tables compared the
    table's whole tree with graph._capture_members, the follower again (ops/follow.py
    MEMBERS), graph._map_capture walks it once more, graph._grant_capture walks it
    down for the owners of every member, and graph._attach_capture and
    graph._note_capture_off checked the capture triggers of every member
    (graph._trigger_states: pg_trigger, and pg_depend for each trigger calling the
    capture function). What that reads beyond what PostgreSQL itself reads creating a
    partition of an unregistered table of the same shape (its peer) should not grow
    with the partitions the table has; it does: beside 10 and 200 partitions, some 700
    and 1,800 pg_inherits rows, 100 and 1,620 pg_depend rows (745 and 12,973 pg_inherits
    rows before those walks went by index; beside 2,000, 63,000; the times:
    benchmarks/PARTITION_DDL.md). Where the DDL names neither the table nor a
    partitioned table, each of those looks at the relations it named now, and their
    own partitions (the test below: the triggers). What it reads must not grow with
    the partitions (a few rows more at most; beside 10 partitions a catalog that small
    is read whole, so it may read fewer beside 200)."""
    extra = _partition_created_beside(fresh_db)
    for t in PARTITION_CATALOGS:
        assert extra[200][t] - extra[10][t] <= 40, extra


def test_a_partition_created_has_its_own_triggers_checked_not_every_members(fresh_db):
    """The DDL follower attached capture to a partition created by checking the capture
    triggers of every member of the table (graph._attach_capture: graph._trigger_states
    of the whole tree, and each trigger calling the capture function looked up by its
    dependency), and graph._note_capture_off checked them all again after the new
    partition's ALTER TABLE: beside 10 and 200 partitions, some 100 and 1,620 pg_depend
    rows, and a pg_trigger lookup per member's expected trigger. It checks the new
    partition's only now, where the DDL named neither the table nor a partitioned table.
    The pg_trigger and pg_depend rows it reads beyond its peer's must not grow with
    the partitions (a few rows more at most; beside 10 partitions a catalog that small
    is read whole, so it may read fewer beside 200)."""
    extra = _partition_created_beside(fresh_db)
    for t in ("pg_catalog.pg_trigger", "pg_catalog.pg_depend"):
        assert extra[200][t] - extra[10][t] <= 10, extra


def test_a_partition_created_reads_the_tree_of_its_table_not_every_partition_of_the_database(fresh_db):
    """graph._grant_capture (the owners of the table's members) and
    graph._trigger_states (the members whose capture triggers graph._attach_capture
    checks, and graph._note_capture_off after it) walked a table's tree down by a join
    to pg_inherits planned as a hash of all of it, every partition (and partitioned
    index) of the database, other tables' too, at each level of the tree: creating a
    partition of a registered table of 10 partitions, by its owner, read some 430
    pg_inherits rows beside no other partitioned table and some 64,500 beside one of
    2,000 partitions; the other walks by oid, some 16,000 (graph._trigger_states'
    remained: walked by oid, it made add_table of a table of 600 partitions 2.3 times
    slower while each partition's ALTER TABLE walked the whole tree; not since it asks
    of that partition only). What it reads must not grow with the partitions of other tables
    (a few rows more at most; beside none, a catalog that small is read whole, some 430
    rows, where index lookups read some 150 once it grew)."""
    with connect(fresh_db) as c:
        install.install(c)
    read = {}
    with table_owner(fresh_db, "gs_pcost_") as role:
        with as_role(fresh_db, role) as o:
            o.execute(f"CREATE SCHEMA {role}")
            o.execute(f"CREATE TABLE {role}.days (id int, day int, PRIMARY KEY (id, day)) PARTITION BY LIST (day)")
            o.execute("".join(f"CREATE TABLE {role}.days_{d} PARTITION OF {role}.days FOR VALUES IN ({d});"
                              for d in range(10)))
            with connect(fresh_db) as c:
                c.execute("SELECT graph.add_table(%s)", (f"{role}.days",))
            _partition_created(o, f"{role}.days", 10)  # plans made, PL/Python started
            read[0] = _partition_created(o, f"{role}.days", 11)["pg_catalog.pg_inherits"]
            # another table's partitions, none of graphsync's business
            o.execute(f"CREATE TABLE {role}.other (id int, day int, PRIMARY KEY (id, day)) PARTITION BY LIST (day)")
            for lo in range(0, 2000, 200):  # 200 a transaction: locks enough for those
                o.execute("".join(f"CREATE TABLE {role}.other_{d} PARTITION OF {role}.other FOR VALUES IN ({d});"
                                  for d in range(lo, lo + 200)))
        with as_role(fresh_db, role) as o:  # plans made for the catalog's size now
            _partition_created(o, f"{role}.days", 12)
            read[2000] = _partition_created(o, f"{role}.days", 13)["pg_catalog.pg_inherits"]
        with connect(fresh_db) as c:
            assert c.execute("SELECT count(*) FROM graph._capture_members WHERE table_oid = %s::regclass",
                             (f"{role}.days",)).fetchone()[0] == 15
            assert c.execute("SELECT count(*) FROM graph._trigger_states(%s::regclass) WHERE state <> 'ok'",
                             (f"{role}.days",)).fetchone()[0] == 0
            c.execute(f"DROP SCHEMA {role} CASCADE")
    assert read[2000] <= read[0] + 20, read


def _days(conn, partitions):
    """public.days, made anew: LIST-partitioned by day, with ``partitions`` partitions."""
    conn.execute("DROP TABLE IF EXISTS public.days")
    conn.execute("CREATE TABLE public.days (id int, day int, PRIMARY KEY (id, day)) PARTITION BY LIST (day)")
    conn.execute("".join(f"CREATE TABLE public.days_{d} PARTITION OF public.days FOR VALUES IN ({d});"
                         for d in range(partitions)))


def _add_partitioned_table(conn, partitions):
    """Rows of each of PARTITION_CATALOGS (and pg_proc) that add_table of a table of
    ``partitions`` partitions read, per partition."""
    _days(conn, partitions)
    catalogs = PARTITION_CATALOGS + ("pg_catalog.pg_proc",)
    with conn.transaction():
        before = {t: conn.execute(SYS_ROWS_READ, (t,)).fetchone()[0] for t in catalogs}
        conn.execute("SELECT graph.add_table('public.days')")
        read = {t: (conn.execute(SYS_ROWS_READ, (t,)).fetchone()[0] - before[t]) / partitions for t in catalogs}
    assert conn.execute("SELECT count(*) FROM graph._trigger_states('public.days'::regclass)"
                        " WHERE state <> 'ok'").fetchone()[0] == 0
    conn.execute("SELECT graph.remove_table('public.days')")
    return read


def test_add_table_of_a_partitioned_table_checks_each_partitions_triggers_once(fresh_db):
    """add_table enables each partition's capture triggers by an ALTER TABLE of that
    partition, which the DDL follower follows: graph._note_capture_off asked
    graph._trigger_states of the table's whole tree at each of them, so the triggers
    add_table looked up grew with the square of the partitions (a table of 20
    partitions read some 300 pg_trigger rows a partition, of 100 some 1,270; 200
    partitions took 3.2 s, 2.3 of them there, and 1,000 a minute). It asks of the
    partition the ALTER TABLE names only now. So did graph._grant_capture (the owners of
    every member: some 50 pg_class rows a partition at 20 partitions, 130 at 100) and
    graph._followed_tables (the whole tree against the members recorded: with the
    former, 140 and 620 pg_inherits rows a partition); each looks at the partition named
    now, and at the whole tree only where that cannot tell. The rows of each catalog
    read per partition must not grow with the partitions (a tenth more at most)."""
    with connect(fresh_db) as c:
        install.install(c)
        small, large = (_add_partitioned_table(c, n) for n in (20, 100))
    for t in small:
        assert large[t] <= small[t] * 1.1 + 1, (t, small, large)


WHOLE_TREE = ("SELECT count(*) FROM graph._trigger_states('public.days'::regclass)",
              "SELECT * FROM graph.sync_health()",
              "ALTER TABLE public.days DETACH PARTITION public.days_0",
              "ALTER TABLE public.days ATTACH PARTITION public.days_0 FOR VALUES IN (0)",
              "DROP TABLE public.days_1")
TREE_CATALOGS = ("pg_catalog.pg_inherits", "pg_catalog.pg_trigger", "pg_catalog.pg_depend")


def _whole_tree_statements(dsn, sizes=(20, 200)):
    """Rows of each of TREE_CATALOGS each of WHOLE_TREE read, beside each of ``sizes``
    partitions of a registered table public.days, after an ANALYZE of the catalogs (what
    autovacuum would do), each on a connection of its own (plans made for the catalog's
    size then), by a superuser."""
    with connect(dsn) as c:
        install.install(c)
    read = {}
    for n in sizes:
        with connect(dsn) as c:
            _days(c, n)
            c.execute("SELECT graph.add_table('public.days')")
            c.execute("ANALYZE pg_catalog.pg_inherits, pg_catalog.pg_trigger, pg_catalog.pg_depend")
        for statement in WHOLE_TREE:
            with connect(dsn) as c:
                with c.transaction():
                    before = {t: c.execute(SYS_ROWS_READ, (t,)).fetchone()[0] for t in TREE_CATALOGS}
                    c.execute(statement)
                    read[(statement, n)] = {t: c.execute(SYS_ROWS_READ, (t,)).fetchone()[0] - before[t]
                                            for t in TREE_CATALOGS}
        with connect(dsn) as c:
            assert c.execute("SELECT count(*) FROM graph._trigger_states('public.days'::regclass)"
                             " WHERE state <> 'ok'").fetchone()[0] == 0
            assert c.execute("SELECT count(*) FROM graph._capture_members WHERE table_oid = 'public.days'::regclass"
                             ).fetchone()[0] == n  # the table and the partitions left
            assert c.execute("SELECT count(*) FROM pg_catalog.pg_trigger"
                             " WHERE tgrelid = 'public.days_0'::regclass AND tgname LIKE 'graphsync%'"
                             ).fetchone()[0] == 4  # attached again: its four capture triggers
    return read


def test_a_whole_trees_capture_triggers_are_checked_reading_each_member_once(fresh_db):
    """graph._trigger_states of a whole table (health's check of every capture trigger,
    and the DDL follower's after a partition is attached, detached or dropped, which
    names the partitioned table or a dropped member) walks the table's tree down, each
    level looked up by its oids: a lookup the planner made a scan of all of
    pg_inherits once its statistics knew the table's partitions, every partition
    having the one parent (or the one partitioned index), so that each member's
    children were sought through every row: beside 20 and 200 partitions, 42 and 402
    pg_inherits rows a partition, a detach beside 2,000 partitions some 440 ms, 390 of
    them there. The rows of pg_inherits and pg_trigger each of those statements reads
    per partition must not grow with the partitions (a tenth more at most)."""
    read = _whole_tree_statements(fresh_db)
    for statement in WHOLE_TREE:
        for t in ("pg_catalog.pg_inherits", "pg_catalog.pg_trigger"):
            small, large = read[(statement, 20)][t] / 20, read[(statement, 200)][t] / 200
            assert large <= small * 1.1 + 1, (statement, t, read)


def test_a_partition_attached_detached_or_dropped_has_the_triggers_of_the_members_that_moved_checked(fresh_db):
    """After an ATTACH or DETACH PARTITION (which names the partitioned parent) or a
    partition's DROP, the DDL follower compares the table's whole tree with the members
    recorded, and attached capture by checking the triggers of every member
    (graph._attach_capture of the whole table: each expected trigger looked up, each
    trigger calling the capture function found through pg_depend): beside 20 and 200
    partitions, a detach read some 240 and 2,400 pg_trigger rows, and took some 75 ms
    beside 2,000. It checks the members that joined or left only now (the partition
    attached, whose triggers it creates; the one detached, whose triggers it drops).
    The pg_trigger and pg_depend rows each reads must not grow with the partitions (a
    few rows more at most)."""
    read = _whole_tree_statements(fresh_db)
    for statement in WHOLE_TREE[2:]:
        for t in ("pg_catalog.pg_trigger", "pg_catalog.pg_depend"):
            assert read[(statement, 200)][t] - read[(statement, 20)][t] <= 40, (statement, t, read)


def test_a_partitions_ddl_and_health_compile_nothing_with_jit(fresh_db):
    """Right after thousands of partitions are made, until autovacuum analyzes the
    catalogs, the planner's estimates of the DDL follower's catalog statements (and
    health's) are far above their real size, past jit_above_cost: each partition's
    creation, attach and detach then JIT-compiled dozens of statements, some 150-350 ms
    each beside 10 partitions as beside 2,000 (benchmarks/HISTORY.md, fifty-second
    stop), and each health call did too. They run with JIT off now, as the capture
    functions and the reads do. With JIT at any cost in the session (jit_above_cost =
    0), auto_explain must show no statement of those compiled."""
    with connect(fresh_db) as c:
        c.execute("SET jit = on")
        if not c.execute("SELECT pg_jit_available()").fetchone()[0]:
            pytest.skip("this server has no JIT provider")
        install.install(c)
        _days(c, 3)
        c.execute("SELECT graph.add_table('public.days')")
    with connect(fresh_db) as c:
        notices = explained_plans(c)
        c.execute("SET jit = on")
        c.execute("SET jit_above_cost = 0")
        c.execute("SELECT 1")
        assert any("JIT:" in n for n in notices), "auto_explain shows no JIT: this test could not fail"
        compiled = {}
        for statement in ("CREATE TABLE public.days_9 PARTITION OF public.days FOR VALUES IN (9)",
                          "ALTER TABLE public.days DETACH PARTITION public.days_9",
                          "ALTER TABLE public.days ATTACH PARTITION public.days_9 FOR VALUES IN (9)",
                          "DROP TABLE public.days_9",
                          "SELECT * FROM graph.sync_health()"):
            notices.clear()
            c.execute(statement)
            explained = [n for n in notices if "Query Text:" in n]
            assert explained, statement  # nested statements were explained
            compiled[statement] = [n.split("\n")[1][:100] for n in explained
                                   if "JIT:" in n and statement not in n]
        assert all(v == [] for v in compiled.values()), compiled
    with connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM graph._trigger_states('public.days'::regclass)"
                         " WHERE state <> 'ok'").fetchone()[0] == 0


def test_add_table_checks_no_trigger_states_at_its_own_alter_table_of_each_partition(fresh_db):
    """add_table enables each partition's capture triggers (ALTER TABLE ... ENABLE ALWAYS
    TRIGGER), and the DDL follower asked graph._note_capture_off, and so
    graph._trigger_states, whether that ALTER TABLE switched a capture trigger off: a
    third of what the follower cost add_table a partition. Only a trigger that is not
    enabled ALWAYS can be one an ALTER TABLE switched off, so the follower asks only
    then. Counted by function calls (track_functions), not timed: none for add_table of
    20 partitions (one a partition and one for the table before); and a partition's
    capture trigger disabled afterwards is still recorded (capture_off)."""
    with connect(fresh_db) as c:
        install.install(c)
        _days(c, 20)
        c.execute("SET track_functions = 'all'")
        with c.transaction():
            c.execute("SELECT graph.add_table('public.days')")
            calls = dict(c.execute("SELECT funcname, calls FROM pg_stat_xact_user_functions"
                                   " WHERE schemaname = 'graph'").fetchall())
        assert calls.get("_follow_ddl", 0) >= 20 * 5, calls  # the follower ran for its DDL
        assert calls.get("_note_capture_off", 0) == 0, calls
        table = c.execute("SELECT 'public.days'::regclass::oid").fetchone()[0]
        c.execute(f"ALTER TABLE public.days_7 DISABLE TRIGGER graphsync_capture_update_{table}")
        assert c.execute("SELECT count(*) FROM graph._schema_events WHERE table_oid = %s"
                         " AND kind = 'capture_off' AND resolved_at IS NULL", (table,)).fetchone()[0] == 1
        c.execute(f"ALTER TABLE public.days_7 ENABLE ALWAYS TRIGGER graphsync_capture_update_{table}")
        c.execute("SELECT graph.build()")


def test_a_partitions_ddl_starts_no_walk_of_the_tree_it_does_not_run(fresh_db):
    """A recursive UNION zeroes a hash table as its statement starts, sized by the
    planner's estimate of the walk (up to hash_mem: megabytes beside a table of many
    partitions), whether or not the walk then runs. graph._followed_tables tested a
    table's registration and tree in one statement of ORs, so each call started the
    walk of the whole tree, which a DDL naming a partition alone never runs; a
    partition's creation and graphsync's own ALTER TABLE of each partition (add_table)
    call it three times and once. Each test is a statement of its own now. Counted,
    not timed: in the plans auto_explain shows for a partition's DDL beside 200
    partitions, catalogs analyzed (nested statements, with ANALYZE, so that a node
    that did not run says "never executed"), no recursive UNION estimated at more than
    10,000 rows that never ran (the whole tree's was estimated at millions; the small
    walks of a few relations' ancestors, some 100 rows, may be left unrun)."""
    with connect(fresh_db) as c:
        install.install(c)
        _days(c, 200)
        c.execute("SELECT graph.add_table('public.days')")
        c.execute("ANALYZE pg_catalog.pg_inherits")
        c.execute("ANALYZE pg_catalog.pg_class")
        table = c.execute("SELECT 'public.days'::regclass::oid").fetchone()[0]
    with connect(fresh_db) as c:
        notices = explained_plans(c, "log_analyze = on", "log_timing = off")
        unrun = {}
        largest = 0
        for statement in ("CREATE TABLE public.days_900 PARTITION OF public.days FOR VALUES IN (900)",
                          "ALTER TABLE public.days_900 SET (fillfactor = 90)",
                          f"ALTER TABLE public.days_900 ENABLE ALWAYS TRIGGER graphsync_capture_insert_{table}"):
            notices.clear()
            c.execute(statement)
            explained = [n for n in notices if "Query Text:" in n]
            assert explained, statement  # nested statements were explained
            walks = [(int(m.group(1)), "never executed" in line, n.split("\n")[1][:80])
                     for n in explained for line in n.split("\n")
                     for m in [re.search(r"Recursive Union .*?rows=(\d+)", line)] if m]
            largest = max([largest] + [rows for rows, _, _ in walks])
            unrun[statement] = [(rows, query) for rows, never, query in walks if never and rows > 10_000]
        assert largest > 10_000, f"no walk estimated above 10,000 rows ({largest}): this test could not fail"
        assert all(v == [] for v in unrun.values()), unrun
    with connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM graph._trigger_states('public.days'::regclass)"
                         " WHERE state <> 'ok'").fetchone()[0] == 0
