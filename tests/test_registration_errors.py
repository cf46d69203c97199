"""Registration input errors: each gets a clear message and a SQLSTATE and changes
nothing; hostile identifiers register and sync without running injected SQL; roles
outside graph_admin are refused the admin functions but their writes are captured."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import apply, connect, verify

OBJECTS = """
CREATE TABLE ok_a (id int PRIMARY KEY, name text, ref int, ref2 int, label_text text, w numeric);
CREATE TABLE ok_b (id int PRIMARY KEY, name text);
CREATE TABLE unreg (id int PRIMARY KEY, ref int);
CREATE TABLE nokey (a int, b text);
CREATE TABLE nullable_unique (a int UNIQUE, b text);
CREATE TABLE comp (x int, y int, PRIMARY KEY (x, y));
CREATE TABLE link (id int PRIMARY KEY, a int, b int, w text);
CREATE TABLE nokey_link (a int, b int);
CREATE TABLE ent (ws int, id int, props jsonb, kind text, deleted_at timestamptz, PRIMARY KEY (ws, id));
CREATE TABLE ent_link (id int PRIMARY KEY, ws int, a int, b text);
CREATE FUNCTION owner_says_yes(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT true';
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (x int, y int);
CREATE TABLE paired (id int PRIMARY KEY, p pair);
CREATE VIEW a_view AS SELECT * FROM ok_a;
CREATE MATERIALIZED VIEW a_matview AS SELECT 1 AS id;
CREATE SEQUENCE a_seq;
SELECT graph.add_table('ok_a', columns => '{name}');
SELECT graph.add_table('ok_b', columns => '{name}');
SELECT graph.add_table('comp');
SELECT graph.add_table('ent');
SELECT graph.add_edge('ok_a', 'ref', 'ok_b');
"""

# Everything registration may touch, as comparable text.
STATE = {
    "node_tables": "SELECT coalesce(string_agg(row(n.*)::text, E'\\n' ORDER BY table_oid), '')"
                   " FROM graph._node_tables AS n",
    "edge_sources": "SELECT coalesce(string_agg(row(e.*)::text, E'\\n' ORDER BY edge_source_id), '')"
                    " FROM graph._edge_sources AS e",
    "triggers": "SELECT coalesce(string_agg(format('%s %s %s %s', t.tgrelid::regclass, t.tgname, t.tgenabled,"
                " t.tgfoid::regprocedure), E'\\n' ORDER BY t.tgrelid, t.tgname), '')"
                " FROM pg_trigger AS t WHERE NOT t.tgisinternal",
    "capture_functions": "SELECT coalesce(string_agg(p.proname || md5(p.prosrc), ',' ORDER BY p.proname), '')"
                         " FROM pg_proc AS p WHERE p.pronamespace = 'graph'::regnamespace"
                         " AND p.proname LIKE '\\_capture\\_%'",
    "sync_state": "SELECT row(build_required, generation, applied_sync_id)::text FROM graph._sync_state",
    "log": "SELECT count(*) FROM graph._sync_log",
    "tables": "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
}


def state(c) -> dict:
    return {k: c.execute(q).fetchone()[0] for k, q in STATE.items()}


@pytest.fixture(scope="module")
def objects(db):
    with connect(db) as c:
        c.execute(OBJECTS)
    return db


CASES = [
    # (id, call, SQLSTATE, a fragment the message must contain)
    ("view", "SELECT graph.add_table('a_view')", "42809", "a_view"),
    ("materialized_view", "SELECT graph.add_table('a_matview')", "42809", "a_matview"),
    ("sequence", "SELECT graph.add_table('a_seq')", "42809", "a_seq"),
    ("graphsync_own_table", "SELECT graph.add_table('graph._sync_log')", "42809", "_sync_log"),
    ("missing_relation", "SELECT graph.add_table('no_such_table')", "42P01", "no_such_table"),
    ("null_table", "SELECT graph.add_table(NULL)", "22004", "NULL"),
    ("no_key", "SELECT graph.add_table('nokey')", "42P10", "nokey"),
    ("unique_on_nullable_column", "SELECT graph.add_table('nullable_unique')", "42P10", "nullable_unique"),
    ("id_columns_not_a_key", "SELECT graph.add_table('unreg', id_columns => '{ref}')", "42P10", "unreg"),
    ("unknown_property_column", "SELECT graph.add_table('unreg', columns => '{id,nope}')", "42703", "nope"),
    ("unknown_tenant_column", "SELECT graph.add_table('unreg', tenant_column => 'nope')", "42703", "nope"),
    ("unknown_id_column", "SELECT graph.add_table('unreg', id_columns => '{nope}')", "42703", "nope"),
    ("null_property_column", "SELECT graph.add_table('unreg', columns => ARRAY[NULL])", "42703", "NULL"),
    ("unknown_edge_column", "SELECT graph.add_edge('ok_a', 'nope', 'ok_b')", "42703", "nope"),
    ("unknown_weight_column", "SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', weight_column => 'nope')",
     "42703", "nope"),
    ("unknown_label_column", "SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', label_column => 'nope')",
     "42703", "nope"),
    ("unknown_join_column", "SELECT graph.add_edge('ok_a', 'a', 'ok_b', to_column => 'nope', via_table => 'link')",
     "42703", "nope"),
    ("unknown_filter_column", "SELECT graph.add_filter_column('ok_a', 'nope')", "42703", "nope"),
    ("duplicate_table", "SELECT graph.add_table('ok_a')", "42710", "ok_a"),
    ("duplicate_edge", "SELECT graph.add_edge('ok_a', 'ref', 'ok_b')", "42710", "already registered"),
    # the message names the edge source and its id
    ("duplicate_edge_named", "SELECT graph.add_edge('ok_a', 'ref', 'ok_b')", "42710", "ok_a.ref -> public.ok_b"),
    # a system catalog cannot carry triggers: registered, it was a node table nothing captured
    ("system_catalog", "SELECT graph.add_table('pg_catalog.pg_namespace')", "42809", "system catalog"),
    # a temporary table is one session's: it went at the session's end and build failed on it
    ("temporary_table", "CREATE TEMP TABLE tmp_t (id int PRIMARY KEY); SELECT graph.add_table('tmp_t')",
     "42809", "temporary"),
    ("null_from_table", "SELECT graph.add_edge(NULL, 'ref', 'ok_b')", "22004", "from_table must not be NULL"),
    ("null_to_table", "SELECT graph.add_edge('ok_a', 'ref2', NULL)", "22004", "to_table must not be NULL"),
    ("null_table_to_remove", "SELECT graph.remove_table(NULL)", "22004", "must not be NULL"),
    ("null_filter_column_table", "SELECT graph.add_filter_column(NULL, 'name')", "22004", "must not be NULL"),
    ("null_edge_source_id", "SELECT graph.alter_edge(NULL, label => 'x')", "22004", "edge_source_id"),
    ("text_weight", "SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', weight_column => 'label_text')",
     "42804", "label_text"),
    ("text_weight_join", "SELECT graph.add_edge('ok_a', 'a', 'ok_b', to_column => 'b', via_table => 'link',"
     " weight_column => 'w')", "42804", "not numeric"),
    ("unregistered_from_table", "SELECT graph.add_edge('unreg', 'ref', 'ok_b')", "55000", "unreg"),
    ("unregistered_to_table", "SELECT graph.add_edge('ok_a', 'ref2', 'unreg')", "55000", "unreg"),
    ("unregistered_join_end", "SELECT graph.add_edge('unreg', 'a', 'ok_b', to_column => 'b', via_table => 'link')",
     "55000", "unreg"),
    ("join_table_without_key", "SELECT graph.add_edge('ok_a', 'a', 'ok_b', to_column => 'b',"
     " via_table => 'nokey_link')", "42P10", "nokey_link"),
    ("join_table_is_a_view", "SELECT graph.add_edge('ok_a', 'a', 'ok_b', to_column => 'b', via_table => 'a_view')",
     "42809", "a_view"),
    ("to_column_not_the_key", "SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', to_column => 'name')",
     "42P10", "name"),
    # One column for a key of two: an arity mismatch, with a hint naming from_columns.
    ("fk_edge_to_composite_key", "SELECT graph.add_edge('ok_a', 'ref2', 'comp')", "42P10", "comp"),
    ("composite_arity", "SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,id,ws}')", "42P10", "comp"),
    ("composite_join_arity", "SELECT graph.add_edge('ent', NULL, 'comp', via_table => 'ent_link',"
     " from_columns => '{a}', to_columns => '{ws,a}')", "42P10", "ent"),
    ("composite_unknown_column", "SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,nope}')",
     "42703", "nope"),
    ("composite_type_mismatch", "SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,kind}')",
     "42804", "kind"),
    ("join_type_mismatch", "SELECT graph.add_edge('ent', NULL, 'comp', via_table => 'ent_link',"
     " from_columns => '{ws,a}', to_columns => '{ws,b}')", "42804", "b"),
    ("from_column_and_from_columns", "SELECT graph.add_edge('ent', 'ws', 'comp', from_columns => '{ws,id}')",
     "22023", "exactly one"),
    ("neither_from_column_nor_from_columns", "SELECT graph.add_edge('ent', NULL, 'comp')", "22004", "exactly one"),
    ("json_path_on_text_column", "SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,kind}',"
     " json_path => '{x}')", "42804", "jsonb"),
    ("json_path_on_int_column", "SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', json_path => '{x}')", "42804", "jsonb"),
    ("filter_unknown_column", "SELECT graph.add_table('unreg', row_filter => 'nope IS NULL')", "42703", "nope"),
    ("filter_subquery", "SELECT graph.add_table('unreg', row_filter => 'ref IN (SELECT 1)')", "42P17", "subquery"),
    ("filter_other_table", "SELECT graph.add_table('unreg', row_filter => 'ref IN (SELECT id FROM public.ok_b)')",
     "42P17", "ok_b"),
    ("filter_volatile", "SELECT graph.add_table('unreg', row_filter => 'random() > 0.5')", "42P17", "IMMUTABLE"),
    ("filter_stable", "SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,id}',"
     " row_filter => 'deleted_at < now()')", "42P17", "IMMUTABLE"),
    ("filter_aggregate", "SELECT graph.add_table('unreg', row_filter => 'count(*) > 0')", "42P17", "aggregate"),
    ("filter_owner_function", "SELECT graph.add_table('unreg', row_filter => 'public.owner_says_yes(ref)')",
     "42P17", "owner_says_yes"),
    ("filter_owner_domain", "SELECT graph.add_table('unreg', row_filter => 'ref::public.positive > 1')",
     "42P17", "positive"),
    ("filter_on_a_composite_column", "SELECT graph.add_table('paired', row_filter => 'p IS NULL')", "42P17", "pair"),
    ("filter_not_boolean", "SELECT graph.add_table('unreg', row_filter => 'ref + 1')", "42804", "boolean"),
    # the row filter's errors name the filter and its table, whichever check refused it
    ("filter_unknown_column_named", "SELECT graph.add_table('unreg', row_filter => 'nope IS NULL')",
     "42703", "row filter nope IS NULL of public.unreg"),
    ("filter_not_boolean_named", "SELECT graph.add_table('unreg', row_filter => 'ref + 1')",
     "42804", "row filter ref + 1 of public.unreg"),
    ("filter_stable_named", "SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,id}',"
     " row_filter => 'deleted_at < now()')", "42P17", "row filter deleted_at < now() of public.ent"),
    ("filter_two_statements", "SELECT graph.add_table('unreg', row_filter => 'true; DROP TABLE ok_b')",
     "22023", "one boolean expression"),
    ("remove_unknown_edge", "SELECT graph.remove_edge('ok_b', 'name', 'ok_a')", "42704", "ok_b"),
    ("remove_unknown_join_edge", "SELECT graph.remove_edge('ok_a', 'ref', 'ok_b', via_table => 'link')",
     "42704", "ok_a"),
    ("remove_table_with_edges", "SELECT graph.remove_table('ok_b')", "2BP01", "ok_b"),
    ("remove_table_with_edges_from_it", "SELECT graph.remove_table('ok_a', cascade => false)", "2BP01", "ok_a"),
    # NULL is not true: the edge sources stay, and so does the table (it had cascaded)
    ("remove_table_cascade_null", "SELECT graph.remove_table('ok_b', cascade => NULL)", "2BP01", "ok_b"),
    # an empty label, as alter_edge refuses it (add_edge registered it)
    ("empty_label", "SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', label => '')", "22023", "label"),
    ("remove_unregistered_table", "SELECT graph.remove_table('unreg')", "55000", "unreg"),
    ("negative_max_batches", "SELECT * FROM graph.apply_sync(max_batches => -1)", "22023", "max_batches"),
    ("negative_retention", "SELECT graph.prune_sync_log('-1 hour')", "22023", "retention"),
    ("filter_column_of_unregistered_table", "SELECT graph.add_filter_column('unreg', 'ref')", "55000", "unreg"),
    # a column named twice is a mistake, not a wish to have it once
    ("duplicate_property_column", "SELECT graph.add_table('unreg', columns => '{ref,id,ref}')", "42701", "ref"),
    ("duplicate_id_column", "SELECT graph.add_table('unreg', id_columns => '{id,id}')", "42701", "id"),
    ("duplicate_added_property", "SELECT graph.alter_table('ok_a', add_properties => '{ref,ref}')", "42701", "ref"),
    ("duplicate_removed_property", "SELECT graph.alter_table('ok_a', remove_properties => '{name,name}')",
     "42701", "name"),
    ("duplicate_added_filter_column", "SELECT graph.alter_table('ok_a', add_filter_columns => '{ref2,ref2}')",
     "42701", "ref2"),
    ("duplicate_property_and_filter", "SELECT graph.alter_table('ok_a', add_properties => '{ref}',"
     " add_filter_columns => '{w,w}')", "42701", "w"),
    # NULL is not true: a preview asked for by mistake with NULL registers nothing
    ("add_schema_preview_null", "SELECT * FROM graph.add_schema('public', preview => NULL)", "22004", "preview"),
]


@pytest.mark.parametrize(("call", "sqlstate", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_registration_is_refused_and_changes_nothing(objects, call, sqlstate, fragment):
    with connect(objects) as c:
        before = state(c)
        with pytest.raises(psycopg.Error) as info:
            c.execute(call)
        err = info.value
        assert err.sqlstate == sqlstate, f"{call}: {err.sqlstate} {err}"
        assert fragment in str(err), f"{call}: message does not name {fragment!r}: {err}"
        assert state(c) == before


def test_the_valid_calls_next_to_the_errors_succeed(objects):
    """Controls for the cases above: the same objects, used correctly, register."""
    with connect(objects) as c:
        with c.transaction():
            before = state(c)
            c.execute("SELECT graph.add_table('unreg', columns => '{ref}', row_filter => 'ref IS NOT NULL')")
            c.execute("SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,id}',"
                      " row_filter => 'deleted_at IS NULL AND kind <> ''archived''')")
            c.execute("SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,props}', json_path => '{x}')")
            c.execute("SELECT graph.add_edge('ent', NULL, 'comp', via_table => 'ent_link', from_columns => '{ws,a}',"
                      " to_columns => '{ws,a}')")
            c.execute("SELECT graph.add_edge('ok_a', 'ref2', 'ok_b', weight_column => 'w',"
                      " label_column => 'label_text')")
            c.execute("SELECT graph.add_edge('ok_a', 'a', 'ok_b', to_column => 'b', via_table => 'link')")
            c.execute("SELECT graph.add_filter_column('ok_a', 'label_text')")
            # a column repeated in from_columns is no mistake: a foreign key may name one twice
            c.execute("SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,ws}')")
            # NULL flags are false, never true: a one-way edge; the row filter kept
            e = c.execute("SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{id,ws}',"
                          " bidirectional => NULL)").fetchone()[0]
            assert c.execute("SELECT bidirectional FROM graph._edge_sources WHERE edge_source_id = %s",
                             (e,)).fetchone()[0] is False
            c.execute("SELECT graph.alter_table('unreg', clear_row_filter => NULL)")
            assert c.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = 'unreg'::regclass"
                             ).fetchone()[0] is not None
            triggers = {r[0] for r in c.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'link'::regclass")}
            # no subscription applies to it: no replica capture (row triggers)
            assert triggers == {f"graphsync_capture_{op}" for op in ("insert", "update", "delete", "truncate")}
            c.execute("SELECT graph.remove_edge('ok_a', 'ref', 'ok_b')")
            c.execute("SELECT graph.remove_table('ok_b', cascade => true)")
            assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('link'::regclass, 'ok_b'::regclass)"
                             ).fetchone()[0] == 0
            assert state(c) != before
            raise psycopg.Rollback()
        assert state(c) == before


def test_registering_with_row_filters_sends_only_graphsync_notices(objects):
    """Registration's own checks print nothing: the row filter check's scratch table
    and capture's function were dropped IF EXISTS, and PostgreSQL's 'does not exist,
    skipping' NOTICEs (a dozen for the README's modelling example) reached the caller."""
    with connect(objects) as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        with c.transaction():
            c.execute("SELECT graph.add_table('unreg', row_filter => 'ref IS NOT NULL')")
            c.execute("SELECT graph.add_edge('ent', NULL, 'comp', from_columns => '{ws,id}',"
                      " row_filter => 'deleted_at IS NULL')")
            c.execute("SELECT graph.remove_table('unreg')")
            raise psycopg.Rollback()
        assert [n for n in notices if not n.startswith("graphsync")] == []


def test_a_weight_column_is_refused_unless_build_and_replay_can_use_it(conn):
    """money is in the numeric type category but has no cast to float8 from its text
    form: registration must refuse it (42804), or build and replay must handle it."""
    c = conn
    c.execute("CREATE TABLE priced (id int PRIMARY KEY, ref int, price money)")
    c.execute("INSERT INTO priced VALUES (1, NULL, 1), (2, 1, 2.5)")
    c.execute("SELECT graph.add_table('priced')")
    before = state(c)
    try:
        c.execute("SELECT graph.add_edge('priced', 'ref', 'priced', weight_column => 'price')")
    except psycopg.Error as err:
        assert err.sqlstate == "42804", f"{err.sqlstate} {err}"
        assert state(c) == before
        return
    try:
        c.execute("SELECT graph.build()")
        c.execute("INSERT INTO priced VALUES (3, 2, 7.25)")
        result = apply(c)
        assert result["failed"] == 0, result
        assert verify(c) == []
    finally:
        c.execute("SELECT graph.remove_table('priced', cascade => true)")


# Hostile identifiers -------------------------------------------------------------------

INJECT = "; drop table public.canary;--"
SCHEMA = f's"{INJECT}'
TABLE = f'we"ird{INJECT}'
LINK = f"li'nk {INJECT} $$"
ID, NAME, REF, W, LABEL, TENANT = (f'i"d{INJECT}', "na'me); drop table public.canary;--", f'r"ef {INJECT}',
                                  f"w')::int{INJECT}", "lab$$el$x$", 'Ten ant "')
FROM_, TO_ = 'fr"om', "t'o);--"


def test_identifiers_full_of_quotes_and_semicolons(conn, request):
    c = conn
    # the row-level (replica) capture functions are generated from these names too
    c.execute("SELECT graph.enable_replica_capture()")
    request.addfinalizer(lambda: conn.execute("SELECT graph.enable_replica_capture(enabled => false)"))
    q = sql.Identifier
    weird = sql.Identifier(SCHEMA, TABLE)
    link = sql.Identifier(SCHEMA, LINK)
    c.execute("CREATE TABLE canary (id int)")
    c.execute(sql.SQL("CREATE SCHEMA {}").format(q(SCHEMA)))
    c.execute(sql.SQL("CREATE TABLE {} ({} int PRIMARY KEY, {} text, {} int, {} numeric, {} text, {} text)").format(
        weird, q(ID), q(NAME), q(REF), q(W), q(LABEL), q(TENANT)))
    c.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, {} int, {} int)").format(link, q(FROM_), q(TO_)))
    c.execute(sql.SQL("INSERT INTO {} SELECT g, 'it''s; \"' || g, 1 + g % 10, g % 3, 'l;' || g % 2, 't' || g % 2"
                      " FROM generate_series(1, 10) g").format(weird))
    c.execute(sql.SQL("INSERT INTO {} SELECT g, g, 1 + g % 10 FROM generate_series(1, 10) g").format(link))
    name = weird.as_string(c)
    link_name = link.as_string(c)
    c.execute("SELECT graph.add_table(%s::regclass, columns => ARRAY[%s], tenant_column => %s)", (name, NAME, TENANT))
    c.execute("SELECT graph.add_filter_column(%s::regclass, %s)", (name, LABEL))
    c.execute("SELECT graph.add_edge(%s::regclass, %s, %s::regclass, weight_column => %s, label_column => %s)",
              (name, REF, name, W, LABEL))
    c.execute("SELECT graph.add_edge(%s::regclass, %s, %s::regclass, to_column => %s, via_table => %s::regclass,"
              " bidirectional => true)", (name, FROM_, name, TO_, link_name))
    for table in (name, link_name):
        triggers = {r[0] for r in c.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass", (table,))}
        assert len(triggers) == 7, (table, triggers)  # 4 statement, 3 row (replica) triggers
    c.execute("SELECT graph.build()")
    assert verify(c) == []
    edges = c.execute("SELECT edge_count FROM graph._csr WHERE direction = 'out'").fetchone()[0]
    assert edges == 10 + 2 * 10
    assert c.execute("SELECT label FROM graph._edge_sources WHERE via_table = %s::regclass",
                     (link_name,)).fetchone()[0] == LINK

    c.execute(sql.SQL("INSERT INTO {} VALUES (100, 'new'';--', 1, 2.5, NULL, 'x')").format(weird))
    c.execute(sql.SQL("UPDATE {} SET {} = 101, {} = 'moved\"' WHERE {} = 1").format(weird, q(ID), q(NAME), q(ID)))
    c.execute(sql.SQL("UPDATE {} SET {} = 100, {} = 'z' WHERE {} = 2").format(weird, q(REF), q(LABEL), q(ID)))
    c.execute(sql.SQL("DELETE FROM {} WHERE {} = 3").format(weird, q(ID)))
    c.execute(sql.SQL("UPDATE {} SET {} = 100 WHERE id = 4").format(link, q(TO_)))
    c.execute(sql.SQL("DELETE FROM {} WHERE id = 5").format(link))
    logged = c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]
    assert logged == 6
    result = apply(c)
    assert result["failed"] == 0 and result["stopped"] is None
    assert verify(c) == []
    assert c.execute("SELECT to_regclass('public.canary') IS NOT NULL").fetchone()[0]
    props = c.execute("SELECT properties FROM graph._nodes WHERE table_oid = %s::regclass AND pk = '101'",
                      (name,)).fetchone()[0]
    assert props == {NAME: 'moved"', LABEL: "l;1"}

    c.execute("SELECT graph.remove_table(%s::regclass, cascade => true)", (name,))
    left = c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid IN (%s::regclass, %s::regclass)",
                     (name, link_name)).fetchone()[0]
    assert left == 0
    assert c.execute("SELECT to_regclass('public.canary') IS NOT NULL").fetchone()[0]


# Privileges ----------------------------------------------------------------------------


def _as_role(server, dsn, role):
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = role
    return connect(psycopg.conninfo.make_conninfo(**params))


@pytest.fixture
def roles(server, db):
    """A plain writer role and a graph_admin member role, both LOGIN and not superuser."""
    suffix = uuid.uuid4().hex[:8]
    writer, admin = f"gs_writer_{suffix}", f"gs_admin_{suffix}"
    with connect(server.admin_dsn) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(writer)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE graph_admin").format(sql.Identifier(admin)))
    yield writer, admin
    with connect(db) as c:
        for r in (writer, admin):
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
    with connect(server.admin_dsn) as c:
        for r in (writer, admin):
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


NOT_ADMIN_CALLS = [
    "SELECT graph.add_table('priv_t')",
    "SELECT graph.add_edge('priv_t', 'ref', 'priv_t')",
    "SELECT graph.add_filter_column('priv_t', 'name')",
    "SELECT graph.remove_table('priv_t')",
    "SELECT graph.remove_edge('priv_t', 'ref', 'priv_t')",
    "SELECT * FROM graph.apply_sync()",
    "SELECT * FROM graph.build()",
    "SELECT * FROM graph.verify()",
    "SELECT count(*) FROM graph._sync_log",
    "INSERT INTO graph._sync_log (op, table_oid, table_name) VALUES ('T', 0, 'x')",
    "DELETE FROM graph._sync_log",
    "UPDATE graph._sync_state SET read_only = true",
    "DELETE FROM graph._nodes",
    "DELETE FROM graph._node_rows",
    "SELECT count(*) FROM graph._node_rows",
    "DELETE FROM graph._node_tables",
]


def test_a_role_outside_graph_admin(server, db, roles):
    writer, _ = roles
    w = sql.Identifier(writer)
    with connect(db) as admin:
        admin.execute("CREATE TABLE priv_t (id int PRIMARY KEY, name text, ref int)")
        admin.execute("SELECT graph.add_table('priv_t', columns => '{name}')")
        admin.execute("SELECT graph.add_edge('priv_t', 'ref', 'priv_t')")
        admin.execute("SELECT graph.build()")
        admin.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON priv_t TO {}").format(w))
        before = state(admin)
        with _as_role(server, db, writer) as c:
            wrong = []
            for call in NOT_ADMIN_CALLS:
                try:
                    c.execute(call)
                    wrong.append(f"{call}: allowed")
                except psycopg.Error as err:
                    if err.sqlstate != "42501":
                        wrong.append(f"{call}: {err.sqlstate} {err}")
            assert wrong == []
            assert state(admin) == before

            c.execute("INSERT INTO priv_t SELECT g, 'n' || g, 1 + g % 5 FROM generate_series(1, 20) g")
            c.execute("UPDATE priv_t SET ref = NULL, id = 100 WHERE id = 1")
            c.execute("DELETE FROM priv_t WHERE id = 2")
            health = c.execute("SELECT pending_sync_rows, failed_sync_rows FROM graph.sync_health()").fetchone()
            assert health == (22, 0)
        logged = admin.execute("SELECT op, count(*) FROM graph._pending_log() GROUP BY op ORDER BY op").fetchall()
        assert logged == [("D", 1), ("I", 20), ("U", 1)]
        assert apply(admin)["inserts"] == 20
        assert verify(admin) == []

        with _as_role(server, db, writer) as c:
            c.execute("TRUNCATE priv_t")
            assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == 1
        assert apply(admin)["truncates"] == 1
        assert verify(admin) == []


def test_a_graph_admin_member_that_is_not_superuser(server, template, roles):
    """The control for the test above: membership in graph_admin is what grants the
    admin functions. The member registers, builds, applies and verifies a table it owns
    (in a database of its own: build reads every registered table, so it needs SELECT
    on all of them)."""
    _, member = roles
    name = "t_member_" + uuid.uuid4().hex[:8]
    db = server.create_database(name, template)
    with connect(db) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(member),
                                                                         sql.Identifier(member)))
    with _as_role(server, db, member) as c:
        assert c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
        c.execute("SET search_path = \"$user\"")
        c.execute("CREATE TABLE own_t (id int PRIMARY KEY, name text, ref int)")
        c.execute("INSERT INTO own_t VALUES (1, 'a', NULL), (2, 'b', 1)")
        c.execute("SELECT graph.add_table('own_t', columns => '{name}')")
        c.execute("SELECT graph.add_edge('own_t', 'ref', 'own_t')")
        c.execute("SELECT graph.build()")
        c.execute("INSERT INTO own_t VALUES (3, 'c', 2)")
        assert apply(c)["inserts"] == 1
        assert verify(c) == []
        c.execute("SELECT graph.remove_table('own_t', cascade => true)")
    server.drop_database(name)
