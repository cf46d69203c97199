"""Helpers shared by the benchmarks: the server and database to run on, wall-clock
timing, interleaved repetitions, results. Callers put the repository root and
tools/ on sys.path first (install.py and pgcluster.py live there)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

import install
import pgcluster


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


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = ["| operation | unregistered / baseline | registered / graphsync | ratio | goal | met? |",
             "|---|---:|---:|---:|---|---|"]
    lines += [f"| {r.operation} | {r.baseline:.3f} s | {r.measured:.3f} s | {r.ratio:.2f}× | {r.goal} | "
              f"{'yes' if r.met else '**no**'} |" for r in results]
    return "\n".join(lines)


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


@contextmanager
def database(admin_dsn: str, name: str) -> Iterator[str]:
    """The DSN of a fresh database with graphsync installed; dropped on exit."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    params["dbname"] = name
    dsn = psycopg.conninfo.make_conninfo(**params)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            install.install(conn)
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
