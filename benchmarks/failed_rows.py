#!/usr/bin/env python3
"""Failing log rows: this code against the code before.

    .venv/bin/python benchmarks/failed_rows.py --before TREE [--rows 1000] [--reps 3]

A throwaway cluster holds two databases, one with this code and one with the code of
TREE (a repository tree of earlier code), each with the same registered table of people
(a foreign key to their boss), built, and a trigger on graph._node_rows that refuses the
node rows whose key is listed in poison (a failing row, as a broken constraint or a bad
value makes one). Each repetition times, in each database, the order alternating, each
call in a transaction rolled back afterwards (graph.sync_error_policy 'skip'):

- ``one fails``: graph.apply_sync() of ``--rows`` inserted people, the middle one refused;
- ``all fail``: the same apply with every one refused;
- ``retry``: graph.retry_failed() of ``--rows`` failed rows (the all-failing apply
  committed once), the poison lifted inside the rolled-back transaction.

Writes benchmarks/FAILED_ROWS.md (or --out).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import before_arguments, before_report, load, spread, spread_ratio, this_and_before  # noqa: E402

SETUP = """
CREATE TABLE public.people (id int PRIMARY KEY, name text, boss int);
INSERT INTO public.people VALUES (1, 'root', NULL);
SELECT graph.add_table('public.people', columns => '{name}');
SELECT graph.add_edge('public.people', 'boss', 'public.people', label => 'reports_to');
SELECT graph.build();
CREATE TABLE public.poison (pk text PRIMARY KEY);
CREATE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alive AND EXISTS (SELECT FROM public.poison AS p WHERE p.pk = NEW.pk) THEN
        RAISE EXCEPTION 'node % is refused', NEW.pk;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.poison();
"""

CALLS = {
    "one fails": ("DELETE FROM public.poison; INSERT INTO public.poison VALUES ('{middle}')",
                  "SELECT inserts, failed FROM graph.apply_sync()"),
    "all fail": ("DELETE FROM public.poison; INSERT INTO public.poison SELECT id::text FROM public.people"
                 " WHERE id > 1", "SELECT inserts, failed FROM graph.apply_sync()"),
    "retry": ("DELETE FROM public.poison", "SELECT succeeded, still_failed FROM graph.retry_failed()"),
}


def timed(dsn: str, what: str, rows: int) -> tuple[float, tuple]:
    """(seconds, answer) of one call of ``what``, rolled back."""
    prepare, call = CALLS[what]
    with psycopg.connect(dsn, autocommit=True) as c, c.transaction(force_rollback=True):
        c.execute("SET client_min_messages = error")
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute(prepare.format(middle=2 + rows // 2))
        start = time.perf_counter()
        got = c.execute(call).fetchone()
        return time.perf_counter() - start, tuple(got)


def expected(what: str, rows: int) -> tuple:
    return {"one fails": (rows - 1, 1), "all fail": (0, rows), "retry": (rows, 0)}[what]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    before_arguments(p, "FAILED_ROWS.md")
    a = p.parse_args()
    got = {what: {"this": [], "before": []} for what in CALLS}
    with this_and_before(a.before) as (this, before):
        dsns = {"this": this, "before": before}
        for dsn in dsns.values():
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(SETUP)
                c.execute("INSERT INTO public.people SELECT g, 'p' || g, 1 FROM generate_series(2, %s) AS g",
                          (a.rows + 1,))
        load_before = load()
        for what in CALLS:
            if what == "retry":  # the failed rows retry applies again: the all-failing apply, committed
                for dsn in dsns.values():
                    with psycopg.connect(dsn, autocommit=True) as c:
                        c.execute("SET client_min_messages = error")
                        c.execute("SET graph.sync_error_policy = 'skip'")
                        c.execute(CALLS["all fail"][0])
                        assert tuple(c.execute(CALLS["all fail"][1]).fetchone()) == expected("all fail", a.rows)
            for rep in range(a.reps):
                for name in ("this", "before") if rep % 2 == 0 else ("before", "this"):
                    seconds, answer = timed(dsns[name], what, a.rows)
                    if answer != expected(what, a.rows):
                        raise RuntimeError("%s %s: %s, not %s" % (name, what, answer, expected(what, a.rows)))
                    got[what][name].append(seconds)
                    print(rep, what, name, "%.2f s" % seconds, flush=True)
        load_after = load()
    text = before_report(
        "Failing log rows",
        "Written by `benchmarks/failed_rows.py --rows %d --reps %d` (%d inserted rows of a registered table;"
        " each call in each database, the order alternating, rolled back; sync_error_policy 'skip'). `one"
        " fails`: `graph.apply_sync()` with the middle row refused; `all fail`: every row refused; `retry`:"
        " `graph.retry_failed()` of %d failed rows, the cause lifted." % (a.rows, a.reps, a.rows, a.rows),
        a, (load_before, load_after),
        [("%s, s" % what, spread(got[what]["this"], "{:.2f}"), spread(got[what]["before"], "{:.2f}"),
          spread_ratio(got[what]["this"], got[what]["before"])) for what in CALLS])
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
