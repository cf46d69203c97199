-- 160-pending-rows-seen: graph._pending_rows() takes a third argument, seen (a
-- snapshot, NULL by default): only the pending rows that snapshot did not see. A
-- read that folded the pending rows once folds only the rows committed since
-- (reads/freshness.py). Adding an argument makes a new function beside the old
-- one, and a call with two arguments would then match both: the old one is
-- dropped here, and the install creates the new one.
DROP FUNCTION IF EXISTS graph._pending_rows(regrole, integer);
