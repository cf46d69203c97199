-- graph._edge_row_passes(edge_source_id, r): whether r, a row of the edge source's
-- carrying table, passes its registered row filter (graph._edge_filter_expr); a
-- filter that raises a data exception on it (SQLSTATE class 22: a writer's b = 0
-- under a / b) counts as false, as NULL does, and as a build reads such a row. What
-- a read runs, as its caller, row by row, only after its statement over the join
-- rows the caller sees raised so (reads/edge_rows.py): one writer's value failed
-- the reads of every reader that join table's row-level security applies to. A
-- statement and a subtransaction per row. Runs no text but the filter the registry
-- holds, rendered by graph._edge_filter_expr (never an owner's code).
CREATE OR REPLACE FUNCTION graph._edge_row_passes(edge_source_id integer, r anyelement)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    passes boolean;
BEGIN
    EXECUTE format('SELECT %s FROM (SELECT ($1).*) AS _gs_safe_row',
                   graph._edge_filter_expr(_edge_row_passes.edge_source_id, '_gs_safe_row'))
        INTO passes USING r;
    RETURN coalesce(passes, false);
EXCEPTION
    WHEN data_exception THEN
        RETURN false;
END;
$$;

COMMENT ON FUNCTION graph._edge_row_passes(integer, anyelement) IS
'Internal: whether a row of an edge source''s carrying table passes its row filter, a data exception counting as false (a read''s second try).';
