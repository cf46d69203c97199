-- graph._refuse_enum_relabel(types): raise 55000 when an ALTER TYPE of types
-- (the types graph._follow_ddl's ddl_command_end of an ALTER TYPE names) changed
-- a label of an enum that a registered table renders in captured text.
-- ALTER TYPE ... RENAME VALUE changes the text of every stored value of the enum
-- at once, with no write and no capture: every key, property, filter, tenant,
-- edge end, weight or label text graphsync captured of it is stale, and graph._nodes'
-- policy, which compares the key texts of the rows a reader sees now with those
-- captured, showed the owner of the enum who swapped two labels the node of a row
-- its policy hides (tests/test_abuse_enum_relabel.py). So it is refused, for
-- every role (a superuser's relabel makes the graph wrong for everyone too).
-- Which enums a table renders: the types of its registered columns
-- (graph._registered_column_roles) and every type they render through: a
-- domain's base type, an array's element type, a composite type's attributes, a
-- range's subtype, a multirange's range.
-- What changed: PostgreSQL hands an event trigger no parse tree, so no RENAME
-- VALUE is told from an ADD VALUE by the command; the catalog tells them apart.
-- A label changed by this transaction is a pg_enum row it wrote: its xmin is one
-- of this transaction's, in progress (visible and in progress is ours alone,
-- subtransactions included). The 32-bit xmin is placed in the epoch of the
-- transaction's xid only when it lies between that xid and the newest xid this
-- backend holds in pg_locks (the running subtransaction's; every xid of ours was
-- assigned in between), so pg_xact_status is never asked about a later one: a
-- frozen row keeps its xmin, and a label written more than 2^31 transactions
-- before looked written after the transaction's xid, in the future, and
-- pg_xact_status raised 22023 on every role's ALTER TYPE of that enum
-- (tests/test_xid_wraparound.py).
-- ADD VALUE writes a new row too, but PostgreSQL lets
-- no statement use a value added by a transaction still open (enum_in raises
-- 55P04, unless the enum itself was created by it): no stored row holds it yet,
-- and renaming it changes nothing captured. So a row of ours whose label enum_in
-- accepts is refused: a relabel; also (exact enough, and rare) the renumbering
-- an ADD VALUE ... BEFORE/AFTER does when no sort position is left between two
-- labels, and an ADD VALUE to an enum created in this same transaction.
-- Costs: nothing unless the command is an ALTER TYPE (graph._follow_ddl calls it
-- for that tag only); then one read of pg_locks (this transaction wrote something;
-- else none), an index probe of pg_enum per type, and the registry
-- only when a row of ours is found.
-- SECURITY DEFINER (the registry is not the DDL role's to read), PUBLIC's to
-- run: graph._follow_ddl calls it as the DDL's role, and what it raises is
-- derived from the catalog alone. Reads: pg_locks (this backend's), pg_enum,
-- pg_type, pg_attribute, pg_range, the registry.
CREATE OR REPLACE FUNCTION graph._refuse_enum_relabel(types oid[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    top numeric;
    span bigint;
    e record;
    relabelled oid [] := '{}';
    found_tables text;
    found_types text;
BEGIN
    IF types IS NULL OR pg_catalog.cardinality(types) = 0 THEN
        RETURN;
    END IF;
    top := pg_catalog.pg_current_xact_id_if_assigned()::text::numeric;
    IF top IS NULL THEN
        RETURN;  -- this transaction wrote nothing: no label of its
    END IF;
    -- how far (mod 2^32) the newest xid of ours is past the top-level one
    SELECT max((l.transactionid::text::bigint - (top % 4294967296)::bigint + 4294967296) % 4294967296)
    INTO span
    FROM pg_catalog.pg_locks AS l
    WHERE l.locktype = 'transactionid' AND l.pid = pg_catalog.pg_backend_pid()
      AND l.mode = 'ExclusiveLock' AND l.granted;
    FOR e IN
        SELECT n.enumtypid, n.enumlabel
        FROM pg_catalog.pg_enum AS n
        CROSS JOIN LATERAL (
            SELECT (n.xmin::text::bigint - (top % 4294967296)::bigint + 4294967296) % 4294967296 AS ahead
        ) AS x
        WHERE n.enumtypid = ANY (types)
          -- xmin one of ours: from our top-level xid to our newest (never a later xid8), in progress
          AND pg_catalog.pg_xact_status(CASE WHEN x.ahead <= span THEN (top + x.ahead)::text::xid8 END)
              = 'in progress'
    LOOP
        IF e.enumtypid = ANY (relabelled) THEN
            CONTINUE;
        END IF;
        BEGIN
            PERFORM pg_catalog.enum_in(e.enumlabel::cstring, e.enumtypid);
            relabelled := relabelled || e.enumtypid;
        EXCEPTION WHEN unsafe_new_enum_value_usage THEN
            NULL;  -- added by this transaction: no stored row holds it
        END;
    END LOOP;
    IF relabelled = '{}' THEN
        RETURN;
    END IF;
    WITH RECURSIVE reach AS (
        SELECT r.table_oid, a.atttypid AS typ
        FROM graph._registered_column_roles() AS r
        JOIN pg_catalog.pg_attribute AS a
          ON a.attrelid = r.table_oid AND a.attname = r.column_name AND a.attnum > 0 AND NOT a.attisdropped
        UNION
        SELECT reach.table_oid, x.typ
        FROM reach
        JOIN pg_catalog.pg_type AS t ON t.oid = reach.typ
        CROSS JOIN LATERAL (
            SELECT t.typbasetype WHERE t.typtype = 'd'
            UNION ALL
            SELECT t.typelem WHERE t.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
            UNION ALL
            SELECT c.atttypid FROM pg_catalog.pg_attribute AS c
            WHERE t.typtype = 'c' AND c.attrelid = t.typrelid AND c.attnum > 0 AND NOT c.attisdropped
            UNION ALL
            SELECT g.rngsubtype FROM pg_catalog.pg_range AS g WHERE t.typtype = 'r' AND g.rngtypid = t.oid
            UNION ALL
            SELECT g.rngtypid FROM pg_catalog.pg_range AS g WHERE t.typtype = 'm' AND g.rngmultitypid = t.oid
        ) AS x (typ)
        WHERE x.typ <> 0
    )
    SELECT string_agg(DISTINCT reach.typ::pg_catalog.regtype::text, ', '),
           string_agg(DISTINCT reach.table_oid::pg_catalog.regclass::text, ', ')
    INTO found_types, found_tables
    FROM reach
    WHERE reach.typ = ANY (relabelled);
    IF found_tables IS NOT NULL THEN
        RAISE EXCEPTION 'graphsync cannot follow a change of the labels of enum type %: registered table(s) % render them in captured text',
                        found_types, found_tables
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Every key, property or edge text captured from a value of the type would be stale.',
                  HINT = 'Remove the table from the graph (graph.remove_table, or graph.remove_edge for an edge '
                         'source), rename the value, add it again and run graph.build().';
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._refuse_enum_relabel(oid[]) IS
'Internal: raise 55000 when this transaction changed a label of an enum type among types (ALTER TYPE ... RENAME VALUE) that a registered table renders in captured text; derived from the catalog.';
