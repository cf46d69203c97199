-- 400-csr-out-row-only: a generation's base is stored as its 'out' CSR alone.
--
-- graph._csr: from this release a build writes one row per generation, direction
-- 'out'; the 'in' CSR is its reverse (plpython graphsync/algorithms/csr.py reverse,
-- a pure function of the 'out' arrays), made again by whoever needs it: a backend
-- that writes the generation's shared base file from these rows (the same file,
-- byte for byte, as the build wrote) or holds the base privately. Writing only the
-- 'out' row spares a build half of its graph._csr writes (sync/base.py STORED).
-- Rows of direction 'in' that older releases wrote stay valid and are read as they
-- are, until the next build removes that generation. Nothing is rewritten here.
COMMENT ON TABLE graph._csr IS
'The base CSR of each generation: the out row (the in CSR is its reverse; in rows are kept from older releases).';
