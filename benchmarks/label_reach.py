#!/usr/bin/env python3
"""A read asks only the secured label columns it reaches, against the code before.

    .venv/bin/python benchmarks/label_reach.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). One server, two databases: ``before`` installed from that tree,
``after`` from this one; the same graph in both: the read benchmarks' graph
(benchmarks/common.py GRAPH_SCHEMA, N nodes, 5N edges of bench.links with label
column ``kind``) plus bench.far (N rows) and bench.farlinks (5N rows, a join table
with label column ``tag``, 50 distinct values), registered, which no edge from
bench.nodes reaches.

Roles, each reading both databases with the same depth-2 traversals from the same
20 seeds, alternating the order (database and role) every repetition:

- ``plain``: BYPASSRLS, row-level security applies to no table: the ordinary read,
  which must not get slower (it loads label names once per graph version);
- ``rls``: a policy ``USING (true)`` on bench.farlinks: row-level security of a
  label column's table applies, so every read loads label names through
  graph._labels; before, its policy read both label columns (bench.links' and
  bench.farlinks'), after only bench.links' (bench.farlinks is not reached).

Ratios after / before, per repetition, median (min-max). Writes benchmarks/LABEL_REACH.md.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import reach  # noqa: E402

ROLES = ("plain", "rls")

SETUP = """
CREATE TABLE bench.far (id int PRIMARY KEY, note text NOT NULL);
CREATE TABLE bench.farlinks (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, tag text NOT NULL);
INSERT INTO bench.far SELECT g, 'far ' || g FROM generate_series(1, {nodes}) AS g;
INSERT INTO bench.farlinks
SELECT g, 1 + (g * 7) % {nodes}, 1 + (g * 13) % {nodes}, 'tag ' || g % 50 FROM generate_series(1, {edges}) AS g;
ANALYZE bench.far, bench.farlinks;
SELECT graph.add_table('bench.far', columns => '{{note}}');
SELECT graph.add_edge('bench.far', 'a', 'bench.far', to_column => 'b', via_table => 'bench.farlinks',
                      label_column => 'tag');
SELECT graph.build();
ALTER TABLE bench.farlinks ENABLE ROW LEVEL SECURITY;
""" + reach.roles_sql(ROLES) + """CREATE POLICY every_far ON bench.farlinks FOR SELECT TO bench_rls USING (true);
"""

def main() -> None:
    reach.compare(
        doc=__doc__, db="label", out="LABEL_REACH.md", setup=SETUP, roles=ROLES,
        seeds_of=lambda nodes: random.Random(7).sample(range(1, nodes + 1), 20),
        title="# A read asks only the secured label columns it reaches: before and after",
        describe=lambda nodes, edges, reps, lb, la: (
            f"`benchmarks/label_reach.py`, {nodes:,} nodes / {edges:,} edges (+ bench.far, {nodes:,} rows, and"
            f" bench.farlinks, {edges:,} rows with a label column, that no edge from bench.nodes reaches), traverse"
            f" depth 2 from 20 seeds, {reps} alternating repetitions. Load average {lb[0]:.1f} before,"
            f" {la[0]:.1f} after (2 cores, shared with other work: a noisy run)."))

if __name__ == "__main__":
    main()
