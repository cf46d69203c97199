"""What capture logs for single-row statements, which take their own branch (no join,
no window), is what the multi-row path logs for the same changes; the output settings
are pinned on a capture function exactly when a rendered column's type reads them,
and then a value is captured the same whatever the writer's session says."""

import pytest

from conftest import apply, connect, explained_plans, verify

LOGGED = "SELECT op, pk, old_pk, new_pk, properties, old_row, new_row FROM graph._sync_log"


def capture_config(conn, table):
    return conn.execute("""SELECT coalesce(p.proconfig, '{}') FROM pg_trigger AS t JOIN pg_proc AS p
                           ON p.oid = t.tgfoid WHERE t.tgrelid = %s::regclass AND t.tgname LIKE 'graphsync%%'
                           LIMIT 1""", (table,)).fetchone()[0]


@pytest.fixture(scope="module")
def twins(db):
    """Two registered twins; 'one' gets single-row statements, 'two' the same changes
    in a statement that also touches row 99 without changing what is captured."""
    with connect(db) as c:
        c.execute("CREATE TABLE hub (id int PRIMARY KEY, name text)")
        c.execute("INSERT INTO hub SELECT g, 'h' || g FROM generate_series(1, 5) g")
        c.execute("SELECT graph.add_table('hub', columns => '{name}')")
        for t in ("one", "two"):
            c.execute(f"""CREATE TABLE {t} (id int PRIMARY KEY, name text, note text, ref int REFERENCES hub,
                                            tenant int)""")
            c.execute(f"INSERT INTO {t} VALUES (1, 'a', 'x', 1, 7), (2, 'b', 'y', 2, 7), (99, 'z', 'z', 1, 7)")
            c.execute(f"SELECT graph.add_table('{t}', columns => '{{name}}', tenant_column => 'tenant')")
            c.execute(f"SELECT graph.add_edge('{t}', 'ref', 'hub', label => 'to')")
        c.execute("SELECT graph.build()")
    return db


CHANGES = [  # (assignments, rows): run on one row of 'one' and, keeping row 99 as it is, on 'two'
    ({"name": "name"}, "id = 1"),                        # no-op: nothing logged
    ({"note": "'changed'"}, "id = 1"),                   # uncaptured column only: nothing
    ({"name": "'renamed'"}, "id = 1"),                   # a property
    ({"ref": "3"}, "id = 2"),                            # an edge endpoint
    ({"tenant": "8"}, "id = 2"),                         # the tenant
    ({"id": "10"}, "id = 1"),                            # the key alone
    ({"id": "1", "name": "'back'", "ref": "NULL"}, "id = 10"),  # key, property and endpoint
    ({"id": "3", "name": "name"}, "id = 2"),             # the key, nothing else
    ({"name": "'none'"}, "false"),                       # no row at all
]


@pytest.mark.parametrize(("assignments", "where"), CHANGES)
def test_single_row_update_logs_what_the_multi_row_path_logs(twins, assignments, where):
    with connect(twins) as c:
        c.execute("TRUNCATE graph._sync_log")
        c.execute(f"UPDATE one SET {', '.join(f'{k} = {v}' for k, v in assignments.items())} WHERE {where}")
        single = c.execute(LOGGED + " WHERE table_oid = 'one'::regclass ORDER BY id").fetchall()
        keep_99 = ", ".join(f"{k} = CASE WHEN id = 99 THEN {k} ELSE {v} END" for k, v in assignments.items())
        c.execute(f"UPDATE two SET {keep_99} WHERE {where} OR id = 99")
        multi = c.execute(LOGGED + " WHERE table_oid = 'two'::regclass ORDER BY id").fetchall()
        assert single == multi
        expect_logged = where != "false" and assignments not in ({"name": "name"}, {"note": "'changed'"})
        assert len(single) == (1 if expect_logged else 0), single
        if expect_logged and "id" in assignments:
            assert single[0][2] != single[0][3]  # old_pk, new_pk
        apply(c)
        assert verify(c) == []


def test_a_single_row_key_change_replays_as_a_move(twins):
    with connect(twins) as c:
        c.execute("UPDATE one SET id = 50 WHERE id = 99")
        assert c.execute(LOGGED + " ORDER BY id DESC LIMIT 1").fetchone()[:4] == ("U", "50", "99", "50")
        apply(c)
        alive = dict(c.execute("SELECT pk, alive FROM graph._nodes WHERE table_oid = 'one'::regclass"
                               " AND pk IN ('50', '99')").fetchall())
        assert alive == {"50": True, "99": False}
        assert verify(c) == []


def test_output_settings_are_pinned_only_for_types_that_read_them(conn):
    conn.execute("CREATE TABLE plainish (id bigint PRIMARY KEY, name varchar, ok bool, u uuid, amount numeric)")
    conn.execute("SELECT graph.add_table('plainish', columns => '{name,ok,u,amount}')")
    conn.execute("CREATE DOMAIN small AS int")
    conn.execute("CREATE TABLE domained (id small PRIMARY KEY, name text)")
    conn.execute("SELECT graph.add_table('domained', columns => '{name}')")
    conn.execute("CREATE TABLE stamped (id int PRIMARY KEY, at timestamptz)")
    conn.execute("SELECT graph.add_table('stamped', columns => '{at}')")
    pinned = {"DateStyle=ISO, YMD", "TimeZone=UTC", "IntervalStyle=postgres", "extra_float_digits=3",
              "bytea_output=hex", "lc_monetary=C"}
    lower = {s.lower() for s in pinned}
    assert not lower & {s.lower() for s in capture_config(conn, "plainish")}
    assert lower <= {s.lower() for s in capture_config(conn, "domained")}
    assert lower <= {s.lower() for s in capture_config(conn, "stamped")}


def test_a_column_retyped_to_a_setting_dependent_type_gets_the_settings_pinned(conn):
    conn.execute("CREATE TABLE retyped (id int PRIMARY KEY, at text, f text)")
    conn.execute("SELECT graph.add_table('retyped', columns => '{at,f}')")
    assert "timezone=utc" not in {s.lower() for s in capture_config(conn, "retyped")}
    conn.execute("ALTER TABLE retyped ALTER COLUMN at TYPE timestamptz USING at::timestamptz,"
                 " ALTER COLUMN f TYPE float8 USING f::float8")
    assert "timezone=utc" in {s.lower() for s in capture_config(conn, "retyped")}
    conn.execute("SET datestyle = 'SQL, DMY'")
    conn.execute("SET timezone = 'America/New_York'")
    conn.execute("SET extra_float_digits = -3")
    conn.execute("INSERT INTO retyped VALUES (1, '2024-03-01 12:00:00+00', 0.1::float8 + 0.2::float8)")
    props = conn.execute("SELECT properties FROM graph._sync_log ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert props["at"] == "2024-03-01T12:00:00+00:00"
    assert props["f"] == 0.30000000000000004


def test_a_multi_row_update_pairs_each_rows_old_and_new_values(conn):
    """A statement's old and new transition rows are paired by their position, so each
    logged UPDATE carries one row's own old and new key and values, whether its key
    changed or not; the stale (checked) forms pair them the same way."""
    conn.execute("CREATE TABLE paired (id int PRIMARY KEY, name text, tenant int)")
    conn.execute("INSERT INTO paired SELECT g, 'p' || g, g % 3 FROM generate_series(1, 6) g")
    conn.execute("SELECT graph.add_table('paired', columns => '{name}', tenant_column => 'tenant')")
    conn.execute("SELECT graph.build()")
    conn.execute("TRUNCATE graph._sync_log")
    # keys 1 and 2 move, 3 and 4 keep their key and change a property, 5 keeps all
    conn.execute("""UPDATE paired SET id = CASE WHEN id <= 2 THEN id + 100 ELSE id END,
                                      name = CASE WHEN id = 5 THEN name ELSE name || '!' END,
                                      tenant = CASE WHEN id = 6 THEN 9 ELSE tenant END""")
    logged = conn.execute("SELECT op, old_pk, new_pk, properties ->> 'name', new_row ->> 'tenant'"
                          " FROM graph._sync_log ORDER BY old_pk::int").fetchall()
    assert logged == [("U", "1", "101", "p1!", "1"), ("U", "2", "102", "p2!", "2"), ("U", "3", "3", "p3!", "0"),
                      ("U", "4", "4", "p4!", "1"), ("U", "6", "6", "p6!", "9")]
    apply(conn)
    assert verify(conn) == []


def test_a_multi_row_update_is_paired_by_a_hash_join_whatever_row_count_planned_it(conn):
    """A capture statement's plan is kept for the session, made for the row count of its
    first run: the positional pairing of a multi-row UPDATE must not become a nested
    loop when a two-row UPDATE planned it (a later statement of many rows would then
    compare every old row with every new one)."""
    conn.execute("CREATE TABLE hashed (id int PRIMARY KEY, name text)")
    conn.execute("INSERT INTO hashed SELECT g, 'h' || g FROM generate_series(1, 50) g")
    conn.execute("SELECT graph.add_table('hashed', columns => '{name}')")
    plans = explained_plans(conn)
    conn.execute("UPDATE hashed SET name = name || '!' WHERE id <= 2")
    conn.execute("UPDATE hashed SET name = name || '!'")
    pairing = [p for p in plans if "row_number() OVER" in p and "Insert on _sync_log" in p]
    assert len(pairing) == 2, plans
    assert all("Hash Full Join" in p and "Nested Loop" not in p for p in pairing), pairing
    assert conn.execute("SELECT count(*) FROM graph._sync_log WHERE table_oid = 'hashed'::regclass"
                        " AND op = 'U'").fetchone()[0] == 52


def test_the_log_has_only_the_indexes_its_readers_use(conn):
    """Each index of graph._sync_log costs every statement that logs a row (every
    captured write) an index opened and an entry inserted: the log keeps its primary
    key (replay and the reads go by id) and the btree on xid (ranges of xid and one
    transaction's rows). The BRIN on xid, which the btree made redundant, is gone
    (migration 310), and so is the partial index of the rows that need attention,
    which no captured row matched: their ids are in graph._sync_log_attention
    (migration 385)."""
    assert conn.execute("SELECT array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text) FROM pg_index"
                        " WHERE indrelid = 'graph._sync_log'::regclass").fetchone()[0] == [
        "graph._sync_log_pkey", "graph._sync_log_xid_idx"]
    # A range of xid (where a pass starts, pruning) goes through the btree, not a scan.
    conn.execute("CREATE TABLE ranged (id int PRIMARY KEY, name text)")
    conn.execute("SELECT graph.add_table('ranged', columns => '{name}')")
    conn.execute("INSERT INTO ranged SELECT g, 'r' FROM generate_series(1, 3000) g")
    conn.execute("ANALYZE graph._sync_log")
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN SELECT count(*) FROM graph._sync_log WHERE xid > (SELECT max(xid) FROM graph._sync_log) - 1"))
    assert "_sync_log_xid_idx" in plan and "Seq Scan" not in plan, plan



def test_the_logs_defaults_call_no_function_they_can_do_without(conn):
    """A function in a column default is looked up and permission-checked each time a
    statement that inserts a log row starts (every captured write): created_at takes
    CURRENT_TIMESTAMP, the value of now() without a call (migration 386), and id is an
    identity column, whose next value the executor takes without a call of nextval()
    and its check of the caller's right on the sequence (migration 387); xid needs
    txid_current()."""
    defaults = dict(conn.execute("""SELECT a.attname::text, pg_get_expr(d.adbin, d.adrelid)
                                    FROM pg_attrdef AS d JOIN pg_attribute AS a
                                      ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                                    WHERE d.adrelid = 'graph._sync_log'::regclass""").fetchall())
    assert defaults == {"xid": "txid_current()", "needs_vacuum": "false", "created_at": "CURRENT_TIMESTAMP"}, defaults
    assert conn.execute("SELECT attidentity, pg_get_serial_sequence('graph._sync_log', 'id') FROM pg_attribute"
                        " WHERE attrelid = 'graph._sync_log'::regclass AND attname = 'id'").fetchone() == (
        "d", "graph._sync_log_id_seq")
    conn.execute("CREATE TABLE dated (id int PRIMARY KEY)")
    conn.execute("SELECT graph.add_table('dated')")
    with conn.transaction():
        conn.execute("INSERT INTO dated VALUES (1)")
        assert conn.execute("SELECT l.created_at = now() FROM graph._sync_log AS l"
                            " WHERE l.table_oid = 'dated'::regclass").fetchone() == (True,)

def test_a_delete_checks_the_types_of_the_columns_it_renders_only(conn):
    """The single-statement DELETE renders the old row's key and captured columns
    (tenant, edge endpoint), never a property: its type check names those columns
    only (a property column retyped while DDL was not followed leaves the DELETE's
    single statement in use), while an INSERT's checks every column it renders."""
    conn.execute("CREATE TABLE checked (id int PRIMARY KEY, name text, note text, tenant int)")
    conn.execute("SELECT graph.add_table('checked', columns => '{name,note}', tenant_column => 'tenant')")
    body = conn.execute("SELECT prosrc FROM pg_proc WHERE oid = ('graph._capture_'"
                        " || 'checked'::regclass::oid)::regproc").fetchone()[0]
    delete = next(s for s in body.split(";") if "SELECT 'D'" in s)
    insert = next(s for s in body.split(";") if "SELECT 'I'" in s)
    assert ("WHERE ARRAY[graph._type_of(CASE WHEN false THEN o.id END),"
            " graph._type_of(CASE WHEN false THEN o.tenant END)]") in delete, delete
    assert ("WHERE ARRAY[graph._type_of(CASE WHEN false THEN n.id END),"
            " graph._type_of(CASE WHEN false THEN n.name END), graph._type_of(CASE WHEN false THEN n.note END),"
            " graph._type_of(CASE WHEN false THEN n.tenant END)]") in insert, insert
    conn.execute("INSERT INTO checked VALUES (1, 'a', 'b', 7)")
    conn.execute("DELETE FROM checked WHERE id = 1")
    assert conn.execute("SELECT op, pk, old_pk, properties, old_row FROM graph._sync_log"
                        " WHERE table_oid = 'checked'::regclass ORDER BY id").fetchall() == [
        ("I", "1", None, {"name": "a", "note": "b"}, None), ("D", "1", "1", None, {"tenant": "7"})]


def test_the_type_check_is_folded_when_the_statement_is_planned(conn):
    """The single statement's type check compares the columns' types as the parser
    resolved them (graph._type_of of a typed NULL, an immutable function of
    constants): the planner computes it, so the plan a single-row write runs has
    no check left to evaluate, and a check that fails leaves a plan that reads no
    row (the checked forms log the rows then: test_security.py's stale tests)."""
    conn.execute("CREATE TABLE folded (id int PRIMARY KEY, name text, tenant int)")
    conn.execute("SELECT graph.add_table('folded', columns => '{name}', tenant_column => 'tenant')")
    plans = explained_plans(conn, "log_verbose = on")
    conn.execute("INSERT INTO folded VALUES (1, 'a', 7)")
    conn.execute("DELETE FROM folded WHERE id = 1")
    logging = [p[p.index("Insert on graph._sync_log"):] for p in plans if "Insert on graph._sync_log" in p]
    assert len(logging) == 2, plans
    assert all("Named Tuplestore Scan" in p and "Filter" not in p and "type_of" not in p for p in logging), logging
    assert conn.execute("SELECT op, pk, properties, old_row, new_row FROM graph._sync_log"
                        " WHERE table_oid = 'folded'::regclass ORDER BY id").fetchall() == [
        ("I", "1", {"name": "a"}, None, {"tenant": "7"}), ("D", "1", None, {"tenant": "7"}, None)]


def test_no_capture_statement_is_jit_compiled_after_a_large_first_one(conn):
    """Capture statements keep their plans for the session, made for the row count
    of their first run; a plan made for thousands of rows crosses jit_above_cost.
    So every capture function runs with jit (and merge joins) off, by its SET
    clauses: no logging statement is JIT-compiled, neither a large first one nor
    the single-row ones after it (with jit pinned by no clause, the single-row
    INSERT after the 3,000-row one ran a JIT-compiled plan). Here jit_above_cost
    is low enough that the large statements' plans would cross it."""
    if not conn.execute("SELECT pg_jit_available()").fetchone()[0]:
        pytest.skip("JIT is not available on this server")
    conn.execute("CREATE TABLE jitted (id int PRIMARY KEY, name text, tenant int)")
    conn.execute("SELECT graph.add_table('jitted', columns => '{name}', tenant_column => 'tenant')")
    for setting in ("jit = on", "jit_above_cost = 10", "jit_inline_above_cost = -1", "jit_optimize_above_cost = -1"):
        conn.execute(f"SET {setting}")
    plans = explained_plans(conn)

    def logging(since):
        return [p for p in plans[since:] if "Insert on _sync_log" in p]

    # the application's own statement is JIT-compiled (jit is the writer's to choose) ...
    since = len(plans)
    conn.execute("INSERT INTO jitted SELECT g, 'j' || g, g % 3 FROM generate_series(1, 3000) g")
    assert any("JIT:" in p for p in plans[since:] if "Insert on jitted" in p), plans[since:]
    assert not any("JIT:" in p for p in logging(since)), logging(since)
    # ... and no capture statement after it
    statements = ["INSERT INTO jitted VALUES (5000, 'one', 1)",
                  "UPDATE jitted SET name = name || '!'",
                  "UPDATE jitted SET name = 'two' WHERE id = 5000",
                  "DELETE FROM jitted WHERE id > 1",
                  "DELETE FROM jitted WHERE id = 1"]
    for sql in statements:
        since = len(plans)
        conn.execute(sql)
        logged = logging(since)
        assert len(logged) == 1, (sql, plans[since:])
        assert "JIT:" not in logged[0], (sql, logged[0])
    assert conn.execute("SELECT op, count(*) FROM graph._sync_log WHERE table_oid = 'jitted'::regclass"
                        " GROUP BY op ORDER BY op").fetchall() == [("D", 3001), ("I", 3001), ("U", 3002)]
    apply(conn)
    assert verify(conn) == []


def test_a_multi_row_update_gives_the_sessions_jit_and_merge_join_settings_back(conn):
    """Capture runs with jit and merge joins off (its SET clauses), for itself alone:
    the writer's values (session or transaction-local) are what they were afterwards,
    also after a multi-row UPDATE (whose pairing is the statement they matter to)."""
    conn.execute("CREATE TABLE restored (id int PRIMARY KEY, name text)")
    conn.execute("INSERT INTO restored SELECT g, 'r' || g FROM generate_series(1, 5) g")
    conn.execute("SELECT graph.add_table('restored', columns => '{name}')")
    settings = "SELECT current_setting('jit'), current_setting('enable_mergejoin')"
    conn.execute("SET jit = on")
    conn.execute("SET enable_mergejoin = on")
    conn.execute("UPDATE restored SET name = name || '!'")
    assert conn.execute(settings).fetchone() == ("on", "on")
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")
        conn.execute("UPDATE restored SET name = name || '?' WHERE id <= 3")
        assert conn.execute(settings).fetchone() == ("off", "on")
    assert conn.execute(settings).fetchone() == ("on", "on")
    assert conn.execute("SELECT count(*) FROM graph._sync_log WHERE table_oid = 'restored'::regclass"
                        " AND op = 'U'").fetchone()[0] == 8
