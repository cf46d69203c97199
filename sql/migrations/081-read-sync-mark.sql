-- 081-read-sync-mark: graph._read_sync also returns pending_mark.
--
-- A read that folds pending rows keeps the folded graph for as long as the
-- pending rows stay the same; pending_mark tells it so without reading them
-- again. A function's result columns cannot be changed in place: the old one
-- goes here, the function file creates the new one.
DROP FUNCTION IF EXISTS graph._read_sync(boolean);
