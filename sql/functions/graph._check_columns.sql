-- graph._check_columns(tbl, cols): raise 42703 naming the first column of cols
-- that tbl does not have (dropped columns do not count).
CREATE OR REPLACE FUNCTION graph._check_columns(tbl regclass, cols text[])
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    SELECT c INTO missing
    FROM unnest(cols) AS c
    WHERE c IS NULL OR NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = tbl AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped
    )
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % does not exist in table %', coalesce(quote_ident(missing), 'NULL'), tbl
            USING ERRCODE = '42703';
    END IF;
END;
$$;
