-- 330-pending-rows-after: graph._pending_rows() takes a fourth argument, after (the
-- highest log id the read's kept folded view holds, NULL by default): with seen, the
-- rows above it, and below it only those of transactions from seen's xmin on,
-- found by the log's two btree indexes instead of every pending row filtered by
-- seen (reads/freshness.py). Adding an argument makes a new function beside the
-- old one, and a call with three arguments would then match both: the old one is
-- dropped here, and the install creates the new one (as migration 160 did).
DROP FUNCTION IF EXISTS graph._pending_rows(regrole, integer, pg_snapshot);
