-- 230-one-export-function: graph.export_dot, graph.export_mermaid and
-- graph.export_graphml call one internal function, graph._export(format, ...)
-- (sql/functions/graph._export.sql), in place of one internal function per
-- format; the three it replaces are dropped, so an upgraded database has the
-- functions a fresh install has.
DROP FUNCTION IF EXISTS graph._export_dot(
    regclass, text, integer, text, text[], regclass[], jsonb, text, integer, text, regclass[], text[]
);
DROP FUNCTION IF EXISTS graph._export_mermaid(
    regclass, text, integer, text, text[], regclass[], jsonb, text, integer, text, regclass[], text[]
);
DROP FUNCTION IF EXISTS graph._export_graphml(
    regclass, text, integer, text, text[], regclass[], jsonb, text, integer, text, regclass[], text[]
);
