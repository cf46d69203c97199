-- graph._error_message(message): an error's message as a public function hands
-- it on. PL/Python renders PostgreSQL's own error under a statement graphsync ran
-- (an SPIError leaving it) as 'spiexceptions.<Type>: <message>', once per
-- PL/Python level it leaves (and 'plpy.SPIError: ' for one raised without a
-- SQLSTATE): those leading prefixes go, the message stays; anything else is
-- returned as it is (NULL as NULL). Every public PL/pgSQL function's error handler
-- calls it (sql/functions/README.md), as its caller: PUBLIC may run it. Touches
-- nothing.
CREATE OR REPLACE FUNCTION graph._error_message(message text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.regexp_replace(message, '^((spiexceptions[.][A-Za-z]+|plpy[.]SPIError): )+', '');
$$;

COMMENT ON FUNCTION graph._error_message(text) IS
'Internal: an error message without the "spiexceptions.<Type>: " prefixes PL/Python puts before PostgreSQL''s own errors (what every public wrapper hands on).';
