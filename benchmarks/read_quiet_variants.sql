-- Variants for read_instructions.py --variants: a read at rest as on a server where
-- something commits between every two reads, which the single-user server (whose
-- snapshot never moves) cannot make. "quiet" tells the backend's reads.start that its
-- last START_QUIET's snapshot was not steady (_quiet), so the read runs START_QUIET,
-- not START_SAME; "called" makes the same PL/Python call without that, so that
-- quiet - called is what START_QUIET costs a read over START_SAME, and either form
-- counted against an earlier tree (--before) shows a change to that path.
CREATE FUNCTION public.bench_unsteady(seed text) RETURNS text LANGUAGE plpython3u VOLATILE AS $$
import sys
m = sys.modules.get("graphsync.reads.start")
if m is not None:
    m._quiet["steady"] = False
return seed
$$;
CREATE FUNCTION public.bench_steady(seed text) RETURNS text LANGUAGE plpython3u VOLATILE AS $$
import sys
m = sys.modules.get("graphsync.reads.start")
if m is not None:
    m._quiet["steady"] = m._quiet["steady"]
return seed
$$;
-- variant quiet
SELECT count(*) FROM graph.traverse('bench.nodes', public.bench_unsteady($1), max_depth => $2, max_nodes => 1000000)
-- variant called
SELECT count(*) FROM graph.traverse('bench.nodes', public.bench_steady($1), max_depth => $2, max_nodes => 1000000)
