-- graph._raise_error(state, message, detail, hint): raise the error these say,
-- its message through graph._error_message as every public wrapper's handler
-- hands it on (a detail or hint NULL or '' is left out); never returns. What graph.traverse,
-- a SQL function its caller's query takes in (inlined), raises of an error
-- graph._traverse returned as columns: CONTEXT then names this function and its
-- RAISE line only, as a PL/pgSQL wrapper's handler names itself. PUBLIC may run
-- it: it raises what its caller gives it, as RAISE would. Touches nothing.
CREATE OR REPLACE FUNCTION graph._raise_error(state text, message text, detail text, hint text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    message := graph._error_message(message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF coalesce(detail, '') = '' AND coalesce(hint, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message;
    ELSIF coalesce(hint, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = detail;
    ELSIF coalesce(detail, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, HINT = hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = detail, HINT = hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._raise_error(text, text, text, text) IS
'Internal (graph.traverse): raise the error with this SQLSTATE, message, detail and hint; never returns.';
