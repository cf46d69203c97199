-- 010-maintenance-jobs: the maintenance job log, the column types the base was
-- built with (for drift detection), and indexes health and pruning read.
-- Run once per database by install.py and recorded in graph._migrations.

-- Table graph._maintenance_jobs: one row per call of
-- graph.run_scheduled_maintenance(), graph.vacuum() or graph.reconcile(). A
-- failed run keeps its row (the work is rolled back in a subtransaction, the
-- row is not). phase is the last phase entered; while a run is under way,
-- pg_stat_activity.application_name shows it live. Pruned after
-- graph.job_retention.
--   job_id        the run's id (returned by the run)
--   kind          'scheduled' (run_scheduled_maintenance), 'vacuum' or 'reconcile'
--   started_at    when the run started
--   finished_at   when it ended (NULL while running)
--   status        'running', 'succeeded', 'failed', or 'skipped' (another run
--                 held the maintenance lock)
--   phase         the last phase entered
--   rows_applied  log rows the run applied
--   failed_rows   log rows that failed to apply during the run
--   rebuilt       whether it rebuilt the base
--   generation    the generation it built (NULL: no rebuild)
--   rows_pruned   applied log rows it deleted
--   differences   differences its source check (verify) found; NULL: no check ran
--   reason        what it did and why (e.g. why it rebuilt), or why it was skipped
--   error         the error of a failed run
--   run_by        the role that ran it
CREATE TABLE graph._maintenance_jobs (
    job_id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('scheduled', 'vacuum', 'reconcile')),
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    phase text NOT NULL DEFAULT 'start',
    rows_applied bigint NOT NULL DEFAULT 0,
    failed_rows bigint NOT NULL DEFAULT 0,
    rebuilt boolean NOT NULL DEFAULT false,
    generation bigint,
    rows_pruned bigint NOT NULL DEFAULT 0,
    differences bigint,
    reason text,
    error text,
    run_by name NOT NULL DEFAULT current_user
);

CREATE INDEX _maintenance_jobs_started_idx ON graph._maintenance_jobs (started_at);

COMMENT ON TABLE graph._maintenance_jobs IS
'One row per maintenance, vacuum or reconcile run: when, what it did, why, and its error if it failed. differences: source differences a verify in that run found (NULL: no verify ran).';

-- Table graph._registered_columns: the registered columns as the last build saw
-- them (written by graph._after_build). A column whose type or attribute number
-- differs now was retyped (or dropped and added again) without its rows being
-- captured, so the base no longer matches it.
--   table_oid    the table (a node table or a join table)
--   column_name  a column the registry names (graph._registered_column_roles)
--   table_name   the table's name at the build, for reports
--   attnum       the column's attribute number at the build
--   type_name    its type at the build (format_type)
CREATE TABLE graph._registered_columns (
    table_oid oid NOT NULL,
    column_name text NOT NULL,
    table_name text NOT NULL,
    attnum smallint NOT NULL,
    type_name text NOT NULL,
    PRIMARY KEY (table_oid, column_name)
);

COMMENT ON TABLE graph._registered_columns IS
'Type and position of each registered column when the base was last built; graph._schema_drift() compares them with the catalog.';

-- Failed rows and truncation markers are few; health counts them often.
CREATE INDEX _sync_log_failed_idx ON graph._sync_log (id) WHERE error_message IS NOT null;
CREATE INDEX _sync_log_vacuum_idx ON graph._sync_log (id) WHERE needs_vacuum;

-- The row graph.run_scheduled_maintenance() and graph.vacuum() return.
CREATE TYPE graph.maintenance_run AS (
    job_id bigint,
    status text,
    rows_applied bigint,
    failed_rows bigint,
    rebuilt boolean,
    generation bigint,
    rows_pruned bigint,
    differences bigint,
    reason text,
    error text,
    seconds double precision
);
