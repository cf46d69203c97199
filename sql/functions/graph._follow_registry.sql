-- graph._follow_registry(tables): bring the registration and capture of the
-- captured tables a schema change concerns in step with the catalog: renamed
-- columns followed, dropped ones (and dropped tables) unregistered with a
-- WARNING, capture regenerated after a retype or a table rename, partitions and
-- children that joined or left recorded (ops/follow.py). Returns the tables
-- whose capture triggers the caller attaches (graph._attach_capture), each with
-- the members whose triggers to check (with their own partitions' and
-- children's), or NULL for every member's: where only members joined or left
-- its tree, those that did (of the members the DDL named, below, or of the whole
-- tree: an ATTACH or DETACH names the parent, and checking every member's triggers
-- took a detach beside 2,000 partitions some 75 ms; tests/test_operation_costs.py).
-- (It returned the tables alone before migration 473.)
-- The event trigger graph._follow_ddl calls it as the role whose DDL fired it,
-- the table's owner, who may not write the registry: so SECURITY DEFINER, and
-- PUBLIC's to run. It takes its argument as a hint only: the tables concerned
-- are derived again (graph._followed_tables), and what happens to each from
-- the catalog, so a direct call can do nothing but what the next schema change
-- of those tables would. It never raises but for a cancel: a table it cannot
-- follow captures nothing until graph.reconcile() (WARNING, and a
-- 'follow_failed' record health shows); but where neither the session may
-- generate that table's capture nor the change is the owner's own, it raises
-- 55000 instead (ops/follow.py _not_followed: another role's change switches
-- off no one's capture). The event trigger gives it the relations the DDL named:
-- a table concerned through members only (the DDL named neither it nor a
-- partitioned table) has those members compared and recorded, not its whole tree
-- (ops/follow.py NAMED_MEMBERS, graph._map_capture(tbl, only_members)).
-- Touches: the registry, graph._registered_columns, graph._column_map,
-- graph._capture_members, graph._schema_events, graph._column_renames (each change
-- of the registry, in place of graph._sync_state and graph._graph_version, which
-- the owner's open transaction would hold: migrations 431, 437), pending rows of graph._sync_log
-- (renamed keys), capture functions.
CREATE OR REPLACE FUNCTION graph._follow_registry(tables oid[])
RETURNS TABLE (table_oid oid, only_members oid[])
LANGUAGE plpython3u
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
concerned = [r["t"] for r in plpy.execute(
    plpy.prepare("SELECT graph._followed_tables($1) AS t", ["oid[]"]), [tables or []])]
if not concerned:
    return []
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import reconcile
return reconcile.follow_ddl(plpy, concerned, tables or [])
$$;

COMMENT ON FUNCTION graph._follow_registry(oid[]) IS
'Internal: bring the registration and capture of the captured tables a schema change concerns in step with the catalog; the tables whose triggers to attach, each with the members whose triggers to check (NULL: every member''s).';
