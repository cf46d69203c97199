-- 385-sync-log-attention-table: the log rows that need attention (replay failed
-- on them: error_message; TRUNCATE markers not yet folded by a build:
-- needs_vacuum) are found through a table of their ids instead of a partial
-- index of graph._sync_log (migration 176). Every statement that inserts into
-- the log, which is every captured write of a registered table, opened that
-- index, planned its predicate and tested each row against it, although a
-- captured row never matches it: about 7,800 instructions per single-row INSERT,
-- UPDATE or DELETE of the capture benchmark (benchmarks/CAPTURE.md). The rows
-- that match are few and are flagged by few statements (replay and retry
-- recording an error; capture logging a TRUNCATE), which add the id here.
--
-- graph._sync_log_attention:
--   id  a graph._sync_log id. Every log row with error_message or needs_vacuum
--       has its id here (a superset: an id may stay after the flag is cleared,
--       or after its row is gone, until graph.prune_sync_log() drops it). A
--       reader keeps its own test of the flags and adds
--       "id = ANY (ARRAY(SELECT id FROM this table))", which reaches the rows
--       by the primary key whatever the statistics say.
CREATE TABLE graph._sync_log_attention (
    id bigint PRIMARY KEY
);

COMMENT ON TABLE graph._sync_log_attention IS
'Ids of graph._sync_log rows that failed replay or are unfolded TRUNCATE markers (a superset: cleared ids go at pruning).';

INSERT INTO graph._sync_log_attention (id)
SELECT l.id FROM graph._sync_log AS l
WHERE l.error_message IS NOT NULL OR l.needs_vacuum;

DROP INDEX graph._sync_log_attention_idx;

-- What health quotes to a role that is no admin (migration 285): the failed rows,
-- reached by their ids.
CREATE OR REPLACE VIEW graph._failed_visible WITH (security_barrier) AS
SELECT
    l.id,
    l.table_oid,
    l.table_name,
    l.error_message
FROM graph._sync_log AS l
WHERE
    l.error_message IS NOT NULL
    AND l.id = ANY (ARRAY( -- noqa: CP03, LT01, LT06
        SELECT a.id FROM graph._sync_log_attention AS a
    ))
    AND CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE FALSE
    END;
