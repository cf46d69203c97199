#!/usr/bin/env python3
"""What a partition's DDL costs on a registered partitioned table, beside many partitions.

    .venv/bin/python benchmarks/partition_ddl.py [--partitions 10,200[,2000]] [--reps R] [--stale] [--out FILE]

One throwaway cluster (benchmarks/common.py), one database with graphsync installed,
a login role ``bench_owner`` (neither a superuser nor graph_admin: an application's
tables' owner, as tests/conftest.py table_owner) owning schema ``app``. For each N of
--partitions, two tables of the same shape, both ``bench_owner``'s, each LIST-partitioned
with N partitions: ``app.reg_N``, registered (``graph.add_table``, its capture followed by
the event trigger graph._follow_ddl), and ``app.peer_N``, never registered (what
PostgreSQL itself costs). Each repetition runs, on each table, as the owner and as a
superuser, the cycle

    CREATE TABLE app.X_new PARTITION OF app.X FOR VALUES IN (N)
    ALTER TABLE app.X DETACH PARTITION app.X_new
    ALTER TABLE app.X ATTACH PARTITION app.X_new FOR VALUES IN (N)
    DROP TABLE app.X_new

(the table back at N partitions after it), each statement timed by the client on a
connection of its own role (autocommit: the commit is in the figure), the registered and
the peer table alternating which goes first. One cycle of each before the repetitions,
untimed (plans made, PL/Python started), after an ANALYZE of the database (the catalogs'
statistics as autovacuum leaves them soon after thousands of partitions were made; with
--stale, none: the statistics as they are right after, autovacuum off for the run).
Reports ms per statement, median (min-max), and registered / peer per repetition,
median (min-max), with the machine's load. Writes benchmarks/PARTITION_DDL.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import psycopg  # noqa: E402
from common import database, load, server, spread, spread_ratio  # noqa: E402
from psycopg import sql  # noqa: E402

OWNER = "bench_owner"
STATEMENTS = ("create", "detach", "attach", "drop")
ROLES = ("owner", "superuser")
VARIANTS = ("registered", "peer")


def as_role(dsn: str, role: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = role
    return psycopg.conninfo.make_conninfo(**params)


def cycle(conn: psycopg.Connection, table: str, value: int) -> dict[str, float]:
    """Seconds of each statement of one cycle on app.<table>, by the client's clock."""
    parent, new = sql.Identifier("app", table), sql.Identifier("app", table + "_new")
    bound = sql.Literal(value)
    statements = {
        "create": sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES IN ({})").format(new, parent, bound),
        "detach": sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, new),
        "attach": sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(parent, new, bound),
        "drop": sql.SQL("DROP TABLE {}").format(new),
    }
    seconds = {}
    for name, statement in statements.items():
        start = time.perf_counter()
        conn.execute(statement)
        seconds[name] = time.perf_counter() - start
    return seconds


def make_tables(admin: psycopg.Connection, owner: psycopg.Connection, n: int) -> float:
    """Both tables of ``n`` partitions; the seconds the registered one's add_table took."""
    for variant in VARIANTS:
        table = f"{variant[:3]}_{n}"
        owner.execute(sql.SQL("CREATE TABLE {} (id int, day int, person int, PRIMARY KEY (id, day))"
                              " PARTITION BY LIST (day)").format(sql.Identifier("app", table)))
        for lo in range(0, n, 200):  # 200 a transaction: locks enough for those
            with owner.transaction():
                for d in range(lo, min(n, lo + 200)):
                    owner.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES IN ({})").format(
                        sql.Identifier("app", f"{table}_{d}"), sql.Identifier("app", table), sql.Literal(d)))
    start = time.perf_counter()
    admin.execute("SELECT graph.add_table(%s)", (f"app.reg_{n}",))
    seconds = time.perf_counter() - start
    members = admin.execute("SELECT count(*) FROM graph._capture_members WHERE table_oid = %s::regclass",
                            (f"app.reg_{n}",)).fetchone()[0]
    assert members == n + 1, members
    return seconds


def measure(dsn: str, sizes: list[int], reps: int, stale: bool) -> tuple[dict[tuple, list[float]], dict[int, float]]:
    """Seconds per (partitions, role, variant, statement), one per repetition, in the
    database of ``dsn``; and the seconds each registered table's add_table took."""
    times: dict[tuple, list[float]] = {}
    registered: dict[int, float] = {}
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(OWNER)))
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(OWNER)))
        admin.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(admin.info.dbname), sql.Identifier(OWNER)))
        if stale:  # (the throwaway cluster's own setting: it goes with the cluster)
            admin.execute("ALTER SYSTEM SET autovacuum = off")
            admin.execute("SELECT pg_catalog.pg_reload_conf()")
        with psycopg.connect(as_role(dsn, OWNER), autocommit=True) as owner:
            owner.execute("CREATE SCHEMA app")
            for n in sizes:
                registered[n] = make_tables(admin, owner, n)
                print(f"{n} partitions: add_table took {registered[n]:.1f} s", flush=True)
            # the catalogs' statistics as autovacuum leaves them within a minute (unless
            # --stale: as they are right after thousands of partitions were made, when
            # each DDL of even the 10-partition table JIT-compiled the follower's catalog
            # statements, some 200-300 ms more; benchmarks/HISTORY.md, fifty-first and
            # fifty-second stops)
            if not stale:
                admin.execute("ANALYZE")
            conns = {"owner": owner, "superuser": admin}
            for n in sizes:
                for role in ROLES:
                    for variant in VARIANTS:  # warm-up, untimed
                        cycle(conns[role], f"{variant[:3]}_{n}", n)
            for rep in range(reps):
                for n in sizes:
                    for role in ROLES:
                        for variant in VARIANTS if rep % 2 == 0 else VARIANTS[::-1]:
                            for statement, s in cycle(conns[role], f"{variant[:3]}_{n}", n).items():
                                times.setdefault((n, role, variant, statement), []).append(s)
                print(f"rep {rep + 1}: load {os.getloadavg()[0]:.1f}", flush=True)
            for n in sizes:  # the registry followed every cycle: the table is as it was
                members = admin.execute("SELECT count(*) FROM graph._capture_members"
                                        " WHERE table_oid = %s::regclass", (f"app.reg_{n}",)).fetchone()[0]
                assert members == n + 1, (n, members)
                missing = admin.execute("SELECT count(*) FROM graph._trigger_states(%s::regclass)"
                                        " WHERE state <> 'ok'", (f"app.reg_{n}",)).fetchone()[0]
                assert missing == 0, (n, missing)
    return times, registered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", default="10,200",
                        help="existing partitions, comma-separated (2,000: add_table alone takes minutes)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--stale", action="store_true",
                        help="no ANALYZE after the partitions are made, and autovacuum off for the run")
    parser.add_argument("--out", default=str(HERE / "PARTITION_DDL.md"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.partitions.split(",")]
    load_before = load()
    started = time.perf_counter()
    with server() as admin_dsn:
        with database(admin_dsn, "bench_partition_ddl") as dsn:
            times, registered = measure(dsn, sizes, args.reps, args.stale)
        # (the database went with its thousands of tables, then the role: a DROP SCHEMA
        # of them all would need more locks than one transaction may hold)
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(OWNER)))
    load_after = load()
    minutes = (time.perf_counter() - started) / 60

    state = ("with no ANALYZE and autovacuum off (--stale: the catalogs' statistics as right after"
             " the partitions were made)") if args.stale else "after an ANALYZE"
    lines = [
        "# A partition's DDL on a registered table, beside many partitions",
        "",
        f"`benchmarks/partition_ddl.py`: a LIST-partitioned table registered with graphsync"
        f" (`graph.add_table`) against an unregistered one of the same shape (the peer: what"
        f" PostgreSQL itself costs), both owned by a login role that is neither a superuser nor"
        f" graph_admin, with {', '.join(f'{n:,}' for n in sizes)} existing partitions; each"
        f" repetition creates a partition (`CREATE TABLE ... PARTITION OF`), detaches it, attaches"
        f" it again and drops it, as that owner and as a superuser, each statement timed by the"
        f" client (its commit included), the two tables alternating which goes first;"
        f" {args.reps} repetitions after one untimed cycle each, {state}."
        f" Milliseconds per statement,"
        f" median (min–max); registered / peer per repetition, median (min–max). Load average"
        f" (1/5/15 min) {load_before} before, {load_after} after; {os.cpu_count()} cores, shared"
        f" (the absolute times are noisy, the ratios less so). The run took {minutes:.1f} minutes.",
        "",
        "| partitions | role | statement | registered | peer | registered / peer |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for n in sizes:
        for role in ROLES:
            for statement in STATEMENTS:
                reg, peer = times[(n, role, "registered", statement)], times[(n, role, "peer", statement)]
                ms = [v * 1000 for v in reg], [v * 1000 for v in peer]
                lines.append(f"| {n:,} | {role} | {statement} | {spread(ms[0], '{:.1f}')} ms"
                             f" | {spread(ms[1], '{:.1f}')} ms | {spread_ratio(reg, peer)} |")
    lines.append("")
    lines.append("What the registered table's statement costs beyond the peer's, median ms, by partitions"
                 " (the owner's):")
    lines.append("")
    lines.append("| statement | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    lines.append("|---|" + "---:|" * len(sizes))
    for statement in STATEMENTS:
        extra = [statistics.median(times[(n, "owner", "registered", statement)])
                 - statistics.median(times[(n, "owner", "peer", statement)]) for n in sizes]
        lines.append(f"| {statement} | " + " | ".join(f"{e * 1000:.1f} ms" for e in extra) + " |")
    lines.append("")
    lines.append("Registering the table first (`graph.add_table`, once, as a superuser): "
                 + ", ".join(f"{registered[n]:.1f} s beside {n:,} partitions" for n in sizes) + ".")
    lines.append("")
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
