"""One home per setting: plpython/graphsync/settings.py declares every graph.* setting
(default, allowed values, scope, meaning); Python reads them through settings.get,
SQL through graph._setting. A bad value is 22023 naming what is allowed, through
every public function that reads it; an unset (or empty) one is its default; the
README's Settings table says the same as the declaration."""

from __future__ import annotations

import re
import sys

import psycopg
import pytest

from conftest import ROOT, connect
from test_errors import assert_clean

sys.path.insert(0, str(ROOT / "plpython"))

from graphsync import settings  # noqa: E402

SETTINGS = settings.SETTINGS


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute("CREATE TABLE items (id int PRIMARY KEY, name text, parent int)")
        c.execute("INSERT INTO items SELECT g, 'i' || g, NULLIF(g - 1, 0) FROM generate_series(1, 10) g")
        c.execute("SELECT graph.add_table('items', columns => '{name}')")
        c.execute("SELECT graph.add_edge('items', 'parent', 'items')")
        c.execute("SELECT graph.build()")
    return db


# (setting, a bad value, a public call that reads the setting). Every setting that
# can hold a bad value is here (test_every_setting_with_a_bad_value_is_covered).
BAD = [
    ("graph.sync_batch_size", "0", "SELECT * FROM graph.apply_sync()"),
    ("graph.sync_batch_size", "lots", "SELECT * FROM graph.sync_health()"),
    ("graph.edge_buffer_size", "-5", "SELECT * FROM graph.apply_sync()"),
    ("graph.edge_buffer_size", "3000000000", "SELECT * FROM graph.sync_health()"),
    ("graph.edge_buffer_size", "1e6", "SELECT * FROM graph.retry_failed()"),
    ("graph.rebuild_backlog_rows", "0", "SELECT * FROM graph.apply_sync()"),
    ("graph.rebuild_backlog_rows", "many", "SELECT * FROM graph.run_scheduled_maintenance()"),
    ("graph.sync_error_policy", "ignore", "SELECT * FROM graph.apply_sync()"),
    ("graph.sync_error_policy", "STOP", "SELECT * FROM graph.sync_health()"),
    ("graph.query_freshness", "sometimes", "SELECT * FROM graph.traverse('items', '1')"),
    ("graph.query_freshness", "sometimes", "SELECT * FROM graph.connected_components()"),
    ("graph.query_freshness", "sometimes", "SELECT * FROM graph.sync_health()"),
    ("graph.max_staleness", "a while", "SELECT * FROM graph.traverse('items', '1')"),
    ("graph.max_staleness", "-1 second", "SELECT * FROM graph.shortest_path('items', '1', 'items', '3')"),
    ("graph.rebuild_overlay_fraction", "1.5", "SELECT * FROM graph.sync_health()"),
    ("graph.rebuild_overlay_fraction", "0", "SELECT * FROM graph.run_scheduled_maintenance()"),
    ("graph.rebuild_tombstone_fraction", "half", "SELECT * FROM graph.sync_health()"),
    ("graph.rebuild_tombstone_fraction", "nan", "SELECT * FROM graph.reconcile()"),
    ("graph.verify_interval", "weekly", "SELECT * FROM graph.run_scheduled_maintenance()"),
    ("graph.verify_interval", "-1 day", "SELECT * FROM graph.vacuum()"),
    ("graph.log_retention", "-1 hour", "SELECT graph.prune_sync_log()"),
    ("graph.log_retention", "forever", "SELECT * FROM graph.run_scheduled_maintenance()"),
    ("graph.job_retention", "forever", "SELECT * FROM graph.run_scheduled_maintenance()"),
    ("graph.notify_queue_limit", "0", "SELECT * FROM graph.apply_sync()"),
    ("graph.notify_queue_limit", "full", "SELECT * FROM graph.build()"),
    ("graph.read_apply", "readers", "SELECT * FROM graph.sync_health()"),
]


def _case_id(case):
    name, value, call = case
    return "%s=%s-%s" % (name, value, re.search(r"graph\.(\w+)\(", call).group(1))


@pytest.mark.parametrize(("name", "value", "call"), BAD, ids=[_case_id(b) for b in BAD])
def test_a_bad_value_is_22023_naming_what_is_allowed(graph_db, name, value, call):
    s = SETTINGS[name]
    with connect(graph_db) as c:
        jobs = c.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0]
        c.execute("SELECT set_config(%s, %s, false)", [name, value])
        with pytest.raises(psycopg.Error) as info:
            c.execute(call)
        err = info.value
        assert_clean(err, "22023", name)
        assert s.allowed() in err.diag.message_primary
        for choice in s.choices:
            assert choice in err.diag.message_primary
        assert repr(value) in err.diag.message_primary
        default = "no value" if s.default is None else f"the default, {s.default}"
        assert err.diag.message_hint == f"SET {name} to a valid value, or RESET it for {default}."
        c.execute(f"RESET {name}")
        # A maintenance run checks the settings before it starts: no job row, nothing done.
        assert c.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0] == jobs
        c.execute(call)  # the default works


def test_every_setting_with_a_bad_value_is_covered():
    covered = {b[0] for b in BAD}
    free_text = {name for name, s in SETTINGS.items() if s.kind == "text"}
    assert free_text == {"graph.tenant"}  # any text is a tenant
    assert covered | free_text == set(SETTINGS)


def test_the_accessor_validates_and_refuses_unknown_names(graph_db):
    with connect(graph_db) as c:
        c.execute("SET graph.sync_batch_size = 'x'")
        assert_clean(pytest.raises(psycopg.Error, c.execute, "SELECT graph._setting('graph.sync_batch_size')").value,
                     "22023", "graph.sync_batch_size must be an integer from 1 to 2147483647, not 'x'", public=False)
        assert_clean(pytest.raises(psycopg.Error, c.execute, "SELECT graph._setting('graph.nope')").value,
                     "22023", "graph.nope is not a graphsync setting", public=False)
        # Through a public function the same error names nothing internal.
        assert_clean(pytest.raises(psycopg.Error, c.execute, "SELECT * FROM graph.sync_health()").value,
                     "22023", "graph.sync_batch_size must be an integer from 1 to 2147483647, not 'x'")


DEFAULTS = {
    "graph.sync_batch_size": "10000", "graph.edge_buffer_size": "100000", "graph.rebuild_backlog_rows": "100000",
    "graph.sync_error_policy": "stop",
    "graph.query_freshness": "apply_pending_sync", "graph.max_staleness": None, "graph.tenant": None,
    "graph.rebuild_overlay_fraction": "0.5",
    "graph.rebuild_tombstone_fraction": "0.25", "graph.verify_interval": "1 day", "graph.log_retention": "1 hour",
    "graph.job_retention": "7 days", "graph.notify_queue_limit": "0.5", "graph.read_apply": "everyone",
}


@pytest.mark.parametrize("unset", ["RESET {}", "SET {} = ''"])
def test_unset_or_empty_is_the_default(graph_db, unset):
    assert set(DEFAULTS) == set(SETTINGS)
    with connect(graph_db) as c:
        for name, expected in DEFAULTS.items():
            c.execute("SELECT set_config(%s, 'bad', false)", [name])  # then unset it again
            c.execute(unset.format(name))
            assert c.execute("SELECT graph._setting(%s)", [name]).fetchone()[0] == expected, name
        health = c.execute("SELECT query_freshness, sync_batch_size, sync_error_policy, edge_buffer_size"
                           " FROM graph.sync_health()").fetchone()
        assert health == ("apply_pending_sync", 10000, "stop", 100000)
        assert c.execute("SELECT graph._setting('graph.tenant')").fetchone()[0] is None


def test_valid_values_take_effect(graph_db):
    with connect(graph_db) as c:
        c.execute("SET graph.verify_interval = 'OFF'")
        assert c.execute("SELECT graph._setting('graph.verify_interval')").fetchone()[0] == "off"
        c.execute("SET graph.verify_interval = '0'")
        assert c.execute("SELECT graph._setting('graph.verify_interval')").fetchone()[0] == "0"
        assert c.execute("SELECT differences FROM graph.run_scheduled_maintenance()").fetchone()[0] == 0
        c.execute("SET graph.verify_interval = 'off'")
        assert c.execute("SELECT differences FROM graph.run_scheduled_maintenance()").fetchone()[0] is None
        c.execute("RESET graph.verify_interval")
        c.execute("UPDATE items SET name = name || '!'")
        c.execute("SET graph.sync_batch_size = ' 3 '")
        assert c.execute("SELECT batches FROM graph.apply_sync()").fetchone()[0] == 4  # 10 rows, then none
        c.execute("SET graph.rebuild_overlay_fraction = 1")
        assert c.execute("SELECT graph._setting('graph.rebuild_overlay_fraction')").fetchone()[0] == "1.0"
        c.execute("RESET ALL")


def test_a_database_setting_applies_to_new_sessions(graph_db):
    with connect(graph_db) as c:
        c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.sync_error_policy = 'skip'")
        try:
            with connect(graph_db) as fresh:
                assert fresh.execute("SELECT sync_error_policy FROM graph.sync_health()").fetchone() == ("skip",)
        finally:
            c.execute(f"ALTER DATABASE {c.info.dbname} RESET graph.sync_error_policy")


def test_session_settings_are_the_ones_that_only_change_the_callers_reads():
    assert {n for n, s in SETTINGS.items() if s.scope == "session"} == {"graph.query_freshness",
                                                                        "graph.max_staleness", "graph.tenant"}
    assert {s.scope for s in SETTINGS.values()} == {"session", "shared"}


def _readme_settings_table() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n### Settings\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == ["setting", "default", "allowed", "scope", "meaning"]
    assert set(rows[1].replace("|", "").split()) == {"---"}
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def test_the_readme_table_is_the_declaration():
    expected = [[f"`{s.name}`", "(none)" if s.default is None else f"`{s.default}`", s.allowed(), s.scope,
                 s.meaning] for s in SETTINGS.values()]
    assert _readme_settings_table() == expected


def test_no_other_file_reads_a_graph_setting_or_repeats_its_default():
    """SQL reads settings through graph._setting, Python through settings.get. One
    exception: reads/start.py reads the three per-session settings (graph.query_freshness,
    graph.max_staleness, graph.tenant) inside the read's single round trip, and parses them with the
    declaration (settings.parse, the declared defaults), repeating no default."""
    reads = re.compile(r"current_setting\s*\(\s*'graph\.")
    start = ROOT / "plpython" / "graphsync" / "reads" / "start.py"
    offenders = []
    for path in [*(ROOT / "sql").rglob("*.sql"), *(ROOT / "plpython").rglob("*.py")]:
        if path != start and reads.search(path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    if start.exists() and reads.search(start.read_text()):
        text = start.read_text()
        assert "settings.parse(" in text and "FRESHNESS.default" in text
    # settings.py reads through one parameterised query, not a literal name.
    assert "current_setting($1, true)" in (ROOT / "plpython" / "graphsync" / "settings.py").read_text()
