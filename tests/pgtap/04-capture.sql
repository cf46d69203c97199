-- Registration installs statement-level capture triggers; each write produces the
-- right log row; unregistration removes the triggers and the capture function.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(20);

CREATE TABLE public.pgtap_t (id int PRIMARY KEY, name text, ref int, note text);
SELECT hasnt_trigger('public', 'pgtap_t', 'graphsync_capture_insert', 'no trigger before registration');

SELECT lives_ok($$SELECT graph.add_table('public.pgtap_t', columns => '{name}')$$, 'add_table');
SELECT lives_ok($$SELECT graph.add_edge('public.pgtap_t', 'ref', 'public.pgtap_t', label => 'refers')$$,
                'add_edge');

SELECT has_trigger('public', 'pgtap_t', 'graphsync_capture_' || op, 'trigger for ' || op)
FROM unnest(ARRAY['insert', 'update', 'delete', 'truncate']) AS op;
SELECT trigger_is('public', 'pgtap_t', 'graphsync_capture_insert',
                  'graph', '_capture_' || 'public.pgtap_t'::regclass::oid, 'the trigger calls the capture function');
-- tgtype bits: 1 row-level, 2 before, 64 instead of.
SELECT is((SELECT count(*) FROM pg_trigger
           WHERE tgrelid = 'public.pgtap_t'::regclass AND tgname LIKE 'graphsync\_capture\_%'
             AND tgtype & (1 | 2 | 64) = 0 AND tgenabled = 'A'),
          4::bigint, 'the four capture triggers are AFTER ... FOR EACH STATEMENT, enabled ALWAYS (replica writes too)');

CREATE TEMP TABLE log_mark AS SELECT coalesce(max(id), 0) AS id FROM graph._sync_log;
CREATE TEMP VIEW new_log AS
SELECT l.op, l.table_oid, l.table_name, l.pk, l.old_pk, l.new_pk, l.properties, l.old_row, l.new_row,
       l.xid = pg_current_xact_id()::text::bigint AS this_xact, l.needs_vacuum, l.error_message
FROM graph._sync_log AS l WHERE l.id > (SELECT id FROM log_mark) ORDER BY l.id;

INSERT INTO public.pgtap_t VALUES (1, 'a', NULL, 'x'), (2, 'b', 1, 'y');
SELECT results_eq('SELECT * FROM new_log', $$VALUES
    ('I'::char, 'public.pgtap_t'::regclass::oid, 'public.pgtap_t', '1', NULL, '1', '{"name": "a"}'::jsonb, NULL::jsonb,
     '{"ref": null}'::jsonb, true, false, NULL::text),
    ('I', 'public.pgtap_t'::regclass::oid, 'public.pgtap_t', '2', NULL, '2', '{"name": "b"}', NULL, '{"ref": "1"}', true,
     false, NULL)$$, 'an INSERT logs one I row per row');

TRUNCATE log_mark;
INSERT INTO log_mark SELECT max(id) FROM graph._sync_log;
UPDATE public.pgtap_t SET note = 'z';
SELECT is_empty('SELECT * FROM new_log', 'an UPDATE of uncaptured columns logs nothing');
UPDATE public.pgtap_t SET ref = 2, name = 'c' WHERE id = 1;
SELECT results_eq('SELECT * FROM new_log', $$VALUES
    ('U'::char, 'public.pgtap_t'::regclass::oid, 'public.pgtap_t', '1', '1', '1', '{"name": "c"}'::jsonb,
     '{"ref": null}'::jsonb, '{"ref": "2"}'::jsonb, true, false, NULL::text)$$,
    'an UPDATE logs old and new captured values');

TRUNCATE log_mark;
INSERT INTO log_mark SELECT max(id) FROM graph._sync_log;
UPDATE public.pgtap_t SET id = 3 WHERE id = 2;
SELECT results_eq('SELECT op, pk, old_pk, new_pk, old_row, new_row FROM new_log', $$VALUES
    ('U'::char, '3', '2', '3', '{"ref": "1"}'::jsonb, '{"ref": "1"}'::jsonb)$$,
    'a key change logs the old and the new key');

TRUNCATE log_mark;
INSERT INTO log_mark SELECT max(id) FROM graph._sync_log;
DELETE FROM public.pgtap_t WHERE id = 1;
SELECT results_eq('SELECT * FROM new_log', $$VALUES
    ('D'::char, 'public.pgtap_t'::regclass::oid, 'public.pgtap_t', '1', '1', NULL, NULL::jsonb, '{"ref": "2"}'::jsonb,
     NULL::jsonb, true, false, NULL::text)$$, 'a DELETE logs the old key and captured values');

TRUNCATE log_mark;
INSERT INTO log_mark SELECT max(id) FROM graph._sync_log;
TRUNCATE public.pgtap_t;
SELECT results_eq('SELECT * FROM new_log', $$VALUES
    ('T'::char, 'public.pgtap_t'::regclass::oid, 'public.pgtap_t', NULL, NULL, NULL, NULL::jsonb, NULL::jsonb, NULL::jsonb,
     true, true, NULL::text)$$, 'a TRUNCATE logs one T row that needs vacuum');

TRUNCATE log_mark;
INSERT INTO log_mark SELECT max(id) FROM graph._sync_log;
SAVEPOINT before_write;
INSERT INTO public.pgtap_t VALUES (9, 'gone', NULL, NULL);
ROLLBACK TO SAVEPOINT before_write;
SELECT is_empty('SELECT * FROM new_log', 'a write rolled back to a savepoint leaves no log row');

SELECT lives_ok($$SELECT graph.remove_table('public.pgtap_t', cascade => true)$$, 'remove_table');
SELECT hasnt_trigger('public', 'pgtap_t', 'graphsync_capture_' || op, 'no trigger for ' || op || ' after removal')
FROM unnest(ARRAY['insert', 'delete']) AS op;
SELECT is((SELECT count(*) FROM pg_proc WHERE proname = '_capture_' || 'public.pgtap_t'::regclass::oid), 0::bigint,
          'the capture function is gone');

SELECT * FROM finish();
ROLLBACK;
