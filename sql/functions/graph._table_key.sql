-- graph._table_key(tbl): the columns of tbl's primary key, or of its first
-- unique index on NOT NULL columns; NULL when it has neither.
CREATE OR REPLACE FUNCTION graph._table_key(tbl regclass)
RETURNS text[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(a.attname::text ORDER BY k.ord)
    FROM (
        SELECT i.indexrelid, i.indkey
        FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = tbl AND i.indisunique AND i.indpred IS NULL
          AND i.indexprs IS NULL AND i.indisvalid
          AND NOT EXISTS (
              SELECT FROM pg_catalog.pg_attribute AS na
              WHERE na.attrelid = tbl AND na.attnum = ANY (i.indkey) AND NOT na.attnotnull
          )
        ORDER BY i.indisprimary DESC, i.indexrelid
        LIMIT 1
    ) AS ix
    CROSS JOIN LATERAL unnest(ix.indkey::int2 []) WITH ORDINALITY AS k (attnum, ord)
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = tbl AND a.attnum = k.attnum
$$;
