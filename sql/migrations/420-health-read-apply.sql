-- 420-health-read-apply: the health row shows graph.read_apply, whose reads may
-- apply pending rows ('everyone' or 'admins'; plpython/graphsync/settings.py),
-- beside the other settings in force (set in graph._health).
ALTER TYPE graph.sync_health_row ADD ATTRIBUTE read_apply text;
