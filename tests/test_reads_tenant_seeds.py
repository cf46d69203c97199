"""A read kept to a tenant and its seeds: a seed of a table with a tenant column is
kept to the tenant like every node (outside it, no row at all), a seed of a table
without one is returned whatever the tenant; and a tenant no node has is read as
any other tenant is, at rest, folding pending rows and through graph.tenant."""

from __future__ import annotations

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
SELECT graph.add_table('ts.countries');
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
