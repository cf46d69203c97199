-- graph._type_of(value): the type of value as the statement's parser resolved it,
-- pg_catalog.pg_typeof(value) declared IMMUTABLE (it is: the result depends on the
-- argument's type only, never on a value or a setting) so that the planner
-- computes it once, when it plans a statement, where its argument is a
-- constant. The capture functions' type check passes it a typed NULL,
-- CASE WHEN false THEN <column> END, which the planner folds to a NULL of the
-- column's type: the check (graph._write_capture's guards) becomes a constant of
-- the plan, computed whenever the statement is parsed for the columns' types
-- (a plan kept for the session, remade when the function is regenerated), and
-- costs a single-row write nothing. pg_typeof() itself is only STABLE, so the
-- planner would leave it to run at every execution, each call's start costing
-- about 2,000 instructions. A domain is resolved to its base type (anyelement);
-- the capture checks compare with the columns' own types, which are never
-- domains where the check is used. EXECUTE: graph_admin and graph_capture
-- (sql/privileges.sql), whose capture functions plan it.
CREATE OR REPLACE FUNCTION graph._type_of(value anyelement)
RETURNS regtype
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_typeof(value)
$$;

COMMENT ON FUNCTION graph._type_of(anyelement) IS
'Internal: pg_typeof() declared immutable, so that a capture function''s type check of a typed NULL is folded when its statement is planned.';
