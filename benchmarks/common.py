"""Helpers shared by the benchmarks: the server and database to run on, wall-clock
timing, interleaved repetitions, results. Callers put the repository root and
tools/ on sys.path first (install.py and pgcluster.py live there)."""

from __future__ import annotations

import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

import install
import pgcluster

# The graph the read benchmarks run on (benchmarks/reads.py, benchmarks/reads_under_writes.py):
# bench.nodes and bench.links, a join table with weight and label columns, random endpoints
# from a fixed seed, registered. Format with nodes= and edges=, run it, then graph.build().
GRAPH_SCHEMA = """
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.nodes (id int PRIMARY KEY, name text NOT NULL, status text NOT NULL);
CREATE TABLE bench.links (
    id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, weight float8, kind text NOT NULL
);
SELECT setseed(0.42);
INSERT INTO bench.nodes SELECT g, 'node ' || g, CASE WHEN g % 3 = 0 THEN 'done' ELSE 'open' END
FROM generate_series(1, {nodes}) AS g;
INSERT INTO bench.links
SELECT g, 1 + floor(random() * {nodes})::int, 1 + floor(random() * {nodes})::int,
       round((1 + random() * 9)::numeric, 2)::float8, (ARRAY['a', 'b', 'c'])[1 + g % 3]
FROM generate_series(1, {edges}) AS g;
CREATE INDEX ON bench.links (src);
CREATE INDEX ON bench.links (dst);
ANALYZE bench.nodes, bench.links;
SELECT graph.add_table('bench.nodes', columns => '{{name}}');
SELECT graph.add_filter_column('bench.nodes', 'status');
SELECT graph.add_edge('bench.nodes', 'src', 'bench.nodes', to_column => 'dst', via_table => 'bench.links',
                      weight_column => 'weight', label_column => 'kind');
"""

# One failed log row of bench.nodes (key 1), noted in graph._sync_log_attention as replay
# notes the rows it fails on (health finds failed rows only there, migration 385).
FAILED_ROW = """
WITH failed AS (
    INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message)
    VALUES ('U', 'bench.nodes'::regclass, 'bench.nodes', '1', 'bench failure of node 1') RETURNING id
)
INSERT INTO graph._sync_log_attention (id) SELECT id FROM failed
"""


@dataclass
class Result:
    """One line of the results table: a baseline and the graphsync variant of the same work."""

    operation: str
    baseline: float  # median seconds
    measured: float  # median seconds
    goal: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline


def cpu_seconds(pid: int) -> float | None:
    """The CPU time a local server backend has run, every thread of it (a build's
    background thread, a library's): the sum of /proc/<pid>/task/*/schedstat, ns on
    a CPU (time spent waiting for one on a loaded machine is not in it); None when
    the server is not on this machine."""
    return threads_cpu(pid)[0]


def threads_cpu(pid: int) -> tuple[float | None, int]:
    """(cpu_seconds, how many threads) of process ``pid``; (None, 0) when /proc does
    not show it."""
    total, count = 0.0, 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0]) / 1e9
                count += 1
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
    except (OSError, ValueError, IndexError):
        return None, 0
    return total, count


def spread(values: list[float], fmt: str) -> str:
    """``values``' median (min–max), each written by ``fmt`` (a str.format pattern)."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def spread_ms(seconds: list[float], fmt: str = "{:.1f}") -> str:
    """spread() of ``seconds`` in milliseconds."""
    return spread([v * 1000 for v in seconds], fmt)


def spread_ratio(a: list[float], b: list[float]) -> str:
    """spread() of the ratios a / b, repetition by repetition."""
    return spread([x / y for x, y in zip(a, b, strict=True)], "{:.2f}×")


def load() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as /proc/loadavg says it."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def timed(conn: psycopg.Connection, query: str) -> float:
    """Seconds the server took to run ``query``, by the client's wall clock."""
    start = time.perf_counter()
    conn.execute(query)
    return time.perf_counter() - start


def interleaved(reps: int, variants: dict[str, Callable[[], dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Run each variant ``reps`` times, alternating their order every repetition so that
    machine noise hits all of them; return the median seconds per variant and operation."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            runs[name].append(variants[name]())
    return {name: {op: statistics.median(run[op] for run in done) for op in done[0]}
            for name, done in runs.items()}


def png_beside(table: str | os.PathLike) -> str:
    """Where a results table's plot goes: beside it, its name in lower case (READS.md -> reads.png)."""
    path = os.fspath(table)
    return os.path.join(os.path.dirname(path), os.path.splitext(os.path.basename(path))[0].lower() + ".png")


def plot_ratios(path: str, title: str, bars: list[tuple], xlabel: str, higher_is_better: bool) -> None:
    """Write a PNG (matplotlib) of the ratios a results table states, one bar each:
    ``bars`` are (label, median, low, high, goal), low and high the range over the
    repetitions (None: a single figure), goal the ratio wanted (None: no goal; drawn
    as a mark on the bar). Log scale, 1x drawn; a bar is green where its median meets
    the goal (at or above it when ``higher_is_better``, else at or below), red where
    it misses, grey without a goal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(bars) + 1.6))
    ys = list(range(len(bars)))[::-1]
    for y, (_, median, low, high, goal) in zip(ys, bars, strict=True):
        wanted = None if goal is None else (median >= goal if higher_is_better else median <= goal)
        colour = {None: "tab:grey", True: "tab:green", False: "tab:red"}[wanted]
        ax.barh(y, median - 1, left=1, color=colour, alpha=0.7)  # from 1x to the median
        if low is not None and high is not None:
            ax.errorbar(median, y, xerr=[[median - low], [high - median]], fmt="none", ecolor="black", capsize=3)
        if goal is not None:
            ax.plot([goal], [y], marker="|", markersize=18, color="black")
        ax.text(max(median, high or median) * 1.08, y, "%.2f×" % median, va="center", fontsize=8)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(ys)
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.set_xlabel(xlabel + "\nlog scale; bar: median, whiskers: min–max, |: goal")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def duration(seconds: float) -> str:
    """``seconds`` as a table shows it: in µs under 10 ms (a single-row statement's
    added time, which 0.000 s would hide), else in seconds."""
    return f"{seconds * 1e6:.1f} µs" if abs(seconds) < 0.01 else f"{seconds:.3f} s"


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = ["| operation | unregistered / baseline | registered / graphsync | ratio | goal | met? |",
             "|---|---:|---:|---:|---|---|"]
    lines += [f"| {r.operation} | {duration(r.baseline)} | {duration(r.measured)} | {r.ratio:.2f}× | {r.goal} | "
              f"{'yes' if r.met else '**no**'} |" for r in results]
    return "\n".join(lines)


def statement_instructions(directory: str, dbname: str, script: str) -> list[int]:
    """The instructions each statement of ``script`` (one a line) costs, in order, run
    in database ``dbname`` of the stopped cluster in ``directory`` by a single-user
    server under valgrind's callgrind (Debian package valgrind), which counts every
    instruction the server executes and dumps the count before each
    pgstat_report_activity (the server calls it twice per statement): what
    capture_instructions.py and read_instructions.py count, whatever the load."""
    out = os.path.join(directory, "callgrind")
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o777)
    for f in glob.glob(os.path.join(out, f"{dbname}.out*")):
        os.remove(f)
    proc = subprocess.run(pgcluster._as_server_user([
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/{dbname}.out",
        "--dump-before=pgstat_report_activity",
        f"{pgcluster.pg_bindir()}/postgres", "--single", "-D", os.path.join(directory, "data"),
        "-c", "fsync=off", dbname]), input=script, text=True, capture_output=True)
    if proc.returncode != 0 or "ERROR:" in proc.stdout + proc.stderr:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    dumps = sorted(glob.glob(os.path.join(out, f"{dbname}.out.*")), key=lambda f: int(f.rsplit(".", 1)[1]))
    totals = []
    for path in dumps:
        with open(path) as f:
            totals.append(int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1)))
        os.remove(path)
    # Dump k (1-based) ends where the server reports its next activity: dump 1 is the
    # start, then per statement one dump reading it, one running it.
    return totals[2::2]


@contextmanager
def server() -> Iterator[str]:
    """A superuser DSN: GRAPHSYNC_DSN, or a throwaway cluster's, stopped and removed on exit."""
    if os.environ.get("GRAPHSYNC_DSN"):
        yield os.environ["GRAPHSYNC_DSN"]
        return
    directory = tempfile.mkdtemp(prefix="graphsync-bench-")
    try:
        yield pgcluster.start(directory)
    finally:
        pgcluster.stop(directory)


def install_tree(dsn: str, root: os.PathLike | None = None) -> None:
    """Install (or upgrade to) graphsync from the repository tree ``root`` (by default
    this one) in the database of ``dsn``. Another tree is installed by its own
    install.py, in a process of its own: an earlier tree's SQL is what its own installer
    knows how to install (this one's reads files and calls functions an earlier tree may
    not have), as tests/test_upgrade.py installs the previous release."""
    if root is None or Path(root).resolve() == install.ROOT.resolve():
        with psycopg.connect(dsn, autocommit=True) as conn:
            install.install(conn)
        return
    done = subprocess.run([sys.executable, str(Path(root) / "install.py"), "--dsn", dsn, "--quiet"],
                          cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"installing the tree {root} failed ({done.returncode}):\n{done.stderr}{done.stdout}")


@contextmanager
def database(admin_dsn: str, name: str, root: os.PathLike | None = None) -> Iterator[str]:
    """The DSN of a fresh database with graphsync installed (from the repository tree
    ``root``, by default this one); dropped on exit."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    params["dbname"] = name
    dsn = psycopg.conninfo.make_conninfo(**params)
    try:
        install_tree(dsn, root)
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- This code against a tree of earlier code ----------------------------------
# benchmarks/first_numpy_read.py, replay_ends.py and replay_unanalyzed.py install this
# code and the code of a repository tree (--before) in two databases of one throwaway
# cluster, alternate the two, and write a table of this / before.

# The log rows the connection's transaction has read so far (sequentially or through an
# index): what an apply reads, whatever its plan.
LOG_ROWS_READ = """SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_all_tables
                   WHERE relid = 'graph._sync_log'::regclass"""


def before_arguments(parser, out: str) -> None:
    """--before, --before-label and --out (default benchmarks/``out``) of such a benchmark."""
    parser.add_argument("--before", required=True, help="a repository tree of the code before")
    parser.add_argument("--before-label", help="what --before is, for the report (default: its path)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / out))


@contextmanager
def this_and_before(before: os.PathLike) -> Iterator[tuple[str, str]]:
    """(DSN of a database with this code, DSN of one with the code of the tree
    ``before``) on a throwaway cluster, stopped and removed on exit."""
    directory = tempfile.mkdtemp(prefix="graphsync-bench-")
    try:
        admin = pgcluster.start(directory)
        with database(admin, "bench_this") as this, database(admin, "bench_before", before) as earlier:
            yield this, earlier
    finally:
        pgcluster.stop(directory)


def before_report(title: str, how: str, args, loads: tuple[str, str], rows: list[tuple[str, ...]]) -> str:
    """The Markdown of such a benchmark: ``title``, the paragraph ``how`` followed by
    what the code before was (``args.before_label`` or ``args.before``), the load
    average before and after (``loads``) and the cores, then a table of ``rows``
    (what, this code, the code before, this / before)."""
    return "\n".join([
        "# " + title,
        "",
        "%s The code before: %s. Load average (1/5/15 min) %s before, %s after; %d cores."
        % (how, args.before_label or args.before, loads[0], loads[1], os.cpu_count()),
        "",
        "| | this code | the code before | this / before |",
        "|---|---:|---:|---:|",
        *("| %s |" % " | ".join(row) for row in rows),
        "",
    ])


# -- In-server loops: per-call cost without client round trips ------------------
# benchmarks/error_message.py and benchmarks/health_visibility.py time two variants
# of the same call by an in-server loop: a PL/pgSQL function that runs the call C
# times and times itself with clock_timestamp, so no client round trip is in the
# figure; the variants alternate which goes first every repetition.

IN_SERVER_LOOP = """
CREATE OR REPLACE FUNCTION bench.loop({args}, calls integer)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := pg_catalog.clock_timestamp();
{declare}
BEGIN
    FOR i IN 1 .. calls LOOP
{body}
    END LOOP;
    RETURN extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000 / calls;
END;
$$;
"""


def in_server_loop(args: str, declare: str, body: str) -> str:
    """The SQL that creates bench.loop(<args>, calls integer) RETURNS float8: the
    milliseconds per call of ``body`` (PL/pgSQL statements; ``i`` is the iteration,
    ``args`` choose the variant), run ``calls`` times in one statement. ``declare``:
    the body's variables (PL/pgSQL declarations). Static SQL, so each call's plan is kept."""
    return IN_SERVER_LOOP.format(args=args, declare=declare.rstrip(), body=body.rstrip())


def alternating_loops(reps: int, cases: list[str], variants: tuple[str, str],
                      run: Callable[[str, str], float]) -> tuple[dict[tuple[str, str], list[float]], list[float]]:
    """Run ``run(case, variant)`` (the milliseconds per call one in-server loop
    measured) for each case and both variants, ``reps`` times; the variants swap
    which goes first every repetition, so machine noise hits both. Returns the
    figures per (case, variant), one per repetition, and the 1-minute load average
    after each repetition."""
    per_call: dict[tuple[str, str], list[float]] = {(c, v): [] for c in cases for v in variants}
    loads = []
    for rep in range(reps):
        for case in cases:
            for variant in variants if rep % 2 == 0 else variants[::-1]:
                per_call[case, variant].append(run(case, variant))
        loads.append(os.getloadavg()[0])
    return per_call, loads


def loop_report(title: str, intro: str, case_header: str, per_call: dict[tuple[str, str], list[float]],
                ratio: tuple[str, str], loads: list[float], unit: str = "ms") -> str:
    """The Markdown of an in-server loop benchmark: ``title``, ``intro``, a table of
    the median, min and max per call of each (case, variant) in ``unit`` ("ms" or
    "µs"), ``ratio`` (numerator, denominator variant) per repetition for each case
    (median, min-max), and the load during the run."""
    scale, digits = {"ms": (1, 3), "µs": (1e3, 1)}[unit]
    lines = [f"# {title}", "", intro, "",
             f"| {case_header} | variant | median per call | min | max |", "|---|---|---:|---:|---:|"]
    for (case, variant), v in per_call.items():
        lines.append(f"| {case} | {variant} | {statistics.median(v) * scale:.{digits}f} {unit}"
                     f" | {min(v) * scale:.{digits}f} {unit} | {max(v) * scale:.{digits}f} {unit} |")
    lines.append("")
    top, bottom = ratio
    for case in dict.fromkeys(c for c, _ in per_call):
        r = [a / b for a, b in zip(per_call[case, top], per_call[case, bottom], strict=True)]
        lines.append(f"- {case}: {top} / {bottom} per repetition: median {statistics.median(r):.3f},"
                     f" min {min(r):.3f}, max {max(r):.3f}.")
    lines += ["", f"Load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f}"
              f" on {os.cpu_count()} cores (the machine is shared and noisy).", ""]
    return "\n".join(lines)
