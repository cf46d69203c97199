"""One error vocabulary: every error a user can trigger through the public functions
arrives with its SQLSTATE and one clear line, plus DETAIL or HINT where they help --
never a Python traceback, a "plpy.Error:" or "spiexceptions." prefix, a file name
or a line number (plpython/graphsync/errors.py) -- and a CONTEXT that names at most
the public function called: no internal query text, no PL/Python traceback."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import sql

import test_registration_errors as registration
from conftest import ROOT, connect

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()

EXTRA = """
CREATE TABLE app.pairs (a int, b text, name text, PRIMARY KEY (a, b));
INSERT INTO app.pairs VALUES (1, 'x', 'one'), (2, 'y', 'two');
SELECT graph.add_table('app.pairs', columns => '{name}');
"""

FORBIDDEN = ("Traceback", "plpy.", "spiexceptions", 'File "')
LINE_NUMBER = re.compile(r"\bline \d+")
# What CONTEXT may say: the public function the caller called re-raised the error
# (and a SQL function around it named itself); never graphsync's internal query
# text, an internal function or a PL/Python traceback.
CONTEXT_LINE = re.compile(r'^(PL/pgSQL function graph\.[a-z]\w*\([^)]*\) line \d+ at RAISE'
                          r'|SQL function "[a-z]\w*"( statement \d+)?)$')


def assert_no_internals(err: psycopg.Error) -> None:
    """CONTEXT of ``err`` names at most the public function called (see CONTEXT_LINE)."""
    for line in (err.diag.context or "").splitlines():
        assert CONTEXT_LINE.match(line), f"CONTEXT shows {line!r}: {err.diag.context!r}"


def assert_clean(err: psycopg.Error, sqlstate: str, fragment: str | None = None, public: bool = True) -> None:
    """``err`` has SQLSTATE ``sqlstate`` and one clear line; its message, detail and hint
    carry no Python traceback text; ``fragment`` appears in one of them. An error of a
    public function (``public``) also names nothing internal in CONTEXT; an internal
    function called directly keeps its PL/Python context (only the public functions
    re-raise without it)."""
    d = err.diag
    assert err.sqlstate == sqlstate, f"{err.sqlstate} {d.message_primary!r}"
    assert d.message_primary and "\n" not in d.message_primary, repr(d.message_primary)
    texts = [t for t in (d.message_primary, d.message_detail, d.message_hint) if t]
    for text in texts:
        for bad in FORBIDDEN:
            assert bad not in text, f"{bad!r} in {text!r}"
        assert not LINE_NUMBER.search(text), text
    if fragment is not None:
        assert any(fragment in t for t in texts), f"{fragment!r} not in {texts}"
    if public:
        assert_no_internals(err)


def error_of(conn, query: str, params=None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(query, params)
    return info.value


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 10) g")
        c.execute("INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, NULL, 1 + g % 10"
                  " FROM generate_series(1, 30) g")
        c.execute(REGISTER)
        c.execute(EXTRA)
        c.execute(registration.OBJECTS)
        c.execute("SELECT graph.build()")
        c.execute("DROP ROLE IF EXISTS gs_err_reader; CREATE ROLE gs_err_reader")
        c.execute("GRANT USAGE ON SCHEMA app TO gs_err_reader")
        c.execute("GRANT SELECT ON app.companies TO gs_err_reader")
    yield db
    with connect(db) as c:
        c.execute("DROP OWNED BY gs_err_reader")
        c.execute("DROP ROLE gs_err_reader")


# The bad input of the reads (tests/test_reads_access.py and more): (call, SQLSTATE,
# a fragment of the message, detail or hint).
READS = [
    ("graph.traverse('app.relations', '1')", "55000", "app.relations"),
    ("graph.traverse('app.contacts', '1', max_depth => -1)", "22023", "max_depth"),
    ("graph.traverse('app.contacts', '1', max_depth => 100000)", "22023", "max_depth"),
    ("graph.traverse('app.contacts', '1', direction => 'up')", "22023", "out, in, any"),
    ("graph.traverse('app.contacts', '1', strategy => 'random')", "22023", "bfs, dfs"),
    ("graph.traverse('app.contacts', '1', max_nodes => 0)", "22023", "max_nodes"),
    ("graph.traverse('app.contacts', 'abc')", "22P02", "invalid input syntax for type integer"),
    ("graph.traverse('app.contacts', '99999999999')", "22P02", "out of range"),
    ("graph.traverse('app.pairs', '(1,x,3)')", "22P02", "3 fields"),
    ("graph.traverse('app.pairs', '(1,x')", "22P02", "(v1,v2,...)"),
    ("graph.traverse('app.pairs', '(one,x)')", "22P02", "invalid input syntax for type integer"),
    ("graph.traverse('app.contacts', NULL)", "22004", "NULL"),
    # the argument as the caller named it (not "seed tables and ids")
    ("graph.traverse('app.contacts', NULL) AS named", "22004", "seed_id must not be NULL"),
    ("graph.traverse(NULL, '1')", "22004", "seed_table must not be NULL"),
    ("graph.export_dot(NULL, '1')", "22004", "seed_table must not be NULL"),
    ("graph.shortest_path('app.contacts', '1', NULL, '2')", "22004", "dst_table must not be NULL"),
    ("graph.weighted_shortest_path(NULL, '1', 'app.contacts', '2')", "22004", "src_table must not be NULL"),
    ("graph.component_of('app.contacts', NULL)", "22004", "id must not be NULL"),
    ("graph.traverse('app.contacts', '1', seed_tables => '{app.contacts}', seed_ids => '{1}')", "22023", "either"),
    ("graph.traverse(seed_tables => NULL, seed_ids => NULL)", "22004", "either"),
    ("graph.traverse(seed_tables => '{app.contacts}', seed_ids => '{1,2}')", "22023", "same length"),
    ("graph.traverse(seed_tables => '{app.contacts}', seed_ids => ARRAY[NULL])", "22004", "NULL"),
    ("graph.traverse('app.contacts', '1', node_tables => ARRAY[NULL]::regclass[])", "22004", "node_tables"),
    ("graph.traverse('app.contacts', '1', edge_types => ARRAY[NULL])", "22004", "edge_types"),
    ("graph.traverse('app.contacts', '1', filter => '[1]')", "22023", "JSON object"),
    ("graph.traverse('app.contacts', '1', filter => '{\"nope\": 1}')", "22023", "graph.add_filter_column"),
    ("graph.shortest_path('app.contacts', '1', 'app.contacts', '2', direction => 'x')", "22023", "direction"),
    ("graph.shortest_path('app.contacts', '1', 'app.contacts', NULL)", "22004", "NULL"),
    ("graph.shortest_path('app.contacts', '1', 'app.contacts', '2', edge_types => ARRAY[NULL])",
     "22004", "edge_types"),
    ("graph.weighted_shortest_path('app.contacts', '1', 'app.relations', '2')", "55000", "graph.add_table"),
    ("graph.weighted_shortest_path('app.contacts', 'x', 'app.contacts', '2')", "22P02", "app.contacts"),
    ("graph.weighted_shortest_path('app.contacts', '1', 'app.contacts', '2', invalid_weights => 'ignore')",
     "22023", "invalid_weights must be one of error, skip"),
    ("graph.component_of('app.relations', '1')", "55000", "app.relations"),
    ("graph.component_of('app.contacts', 'abc')", "22P02", "app.contacts"),
    ("graph.search('name', 'x', mode => 'fuzzy')", "22023", "exact, prefix, contains"),
    ("graph.search('name', 'x', max_rows => 0)", "22023", "max_rows"),
    ("graph.search(NULL, 'x')", "22004", "NULL"),
    ("graph.search('name', 'x', table_filter => '{app.relations}')", "55000", "app.relations"),
    ("graph.search('name', 'x', table_filter => ARRAY[NULL]::regclass[])", "22004", "table_filter"),
    ("graph.search('nope', 'x')", "42703", "graph.add_filter_column"),
    ("graph.traverse_search('name', 'co1', direction => 'up')", "22023", "direction"),
    # max_seeds by its own name (it was search's max_rows)
    ("graph.traverse_search('name', 'co1', max_seeds => 0)", "22023", "max_seeds"),
    ("graph.traverse_search('name', 'co1', max_seeds => 100001)", "22023", "max_seeds"),
]


@pytest.mark.parametrize(("call", "sqlstate", "fragment"), READS, ids=[r[0] for r in READS])
def test_bad_read_input_is_one_clear_line(app, call, sqlstate, fragment):
    with connect(app) as c:
        assert_clean(error_of(c, "SELECT * FROM " + call), sqlstate, fragment)


# Tables the caller may not read (tests/test_reads_access.py), as a role with SELECT
# on app.companies only.
NOT_READABLE = [
    "graph.traverse('app.contacts', '1')",
    "graph.shortest_path('app.companies', '1', 'app.contacts', '1')",
    "graph.component_of('app.contacts', '1')",
    "graph.search('name', 'c1', table_filter => '{app.contacts}')",
]


@pytest.mark.parametrize("call", NOT_READABLE)
def test_a_table_the_caller_may_not_read(app, call):
    with connect(app) as c:
        c.execute("SET ROLE gs_err_reader")
        assert_clean(error_of(c, "SELECT * FROM " + call), "42501", "permission denied for table app.contacts")
        c.execute("RESET ROLE")


def test_an_unknown_table_is_postgresql_s_own_error(app):
    with connect(app) as c:
        assert_clean(error_of(c, "SELECT * FROM graph.traverse('app.nope', '1')"), "42P01", "app.nope")


def test_pending_rows_under_error_on_pending(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.companies VALUES (100, 1, 'pending')")
        c.execute("SET graph.query_freshness = 'error_on_pending'")
        err = error_of(c, "SELECT * FROM graph.traverse('app.companies', '1')")
        assert_clean(err, "55000", "not applied yet")
        assert "graph.apply_sync()" in err.diag.message_hint
        c.execute("RESET graph.query_freshness")
        c.execute("SELECT graph.apply_sync()")


def test_too_many_pending_rows_to_fold(app):
    """More pending rows than a read folds in memory: 54000 (the caller's own
    uncommitted rows, so nothing has to be applied or cleaned up afterwards)."""
    with connect(app) as c:
        c.execute("CREATE TABLE app.many (id int PRIMARY KEY)")
        c.execute("SELECT graph.add_table('app.many')")
        with pytest.raises(psycopg.Error) as info, c.transaction():
            c.execute("INSERT INTO app.many SELECT generate_series(1, 200001)")
            c.execute("SELECT * FROM graph.traverse('app.companies', '1')")
        assert_clean(info.value, "54000", "200000")
        assert "graph.apply_sync()" in info.value.diag.message_hint
        c.execute("SELECT graph.remove_table('app.many')")


def test_a_negative_edge_weight_in_reach_names_the_edge(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.relations (source_id, target_id, type, weight) VALUES (3, 4, 'knows', -2)")
        err = error_of(c, "SELECT * FROM graph.weighted_shortest_path('app.contacts', '3', 'app.contacts', '5')")
        assert_clean(err, "22023", "negative edge weight -2.0 on an edge reachable from the source")
        assert err.diag.message_detail in ("The edge from (app.contacts, 3) to (app.contacts, 4) has weight -2.0.",
                                           "The edge from (app.contacts, 4) to (app.contacts, 3) has weight -2.0.")
        assert "weights must be >= 0" in err.diag.message_hint
        c.execute("DELETE FROM app.relations")
        c.execute("SELECT graph.apply_sync()")


@pytest.mark.parametrize(("call", "sqlstate", "fragment"), [c[1:] for c in registration.CASES],
                         ids=[c[0] for c in registration.CASES])
def test_bad_registration_is_one_clear_line(app, call, sqlstate, fragment):
    with connect(app) as c:
        assert_clean(error_of(c, call), sqlstate, fragment)


# Admin-only functions, called by a role outside graph_admin that was granted EXECUTE
# by mistake (tests/test_privileges.py): the Python ones check the role themselves.
ADMIN_ONLY = ["graph.apply_sync(integer)", "graph.build()", "graph.verify()", "graph.retry_failed()",
              "graph.reconcile()", "graph.run_scheduled_maintenance()", "graph.vacuum()",
              "graph.prune_sync_log(interval)"]


@pytest.mark.parametrize("fn", ADMIN_ONLY)
def test_an_admin_function_called_by_another_role(app, fn):
    call = re.sub(r"\(\w+\)", "()", fn)
    with connect(app) as c:
        c.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO gs_err_reader")
        c.execute("GRANT EXECUTE ON FUNCTION graph._require_admin() TO gs_err_reader")
        try:
            c.execute("SET ROLE gs_err_reader")
            assert_clean(error_of(c, "SELECT * FROM " + call), "42501", "is not a member of graph_admin")
        finally:
            c.execute("RESET ROLE")
            c.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM gs_err_reader")
            c.execute("REVOKE EXECUTE ON FUNCTION graph._require_admin() FROM gs_err_reader")


def test_a_cancel_during_search_is_not_taken_for_a_non_matching_value(app):
    """search asks the column's type whether the value fits it (exact mode); only the
    type refusing the value means "no match": a statement timeout that fires while
    the type reads a long value stops the search, it is not swallowed."""
    with connect(app) as c:
        c.execute("CREATE TABLE app.coded (id int PRIMARY KEY, codes int[])")
        c.execute("SELECT graph.add_table('app.coded', columns => '{codes}')")
        try:
            assert c.execute("SELECT count(*) FROM graph.search('codes', '{1}')").fetchone() == (0,)  # warm
            # 6M elements: 2.5-2.9 s to read as int[] at load 10, four times 1.5M's 0.4-0.6 s;
            # 1.5M read within the timeout once on the idle machine, and the search matched.
            long_value = "{" + ",".join(["12345"] * 6_000_000) + "}"
            c.execute("SET statement_timeout = '300ms'")
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("SELECT count(*) FROM graph.search('codes', %s)", [long_value])
        finally:
            c.execute("RESET statement_timeout")
            c.execute("SELECT graph.remove_table('app.coded')")


# One error of each family of public functions that arises deep inside (in PL/Python,
# or in an internal function): (setup, call, SQLSTATE, fragment).
FAMILIES = [
    ("", "SELECT graph.add_edge('app.contacts', 'nope', 'app.companies')", "42703", "nope"),
    ("SET graph.sync_batch_size = 'lots'", "SELECT * FROM graph.apply_sync()", "22023", "graph.sync_batch_size"),
    ("SET graph.edge_buffer_size = 'lots'", "SELECT * FROM graph.retry_failed()", "22023", "graph.edge_buffer_size"),
    ("SET graph.log_retention = 'lots'", "SELECT * FROM graph.run_scheduled_maintenance()", "22023",
     "graph.log_retention"),
    ("SET graph.log_retention = 'lots'", "SELECT * FROM graph.vacuum()", "22023", "graph.log_retention"),
    ("SET graph.sync_error_policy = 'never'", "SELECT * FROM graph.reconcile()", "22023", "graph.sync_error_policy"),
    ("SET graph.query_freshness = 'never'", "SELECT * FROM graph.sync_health()", "22023", "graph.query_freshness"),
    ("SET graph.query_freshness = 'never'", "SELECT * FROM graph.connected_components()", "22023",
     "graph.query_freshness"),
    ("SET graph.query_freshness = 'never'", "SELECT * FROM graph.component_stats()", "22023",
     "graph.query_freshness"),
    ("", "SELECT graph.export_dot('app.contacts', '1', label_property => 'nope')", "42703", "nope"),
    ("", "SELECT graph.export_mermaid('app.contacts', '1', max_depth => -1)", "22023", "max_depth"),
    ("", "SELECT graph.export_graphml('app.contacts', 'x')", "22P02", "app.contacts"),
    ("", "SELECT * FROM graph.traverse_search('name', 'co1', max_depth => -1)", "22023", "max_depth"),
    ("SET graph.log_retention = 'lots'", "SELECT graph.prune_sync_log()", "22023", "graph.log_retention"),
    ("", "SELECT graph.set_setting('graph.sync_batch_size', '0')", "22023", "graph.sync_batch_size"),
    # a name without its prefix: the hint gives the name meant
    ("", "SELECT graph.set_setting('sync_batch_size', '5')", "22023", "graph.sync_batch_size"),
    ("", "SELECT graph.set_setting(NULL, '5')", "22004", "name must not be NULL"),
]


@pytest.mark.parametrize(("setup", "call", "sqlstate", "fragment"), FAMILIES, ids=[f[1] for f in FAMILIES])
def test_an_error_from_inside_shows_no_internals(app, setup, call, sqlstate, fragment):
    with connect(app) as c:
        if setup:
            c.execute(setup)
        assert_clean(error_of(c, call), sqlstate, fragment)


def test_a_cancelled_read_shows_no_internals(app):
    """A statement timeout stops a read with 57014, and the caller sees no more of
    where it stopped than of any other error."""
    with connect(app) as c:
        c.execute("SET statement_timeout = '1ms'")
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            for _ in range(50):
                c.execute("SELECT count(*) FROM graph.connected_components(), pg_sleep(0.01)")
        c.execute("RESET statement_timeout")
    assert_no_internals(info.value)


# What CONTEXT may say of an error raised while capture runs: the capture function
# and the line it was at, never the statement it ran (graph._write_capture runs each
# as a cursor, whose execution PostgreSQL reports without its text).
CAPTURE_CONTEXT_LINE = re.compile(r"^PL/pgSQL function graph\._capture_\d+\(\) line \d+ at MOVE$")


def assert_no_capture_text(err: psycopg.Error) -> None:
    lines = (err.diag.context or "").splitlines()
    assert lines, "no CONTEXT at all"
    for line in lines:
        assert CAPTURE_CONTEXT_LINE.match(line), f"CONTEXT shows {line!r}: {err.diag.context!r}"


def test_an_error_raised_in_capture_shows_no_internal_query_text(app):
    """A value too large for the log's JSON (jsonb strings end at 256 MB) fails the
    write: the application gets 54000 and the message, not graphsync's capture query.
    Before each capture statement ran as a cursor, CONTEXT quoted it whole."""
    with connect(app) as c:
        c.execute("CREATE TABLE app.notes (id int PRIMARY KEY, body text)")
        c.execute("SELECT graph.add_table('app.notes', columns => '{body}')")
        try:
            err = error_of(c, "INSERT INTO app.notes VALUES (1, repeat('x', 268435456))")
            assert err.sqlstate == "54000" and "jsonb" in err.diag.message_primary
            assert "graph._sync_log" not in (err.diag.context or "")
            assert_no_capture_text(err)
            assert_clean(err, "54000", public=False)
        finally:
            c.execute("SELECT graph.remove_table('app.notes')")


# A row filter that takes ~40 ms a row (an immutable expression capture evaluates), and
# a write of each kind on a table of 100 rows registered with it: capture is where the
# write spends its time. {t}: the table.
SLOW_FILTER = "md5(repeat(name, 2000000)) <> ''"
SLOW_WRITES = {"INSERT": "INSERT INTO {t} SELECT g, 'abcdefghij' FROM generate_series(101, 200) g",
               "UPDATE": "UPDATE {t} SET name = 'jihgfedcba'",
               "DELETE": "DELETE FROM {t}"}


@pytest.mark.parametrize("op", ["INSERT", "UPDATE", "DELETE"])
def test_a_write_cancelled_while_capture_runs_shows_no_internal_query_text(app, op):
    """A statement timeout that lands while capture logs a statement's rows: 57014,
    and CONTEXT names the capture function and its line only. The row filter (an
    immutable expression, evaluated by capture) takes ~40 ms a row, so capture is
    where the statement spends its time."""
    with connect(app) as c:
        c.execute("CREATE TABLE app.slow (id int PRIMARY KEY, name text)")
        c.execute("INSERT INTO app.slow SELECT g, 'abcdefghij' FROM generate_series(1, 100) g")
        c.execute("SELECT graph.add_table('app.slow', columns => '{name}', row_filter => %s)", (SLOW_FILTER,))
        try:
            write = SLOW_WRITES[op].format(t="app.slow")
            c.execute("SET statement_timeout = '300ms'")
            err = error_of(c, write)
            c.execute("RESET statement_timeout")
            assert err.sqlstate == "57014", err.diag.message_primary
            assert_no_capture_text(err)
            assert c.execute("SELECT count(*) FROM app.slow").fetchone() == (100,)
        finally:
            c.execute("RESET statement_timeout")
            c.execute("SELECT graph.remove_table('app.slow')")
            c.execute("DROP TABLE app.slow")


@pytest.mark.parametrize("writer", ["owner", "writer"])
def test_a_write_by_a_table_owner_or_a_plain_writer_cancelled_in_capture_shows_no_query_text(app, writer):
    """The tests above write as the superuser. Capture runs as graph_capture whoever
    writes (a SECURITY DEFINER function), so the error a role without any right on
    graphsync's tables gets must be the same: 57014, CONTEXT naming the capture
    function and its line only, nothing written. ``owner``: the table's owner, no
    member of graph_admin; ``writer``: a role granted INSERT, UPDATE and DELETE on it."""
    with connect(app) as c:
        c.execute("DROP ROLE IF EXISTS gs_err_owner; CREATE ROLE gs_err_owner")
        c.execute("DROP ROLE IF EXISTS gs_err_writer; CREATE ROLE gs_err_writer")
        c.execute("GRANT USAGE, CREATE ON SCHEMA app TO gs_err_owner")
        c.execute("GRANT USAGE ON SCHEMA app TO gs_err_writer")
        c.execute("CREATE TABLE app.slow_owned (id int PRIMARY KEY, name text)")
        c.execute("ALTER TABLE app.slow_owned OWNER TO gs_err_owner")
        c.execute("INSERT INTO app.slow_owned SELECT g, 'abcdefghij' FROM generate_series(1, 100) g")
        c.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON app.slow_owned TO gs_err_writer")
        c.execute("SELECT graph.add_table('app.slow_owned', columns => '{name}', row_filter => %s)",
                  (SLOW_FILTER,))
        logged = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        try:
            c.execute(f"SET ROLE gs_err_{writer}")
            for write in SLOW_WRITES.values():
                write = write.format(t="app.slow_owned")
                c.execute("SET statement_timeout = '300ms'")
                err = error_of(c, write)
                c.execute("RESET statement_timeout")
                assert err.sqlstate == "57014", (write, err.diag.message_primary)
                assert_no_capture_text(err)
            c.execute("RESET ROLE")
            assert c.execute("SELECT count(*) FROM app.slow_owned").fetchone() == (100,)
            assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone() == (logged,)
        finally:
            c.execute("RESET statement_timeout")
            c.execute("RESET ROLE")
            c.execute("SELECT graph.remove_table('app.slow_owned')")
            c.execute("DROP TABLE app.slow_owned")
            for role in ("gs_err_owner", "gs_err_writer"):
                c.execute(f"DROP OWNED BY {role}")
                c.execute(f"DROP ROLE {role}")


def test_every_public_function_passes_errors_on_without_internals(app):
    """The tests above provoke errors of the public functions there were; this keeps the
    rule for every one: none is PL/Python (its errors carry a traceback), every
    PL/pgSQL one re-raises (GET STACKED DIAGNOSTICS), and a SQL one calls no internal
    function (its own CONTEXT names only itself)."""
    with connect(app) as c:
        rows = c.execute("""SELECT p.proname, l.lanname, p.prosrc FROM pg_proc AS p
                            JOIN pg_language AS l ON l.oid = p.prolang
                            WHERE p.pronamespace = 'graph'::regnamespace AND p.proname !~ '^_'""").fetchall()
    assert len(rows) >= 30
    wrong = [name for name, lang, src in rows
             if lang == "plpython3u"
             or (lang == "plpgsql" and "GET STACKED DIAGNOSTICS" not in src)
             or (lang == "sql" and re.search(r"graph\._", src))]
    assert wrong == []
    # ... and every one cleans the message with the one helper, graph._error_message
    copied = [name for name, lang, src in rows
              if lang == "plpgsql" and ("graph._error_message(e_message)" not in src or "regexp_replace" in src)]
    assert copied == []


@pytest.mark.parametrize(("message", "clean"), [
    ("division by zero", "division by zero"),
    ("spiexceptions.DivisionByZero: division by zero", "division by zero"),
    ("spiexceptions.InsufficientPrivilege: spiexceptions.InsufficientPrivilege: graphsync: no",
     "graphsync: no"),
    ("plpy.SPIError: spiexceptions.QueryCanceled: canceling statement", "canceling statement"),
    ("a value spiexceptions.X: inside stays", "a value spiexceptions.X: inside stays"),
    ("spiexceptions.X:no space", "spiexceptions.X:no space"),
    ("", ""),
    (None, None),
])
def test_the_error_message_helper_strips_only_pl_python_s_leading_prefixes(app, message, clean):
    """graph._error_message: what every public PL/pgSQL wrapper hands on as the message;
    PUBLIC may run it (the reads' wrappers run as their caller)."""
    with connect(app) as c:
        assert c.execute("SELECT graph._error_message(%s)", (message,)).fetchone()[0] == clean
        c.execute("SET ROLE gs_err_reader")
        assert c.execute("SELECT graph._error_message(message => %s)", (message,)).fetchone()[0] == clean


# Errors PostgreSQL raises under a statement graphsync runs in PL/Python (a plpy.SPIError
# leaving graph._<name>): PL/Python renders such an error "spiexceptions.<Type>: <message>";
# the caller gets PostgreSQL's own message, detail and hint, with no such prefix.
RLS_TABLE = """
CREATE TABLE app.secrets (id int PRIMARY KEY, v text, ref int);
INSERT INTO app.secrets SELECT g, 'v' || g, nullif(g + 1, 4) FROM generate_series(1, 3) g;
ALTER TABLE app.secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_id ON app.secrets USING (1 / (id - 2) <> 0);  -- row 2: division by zero
SELECT graph.add_table('app.secrets', columns => '{v}');
SELECT graph.add_edge('app.secrets', 'ref', 'app.secrets', label => 'next');
SELECT graph.build();
"""


@pytest.fixture
def row_secured(app):
    with connect(app) as c:
        c.execute("CREATE ROLE gs_err_admin LOGIN IN ROLE graph_admin")
        c.execute(RLS_TABLE)
        c.execute("GRANT USAGE ON SCHEMA app TO gs_err_admin")
        c.execute("GRANT SELECT ON app.secrets TO gs_err_admin, gs_err_reader")
        # every other source too: an admin is refused a source it may not SELECT
        # before any row-level security is asked about (graph._source_name)
        for schema, table in c.execute(
                "SELECT n.nspname, t.relname FROM pg_class AS t JOIN pg_namespace AS n ON n.oid = t.relnamespace"
                " WHERE t.oid IN (SELECT table_oid FROM graph._node_tables UNION"
                " SELECT via_table FROM graph._edge_sources WHERE via_table IS NOT NULL)").fetchall():
            c.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO gs_err_admin").format(sql.Identifier(schema)))
            c.execute(sql.SQL("GRANT SELECT ON {}.{} TO gs_err_admin").format(sql.Identifier(schema),
                                                                             sql.Identifier(table)))
    try:
        yield app
    finally:
        with connect(app) as c:
            c.execute("SELECT graph.remove_table('app.secrets', cascade => true)")
            c.execute("DROP TABLE app.secrets")
            c.execute("DROP OWNED BY gs_err_admin")
            c.execute("DROP ROLE gs_err_admin")


@pytest.mark.parametrize("call", ["SELECT * FROM graph.build()", "SELECT * FROM graph.dangling_references()"])
def test_a_refusal_raised_by_postgresql_inside_keeps_its_own_words(row_secured, call):
    """build() and dangling_references() refuse (42501) an admin whom the source's
    row-level security applies to; the refusal is raised in SQL under PL/Python."""
    with connect(row_secured) as c:
        c.execute("SET ROLE gs_err_admin")
        err = error_of(c, call)
        c.execute("RESET ROLE")
    assert_clean(err, "42501", "row-level security")
    # the words graph._check_row_security raised, nothing before them
    assert err.diag.message_primary.startswith("graphsync: graph."), err.diag.message_primary
    assert err.diag.message_hint and "BYPASSRLS" in err.diag.message_hint


def test_a_read_passes_postgresql_s_error_on_in_its_own_words(row_secured):
    """A read as a reader the source's policy applies to runs the policy as the reader;
    the policy's own error (22012) reaches the reader as PostgreSQL raised it."""
    with connect(row_secured) as c:
        c.execute("SET ROLE gs_err_reader")
        err = error_of(c, "SELECT * FROM graph.traverse('app.secrets', '1', max_depth => 3, hydrate => true)")
        c.execute("RESET ROLE")
    assert_clean(err, "22012", "division by zero")
    assert err.diag.message_primary == "division by zero", err.diag.message_primary
