-- graph._install_capture_bounded(tbls, doing): graph._install_capture(tbls) whose
-- trigger DDL (CREATE TRIGGER, ALTER TABLE ... ENABLE TRIGGER: SHARE ROW EXCLUSIVE;
-- dropping a trigger: ACCESS EXCLUSIVE) waits for the tables' open writers at most
-- graph._registration_lock_wait() (5 s, the caller's lock_timeout when shorter),
-- then 55P03 naming the table that could not be locked, with a DETAIL and a HINT;
-- lock_timeout is the caller's again afterwards. Unbounded, that DDL waited for
-- any writer's open transaction (a plain UPDATE left open) as long as it stayed
-- open, and every new writer of the table queued behind it
-- (tests/test_writer_poison.py). doing says what the call was doing, for the
-- message and its DETAIL: 'install' (registering a table: its triggers are
-- created), 'repair' (a capture trigger disabled, missing or not graphsync's is
-- enabled or created again), 'drop' (a table's triggers dropped, or its capture
-- regenerated); anything else is refused (22023). The one form of this bound's
-- use for trigger DDL: every registration and reconcile's trigger repair call it.
-- A single call for all tbls (graph.add_schema's one pass over their triggers);
-- with several tables, the one named is the first of them (or of their partitions
-- and inheritance children) another session holds a lock on (pg_locks), all of them
-- when none is held any more.
-- SECURITY INVOKER, as graph._install_capture: the triggers are the caller's DDL.
-- Touches: what graph._install_capture touches.
CREATE OR REPLACE FUNCTION graph._install_capture_bounded(tbls oid[], doing text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_timeout text := pg_catalog.current_setting('lock_timeout');
    bound text;
    verb text;
    detail text;
    held text;
BEGIN
    CASE doing
        WHEN 'install' THEN
            verb := 'install';
            detail := 'Creating a table''s capture triggers waits for every open transaction that wrote the table.';
        WHEN 'repair' THEN
            verb := 'repair';
            detail := 'A capture trigger of the table is disabled, missing or not graphsync''s, and enabling or'
                      ' creating it waits for every open transaction that wrote the table.';
        WHEN 'drop' THEN
            verb := 'drop or regenerate';
            detail := 'Dropping or changing a table''s capture triggers waits for every open transaction that wrote'
                      ' the table.';
        ELSE
            RAISE EXCEPTION 'doing must be install, repair or drop, not %', coalesce(doing, 'NULL')
                USING ERRCODE = '22023';
    END CASE;
    IF tbls IS NULL OR pg_catalog.cardinality(tbls) = 0 THEN
        RETURN;
    END IF;
    bound := graph._registration_lock_wait();
    PERFORM pg_catalog.set_config('lock_timeout', bound, true);
    BEGIN
        PERFORM graph._install_capture(tbls);
    EXCEPTION WHEN lock_not_available THEN
        IF pg_catalog.cardinality(tbls) = 1 THEN
            held := tbls[1]::pg_catalog.regclass::text;
        ELSE
            WITH RECURSIVE member (top, rel) AS (
                SELECT u.t, u.t FROM pg_catalog.unnest(tbls) AS u (t)
                UNION
                SELECT m.top, i.inhrelid FROM member AS m JOIN pg_catalog.pg_inherits AS i ON i.inhparent = m.rel
            )
            SELECT u.t::pg_catalog.regclass::text INTO held
            FROM pg_catalog.unnest(tbls) WITH ORDINALITY AS u (t, o)
            WHERE EXISTS (SELECT FROM member AS m JOIN pg_catalog.pg_locks AS l ON l.relation = m.rel
                          WHERE m.top = u.t AND l.pid <> pg_catalog.pg_backend_pid() AND l.granted
                            AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                              WHERE d.datname = pg_catalog.current_database()))
            ORDER BY u.o LIMIT 1;
            held := coalesce(held, 'one of ' || pg_catalog.array_to_string(
                ARRAY(SELECT u.t::pg_catalog.regclass::text FROM pg_catalog.unnest(tbls) AS u (t)), ', '));
        END IF;
        PERFORM pg_catalog.set_config('lock_timeout', caller_timeout, true);
        RAISE EXCEPTION 'graphsync could not lock % within % to % its capture triggers: a writer of it (or another'
                        ' session) holds it in a transaction still open; nothing was changed', held, bound, verb
            USING ERRCODE = '55P03', DETAIL = detail,
                  HINT = 'Retry when that transaction has ended (pg_locks shows who holds the table).';
    END;
    PERFORM pg_catalog.set_config('lock_timeout', caller_timeout, true);
END;
$$;

COMMENT ON FUNCTION graph._install_capture_bounded(oid[], text) IS
'Internal: graph._install_capture(tbls), its trigger DDL waiting at most 5 s (the caller''s lock_timeout when shorter) for the tables'' open writers, then 55P03 naming the table; doing (install, repair, drop) words the message.';
