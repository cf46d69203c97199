-- 426-registry-write-check: a row of the registry names only a table its writer
-- may register. graph_admin may write the registry's tables (registration runs as
-- its caller), and graph.add_table and graph.add_edge refuse a table the caller may
-- not SELECT and put triggers on; a row written by hand did not, and privileged
-- code then read or captured the table for the admin: a superuser's build or
-- pg_cron's maintenance read its rows into graph._node_rows, a superuser's
-- reconcile attached capture to it, and a planted graph._capture_members row made
-- the owner's own DDL attach it (found in review; tests/test_abuse.py). Now a
-- trigger on each of those tables refuses (42501) a row that names a table, new or
-- changed, on which the role writing it (current_user) lacks SELECT or TRIGGER,
-- unless that role is a superuser or graph_sync (whose SECURITY DEFINER functions
-- follow the owner's DDL). graph_admin holds no TRIGGER on schema graph's tables
-- and owns none of them: it can neither drop nor disable these triggers. Rows
-- written before this migration are not checked.
-- graph._check_registration is created here with a body that lets every row pass, so
-- that the triggers can name it; sql/functions/graph._check_registration.sql gives
-- it its body.
CREATE FUNCTION graph._check_registration()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN NEW; END $$;

CREATE TRIGGER graphsync_check_registration BEFORE INSERT OR UPDATE ON graph._node_tables
FOR EACH ROW EXECUTE FUNCTION graph._check_registration('table_oid');

CREATE TRIGGER graphsync_check_registration BEFORE INSERT OR UPDATE ON graph._edge_sources
FOR EACH ROW EXECUTE FUNCTION graph._check_registration('from_table', 'via_table');

CREATE TRIGGER graphsync_check_registration BEFORE INSERT OR UPDATE ON graph._capture_members
FOR EACH ROW EXECUTE FUNCTION graph._check_registration('member_oid', 'table_oid');

CREATE TRIGGER graphsync_check_registration BEFORE INSERT OR UPDATE ON graph._column_map
FOR EACH ROW EXECUTE FUNCTION graph._check_registration('table_oid');
