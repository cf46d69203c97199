-- 440-traverse-errors-as-columns: graph._traverse returns an error as four more
-- columns (error_state, error_message, error_detail, error_hint) instead of
-- raising it, and graph.traverse, now a SQL function the caller's query takes in,
-- raises them (graph._raise_error): a PL/pgSQL wrapper's call and exception block
-- cost a depth-2 read some tenth of its time. A function's result columns cannot
-- be changed in place: it is dropped here and the install creates it again with
-- its privileges and settings (sql/functions/graph._traverse.sql,
-- sql/privileges.sql, sql/plan-settings.sql, sql/output-settings.sql).
DROP FUNCTION IF EXISTS graph._traverse(
    oid, text, integer, text, text[], oid[], jsonb, text, text, integer, boolean, oid[], text[]
);
