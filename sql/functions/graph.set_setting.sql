-- graph.set_setting(name, value): set one of graphsync's settings (graph.*) for
-- the whole database: ALTER DATABASE <this database> SET name = value, or RESET
-- when value is NULL. Every new session sees it, pg_cron's jobs included (a
-- session that is already open keeps its value). Returns the value set.
-- ALTER DATABASE needs the database's owner or a superuser; this lets a
-- graph_admin member who is neither set graphsync's shared settings, and
-- nothing else. Narrow on purpose, because it runs as its owner, the
-- installing superuser: it refuses, with 42501, a session that is not a
-- superuser or a member of graph_admin (session_user: inside a SECURITY
-- DEFINER function current_user is the owner); with 22023 any name but a
-- graph.* setting graphsync declares, and a value that setting does not allow
-- (checked by graph._setting, the one accessor of the declared settings); with
-- 22004 a NULL name.
-- Admin only. Touches: pg_db_role_setting of this database.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.set_setting(name text, value text)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    IF NOT pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied: % is not a member of graph_admin', session_user
            USING ERRCODE = '42501';
    END IF;
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF name !~ '^graph\.[a-z_]+$' THEN
        RAISE EXCEPTION '% is not a graphsync setting', quote_literal(name)
            USING ERRCODE = '22023',
            HINT = CASE WHEN name ~ '^[a-z_]+$' THEN format('Settings are named with their prefix: graph.%s.', name)
                        ELSE 'graph.set_setting sets graph.* settings only.' END;
    END IF;
    -- In force for the rest of this transaction, and checked against the setting's
    -- declaration (22023 for an unknown name or a value it does not allow).
    PERFORM pg_catalog.set_config(name, coalesce(value, ''), true);
    PERFORM graph._setting(name);
    IF value IS NULL THEN
        EXECUTE format('ALTER DATABASE %I RESET %I', pg_catalog.current_database(), name);
    ELSE
        EXECUTE format('ALTER DATABASE %I SET %I = %L', pg_catalog.current_database(), name, value);
    END IF;
    RETURN value;
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose: no internal query text, no PL/Python traceback (CONTEXT).
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    e_message := graph._error_message(e_message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, HINT = e_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail, HINT = e_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph.set_setting(text, text) IS
'Set a graph.* setting for the whole database (ALTER DATABASE ... SET; NULL resets), so every new session and pg_cron job sees it; validated against its declaration. Admin only.';
