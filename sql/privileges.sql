-- Privileges, applied last on every install. Nothing in schema graph is open to
-- PUBLIC except what is granted here; graph_admin runs registration, build,
-- replay and verify. Capture trigger functions are SECURITY DEFINER, so writers
-- of registered tables need no right on the log.
REVOKE ALL ON ALL TABLES IN SCHEMA graph FROM public;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA graph FROM public;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA graph FROM public;
GRANT USAGE ON SCHEMA graph TO public;

GRANT ALL ON ALL TABLES IN SCHEMA graph TO graph_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA graph TO graph_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graph TO graph_admin;

GRANT EXECUTE ON FUNCTION graph.sync_health() TO public;
