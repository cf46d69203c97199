-- graph._named_members_only(tbl, relations): whether a schema change that named
-- relations concerns captured table tbl through members of its tree only: it
-- named neither tbl nor any partitioned table. Then no member but those named
-- (and their own partitions and children) can have joined or left tbl's tree: a
-- DDL naming only tables that are not partitioned cannot detach anything from
-- them, while an ATTACH or DETACH names the partitioned parent it changes. The
-- DDL follower then compares, records, grants and attaches for those members
-- only (graph._followed_tables, ops/follow.py, graph._follow_ddl), not for the
-- whole tree: each partition's creation, and each partition's ALTER TABLE of
-- add_table, did so for every member (tests/test_operation_costs.py). The one
-- statement of that rule. A NULL element of relations names nothing. Invoker:
-- it reads the relations' kinds only, and the follower calls it as the role
-- whose DDL it follows.
CREATE OR REPLACE FUNCTION graph._named_members_only(tbl oid, relations oid[])
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT coalesce(tbl = ANY (relations), false)
           AND NOT EXISTS (SELECT FROM unnest(relations) AS r (oid)
                           JOIN pg_catalog.pg_class AS k ON k.oid = r.oid AND k.relkind = 'p')
$$;

COMMENT ON FUNCTION graph._named_members_only(oid, oid[]) IS
'Internal: whether a schema change naming some relations concerns a captured table through members of its tree only (it named neither the table nor a partitioned table).';
