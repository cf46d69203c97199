-- graph._registration_lock_wait(): how long a registration's table lock waits: the
-- caller's lock_timeout when it is set and shorter than 5 s, else 5 s, as the text
-- set_config('lock_timeout', ..., true) takes and the 55P03 messages state. The one
-- form of that bound: graph._install_capture_bounded (the trigger DDL) and
-- graph._lock_tables (for graph._lock_for_capture and graph._hold_sources' reads)
-- set it and give the caller's lock_timeout back afterwards. Unbounded, that DDL
-- waited for a writer's open transaction as long as it stayed open, and every new
-- writer of the table queued behind it (tests/test_writer_poison.py).
-- SECURITY INVOKER; reads no table.
CREATE OR REPLACE FUNCTION graph._registration_lock_wait()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.current_setting('lock_timeout')::pg_catalog.interval > '0'::pg_catalog.interval
                     AND pg_catalog.current_setting('lock_timeout')::pg_catalog.interval < '5s'::pg_catalog.interval
                THEN pg_catalog.current_setting('lock_timeout') ELSE '5s' END
$$;

COMMENT ON FUNCTION graph._registration_lock_wait() IS
'Internal: how long a registration''s table lock waits, as lock_timeout''s text: the caller''s lock_timeout when set and shorter than 5 s, else 5 s.';
