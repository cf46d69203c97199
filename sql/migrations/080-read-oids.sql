-- 080-read-oids: graph._traverse takes its tables as oids.
--
-- graph.traverse passes the oids of its regclass arguments, so the PL/Python
-- read no longer renders each table to a name and parses it back on every call.
-- The function files create the new signature; the old one goes here.
DROP FUNCTION IF EXISTS graph._traverse(
    regclass, text, integer, text, text[], regclass[], jsonb, text, text, integer, boolean, regclass[], text[]
);
