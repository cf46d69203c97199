-- 020-owner-code-never-runs: the SQL-expression helpers of capture, build and
-- the reads take the table whose columns they render (graph._key_expr,
-- graph._object_expr), so they can render every value through built-in code or
-- its type's output function, never a cast a table owner wrote. Their previous
-- signatures, which rendered with ::text and jsonb_build_object whatever the
-- type, are dropped; sql/functions/ creates the new ones.
-- Run once per database by install.py and recorded in graph._migrations.
DROP FUNCTION IF EXISTS graph._key_expr(text[], text);
DROP FUNCTION IF EXISTS graph._object_expr(text[], text, boolean);
