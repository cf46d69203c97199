-- graph._row_scope(): the scope under which graph._row_visible may keep and reuse
-- a table's visible keys in this statement, for the role running the call: the
-- current snapshot and the statement's start with a MAC, under a secret of the
-- backend (never stored, never shown), of those and current_user
-- (reads/statement_cache.py issue). graph._nodes' row-level security (migration
-- 295) passes it as graph._row_visible's snapshot argument, evaluated once per
-- statement (an initplan); a token names the role it was issued to, so a caller
-- cannot present another role's scope. PUBLIC's to run: it reveals nothing
-- (the caller's own snapshot and statement start, and a MAC).
-- SECURITY INVOKER. Reads: nothing but current_user, the snapshot and the clock.
CREATE OR REPLACE FUNCTION graph._row_scope()
RETURNS text
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import row_policy
return row_policy.scope(plpy)
$$;

COMMENT ON FUNCTION graph._row_scope() IS
'Internal: the per-statement scope token graph._nodes'' row-level security passes graph._row_visible (the snapshot, with a MAC of it, the statement start and current_user).';
