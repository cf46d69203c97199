-- 120-integrity-counts: the counts of the last integrity check, for sync_health().
--
-- Table graph._integrity: one row, written by graph.dangling_references() and
-- graph.duplicate_edges() (each counts both, from one read of the sources) and by
-- maintenance's periodic source check; sync_health() shows it without reading
-- any source table.
--   checked_at           when the counts were taken (NULL: never)
--   dangling_references  references whose target (or, for a join table, either
--                        end) has no row, at checked_at
--   duplicate_edges      groups of edges of one edge source with the same ends
--                        and label, more than one edge each, at checked_at
CREATE TABLE graph._integrity (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    checked_at timestamptz,
    dangling_references bigint,
    duplicate_edges bigint
);

INSERT INTO graph._integrity (one) VALUES (true);

COMMENT ON TABLE graph._integrity IS
'The counts of the last integrity check (dangling references, duplicate edges), shown by sync_health().';

-- sync_health() gains the columns dangling_references, duplicate_edges and
-- integrity_checked_at (its functions file creates it again).
DROP FUNCTION IF EXISTS graph.sync_health();
