"""Log rows that fail to apply, and the registered table they are rows of: the setup
tests/test_maintenance_failed_rows.py and tests/test_maintenance_locks.py share.

poison() makes the apply of a node row fail (a BEFORE trigger on graph._node_rows
raising, for the rows its condition picks: by default node 666) until cure();
register() makes a table of people with a self-referencing edge the only registered
table, built, with an empty log."""

CONDITION = "NEW.pk = '666'"
MESSAGE = "node 666 is cursed"


def poison_function(condition=CONDITION, message=MESSAGE):
    """The poison trigger's function (CREATE OR REPLACE: also to change what an
    installed poison() raises, or for which rows)."""
    return f"""
CREATE OR REPLACE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {condition} AND NEW.alive THEN RAISE EXCEPTION '{message}'; END IF;
    RETURN NEW;
END $$;
"""


def poison(condition=CONDITION, message=MESSAGE):
    """A live node row that ``condition`` picks fails to apply, raising ``message``."""
    return poison_function(condition, message) + """
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.poison();
"""


POISON = poison()
CURE = "DROP TRIGGER IF EXISTS poison ON graph._node_rows"


def register(conn, table, rows):
    """``table`` (id int PRIMARY KEY, name text, boss int) made anew with ``rows`` (what
    INSERT takes: VALUES or a SELECT), registered as the only table (property name, an
    edge reports_to from boss to id), built; no poison, no log rows."""
    conn.execute(CURE)
    unregister(conn, table)
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, boss int)")
    conn.execute(f"INSERT INTO {table} {rows}")
    conn.execute(f"SELECT graph.add_table('{table}', columns => '{{name}}')")
    conn.execute(f"SELECT graph.add_edge('{table}', 'boss', '{table}', label => 'reports_to')")
    conn.execute("SELECT graph.build()")
    conn.execute("DELETE FROM graph._sync_log")


def unregister(conn, table):
    """No table registered, ``table`` dropped, no log rows."""
    conn.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
    conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    conn.execute("DELETE FROM graph._sync_log")
