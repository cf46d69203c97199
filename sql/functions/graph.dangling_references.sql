-- graph.dangling_references(max_rows): every reference whose target row does
-- not exist: a foreign-key edge whose referenced key no row of to_table has, a
-- join-table row either of whose ends has no row. One row each, at most
-- max_rows (ordered by edge source and ids):
--   edge_source  the edge source (graph._edge_sources)
--   from_table, from_id, to_table, to_id  the edge's ends, in its registered
--                direction; the missing one is to (or from, for a join table)
-- Computed from a fresh read of the sources in one snapshot (ops/integrity.py),
-- with row-level security refusing (42501), never filtering; records the counts
-- of dangling references and duplicate edges that sync_health() shows. Admin only.
CREATE OR REPLACE FUNCTION graph.dangling_references(max_rows integer DEFAULT 1000)
RETURNS TABLE (edge_source integer, from_table regclass, from_id text, to_table regclass, to_id text)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in GD:
    plpy.execute("SELECT graph._import_package()")
from graphsync.ops import integrity
return integrity.dangling_references(plpy, max_rows)
$$;

COMMENT ON FUNCTION graph.dangling_references(integer) IS
'References whose target row does not exist (foreign-key values and join-table ends with no row), read from the sources; at most max_rows.';
