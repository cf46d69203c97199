#!/usr/bin/env python3
"""graph._nodes' and graph._labels' policies per row, against the code before.

    .venv/bin/python benchmarks/policy_calls.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). One server, two databases: ``before`` installed from that tree,
``after`` from this one; the same graph in both: the read benchmarks' graph
(benchmarks/common.py GRAPH_SCHEMA, N nodes, 5N edges of bench.links), its label
column ``kind`` holding 20,000 distinct labels, row-level security on bench.nodes
and on bench.links.

A read of every node or label of a secured table calls the policy's function once
a row (graph._row_visible, graph._label_visible: PL/Python), which answers from the
keys or labels it read once for the statement. The statements, each by two roles
(``rls_all``: policies ``USING (true)``; ``rls_tenth``: bench.nodes ``id % 10 = 0``,
every link), alternating the order (database and role) every repetition:

- ``nodes``: ``SELECT count(*) FROM graph._nodes`` of bench.nodes (a question a node);
- ``components``: ``graph.connected_components()`` (reads.access ROW_VISIBLE: the
  visible keys joined with graph._nodes, the policy asked per node it joins);
- ``labels``: ``SELECT count(*) FROM graph._labels`` (a question a label).

Ratios after / before, per repetition, median (min-max). Writes benchmarks/POLICY_CALLS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import reach  # noqa: E402

ROLES = ("rls_all", "rls_tenth")
KINDS = 20_000

SETUP = f"""
UPDATE bench.links SET kind = 'k' || id % {KINDS};
SELECT graph.build();
ALTER TABLE bench.nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench.links ENABLE ROW LEVEL SECURITY;
""" + reach.roles_sql(ROLES, bypass=()) + """
CREATE POLICY every_node ON bench.nodes FOR SELECT TO bench_rls_all USING (true);
CREATE POLICY tenth ON bench.nodes FOR SELECT TO bench_rls_tenth USING (id % 10 = 0);
CREATE POLICY every_link ON bench.links FOR SELECT TO bench_rls_all, bench_rls_tenth
    USING (true);
"""

# (the seed only names a repetition: each statement reads the whole table)
QUERIES = {
    "nodes": ("SELECT count(*) FROM graph._nodes WHERE table_oid = 'bench.nodes'::regclass"
              " AND %(seed)s::text IS NOT NULL", lambda nodes: [1, 2, 3]),
    "components": ("SELECT count(*) FROM graph.connected_components() WHERE %(seed)s::text IS NOT NULL",
                   lambda nodes: [1, 2, 3]),
    "labels": ("SELECT count(*) FROM graph._labels WHERE %(seed)s::text IS NOT NULL", lambda nodes: [1, 2, 3]),
}


def main() -> None:
    reach.compare(
        doc=__doc__, db="policy_calls", out="POLICY_CALLS.md", setup=SETUP, roles=ROLES, queries=QUERIES,
        seeds_of=None, reps=5,
        title="# graph._nodes' and graph._labels' policies per row: before and after",
        describe=lambda nodes, edges, reps, lb, la: (
            f"`benchmarks/policy_calls.py`, {nodes:,} nodes / {edges:,} edges whose label column holds"
            f" {min(KINDS, edges):,} distinct labels, each statement three times a repetition, {reps} alternating"
            f" repetitions. Load average {lb[0]:.1f} before, {la[0]:.1f} after (2 cores)."))


if __name__ == "__main__":
    main()
