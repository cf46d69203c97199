-- graph._run_as_definer(request): run, as graphsync's definer role, the load of
-- the graph's structural tables (graph._csr, graph._edge_overlay,
-- graph._edge_cuts) that a read of this backend asked for (db.as_definer), into
-- the backend's memory; returns nothing to SQL. Those tables hold every row's
-- edges and weights, so they are not PUBLIC's (sql/privileges.sql), while every
-- read loads them. PUBLIC's to run: a request is made by the read's own Python,
-- never by SQL, and a call naming none is refused (42501); the package must be
-- loaded already (by the read that asks), so a direct call imports nothing.
CREATE OR REPLACE FUNCTION graph._run_as_definer(request bigint)
RETURNS void
LANGUAGE plpython3u
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
import sys
db = sys.modules.get("graphsync.db")
if db is None:
    plpy.error("graphsync: graph._run_as_definer is internal: only graphsync's reads call it", sqlstate="42501")
db.serve(plpy, request)
$$;

COMMENT ON FUNCTION graph._run_as_definer(bigint) IS
'Internal: run, as graphsync''s definer role, the load of the graph''s structural tables a read of this backend asked for; returns nothing.';
