-- graph._leads_index(tbl, col): whether column number col of table tbl leads a
-- valid index of it that is neither partial nor on expressions, so that asking
-- the table for rows by that column's value probes the index: what the reads ask
-- a join table's end column (reads/edge_rows.py) and a label column
-- (reads/label_policy.py) before asking them value by value. Reads: pg_index.
CREATE OR REPLACE FUNCTION graph._leads_index(tbl oid, col smallint)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT FROM pg_catalog.pg_index AS x
        WHERE x.indrelid = tbl AND x.indkey[0] = col AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL
    )
$$;

COMMENT ON FUNCTION graph._leads_index(oid, smallint) IS
'Internal: whether a column leads a valid index of its table that is neither partial nor on expressions.';
