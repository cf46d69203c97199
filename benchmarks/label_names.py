#!/usr/bin/env python3
"""A read asks graph._labels only for the labels it needs, against the code before.

    .venv/bin/python benchmarks/label_names.py --before DIR [--indexed] [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). One server, two databases: ``before`` installed from that tree,
``after`` from this one; the same graph in both: the read benchmarks' graph
(benchmarks/common.py GRAPH_SCHEMA, N nodes, 5N edges of bench.links), its label
column ``kind`` holding 20,000 distinct labels (``'k' || id % 20000``) where the
other benchmarks have three.

Roles, each reading both databases with the same depth-2 traversals from the same
20 seeds, alternating the order (database and role) every repetition:

- ``plain``: BYPASSRLS and no graph_admin member: told the labels once a graph
  version, so at rest (this benchmark) no read asks graph._labels;
- ``rls``: a policy ``USING (true)`` on bench.links: row-level security of the
  label column's table applies, so every read is told the labels it shows anew.
  Before, each read asked graph._labels for every label, whose policy called
  graph._label_visible once a label (20,000 calls); after, only for the labels of
  the edges it returns.

``--indexed``: with an index on bench.links (kind), which graph._labels' policy asks
label by label (after the thirty-fifth stop's second change) where it otherwise reads
the column's rows a range of pages at a time until it finds the label.

Ratios after / before, per repetition, median (min-max). Writes benchmarks/LABEL_NAMES.md.
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
KINDS = 20_000

SETUP = f"""
UPDATE bench.links SET kind = 'k' || id % {KINDS};
{{index}}
SELECT graph.build();
ALTER TABLE bench.links ENABLE ROW LEVEL SECURITY;
""" + reach.roles_sql(ROLES) + """CREATE POLICY every_link ON bench.links FOR SELECT TO bench_rls USING (true);
"""


def setup(flags):
    # (analyzed: the statistics taken before the update say three labels, and the probe's
    # kept plan would scan the table for a rare one; see reads/label_policy.py LABELLED)
    return SETUP.replace("{index}", "CREATE INDEX ON bench.links (kind); ANALYZE bench.links;" if flags["indexed"]
                         else "")


def main() -> None:
    reach.compare(
        doc=__doc__, db="label_names", out="LABEL_NAMES.md", setup=setup, roles=ROLES,
        flags={"--indexed": "index the label column (graph._labels' policy then asks it label by label)"},
        seeds_of=lambda nodes: random.Random(7).sample(range(1, nodes + 1), 20),
        title="# A read asks graph._labels only for the labels it needs: before and after",
        describe=lambda nodes, edges, reps, lb, la: (
            f"`benchmarks/label_names.py{' --indexed' if '--indexed' in sys.argv else ''}`, {nodes:,} nodes /"
            f" {edges:,} edges whose label column holds {min(KINDS, edges):,} distinct labels, traverse depth 2"
            f" from 20 seeds, {reps} alternating"
            f" repetitions. Load average {lb[0]:.1f} before, {la[0]:.1f} after (2 cores)."))


if __name__ == "__main__":
    main()
