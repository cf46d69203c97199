-- graph.add_schema(schema, preview, exclude): register every table of a schema
-- with a primary or usable unique key as a node table and every foreign key as
-- an edge (labelled by its column names); a table whose key is two foreign keys
-- becomes a join-table edge (and a node table too when it has other columns or
-- is referenced). What cannot be registered is skipped with the reason. With
-- preview, returns the plan and changes nothing. Idempotent: what is registered
-- already is reported as such. One row per registration:
--   kind         'node_table', 'fk_edge' or 'join_edge'
--   table_name   the node table, or the table whose rows carry the edge
--   edge         what the edge links: 'col -> target', 'a -> t1, b -> t2'
--   edge_source  the new edge source's id
--   label        the edges' label
--   action       'registered', 'would register' (preview), 'skipped', 'already registered'
--   reason       why it was skipped
-- Admin only. Calls graph.add_table and graph.add_edge (sync/schema.py).
CREATE OR REPLACE FUNCTION graph.add_schema(
    schema regnamespace,
    preview boolean DEFAULT false,
    exclude regclass[] DEFAULT '{}'
)
RETURNS TABLE (
    kind text, table_name regclass, edge text, edge_source integer, label text, action text, reason text
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in GD:
    plpy.execute("SELECT graph._import_package()")
from graphsync.sync import schema as schema_mod
return schema_mod.add_schema(plpy, schema, preview, exclude)
$$;

COMMENT ON FUNCTION graph.add_schema(regnamespace, boolean, regclass[]) IS
'Register every keyed table of a schema as a node table and every foreign key as an edge (join tables as join-table edges); skips with a reason what it cannot register; preview => true changes nothing.';
