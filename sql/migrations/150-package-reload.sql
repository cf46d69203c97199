-- 150-package-reload: graph._import_package() returns whether its answer is settled for the
-- backend (boolean, was void), so that a pooled backend imports the package again
-- after an upgrade (sql/functions/graph._import_package.sql). A function's return
-- type cannot be replaced: the old one is dropped here, and the install creates
-- the new one.
DROP FUNCTION IF EXISTS graph._import_package();
