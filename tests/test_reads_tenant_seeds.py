"""A read kept to a tenant and its seeds: a seed of a table with a tenant column is
kept to the tenant like every node (outside it, no row at all), a seed of a table
without one is returned whatever the tenant; and a tenant no node has is read as
any other tenant is, at rest, folding pending rows and through graph.tenant."""

from __future__ import annotations

import psycopg
import pytest

from conftest import apply, connect

SCHEMA = """
CREATE SCHEMA ts;
CREATE TABLE ts.countries (id int PRIMARY KEY, name text);
CREATE TABLE ts.orgs (id int PRIMARY KEY, ws text NOT NULL);
CREATE TABLE ts.people (id int PRIMARY KEY, ws text NOT NULL, org_id int REFERENCES ts.orgs,
                        country_id int REFERENCES ts.countries);
INSERT INTO ts.countries VALUES (1, 'fr');
INSERT INTO ts.orgs VALUES (10, 'acme'), (20, 'globex');
INSERT INTO ts.people VALUES (100, 'acme', 10, 1), (101, 'acme', 10, 1), (200, 'globex', 20, 1);
SELECT graph.add_table('ts.countries', columns => '{name}');
SELECT graph.add_table('ts.orgs', tenant_column => 'ws');
SELECT graph.add_table('ts.people', tenant_column => 'ws');
SELECT graph.add_edge('ts.people', 'org_id', 'ts.orgs', label => 'member_of');
SELECT graph.add_edge('ts.people', 'country_id', 'ts.countries', label => 'lives_in');
SELECT graph.build();
"""

TRAVERSE = ("SELECT node_table::text, node_id FROM graph.traverse(%s, %s, max_depth => 2, direction => 'any',"
            " tenant => %s) ORDER BY 1, 2")
SETTING = ("SELECT node_table::text, node_id FROM graph.traverse(%s, %s, max_depth => 2, direction => 'any')"
           " ORDER BY 1, 2")


@pytest.fixture(scope="module")
def ts(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def reads(c, table, key, tenant):
    """The traversal from (table, key) kept to ``tenant``: by the argument, and by graph.tenant."""
    by_argument = c.execute(TRAVERSE, (table, key, tenant)).fetchall()
    c.execute("SELECT pg_catalog.set_config('graph.tenant', %s, false)", (tenant,))
    try:
        by_setting = c.execute(SETTING, (table, key)).fetchall()
    finally:
        c.execute("RESET graph.tenant")
    assert by_setting == by_argument, (table, key, tenant)
    return by_argument


@pytest.mark.parametrize("tenant", ["globex", "nobody"])
def test_a_seed_of_another_tenant_known_or_not_returns_no_row(ts, tenant):
    with connect(ts) as c:
        assert reads(c, "ts.orgs", "10", "acme") == [
            ("ts.countries", "1"), ("ts.orgs", "10"), ("ts.people", "100"), ("ts.people", "101")]
        # the seed is of tenant acme: kept to another tenant, it is not returned, nor walked from
        assert reads(c, "ts.orgs", "10", tenant) == []
        assert c.execute("SELECT count(*) FROM graph.shortest_path('ts.people', '100', 'ts.orgs', '10',"
                         " tenant => %s)", (tenant,)).fetchone()[0] == 0


@pytest.mark.parametrize("tenant", ["globex", "nobody"])
def test_a_seed_of_a_table_without_a_tenant_column_is_returned_under_any_tenant(ts, tenant):
    with connect(ts) as c:
        expected = [("ts.countries", "1")] + ([("ts.orgs", "20"), ("ts.people", "200")] if tenant == "globex" else [])
        assert reads(c, "ts.countries", "1", tenant) == expected
        assert c.execute("SELECT node_table::text, node_id FROM graph.component_of('ts.countries', '1',"
                         " tenant => %s) ORDER BY 1, 2", (tenant,)).fetchall() == expected


def test_an_unknown_tenant_is_read_as_a_known_one_while_rows_are_pending(ts):
    """A pending row gives a tenant its first node: the read that folds it enters it, and
    the seed of the tenant nobody had is returned."""
    with connect(ts) as c, connect(ts) as w:
        w.execute("INSERT INTO ts.orgs VALUES (30, 'initech')")
        w.execute("INSERT INTO ts.people VALUES (300, 'initech', 30, 1)")
        w.execute("UPDATE ts.people SET ws = 'initech', org_id = 30 WHERE id = 101")
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")  # folded, not applied
            folded = reads(c, "ts.orgs", "30", "initech")
            moved = reads(c, "ts.orgs", "10", "acme")
            none = reads(c, "ts.orgs", "30", "nobody")
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] > 0
        assert folded == [("ts.countries", "1"), ("ts.orgs", "30"), ("ts.people", "101"), ("ts.people", "300")]
        assert moved == [("ts.countries", "1"), ("ts.orgs", "10"), ("ts.people", "100")]
        assert none == []
        apply(c)
        assert reads(c, "ts.orgs", "30", "initech") == folded
        assert reads(c, "ts.orgs", "10", "acme") == moved
        assert reads(c, "ts.orgs", "30", "nobody") == []


# Every read that takes a tenant argument, called with tenant => %s.
TENANT_READS = {
    "traverse": "SELECT * FROM graph.traverse('ts.orgs', '10', tenant => %s)",
    "traverse (many seeds)": ("SELECT * FROM graph.traverse(seed_tables => '{ts.orgs}', seed_ids => '{10}',"
                              " tenant => %s)"),
    "traverse_search": "SELECT * FROM graph.traverse_search('name', 'fr', tenant => %s)",
    "shortest_path": "SELECT * FROM graph.shortest_path('ts.people', '100', 'ts.orgs', '10', tenant => %s)",
    "weighted_shortest_path": ("SELECT * FROM graph.weighted_shortest_path('ts.people', '100', 'ts.orgs', '10',"
                               " tenant => %s)"),
    "connected_components": "SELECT * FROM graph.connected_components(tenant => %s)",
    "component_stats": "SELECT * FROM graph.component_stats(tenant => %s)",
    "component_of": "SELECT * FROM graph.component_of('ts.orgs', '10', tenant => %s)",
    "search": "SELECT * FROM graph.search('name', 'fr', tenant => %s)",
    "export_dot": "SELECT graph.export_dot('ts.orgs', '10', tenant => %s)",
    "export_graphml": "SELECT graph.export_graphml('ts.orgs', '10', tenant => %s)",
    "export_mermaid": "SELECT graph.export_mermaid('ts.orgs', '10', tenant => %s)",
}


@pytest.mark.parametrize("read", sorted(TENANT_READS))
def test_an_empty_tenant_argument_is_refused(ts, read):
    """graph.tenant = '' means no tenant (a setting cannot tell '' from unset), so the
    argument '' would keep the read to a tenant named '' where the setting keeps it to
    none: an unchecked empty string read differently in the two places. It is refused,
    and NULL (the setting) still reads."""
    with connect(ts) as c:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
            c.execute(TENANT_READS[read], ("",))
        assert "tenant must not be empty" in e.value.diag.message_primary, read
        assert "NULL" in e.value.diag.message_hint and "graph.tenant" in e.value.diag.message_hint
        c.execute(TENANT_READS[read], (None,)).fetchall()
        c.execute(TENANT_READS[read], ("acme",)).fetchall()


def test_an_empty_graph_tenant_setting_is_no_tenant(ts):
    """The control: SET graph.tenant = '' (as after RESET) reads every tenant, as NULL does."""
    with connect(ts) as c:
        everyone = c.execute(SETTING, ("ts.orgs", "10")).fetchall()
        c.execute("SET graph.tenant = ''")
        assert c.execute(SETTING, ("ts.orgs", "10")).fetchall() == everyone
        assert c.execute(TRAVERSE, ("ts.orgs", "10", None)).fetchall() == everyone
        assert ("ts.people", "200") not in everyone and ("ts.people", "100") in everyone
