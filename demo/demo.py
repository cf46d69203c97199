"""The graphsync demo: a throwaway PostgreSQL, the bundle installed, the sample
work-management schema registered, writes synced, graph questions answered, one
neighbourhood drawn (docs/neighbourhood.svg with Graphviz, and as Mermaid text),
health shown.

    .venv/bin/python demo/demo.py        # or: make demo

With GRAPHSYNC_DSN set, it uses that server instead (a superuser connection);
it creates its schema `app` there and leaves it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import install  # noqa: E402
import pgcluster  # noqa: E402

SEED = """
INSERT INTO app.workspaces VALUES (1, 'Acme'), (2, 'Globex');
INSERT INTO app.companies VALUES (1, 1, 'Acme Robotics'), (2, 1, 'Acme Foods'), (3, 2, 'Globex Labs');
INSERT INTO app.contacts VALUES
    (1, 1, 'Ada', 'ada@acme.test', 1), (2, 1, 'Brian', 'brian@acme.test', 1),
    (3, 1, 'Chen', 'chen@acme.test', 2), (4, 2, 'Dora', 'dora@globex.test', 3),
    (5, 2, 'Emil', NULL, 3);
INSERT INTO app.projects VALUES (1, 1, 'Website', 'open'), (2, 2, 'Lab move', 'open');
INSERT INTO app.tasks VALUES
    (1, 1, 'Wireframes', 'done', 1, 1), (2, 1, 'Copy', 'open', 1, 2),
    (3, 2, 'Pack', 'open', 2, 4);
INSERT INTO app.relations (source_id, target_id, type, weight) VALUES
    (1, 2, 'colleague', 1), (2, 3, 'friend', 3), (3, 4, 'supplier', 2);
"""

WRITES = [
    ("a new contact at Globex Labs",
     "INSERT INTO app.contacts VALUES (6, 2, 'Fay', 'fay@globex.test', 3)"),
    ("Ada introduces Fay (a weighted relation)",
     "INSERT INTO app.relations (source_id, target_id, type, weight) VALUES (1, 6, 'intro', 5)"),
    ("a deal with Dora", "INSERT INTO app.deals VALUES (1, 2, 'Lab equipment', 12000, 4)"),
    ("Chen moves to Acme Robotics", "UPDATE app.contacts SET company_id = 1 WHERE id = 3"),
    ("task 2 reassigned to Chen", "UPDATE app.tasks SET assignee = 3, status = 'doing' WHERE id = 2"),
    ("the supplier relation ends", "DELETE FROM app.relations WHERE type = 'supplier'"),
    ("a bulk load of 2,000 tasks",
     "INSERT INTO app.tasks SELECT g, 1, 'bulk ' || g, 'open', 1, 1 + g % 3 FROM generate_series(100, 2099) g"),
]

QUESTIONS = [
    ("Who and what is within 2 hops of Ada?",
     "SELECT node_table, node_id, depth, edge_label FROM graph.traverse("
     "'app.contacts', '1', max_depth => 2, direction => 'any', max_nodes => 12,"
     " edge_types => ARRAY['works_at', 'colleague', 'friend', 'intro', 'deal_with'])"
     " ORDER BY depth, node_table, node_id"),
    ("How is Ada connected to Dora (fewest hops)?",
     "SELECT step, node_table, node_id, edge_label FROM graph.shortest_path("
     "'app.contacts', '1', 'app.contacts', '4', direction => 'any')"),
    ("Cheapest relation path from Ada to Chen (weights)?",
     "SELECT step, node_table, node_id, edge_weight, total_cost FROM graph.weighted_shortest_path("
     "'app.contacts', '1', 'app.contacts', '3', edge_types => ARRAY['colleague', 'friend', 'intro'])"),
    ("Components of the whole graph", "SELECT * FROM graph.component_stats() LIMIT 5"),
]


# The neighbourhood the demo draws: Ada's people, companies, workspaces and
# deals within 3 hops, with names in the labels. graph.export_dot / export_mermaid take traverse's arguments.
PICTURE = ("'app.contacts', '1', max_depth => 3, direction => 'any', max_nodes => 20,"
           " edge_types => ARRAY['works_at', 'colleague', 'friend', 'intro', 'deal_with', 'in_workspace'],"
           " label_property => 'name'")
SVG = ROOT / "docs" / "neighbourhood.svg"


def draw(cur) -> None:
    """Render Ada's neighbourhood to docs/neighbourhood.svg with Graphviz's dot, and
    print it as Mermaid."""
    print(f"\n== Ada's neighbourhood as a picture\n   SELECT graph.export_dot({PICTURE})")
    dot_text = cur.execute(f"SELECT graph.export_dot({PICTURE})").fetchone()[0]
    dot = shutil.which("dot")
    if dot is None:
        print("   Graphviz's dot is not installed (Debian package graphviz): no SVG drawn")
    else:
        svg = subprocess.run([dot, "-Tsvg"], input=dot_text.encode(), capture_output=True, check=True).stdout
        SVG.parent.mkdir(exist_ok=True)
        SVG.write_bytes(svg)
        print(f"   drawn with dot -Tsvg: {SVG.relative_to(ROOT)} ({len(svg)} bytes)")
    print(f"\n== The same neighbourhood as Mermaid\n   SELECT graph.export_mermaid({PICTURE})")
    mermaid = cur.execute(f"SELECT graph.export_mermaid({PICTURE})").fetchone()[0]
    print("\n".join("   " + line for line in mermaid.splitlines()))


def show(cur, title: str, query: str, expanded: bool = False) -> None:
    print(f"\n== {title}\n   {query}")
    cur.execute(query)
    names = [d.name for d in cur.description]
    rows = cur.fetchall()
    if expanded:
        width = max(len(n) for n in names)
        for row in rows:
            for name, value in zip(names, row, strict=True):
                print(f"   {name:<{width}} | {value}")
        return
    print("   " + " | ".join(names))
    for row in rows:
        print("   " + " | ".join("" if v is None else str(v) for v in row))
    print(f"   ({len(rows)} rows)")


def run(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: print(f"   NOTICE: {d.message_primary}"))
        result = install.install(conn)
        print(f"graphsync {result['version']} installed")
        cur = conn.cursor()
        with conn.transaction():  # a second run starts over, without notices of what it drops
            cur.execute("SET LOCAL client_min_messages = warning")
            cur.execute("DROP SCHEMA IF EXISTS app CASCADE")
        cur.execute((ROOT / "demo" / "schema.sql").read_text())
        cur.execute(SEED)
        print("sample schema created: workspaces, companies, contacts, projects, tasks, deals, relations")
        cur.execute((ROOT / "demo" / "register.sql").read_text())
        show(cur, "registered and built (existing rows backfilled)", "SELECT * FROM graph.build()")
        for what, statement in WRITES:
            cur.execute(statement)
            print(f"write: {what}: {cur.rowcount} row(s)")
        show(cur, "pending before sync", "SELECT pending_sync_rows FROM graph.sync_health()")
        show(cur, "sync", "SELECT * FROM graph.apply_sync()")
        show(cur, "graph equals sources? (no rows = yes)", "SELECT * FROM graph.verify()")
        for title, query in QUESTIONS:
            show(cur, title, query)
        draw(cur)
        cur.execute("SELECT current_database() = current_setting('cron.database_name', true)")
        if cur.fetchone()[0]:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
            show(cur, "pg_cron set up as the README prescribes: jobs run in background workers, no password",
                 "SELECT name, setting FROM pg_settings WHERE name IN ('shared_preload_libraries',"
                 " 'cron.database_name', 'cron.use_background_workers', 'max_worker_processes',"
                 " 'password_encryption') ORDER BY name")
            show(cur, "maintenance scheduled with pg_cron (every minute)",
                 "SELECT graph.schedule_maintenance() AS cron_job_id")
            show(cur, "a maintenance run, as pg_cron will call it",
                 "SELECT status, rows_applied, rebuilt, rows_pruned, reason FROM graph.run_scheduled_maintenance()")
        show(cur, "graph.sync_health()", "SELECT * FROM graph.sync_health()", expanded=True)


def main() -> int:
    external = os.environ.get("GRAPHSYNC_DSN")
    if external:
        run(external)
        return 0
    directory = tempfile.mkdtemp(prefix="graphsync-demo-")
    print(f"starting a throwaway PostgreSQL 15 in {directory}")
    pgcluster.start(directory)
    try:
        # The database pg_cron runs jobs in; the cluster is created with it.
        run(pgcluster.dsn_for(directory, pgcluster.CRON_DATABASE))
    finally:
        pgcluster.stop(directory)
        print("\nthrowaway server stopped and removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
