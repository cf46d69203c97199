-- 011-csr-compression: store the base CSR arrays with lz4 instead of pglz.
-- At 1M edges pglz spends ~2.5 s of every rebuild compressing the arrays (and
-- readers decompress them on every cache load); lz4 takes ~0.2 s for ~1.5x the
-- bytes (benchmarks/REBUILD.md). Only new values change: the next build writes
-- lz4. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE graph._csr
    ALTER COLUMN offsets SET COMPRESSION lz4,
    ALTER COLUMN targets SET COMPRESSION lz4,
    ALTER COLUMN weights SET COMPRESSION lz4,
    ALTER COLUMN labels SET COMPRESSION lz4,
    ALTER COLUMN sources SET COMPRESSION lz4,
    ALTER COLUMN alive SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'graphsync: this server has no lz4; the base stays pglz-compressed';
END;
$$;
