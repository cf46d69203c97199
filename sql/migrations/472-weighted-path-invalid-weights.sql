-- 472-weighted-path-invalid-weights: graph.weighted_shortest_path takes one more
-- argument, invalid_weights ('error', the default: an edge the search could reach
-- weighing less than 0, NaN or +-Infinity is 22023, as before; 'skip': such edges
-- are left out of the call's graph), and so does graph._weighted_shortest_path,
-- which does its work. Any role that may write a weight column could otherwise
-- deny weighted paths to every reader whose search reaches its edge. A new argument
-- is a new signature: CREATE OR REPLACE would leave the old form beside the new
-- one (and a call without invalid_weights would be ambiguous), so both old forms
-- are dropped here and the install creates the new ones with their comments and
-- grants (sql/functions/graph.weighted_shortest_path.sql,
-- sql/functions/graph._weighted_shortest_path.sql, sql/privileges.sql).
DROP FUNCTION IF EXISTS graph.weighted_shortest_path(regclass, text, regclass, text, text, text[], text);
DROP FUNCTION IF EXISTS graph._weighted_shortest_path(regclass, text, regclass, text, text, text[], text);
