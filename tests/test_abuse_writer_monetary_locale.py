"""A writer's lc_monetary never changes what capture logs.

Capture renders a captured row's key and properties as text in the writer's own
transaction, so it pins the settings that shape a value's text form (DateStyle,
TimeZone, IntervalStyle, extra_float_digits, bytea_output: graph._output_settings).
lc_monetary shapes money's, and any role may SET it: a writer of a registered table
whose session had another monetary locale logged '1.234,56 €' where build and verify
read '$1,234.56', and the graph drifted from its sources for everyone (a money
key named a node no build would find; a money property showed the writer's text).

Real roles: OWNER owns and writes wml.prices (no admin). Needs a locale other than
C whose money text differs (the test skips where the server has none).
"""

import psycopg
import pytest

from conftest import apply, as_role, connect, verify

OWNER = "gs_wml_owner"
CANDIDATES = ("de_DE.utf8", "de_DE.UTF-8", "fr_FR.utf8", "fr_FR.UTF-8", "nl_NL.utf8", "ru_RU.utf8",
              "pl_PL.utf8", "es_ES.utf8", "it_IT.utf8", "en_GB.utf8", "ja_JP.utf8")


def other_monetary_locale(c):
    """A locale the server accepts for lc_monetary whose money text is not C's, else None."""
    c.execute("SET lc_monetary = 'C'")
    plain = c.execute("SELECT 1234.56::money::text").fetchone()[0]
    names = [r[0] for r in c.execute("SELECT DISTINCT collcollate FROM pg_collation WHERE collcollate IS NOT NULL")]
    for name in list(CANDIDATES) + names:
        try:
            c.execute(psycopg.sql.SQL("SET lc_monetary = {}").format(psycopg.sql.Literal(name)))
        except psycopg.errors.InvalidParameterValue:
            continue
        if c.execute("SELECT 1234.56::money::text").fetchone()[0] != plain:
            c.execute("RESET lc_monetary")
            return name
    c.execute("RESET lc_monetary")
    return None


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        locale = other_monetary_locale(c)
        if locale is None:
            pytest.skip("the server has no locale whose money text differs from C's")
        c.execute(f"DROP ROLE IF EXISTS {OWNER}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE SCHEMA wml AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        o.execute("CREATE TABLE wml.prices (price money PRIMARY KEY, list money, parent money)")
        o.execute("INSERT INTO wml.prices VALUES (1, 10, NULL), (2, 20, 1)")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('wml.prices', columns => '{list}')")
        c.execute("SELECT graph.add_edge('wml.prices', 'parent', 'wml.prices')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db, locale
    with connect(db) as c:
        c.execute("DROP SCHEMA wml CASCADE")
        c.execute(f"DROP OWNED BY {OWNER}")
        c.execute(f"DROP ROLE {OWNER}")


def test_a_writers_monetary_locale_is_not_what_capture_logs(world):
    db, locale = world
    with as_role(db, OWNER) as o:
        o.execute(psycopg.sql.SQL("SET lc_monetary = {}").format(psycopg.sql.Literal(locale)))
        o.execute("INSERT INTO wml.prices VALUES (1234.56, 99.5, 2)")
        o.execute("UPDATE wml.prices SET list = 11.25 WHERE price = 1::money")
        o.execute("DELETE FROM wml.prices WHERE price = 2::money")  # and its edge to 1 goes with it
    with connect(db) as c:
        logged = c.execute("SELECT pk, properties FROM graph._sync_log WHERE table_oid = 'wml.prices'::regclass"
                           " ORDER BY id").fetchall()
        assert [pk for pk, _ in logged] == ["$1,234.56", "$1.00", "$2.00"]
        apply(c)
        assert verify(c) == []
