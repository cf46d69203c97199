-- graph._source_name(tbl): the name (regclass text) graphsync reads registered
-- source table tbl by, raising 42809 unless tbl is still an ordinary or
-- partitioned table. PostgreSQL 15 lets the owner of an empty table without
-- triggers or indexes turn it into a view (CREATE RULE "_RETURN" AS ON SELECT),
-- keeping its oid, so that it stays registered; and the functions a view's query
-- calls run as the view's reader: a build, a verify or a superuser's read would
-- run the owner's code with their rights. graph._follow_ddl refuses that rule on a
-- registered table; every statement graphsync makes to read a source names it
-- through this function (reads/nodes.py, reads/search.py, reads/access.py,
-- sync/sources.py, ops/verify.py), so a table that became a view before (or
-- with the event triggers disabled) is never read.
-- Planning a read of a table runs code of the table's: PostgreSQL's planner folds
-- an IMMUTABLE function called on constants in the expressions and predicates of
-- its indexes, its extended statistics' expressions and its partition key (loaded
-- for any query of it) and in its CHECK constraints (constraint exclusion), those
-- of its partitions and inheritance children too, as the role planning. So for a
-- caller who is a superuser or a graph_admin member (build, verify, maintenance,
-- reconcile, retry, and such a caller's reads) it also raises 42501 when any of
-- those calls a function, directly or as an operator's, owned by a role that is
-- neither a superuser nor the caller: the owner's code would run with the
-- caller's rights (a superuser's build made the owner superuser). So does a
-- foreign table among its children or partitions that such a role owns, or whose
-- server it owns: reading it runs a query on that server under the reader's user
-- mapping, which the server's owner may create for any role. The table (and
-- its partitions and children) is locked first (graph._lock_sources: SHARE UPDATE
-- EXCLUSIVE, held to the end of the transaction), so that what the check reads is
-- what the read plans: VOLATILE, so that in READ COMMITTED the check's statements
-- read the catalog as of after the lock (STABLE, they read it as of the calling
-- statement's start, before a wait for the lock: the planner would then see what
-- the owner committed meanwhile, and the check not). In a REPEATABLE READ or
-- SERIALIZABLE transaction its statements read the catalog as of the transaction's
-- snapshot, whatever the lock, while the planner reads it as it is now: an index or
-- statistics object the owner committed after the snapshot was planned unchecked (its
-- function ran as the superuser), so such a caller is refused there (0A000, before
-- the lock; tests/test_abuse_planned_code.py). A reader's own
-- read runs it as a SELECT of the reader's would. PUBLIC's: reads call it as
-- their caller. Reads: pg_class, pg_inherits, pg_index, pg_statistic_ext,
-- pg_constraint, pg_depend, pg_operator, pg_proc, pg_foreign_table,
-- pg_foreign_server, pg_authid (pg_roles).
CREATE OR REPLACE FUNCTION graph._source_name(tbl oid)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
    unsafe record;
    members oid [];
BEGIN
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class AS c WHERE c.oid = tbl;
    IF kind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl USING ERRCODE = '42P01';
    ELSIF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is registered with graphsync but is no longer a table', tbl::pg_catalog.regclass
            USING ERRCODE = '42809',
                  HINT = 'Remove it from the graph (graph.remove_table, or graph.remove_edge for a join table).';
    END IF;
    -- Locked before the check (graph._lock_sources): checked, then waited for, the
    -- table was planned with what its owner created meanwhile. Above READ COMMITTED
    -- the check would read the catalog as of the transaction's snapshot, the planner
    -- as it is now: refused, whatever the snapshot shows.
    IF pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN
        IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
            RAISE EXCEPTION 'graphsync will not read % as % in a % transaction', tbl::pg_catalog.regclass,
                            current_user, pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))
                USING ERRCODE = '0A000',
                      DETAIL = 'A superuser or a graph_admin member reads a source only when no other role''s'
                               ' code runs in planning it; that check reads the catalog as of the transaction''s'
                               ' snapshot, while planning reads it as it is now, with whatever the table''s owner'
                               ' committed since.',
                      HINT = 'Run it in a READ COMMITTED transaction (SET TRANSACTION ISOLATION LEVEL READ'
                             ' COMMITTED, or outside an explicit transaction with default_transaction_isolation'
                             ' read committed), or read as a role outside graph_admin.';
        END IF;
        -- graph._lock_sources locks only what the caller may SELECT (a column of it
        -- at least): a table it may not was checked unlocked and planned before
        -- the permission check failed the read, with an index its owner created
        -- in between, the owner's function run as the caller (the owner revoked
        -- an admin's SELECT; tests/test_abuse_review44.py). Refused first.
        IF NOT pg_catalog.has_any_column_privilege(tbl, 'SELECT') THEN
            RAISE EXCEPTION 'permission denied for table %', tbl::pg_catalog.regclass
                USING ERRCODE = '42501',
                      DETAIL = 'A superuser or a graph_admin member reads a source only under a lock, which it'
                               ' takes only on a table it may SELECT.';
        END IF;
        PERFORM graph._lock_sources(ARRAY[tbl], false);
    END IF;
    -- The catalog walk below only for a table with something of that kind (no
    -- expression or partial index, statistics object, CHECK constraint, partition
    -- key or child: most tables): it costs a hydrating read some 0.15 ms.
    IF pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')
       AND (EXISTS (SELECT FROM pg_catalog.pg_index AS x
                    WHERE x.indrelid = tbl AND (x.indexprs IS NOT NULL OR x.indpred IS NOT NULL))
            OR EXISTS (SELECT FROM pg_catalog.pg_statistic_ext AS s WHERE s.stxrelid = tbl)
            OR EXISTS (SELECT FROM pg_catalog.pg_constraint AS k WHERE k.conrelid = tbl AND k.contype = 'c')
            OR EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = tbl)
            OR EXISTS (SELECT FROM pg_catalog.pg_partitioned_table AS t WHERE t.partrelid = tbl)) THEN
        members := ARRAY(
            WITH RECURSIVE tree AS (
                SELECT tbl AS rel
                UNION
                SELECT i.inhrelid FROM tree JOIN pg_catalog.pg_inherits AS i ON i.inhparent = tree.rel
            )
            SELECT tree.rel FROM tree
        );
        -- A foreign child or partition: reading it runs a query on its server under
        -- the reader's user mapping, which the server's owner may create for any role
        -- (a superuser needs no password): the remote table, a view calling the
        -- owner's function, ran it as the superuser (tests/test_abuse_foreign_members.py).
        SELECT pg_catalog.format('%s is a foreign table %s', k.oid::pg_catalog.regclass, w.what) AS what,
               r.rolname INTO unsafe
        FROM pg_catalog.unnest(members) AS m (rel)
        JOIN pg_catalog.pg_foreign_table AS f ON f.ftrelid = m.rel
        JOIN pg_catalog.pg_class AS k ON k.oid = f.ftrelid
        JOIN pg_catalog.pg_foreign_server AS v ON v.oid = f.ftserver
        CROSS JOIN LATERAL (VALUES ('of', k.relowner),
                                   (pg_catalog.format('on server %I of', v.srvname), v.srvowner)) AS w (what, owner)
        JOIN pg_catalog.pg_roles AS r ON r.oid = w.owner
        WHERE NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) current_user
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'graphsync will not read % as %: % role %, and reading it runs a query on another'
                            ' server under the reader''s user mapping, which that role chose', tbl::pg_catalog.regclass,
                            current_user, unsafe.what, unsafe.rolname
                USING ERRCODE = '42501',
                      HINT = 'Detach or drop it, or have a superuser who checked it take it and its server over'
                             ' (ALTER FOREIGN TABLE ... OWNER TO, ALTER SERVER ... OWNER TO): a superuser or a'
                             ' graph_admin member reads a source only when no other role''s code runs in reading it.';
        END IF;
        WITH tree AS (
            SELECT m.rel FROM pg_catalog.unnest(members) AS m (rel)
        ),
        -- (each member's indexes, statistics and constraints looked up by its oid, OFFSET
        -- 0: joins to the catalogs were planned as hashes of all of them, every table's,
        -- for a catalog of a few hundred relations: tests/test_operation_costs.py)
        planned AS (  -- what the planner folds on constants, as the objects pg_depend records
            SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, tree.rel AS objid,
                   pg_catalog.format('the partition key of %s', tree.rel::pg_catalog.regclass) AS what
            FROM tree
            UNION ALL
            SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, x.indexrelid,
                   pg_catalog.format('index %s', x.indexrelid::pg_catalog.regclass)
            FROM tree CROSS JOIN LATERAL (
                SELECT i.indexrelid FROM pg_catalog.pg_index AS i WHERE i.indrelid = tree.rel OFFSET 0
            ) AS x
            UNION ALL
            SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, s.oid,
                   pg_catalog.format('statistics %I.%I', n.nspname, s.stxname)
            FROM tree CROSS JOIN LATERAL (
                SELECT e.oid, e.stxname, e.stxnamespace FROM pg_catalog.pg_statistic_ext AS e
                WHERE e.stxrelid = tree.rel OFFSET 0
            ) AS s
            JOIN pg_catalog.pg_namespace AS n ON n.oid = s.stxnamespace
            UNION ALL
            SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid,
                   pg_catalog.format('constraint %I of %s', k.conname, tree.rel::pg_catalog.regclass)
            FROM tree CROSS JOIN LATERAL (
                SELECT o.oid, o.conname FROM pg_catalog.pg_constraint AS o
                WHERE o.conrelid = tree.rel AND o.contype = 'c' OFFSET 0
            ) AS k
        ),
        called AS (  -- the functions they call, and those of the operators they use
            SELECT o.what, d.refobjid AS fn
            FROM planned AS o
            JOIN pg_catalog.pg_depend AS d ON d.classid = o.classid AND d.objid = o.objid
            WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
            UNION ALL
            SELECT o.what, f.fn
            FROM planned AS o
            JOIN pg_catalog.pg_depend AS d ON d.classid = o.classid AND d.objid = o.objid
            JOIN pg_catalog.pg_operator AS op ON op.oid = d.refobjid
            CROSS JOIN LATERAL (VALUES (op.oprcode::pg_catalog.oid), (op.oprrest::pg_catalog.oid),
                                       (op.oprjoin::pg_catalog.oid)) AS f (fn)
            WHERE d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass
              AND f.fn OPERATOR(pg_catalog.<>) 0
        )
        SELECT c.what, c.fn::pg_catalog.regprocedure::text AS fn, r.rolname INTO unsafe
        FROM called AS c
        JOIN pg_catalog.pg_proc AS p ON p.oid = c.fn
        JOIN pg_catalog.pg_roles AS r ON r.oid = p.proowner
        WHERE NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) current_user
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'graphsync will not read % as %: % calls function % of role %, which PostgreSQL''s planner'
                            ' runs as whoever reads the table', tbl::pg_catalog.regclass, current_user, unsafe.what,
                            unsafe.fn, unsafe.rolname
                USING ERRCODE = '42501',
                      HINT = 'Drop it, or have a superuser who checked the function take it over (ALTER FUNCTION'
                             ' ... OWNER TO): a superuser or a graph_admin member reads a source only when no'
                             ' other role''s code runs in planning it.';
        END IF;
    END IF;
    RETURN tbl::pg_catalog.regclass::text;
END;
$$;

COMMENT ON FUNCTION graph._source_name(oid) IS
'Internal: the name a registered source table is read by; 42809 unless it is still an ordinary or partitioned table (not a view).';
