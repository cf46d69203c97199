-- 130-shared-base-files: what a backend needs to map the base of a generation from
-- one shared, read-only file instead of holding its own copy (plpython
-- graphsync/sync/basefile.py; README, Operations: "The shared base files").
--
-- graph._csr, on the 'out' row of a generation (NULL on the 'in' row):
--   tables       the table oid of every base node (u32 little-endian, node_count
--                of them), which reads otherwise read from graph._nodes
--   file_bytes   the size of the generation's shared file
--   file_sha256  its SHA-256 (hex): a file is used only when it has this size and
--                checksum; build records both, readers write and check the file
-- A base built before this migration has NULL here: backends hold it privately,
-- as before, until the next build.
ALTER TABLE graph._csr
ADD COLUMN tables bytea,
ADD COLUMN file_bytes bigint,
ADD COLUMN file_sha256 text;

DO $$
BEGIN
    ALTER TABLE graph._csr ALTER COLUMN tables SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'graphsync: this server has no lz4; graph._csr.tables stays pglz-compressed';
END;
$$;

COMMENT ON COLUMN graph._csr.tables IS
'The table oid of every base node (u32 little-endian), on the out row of a generation.';
COMMENT ON COLUMN graph._csr.file_bytes IS
'Size of the generation''s shared base file (out row); NULL: built before shared files.';
COMMENT ON COLUMN graph._csr.file_sha256 IS
'SHA-256 (hex) of the generation''s shared base file (out row): a file is used only when it matches.';
