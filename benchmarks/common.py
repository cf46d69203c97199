"""Helpers shared by the benchmarks: wall-clock timing, interleaved repetitions, results."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg


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
