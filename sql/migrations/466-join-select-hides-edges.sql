-- 466-join-select-hides-edges: from this release a join table's edges are hidden
-- from every reader that may not SELECT it (or may not use its schema), as a join
-- table with row-level security's were already: its rows are its edges, and a role
-- PostgreSQL does not let read the table learned them through a read, since a read
-- needed SELECT on the node tables only (reads/start.py, edge_hidden). Nothing in
-- the schema changes; the reads of a role granted a join table's end tables and not
-- the join table itself lose that table's edges after the upgrade. This names, in a
-- NOTICE per such join table (one without row-level security: with it, the edges
-- were hidden before), how many roles that is and the first few, so that an
-- administrator can GRANT SELECT on it to those that should walk them. Roles are
-- those outside graph_admin that are not superusers (both read every edge) nor
-- PostgreSQL's own (pg_*): one privilege check per role, join table and end table.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT
            e.via_table::pg_catalog.regclass AS via,
            pg_catalog.count(DISTINCT o.oid) AS roles,
            (pg_catalog.array_agg(DISTINCT pg_catalog.quote_ident(o.rolname)
                                  ORDER BY pg_catalog.quote_ident(o.rolname)))[1:5] AS first
        FROM graph._edge_sources AS e
        INNER JOIN pg_catalog.pg_class AS c ON e.via_table = c.oid
        CROSS JOIN pg_catalog.pg_roles AS o
        WHERE
            e.kind = 'join'
            AND NOT c.relrowsecurity
            AND NOT o.rolsuper
            AND o.rolname !~ '^pg_'
            AND NOT pg_catalog.pg_has_role(o.oid, 'graph_admin', 'MEMBER')
            AND NOT (
                pg_catalog.has_table_privilege(o.oid, c.oid, 'SELECT')
                AND pg_catalog.has_schema_privilege(o.oid, c.relnamespace, 'USAGE')
            )
            AND EXISTS (
                SELECT FROM pg_catalog.pg_class AS t
                WHERE
                    t.oid IN (e.from_table, e.to_table)
                    AND pg_catalog.has_table_privilege(o.oid, t.oid, 'SELECT')
                    AND pg_catalog.has_schema_privilege(o.oid, t.relnamespace, 'USAGE')
            )
        GROUP BY e.via_table
        ORDER BY e.via_table::pg_catalog.regclass::text
    LOOP
        RAISE NOTICE 'graphsync: reads now hide the edges of join table % from roles that may not SELECT it;'
            ' % role(s) may read one of its end tables but not it (%): GRANT SELECT ON % to those that'
            ' should walk its edges', r.via, r.roles, pg_catalog.array_to_string(r.first, ', '), r.via;
    END LOOP;
END;
$$;
