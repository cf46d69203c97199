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
