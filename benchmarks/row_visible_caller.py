#!/usr/bin/env python3
"""What answering graph._nodes' row policy as the caller costs, against the code before.

    .venv/bin/python benchmarks/row_visible_caller.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). graph._row_visible (and graph._labels' policy) now answer as the
role running the call instead of trusting the role their caller names: graph._nodes'
policy passes a per-statement scope token (graph._row_scope, migration 295), and a
call without a token issued to the role it names looks the caller up. One server, two databases, ``before`` from
that tree and ``after`` from this one, the same graph in both (benchmarks/reach.py's
setup: N nodes, 5N edges, policies), read by the roles of reach.py whose reads call
the policy node by node:

- ``rls_near``: a policy shows a tenth of bench.nodes;
- ``all_near``: a policy ``USING (true)``: every node a statement reads calls it;

each with two statements, alternating database and order every repetition:
``traverse`` (depth-2 traversals from 20 seeds, as reach.py) and ``scan``
(``SELECT count(*) FROM graph._nodes`` of bench.nodes, 5 times: the policy is
called once per node of the table, the worst case of the change).
Ratios after / before, per repetition, median (min-max). Writes
benchmarks/ROW_VISIBLE_CALLER.md.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import reach  # noqa: E402

ROLES = ("rls_near", "all_near")
SCAN = "SELECT count(*) + 0 * %(seed)s::int FROM graph._nodes WHERE table_oid = 'bench.nodes'::regclass"


def main() -> None:
    reach.compare(
        doc=__doc__, db="rvc", out="ROW_VISIBLE_CALLER.md", setup=reach.SETUP, roles=ROLES, seeds_of=None,
        queries={
            "traverse": (reach.TRAVERSE, lambda nodes: random.Random(7).sample(list(range(10, nodes + 1, 10)), 20)),
            "scan": (SCAN, lambda nodes: list(range(5))),
        },
        reps=7,
        title="# graph._nodes' row policy answered as the caller: before and after",
        describe=lambda nodes, edges, reps, lb, la: (
            f"`benchmarks/row_visible_caller.py`, {nodes:,} nodes / {edges:,} edges (benchmarks/reach.py's graph"
            f" and policies), {reps} alternating repetitions; `traverse`: depth-2 traversals from 20 seeds, per"
            f" traversal; `scan`: `count(*)` of graph._nodes of bench.nodes ({nodes:,} policy calls for"
            f" `all_near`), per statement. Load average {lb[0]:.1f} before, {la[0]:.1f} after (2 cores, shared"
            " with other work: a noisy run)."))


if __name__ == "__main__":
    main()
