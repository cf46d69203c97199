-- A read's apply (graph._apply_for_read) runs replay for whoever reads: any
-- reader's read may start it (graph._read_sync), and it holds graph._sync_state
-- until that reader's transaction ends, so no other apply runs meanwhile. Its
-- plans must not follow the reader's session: a reader who had turned index scans
-- off made a read's apply read the whole log, and one who had set jit_above_cost
-- to 0 made it JIT-compile every statement (21 times as long for 2,000 rows;
-- tests/test_shared_settings.py). So every planner setting a session may change
-- (category Query Tuning, context user) is pinned on that function to
-- PostgreSQL's built-in default, with JIT and parallel workers off. Built-in
-- defaults, not the server's configuration: replay's statements are written to
-- have one reasonable plan whatever the statistics, and a role may give itself
-- session defaults (ALTER ROLE ... SET), which the values in force at login
-- include. An admin's own graph.apply_sync() runs with the admin's settings.
-- Applied after the functions are (re)created on every install, from the
-- server's own list of settings.
DO $$
DECLARE
    clauses text;
BEGIN
    SELECT string_agg(format('SET %I = %L', s.name, CASE s.name WHEN 'jit' THEN 'off' ELSE s.boot_val END),
                      ' ' ORDER BY s.name)
    INTO clauses
    FROM pg_catalog.pg_settings AS s
    WHERE s.category LIKE 'Query Tuning%' AND s.context = 'user';
    EXECUTE format('ALTER FUNCTION graph._apply_for_read() %s SET max_parallel_workers_per_gather = 0', clauses);
END;
$$;

-- A read keeps one plan of each statement it runs for the backend (issue 9). A read
-- under writes runs the same few statements with other values every time (reads/
-- start.py's START_SAME and START: the kept view's snapshot, the rows it folded;
-- RESOLVE and graph._pending_keys: the keys of the rows it folds), and PostgreSQL's
-- plan cache chose a plan made for those values (a custom plan: on the first five
-- runs always, after them whenever the one made for the values looked cheaper than
-- its generic plan), so most reads under writes planned START_SAME, START or both
-- anew: some 0.2-1 ms of a read folding a few hundred rows at 200k nodes, a third of
-- its CPU (tests/test_reads_under_writes.py counts the plannings). The values change
-- no plan worth having: the statements read graphsync's own tables by keys and
-- ranges through their indexes, and a source table by its key or whole (hydration,
-- row-level security, label carriers: their plans do not hang on how many keys);
-- graph._pending_columns and graph._read_sync's count pin the same, the read's apply
-- PostgreSQL's default (above). A read at rest was not planned anew; it pays for the
-- setting about a microsecond (depth 2 in the server 210 against 218 us a call before).
-- Whatever the reader's session says, so that force_custom_plan there does not make
-- every read plan anew either.
-- A plan kept is made for the sizes of the tables when it was made, and only an
-- ANALYZE of a table (autovacuum's, after its naptime and threshold) makes it planned
-- again. A connection that first read a graph of a page of nodes kept sequential
-- scans of graph._node_rows (one page is cheaper to read than an index) for START's
-- lookup of the seed and every lookup of nodes by key or id; after a bulk load that
-- replay applied, each of its reads read every node: 200,020 rows for a depth-2
-- traverse at 200,000 nodes, 400,040 for a shortest_path, several times that for a
-- role under row-level security, whose policy's statement for a key scanned the
-- source table as well (tests/test_operation_costs.py). A read finds its rows through
-- indexes, by key, id or range, so the read functions plan without sequential scans:
-- a table a statement must still read whole is read through an index or a bitmap of
-- it (the policy's whole table, the nodes of a component), one with no index to use
-- (a one-row state table) costs the planner some 10^10 -- so JIT goes off with them,
-- which would otherwise compile every such plan at every call (tests/test_no_jit.py).
-- A depth-2 traverse at rest costs the server what it did; a read under row-level
-- security a few percent more, its statements reading the one-page registry tables
-- through their indexes too (README, Settings).
DO $$
DECLARE
    names text [] := ARRAY[
        '_traverse', '_shortest_path', '_weighted_shortest_path', '_component_of', '_components',
        '_component_stats', '_export'
    ];
    fn regprocedure;
BEGIN
    FOR fn IN SELECT f FROM graph._functions_named(names, 'sql/plan-settings.sql') AS f LOOP
        EXECUTE format('ALTER FUNCTION %s SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off',
                       fn);
    END LOOP;
END;
$$;
