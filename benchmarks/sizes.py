#!/usr/bin/env python3
"""Reads, the first read in a fresh connection and per-backend memory against the
graph's size, side by side with their peers, in one run.

    .venv/bin/python benchmarks/sizes.py [--edges 10000,100000,1000000[,10000000]]
                                         [--first-reads 15] [--backends 5] [--repeat 3]
                                         [--before TREE] [--no-peers] [--add] [--out FILE]

For each size (nodes = edges / 5; the graph of benchmarks/reads.py: bench.nodes,
bench.links with weights and labels, registered, built, read once so that the
shared base file of its generation exists), in a database of its own:

- the first statement in a fresh connection, each variant in a new connection, the
  variants alternating (rotated every repetition): a DO block that imports NumPy
  (the floor any PL/Python backend that uses NumPy pays), one that imports NumPy and
  scipy.sparse.csgraph, graph.traverse depth 2 from a random seed, the same with
  the package's stored code switched off (every module compiled from its source, as
  before migration 190), and the same walk as a recursive CTE; with ``--before TREE``
  (a repository tree of earlier code) also graph.traverse depth 2 in a second
  database of the same cluster, installed from TREE, with the same graph (built
  there too), the same seeds in turn, its CPU time paired with this code's of the
  same repetition (ratio this / before);
- memory per backend (/proc/<pid>/smaps_rollup, as benchmarks/memory.py): N
  backends that each imported NumPy only, ran one CTE walk, or one graph.traverse;
  Anonymous (its own heap) and Pss (its share of what it maps, the base file's pages
  included);
- the read comparisons of benchmarks/reads.py with few repetitions: traverse depth
  2, 3 and 6 vs a recursive CTE in a warm backend, weighted_shortest_path vs
  pgr_dijkstra, connected_components vs pgr_connectedComponents; ``--no-peers``
  skips them (pgr_dijkstra and pgr_connectedComponents read every edge on each call:
  some 14 minutes at 10M edges), and with ``--add`` keeps a size's comparisons from
  the earlier run, marked as such.

Needs the server's /proc: a local cluster (tools/pgcluster.py), run as root or as
the server's OS user. Writes benchmarks/SIZES.md (or --out) and the plot beside it
(sizes.png).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import reads  # noqa: E402
from common import database, png_beside  # noqa: E402
from memory import smaps  # noqa: E402

import pgcluster  # noqa: E402

DB = "graphsync_bench_sizes"
# What follows this line in --out was written by hand (runs not merged into the tables):
# --add keeps it as it is.
BY_HAND = "<!-- Written by hand from here on: benchmarks/sizes.py --add keeps it as it is. -->"

NUMPY = "DO $$ import numpy $$ LANGUAGE plpython3u"
SCIPY = "DO $$ import numpy, scipy.sparse.csgraph $$ LANGUAGE plpython3u"
CTE = reads.CTE
TRAVERSE = reads.TRAVERSE
# Every module compiled from its source: the stored code's key no longer matches.
CODE_OFF = "UPDATE graph._py_modules SET code_key = 'off:' || code_key WHERE code_key NOT LIKE 'off:%'"
CODE_ON = "UPDATE graph._py_modules SET code_key = substr(code_key, 5) WHERE code_key LIKE 'off:%'"

FIRST = [("numpy", "DO block: `import numpy`"),
         ("scipy", "DO block: `import numpy, scipy.sparse.csgraph`"),
         ("graphsync", "graph.traverse depth 2"),
         ("source", "graph.traverse depth 2, modules compiled from source (no stored code)"),
         ("cte", "recursive CTE depth 2"),
         ("before", "graph.traverse depth 2, the code before (--before)")]


def first_variants(args) -> list[str]:
    """The first-statement variants measured: 'before' only with --before."""
    return [k for k, _ in FIRST if k != "before" or args.before]


def schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds waiting for one) of process ``pid`` so far, every
    thread of it (/proc/<pid>/task/*/schedstat, as common.cpu_seconds)."""
    on_cpu = waiting = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                run, wait, _ = f.read().split()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        on_cpu += int(run)
        waiting += int(wait)
    return on_cpu / 1e9, waiting / 1e9


def load():
    return "/".join("%.1f" % x for x in os.getloadavg())


class Size:
    """One graph size: its database, and what was measured on it."""

    def __init__(self, dsn: str, edges: int, args, before_dsn: str | None = None):
        self.dsn, self.edges, self.nodes, self.args = dsn, edges, edges // 5, args
        self.before_dsn = before_dsn  # the database of the code before (--before)
        self.rng = random.Random(edges)
        self.notes: list[str] = []
        self.first: dict[str, list[float]] = {}
        self.memory: dict[str, dict[str, float]] = {}
        self.reads = None
        self.kept_peers: dict | None = None  # --no-peers --add: the earlier run's comparisons

    def connect(self):
        return psycopg.connect(self.dsn, autocommit=True)

    def seed(self) -> str:
        return str(self.rng.randint(1, self.nodes))

    def setup(self) -> None:
        if self.before_dsn:
            self._setup(self.before_dsn, "the code before (--before): ")
        self._setup(self.dsn, "")

    def _setup(self, dsn: str, what: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            start = time.perf_counter()
            c.execute(reads.SCHEMA.format(nodes=self.nodes, edges=self.edges))
            loaded = time.perf_counter() - start
            start = time.perf_counter()
            c.execute("SELECT graph.build()")
            built = time.perf_counter() - start
        with psycopg.connect(dsn, autocommit=True) as c:
            start = time.perf_counter()
            c.execute(TRAVERSE, {"seed": self.seed(), "depth": 2})
            first = time.perf_counter() - start
        self.notes.append("%s%d nodes, %d edges: load %.1f s, graph.build() %.1f s, the first read after the build"
                          " (writes the generation's shared file) %.0f ms; load average %s"
                          % (what, self.nodes, self.edges, loaded, built, first * 1000, load()))
        print(self.notes[-1], flush=True)

    def first_reads(self) -> None:
        """Seconds of the first statement in a fresh connection, each variant in a new
        connection, the order rotated every repetition: by the client's clock, and the
        backend's own CPU time (on_cpu) and time waiting for a CPU (runqueue) over the
        statement, from /proc/<pid>/task/*/schedstat: on a loaded machine the clock mostly
        measures the queue."""
        names = first_variants(self.args)
        got: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        queue: dict[str, list[float]] = {k: [] for k in names}
        for rep in range(self.args.first_reads):
            shift = rep % len(names)
            seed = self.seed()  # 'graphsync' and 'before' walk from the same seed in each repetition
            for name in names[shift:] + names[:shift]:
                if name == "source":
                    with self.connect() as c:
                        c.execute(CODE_OFF)
                try:
                    with psycopg.connect(self.before_dsn if name == "before" else self.dsn, autocommit=True) as c:
                        c.execute("SELECT 1")
                        sql = {"numpy": NUMPY, "scipy": SCIPY, "cte": CTE}.get(name, TRAVERSE)
                        params = None if name in ("numpy", "scipy") else {
                            "seed": (seed if name in ("graphsync", "before") else self.seed()) if name != "cte"
                            else int(self.seed()), "depth": 2}
                        pid = c.info.backend_pid
                        before = schedstat(pid)
                        start = time.perf_counter()
                        c.execute(sql, params)
                        got[name].append(time.perf_counter() - start)
                        after = schedstat(pid)
                        cpu[name].append(after[0] - before[0])
                        queue[name].append(after[1] - before[1])
                finally:
                    if name == "source":
                        with self.connect() as c:
                            c.execute(CODE_ON)
        self.first, self.cpu, self.queue = got, cpu, queue
        print({k: round(statistics.median(v) * 1000, 1) for k, v in got.items()}, flush=True)
        print("cpu", {k: round(statistics.median(v) * 1000, 1) for k, v in cpu.items()}, flush=True)

    def backends(self, variant: str, count: int) -> list[dict[str, float]]:
        conns = [self.connect() for _ in range(count)]
        try:
            for c in conns:
                if variant == "numpy":
                    c.execute(NUMPY)
                elif variant == "cte":
                    c.execute(CTE, {"seed": int(self.seed()), "depth": 2}).fetchone()
                else:
                    c.execute(TRAVERSE, {"seed": self.seed(), "depth": 2}).fetchone()
            return [smaps(c.info.backend_pid) for c in conns]
        finally:
            for c in conns:
                c.close()

    def measure_memory(self) -> None:
        variants = ["numpy", "cte", "graphsync"]
        got: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for rep in range(2):
            for v in variants if rep % 2 == 0 else reversed(variants):
                got[v] += self.backends(v, self.args.backends)
        self.memory = {v: {f: statistics.median(b[f] for b in got[v]) for f in ("Anonymous", "Pss", "Rss")}
                       for v in variants}
        print({v: {k: round(x, 1) for k, x in m.items()} for v, m in self.memory.items()}, flush=True)

    def peers(self) -> None:
        """The read comparisons of benchmarks/reads.py, few repetitions (--peer-reps of
        the pgRouting ones, which read every edge on each call: minutes at 10M edges)."""
        b = reads.Bench(self.dsn, self.nodes, self.edges, self.args.repeat)
        b.rng = random.Random(self.edges + 1)
        b.traversals()
        b.repeat = self.args.peer_reps
        b.weighted()
        with self.connect() as c:  # as reads.Bench.components, with peer_reps repetitions
            reads.timed(c, "SELECT count(*) FROM graph.component_stats()")
            ours, peer = [], []
            for _ in range(self.args.peer_reps):
                ours.append(reads.timed(c, "SELECT count(*) FROM graph.connected_components()")[0])
                peer.append(reads.timed(c, "SELECT count(*) FROM pgr_connectedComponents(%s)", [reads.PGR_EDGES])[0])
        o, p = reads.median_ms(ours), reads.median_ms(peer)
        b.row("connected_components vs pgr_connectedComponents (%d runs)" % len(ours), o, p, "≥ 10× faster",
              p / o >= 10, wanted=10)
        self.reads = b

    def peer_result(self) -> dict:
        """The read comparisons: this run's, else (--no-peers) the earlier run's, kept."""
        if self.reads:
            return {"ratios": self.reads.ratios, "rows": self.reads.rows}
        return dict(self.kept_peers) if self.kept_peers else {"ratios": None, "rows": None}

    def result(self) -> dict:
        """What was measured, as plain values (SIZES.json)."""
        return {"edges": self.edges, "nodes": self.nodes, "notes": self.notes, "first": self.first,
                "before": self.args.before_label,
                "cpu": self.cpu, "queue": self.queue,
                "memory": self.memory, **self.peer_result(),
                "first_reads": self.args.first_reads, "backends": self.args.backends, "repeat": self.args.repeat}


def report(sizes: list[dict], runs: list[str], png: str) -> str:
    out = ["# Reads, first read and memory against the graph's size", "",
           "Written by `benchmarks/sizes.py`; each size in a database of its own on a throwaway cluster, the"
           " variants of each measurement alternating. Medians (min–max). The runs:", ""]
    out += ["- " + r for r in runs]
    out += ["- " + n for s in sizes for n in s["notes"]]
    first_cols = [(k, label) for k, label in FIRST if any(k in s["first"] for s in sizes)]

    def cell(values, k):
        if k not in values:
            return "—"
        v = values[k]
        return "%.0f (%.0f–%.0f)" % (statistics.median(v) * 1000, min(v) * 1000, max(v) * 1000)

    def paired(values):
        """this code / the code before, per repetition: median (min–max)."""
        if "before" not in values:
            return "—"
        ratios = [a / b for a, b in zip(values["graphsync"], values["before"], strict=True)]
        return "%.2f (%.2f–%.2f)" % (statistics.median(ratios), min(ratios), max(ratios))

    befores = sorted({s["before"] for s in sizes if s.get("before") and "before" in s["first"]})
    out += ["", "## First statement in a fresh connection", "",
            "Each variant in a new connection, %s each; ms." % "/".join(str(s["first_reads"]) for s in sizes)
            + (" The code before: %s." % ", ".join(befores) if befores else ""), "",
            "| edges | " + " | ".join(label for _, label in first_cols) + " | traverse beyond `import numpy` |"
            " traverse: this code / before |",
            "|---:|" + "---:|" * (len(first_cols) + 2)]
    for s in sizes:
        first = s["first"]
        med = {k: statistics.median(v) * 1000 for k, v in first.items()}
        cells = [cell(first, k) for k, _ in first_cols]
        out.append("| %d | %s | %+.0f | %s |" % (s["edges"], " | ".join(cells), med["graphsync"] - med["numpy"],
                                                 paired(first)))
    out += ["", "The same statements' CPU time in the backend (on a CPU, from /proc/<pid>/task/*/schedstat; ms, median"
            " (min–max)), which the machine's load affects far less than the clock; last columns: this code's"
            " traverse over the code before's in the same repetition, and the median"
            " time the backend waited for a CPU during the graph.traverse statement.", "",
            "| edges | " + " | ".join(label for _, label in first_cols) + " | traverse beyond `import numpy` |"
            " traverse: this code / before | traverse: waiting for a CPU |",
            "|---:|" + "---:|" * (len(first_cols) + 3)]
    for s in sizes:
        cpu = s["cpu"]
        med = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
        cells = [cell(cpu, k) for k, _ in first_cols]
        out.append("| %d | %s | %+.0f | %s | %.0f |" % (
            s["edges"], " | ".join(cells), med["graphsync"] - med["numpy"], paired(cpu),
            statistics.median(s["queue"]["graphsync"]) * 1000))
    out += ["", "## Memory per backend", "",
            "%s backends per variant, twice, the variants alternating; MiB per backend (median):"
            " Anonymous is the backend's own heap, Pss its share of all it maps (the base file's pages"
            " it touched included)." % "/".join(str(s["backends"]) for s in sizes), "",
            "| edges | `import numpy` only: own / Pss | CTE: own / Pss | graphsync: own / Pss |"
            " graphsync own beyond `import numpy` |", "|---:|---:|---:|---:|---:|"]
    for s in sizes:
        m = s["memory"]
        out.append("| %d | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %+.1f |" % (
            s["edges"], m["numpy"]["Anonymous"], m["numpy"]["Pss"], m["cte"]["Anonymous"], m["cte"]["Pss"],
            m["graphsync"]["Anonymous"], m["graphsync"]["Pss"], m["graphsync"]["Anonymous"] - m["numpy"]["Anonymous"]))
    out += ["", "## Reads vs their peers", "",
            "benchmarks/reads.py's comparisons (its Bench, repeat %s): ratio = peer time / graphsync time"
            " (above 1: graphsync faster), per-seed range for the traversals."
            % "/".join(str(s.get("peers_repeat", s["repeat"])) for s in sizes if s["ratios"]), ""]
    measured = [s for s in sizes if s["ratios"]]
    ops = [r[0] for r in measured[0]["ratios"]] if measured else []
    out += ["| operation | " + " | ".join("%d edges" % s["edges"] for s in measured) + " |",
            "|---|" + "---:|" * len(measured)]
    for i, op in enumerate(ops):
        cells = []
        for s in measured:
            _, ratio, low, high, _ = s["ratios"][i]
            cells.append("%.2f×" % ratio + (" (%.2f–%.2f)" % (low, high) if low is not None else ""))
        out.append("| %s | %s |" % (op, " | ".join(cells)))
    out += ["", "Times (ms, graphsync / peer):", ""]
    for s in measured:
        out += ["- %d edges: " % s["edges"] + "; ".join("%s %s / %s" % (r[0], r[1], r[2]) for r in s["rows"])]
    kept_from = ["%d edges: the run of %s" % (s["edges"], s["peers_from"]) for s in measured if s.get("peers_from")]
    if kept_from:
        out += ["", "Not measured again by the later runs of these sizes (`--no-peers`), so from an earlier run"
                " than the sizes' other tables: " + "; ".join(kept_from) + "."]
    out += ["", "![read latency, memory and ratios against the graph's size](%s)" % os.path.basename(png), ""]
    return "\n".join(out)


def plot(path: str, sizes: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    xs = [s["edges"] for s in sizes]
    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    axes = axes.flatten()
    for ax, key, what in ((axes[0], "first", "by the client's clock"),
                          (axes[1], "cpu", "the backend's CPU time (schedstat)")):
        for k, label in FIRST:
            have = [s for s in sizes if k in s[key]]
            if not have:
                continue
            med = [statistics.median(s[key][k]) * 1000 for s in have]
            lo = [m - min(s[key][k]) * 1000 for m, s in zip(med, have, strict=True)]
            hi = [max(s[key][k]) * 1000 - m for m, s in zip(med, have, strict=True)]
            ax.errorbar([s["edges"] for s in have], med, yerr=[lo, hi], marker="o", capsize=3,
                        label=label.replace("`", ""))
        ax.axhline(50, color="black", linestyle=":", linewidth=1, label="goal: first read ≤ 50 ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges")
        ax.set_ylabel("ms (median, whiskers min–max)")
        ax.set_title("first statement in a fresh connection: " + what, fontsize=10)
        ax.legend(fontsize=7)
    ax = axes[2]
    for v, label in (("numpy", "import numpy only"), ("cte", "recursive CTE"), ("graphsync", "graph.traverse")):
        ax.plot(xs, [s["memory"][v]["Anonymous"] for s in sizes], marker="o", label=label + ": own heap")
        ax.plot(xs, [s["memory"][v]["Pss"] for s in sizes], marker="x", linestyle="--", label=label + ": Pss")
    ax.set_xscale("log")
    ax.set_xlabel("edges")
    ax.set_ylabel("MiB per backend (median)")
    ax.set_title("memory per backend after one read", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[3]
    measured = [s for s in sizes if s["ratios"]]
    for i, op in enumerate([r[0] for r in measured[0]["ratios"]] if measured else []):
        ax.plot([s["edges"] for s in measured], [s["ratios"][i][1] for s in measured], marker="o",
                label=op.replace(" (3 runs)", "").replace(" (2 runs)", "").replace(" (1 runs)", ""))
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g×" % v))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("edges")
    ax.set_ylabel("peer time / graphsync time (median; above 1: graphsync faster)")
    ax.set_title("reads vs peers in a warm backend", fontsize=10)
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--edges", default="10000,100000,1000000")
    p.add_argument("--first-reads", type=int, default=15)
    p.add_argument("--backends", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--peer-reps", type=int, default=3)
    p.add_argument("--before", help="a repository tree of earlier code: its first read too (see above)")
    p.add_argument("--before-label", help="what --before is, for the table (default: its path)")
    p.add_argument("--no-peers", action="store_true",
                   help="skip the read comparisons with their peers (with --add: keep the earlier run's)")
    p.add_argument("--add", action="store_true",
                   help="keep the other sizes of the JSON beside --out (an earlier run) and add these")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "SIZES.md"))
    a = p.parse_args()
    a.before_label = a.before_label or a.before
    started, load_before = time.monotonic(), load()
    out = Path(a.out)
    raw = out.with_suffix(".json")
    kept = json.loads(raw.read_text()) if a.add and raw.exists() else {"runs": [], "sizes": []}
    edges = [int(x) for x in a.edges.split(",")]
    earlier = {s["edges"]: s for s in kept["sizes"]}
    kept["sizes"] = [s for s in kept["sizes"] if s["edges"] not in edges]
    png = png_beside(a.out)
    directory = tempfile.mkdtemp(prefix="graphsync-bench-")
    try:
        admin = pgcluster.start(directory, {"max_connections": str(2 * a.backends + 30)})
        for n in edges:
            with database(admin, DB) as dsn, (database(admin, DB + "_before", a.before) if a.before
                                              else contextlib.nullcontext()) as before:
                s = Size(dsn, n, a, before)
                if a.no_peers and earlier.get(n, {}).get("ratios"):
                    s.kept_peers = peers_of(earlier[n], kept["runs"])
                s.setup()
                s.first_reads()
                s.measure_memory()
                kept = write(kept, s, a, load_before, started, raw, png, out)
                if not a.no_peers:
                    s.peers()
            kept = write(kept, s, a, load_before, started, raw, png, out)
    finally:
        pgcluster.stop(directory)
    print(out.read_text())


def peers_of(size: dict, runs: list[str]) -> dict:
    """An earlier run's read comparisons of ``size``, and when they were measured: the
    last run line with that size and without --no-peers (its date), unless already kept."""
    when = size.get("peers_from")
    if not when:
        for run in reversed(runs):
            flags = run.split("`")[1] if run.count("`") >= 2 else ""
            listed = flags.split("--edges ")[1].split()[0].split(",") if "--edges " in flags else []
            if str(size["edges"]) in listed and "--no-peers" not in flags:
                when = run.split(": ")[0]
                break
    return {"ratios": size["ratios"], "rows": size["rows"], "peers_from": when or "an earlier run",
            "peers_repeat": size.get("peers_repeat", size["repeat"])}


def write(kept: dict, s: Size, a, load_before: str, started: float, raw: Path, png: str, out: Path) -> dict:
    """Write the JSON, the plot and the table with size ``s`` as measured so far (a long
    run stopped early keeps what it measured); returns what is kept."""
    run = ("%s: `benchmarks/sizes.py --edges %s --first-reads %d --backends %d --repeat %d --peer-reps %d%s%s%s`%s,"
           " %d cores shared with other work, load average %s at its start, %s at its last write, %.0f s so far"
           % (time.strftime("%Y-%m-%d %H:%M"), a.edges, a.first_reads, a.backends, a.repeat, a.peer_reps,
              " --before TREE" if a.before else "", " --no-peers" if a.no_peers else "", " --add" if a.add else "",
              ", TREE: %s" % a.before_label if a.before else "",
              os.cpu_count(), load_before, load(), time.monotonic() - started))
    runs = kept["runs"][:-1] if getattr(a, "wrote", False) else kept["runs"]
    a.wrote = True
    sizes = sorted([x for x in kept["sizes"] if x["edges"] != s.edges] + [s.result()], key=lambda x: x["edges"])
    kept = {"runs": runs + [run], "sizes": sizes}
    raw.write_text(json.dumps(kept, indent=1) + "\n")
    plot(png, sizes, "graphsync against the graph's size (%d cores, shared; load averages in %s)"
         % (os.cpu_count(), out.name))
    text = report(sizes, kept["runs"], png)
    if a.add:
        old = a.by_hand if hasattr(a, "by_hand") else (out.read_text() if out.exists() else "")
        a.by_hand = old
        if BY_HAND in old:
            text += "\n" + old[old.index(BY_HAND):]
    out.write_text(text)
    return kept

if __name__ == "__main__":
    main()
