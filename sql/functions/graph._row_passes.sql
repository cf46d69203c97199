-- graph._row_passes(expression, r): whether r, a row of a registered table, passes
-- a row filter, a data exception counting as false (SQLSTATE class 22: a writer's
-- b = 0 under a / b), as NULL does. expression is the filter as the read's own
-- statement evaluated it, rendered over the alias _gs_safe_row
-- (graph._edge_filter_expr: never an owner's code). What a read asking, as its
-- caller, which edges the join rows it sees carry runs in place of the filter when
-- its statement raised so (sync/sources.py passes, retry_raising): one writer's
-- value failed the reads of every reader that table's row-level security applies
-- to. A build takes such a row the same way through a function it makes in its
-- session's temporary schema, which keeps the expression's plan; a read makes none
-- (it writes nothing, on a hot standby too). Runs as its caller, as the filter in
-- the statement did, and no text but expression, which the caller could run
-- itself. A statement and a subtransaction per row: only after the statement raised.
CREATE OR REPLACE FUNCTION graph._row_passes(expression text, r anyelement)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    passes boolean;
BEGIN
    EXECUTE format('SELECT %s FROM (SELECT ($1).*) AS _gs_safe_row', expression) INTO passes USING r;
    RETURN coalesce(passes, false);
EXCEPTION
    WHEN data_exception THEN
        RETURN false;
END;
$$;

COMMENT ON FUNCTION graph._row_passes(text, anyelement) IS
'Internal: whether a row passes a rendered row filter, a data exception counting as false (a read''s second try after a filter raised).';
