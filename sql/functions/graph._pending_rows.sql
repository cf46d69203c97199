-- graph._pending_rows(as_role, max_rows, seen): the rows
-- graph._pending_columns returns (the same arguments, the same rows, the same checks:
-- its header says which rows and why), as rows in id order: what an admin or a test
-- looks at. Reads fold graph._pending_columns' one row of columns.
-- SECURITY INVOKER, as graph._pending_columns: a caller gets the rows the role running
-- the call may read; as_role must be that role (current_user), else no row.
-- Reads: graph._pending_columns (graph._pending_visible, graph._pending_by_xid).
CREATE OR REPLACE FUNCTION graph._pending_rows(
    as_role regrole, max_rows integer, seen pg_snapshot DEFAULT NULL
)
RETURNS TABLE (
    id bigint,
    op char(1),
    table_oid oid,
    old_pk text,
    new_pk text,
    properties text,
    old_row text,
    new_row text
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT r.id, r.op::char(1), r.table_oid, r.old_pk, r.new_pk,
       NULLIF(r.properties, ''), NULLIF(r.old_row, ''), NULLIF(r.new_row, '')
FROM graph._pending_columns(as_role, max_rows, seen) AS c,
    LATERAL ROWS FROM (
        pg_catalog.unnest(c.ids), pg_catalog.unnest(pg_catalog.string_to_array(c.ops, NULL)),
        pg_catalog.unnest(c.table_oids), pg_catalog.unnest(c.old_pks), pg_catalog.unnest(c.new_pks),
        pg_catalog.unnest(pg_catalog.string_to_array(c.properties, E'\n')),
        pg_catalog.unnest(pg_catalog.string_to_array(c.old_rows, E'\n')),
        pg_catalog.unnest(pg_catalog.string_to_array(c.new_rows, E'\n'))
    ) AS r (id, op, table_oid, old_pk, new_pk, properties, old_row, new_row)
ORDER BY r.id;
$$;

COMMENT ON FUNCTION graph._pending_rows(regrole, integer, pg_snapshot) IS
'Internal (reads): pending log rows of the tables the caller may SELECT and whose row-level security does not apply to it, in id order (graph._pending_columns'' row as rows); seen: only those an earlier call''s snapshot did not see.';
