"""The graph tables as a read's input: a graph_admin member who is not a superuser may
write every graph table (sql/privileges.sql), the CSR base in graph._csr, the edge
overlay, graph._nodes. Reads load those rows into arrays and hand them to NumPy and to
SciPy's csgraph routines, C code that does not check bounds. Whatever such a member
writes, every read (traversals at depths 1-6 each way, paths, weighted paths,
components, search, the exports) must answer or fail with a clear SQLSTATE: never
crash the backend (a segmentation fault restarts every backend of the server: a
denial of service beyond an admin's rights), never hang, and never give a reader a
node of a table it may not SELECT.

Arrays out of bounds (offsets not from 0 to the edge count or decreasing, a target
or an overlay or node id that is no node id, arrays of mismatched lengths or of a
length that is no multiple of their type), and overlay or node ids past the nodes
graph._nodes holds, are refused with XX001 (data_corrupted), naming the table and
saying to run graph.build(). A stored 'in' row is never read: the 'in' CSR is the
reverse of the 'out' one. Values any array may hold (NaN,
negative or infinite weights, label or source ids no row has) are read as they are.

Before the base's arrays were checked when a backend loads them, a negative target
in graph._csr's 'out' row beside a stored 'in' row, a negative target in a stored 'in'
row, or a negative node id in graph._edge_overlay made weighted_shortest_path's
Dijkstra (SciPy) read before its arrays: signal 11, and the server restarted.
"""

import hashlib
import json
import os
import time

import numpy as np
import psycopg
import pytest

from conftest import as_role, connect, wait_until

ADMIN, READER = "gs_csr_admin", "gs_csr_reader"
HINT = "Run graph.build()"

SETUP = f"""
CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin;
CREATE ROLE {READER} LOGIN;
CREATE SCHEMA cs;
CREATE TABLE cs.a (id int PRIMARY KEY, ref int, w float8, name text);
CREATE TABLE cs.b (id int PRIMARY KEY, a int, note text);
INSERT INTO cs.a SELECT i, CASE WHEN i > 1 THEN i - 1 END, i, 'n' || i FROM generate_series(1, 20) AS i;
INSERT INTO cs.b SELECT i, i, 'secret ' || i FROM generate_series(1, 5) AS i;
GRANT USAGE ON SCHEMA cs TO PUBLIC;
GRANT SELECT ON cs.a TO {READER};
GRANT SELECT, TRIGGER ON cs.a, cs.b TO {ADMIN};
SELECT graph.add_table('cs.a', columns => '{{name}}');
SELECT graph.add_table('cs.b', columns => '{{note}}');
SELECT graph.add_edge('cs.a', 'ref', 'cs.a', label => 'ref', weight_column => 'w');
SELECT graph.add_edge('cs.b', 'a', 'cs.a', label => 'about');
SELECT graph.build();
"""

READS = [f"SELECT node_table::text, node_id FROM graph.traverse('cs.a', '{seed}', max_depth => {depth},"
         f" direction => '{way}')"
         for depth in range(1, 7) for way in ("out", "in", "any") for seed in ("20", "1")]
for _way in ("out", "in", "any"):
    READS += [f"SELECT node_table::text, node_id FROM graph.shortest_path('cs.a', '20', 'cs.a', '1',"
              f" direction => '{_way}')",
              f"SELECT node_table::text, node_id FROM graph.weighted_shortest_path('cs.a', '20', 'cs.a', '1',"
              f" direction => '{_way}')",
              f"SELECT node_table::text, node_id FROM graph.weighted_shortest_path('cs.a', '1', 'cs.a', '20',"
              f" direction => '{_way}')"]
READS += ["SELECT node_table::text, node_id FROM graph.connected_components()",
          "SELECT component::text, size::text FROM graph.component_stats()",
          "SELECT node_table::text, node_id FROM graph.component_of('cs.a', '5')",
          "SELECT graph.export_dot('cs.a', '20', direction => 'any')",
          "SELECT graph.export_mermaid('cs.a', '1', direction => 'in')",
          "SELECT graph.export_graphml('cs.a', '1', direction => 'any')"]
SEARCH = "SELECT node_table::text, node_id FROM graph.search('name', 'n1', mode => 'prefix')"

DTYPES = {"offsets": "<i8", "targets": "<i8", "weights": "<f8", "labels": "<i4", "sources": "<i4"}
FIELDS = tuple(DTYPES)


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        # (durable before any crash: the test cluster commits asynchronously)
        c.execute("SET synchronous_commit = on")
        for role in (ADMIN, READER):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(SETUP)
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA cs CASCADE")
        for role in (ADMIN, READER):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def _up(dsn):
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def guarded(server, world):
    """The database; afterwards, the server must not have restarted (a backend that
    crashed takes every other with it) and a connection opened before is alive. A
    server that restarted is waited for, so the modules after this one run."""
    watch = connect(world)
    started = watch.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    yield world
    time.sleep(0.3)  # (the postmaster ends the other backends just after a crash)
    try:
        same = watch.execute("SELECT pg_postmaster_start_time()").fetchone()[0] == started
    except psycopg.OperationalError:
        same = False
    finally:
        watch.close()
    if not same:
        wait_until(lambda: _up(server.admin_dsn), timeout=60, interval=0.5)
    _reset(world)
    assert same, "the server restarted: a read crashed its backend"


def _reset(db):
    with connect(db) as c:
        c.execute("SET synchronous_commit = on")
        c.execute("DELETE FROM graph._edge_overlay")
        c.execute("DELETE FROM graph._csr WHERE direction = 'in'")
        c.execute("DELETE FROM graph._node_rows WHERE node_id < 0 OR pk LIKE 'forged%'")
        c.execute("SELECT graph.build()")


def _out_row(c):
    r = c.execute("SELECT offsets, targets, weights, labels, sources, alive, tables FROM graph._csr"
                  " WHERE direction = 'out'").fetchone()
    arrays = {f: np.frombuffer(r[i], dtype=DTYPES[f]).copy() for i, f in enumerate(FIELDS)}
    arrays["alive"] = np.frombuffer(r[5], dtype=np.uint8).copy()
    arrays["tables"] = np.frombuffer(r[6], dtype="<u4").copy()
    return arrays


def _bytes(a, name):
    return a[name] if isinstance(a[name], bytes) else np.ascontiguousarray(
        a[name], dtype=DTYPES.get(name, {"alive": "u1", "tables": "<u4"}.get(name))).tobytes()


def _reverse(a):
    """The 'in' arrays of 'out' arrays ``a`` (as a build made them before migration 400)."""
    n = len(a["offsets"]) - 1
    src = np.repeat(np.arange(n), np.diff(a["offsets"]))
    order = np.argsort(a["targets"], kind="stable")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(a["targets"], minlength=n), out=offsets[1:])
    return {"offsets": offsets, "targets": src[order], "weights": a["weights"][order],
            "labels": a["labels"][order], "sources": a["sources"][order]}


def _write_base(c, out, into, checksum):
    """As the admin: graph._csr's rows of the generation made ``out`` (and a stored 'in'
    row ``into``); ``checksum``: 'none' (no shared file recorded: the backend reads the
    rows), 'bogus' (one no file has: the backend writes the file from the rows)."""
    size, sha = (None, None) if checksum == "none" else (4096, hashlib.sha256(b"forged").hexdigest())
    c.execute("""UPDATE graph._csr SET offsets = %s, targets = %s, weights = %s, labels = %s, sources = %s,
                        alive = %s, tables = %s, file_bytes = %s, file_sha256 = %s WHERE direction = 'out'""",
              [_bytes(out, f) for f in FIELDS + ("alive", "tables")] + [size, sha])
    if into is not None:
        c.execute("""INSERT INTO graph._csr (generation, direction, node_count, edge_count, offsets, targets,
                                             weights, labels, sources, alive, tables)
                     SELECT generation, 'in', node_count, edge_count, %s, %s, %s, %s, %s, alive, tables
                     FROM graph._csr WHERE direction = 'out'""", [_bytes(into, f) for f in FIELDS])


def _set(name, index, value):
    def change(a):
        a[name][index] = value
    return change


def _replace(name, make):
    def change(a):
        a[name] = make(a[name])
    return change


# (case, how the 'out' arrays change, how a stored 'in' row is made: None, none; or a
# function of the unchanged 'out' arrays)
CORRUPT_BASES = [
    ("a negative target beside a stored 'in' row", _set("targets", 0, -25), _reverse),
    ("a negative target", _set("targets", slice(None), -1), None),
    ("a target past the node count", _set("targets", 0, 1000), None),
    ("a target past the node count beside a stored 'in' row", _set("targets", 0, 1000), _reverse),
    ("a huge target", _set("targets", 0, 2 ** 40), None),
    ("offsets that decrease", _set("offsets", 5, 100), None),
    ("offsets that decrease beside a stored 'in' row", _set("offsets", 5, 7), _reverse),
    ("a negative offset", _set("offsets", 3, -100), None),
    ("offsets past the edges", _set("offsets", -1, 124), None),
    ("too few offsets", _replace("offsets", lambda o: o[:10]), None),
    ("too many offsets", _replace("offsets", lambda o: np.concatenate([o, [o[-1]] * 10])), None),
    ("fewer weights than targets", _replace("weights", lambda w: w[:3]), None),
    ("fewer labels than targets", _replace("labels", lambda w: w[:3]), None),
    ("fewer sources than targets", _replace("sources", lambda w: w[:3]), None),
    ("fewer targets than offsets say", _replace("targets", lambda t: t[:3]), None),
    ("targets of a length no multiple of 8", _replace("targets", lambda t: t.tobytes() + b"\x01"), None),
    ("fewer alive flags than nodes", _replace("alive", lambda a: a[:5]), None),
    ("more alive flags than nodes", _replace("alive", lambda a: np.ones(1000, dtype=np.uint8)), None),
    ("an alive flag of 2", _replace("alive", lambda a: np.full(len(a), 2, dtype=np.uint8)), None),
    ("fewer tables than nodes", _replace("tables", lambda t: t[:5]), None),
]


def _run(dsn, role, reads=READS):
    """{read: ("ok", rows) or (SQLSTATE, message, hint)} of each read as ``role``."""
    got = {}
    with as_role(dsn, role) as c:
        c.execute("SET statement_timeout = '30s'")  # a read that hangs fails with 57014
        for q in reads:
            try:
                got[q] = ("ok", c.execute(q).fetchall())
            except psycopg.Error as e:
                if c.closed or e.sqlstate is None:
                    raise AssertionError(f"{q} as {role}: the connection died ({e})") from None
                got[q] = (e.sqlstate, e.diag.message_primary, e.diag.message_hint)
    return got


def _no_secret(got):
    for q, answer in got.items():
        if answer[0] == "ok":
            assert "cs.b" not in json.dumps(answer[1], default=str), f"{q}: a node of cs.b for {READER}"


def _shows_secret(got):
    """The control of _no_secret: the admin's answers hold nodes of cs.b."""
    assert any(a[0] == "ok" and "cs.b" in json.dumps(a[1], default=str) for a in got.values())


@pytest.mark.parametrize("checksum", ["none", "bogus"])
@pytest.mark.parametrize("case,change,stored_in", CORRUPT_BASES, ids=[c[0] for c in CORRUPT_BASES])
def test_a_base_out_of_bounds_is_refused_with_xx001(guarded, checksum, case, change, stored_in):
    with as_role(guarded, ADMIN) as c:
        original = _out_row(c)
        out = {k: v.copy() for k, v in original.items()}
        if change is not None:
            change(out)
        _write_base(c, out, None if stored_in is None else stored_in(original), checksum)
    for role in (READER, ADMIN):
        got = _run(guarded, role)
        for q, answer in got.items():
            assert answer[0] == "XX001", (role, q, answer)
            assert "graph._csr is corrupt" in answer[1] and HINT in answer[2], (role, q, answer)
        assert _run(guarded, role, [SEARCH])[SEARCH][0] == "ok"  # (SQL on the source tables)


ODD_VALUES = [
    ("NaN weights", _set("weights", slice(None), np.nan)),
    ("negative weights", _set("weights", slice(None), -1.0)),
    ("-Infinity weights", _set("weights", slice(None), -np.inf)),
    ("a label id no label has", _set("labels", slice(None), 99)),
    ("the largest label id", _set("labels", slice(None), 2 ** 31 - 1)),
    ("negative label ids", _set("labels", slice(None), -7)),
    ("edge source ids no source has", _set("sources", slice(None), -5)),
    ("every node of cs.a's table", _set("tables", slice(None), 0)),
]


@pytest.mark.parametrize("case,change", ODD_VALUES, ids=[c[0] for c in ODD_VALUES])
def test_values_in_bounds_are_read_as_they_are(guarded, case, change):
    """What no check refuses: each read answers, or refuses a weight it cannot use (22023)."""
    with as_role(guarded, ADMIN) as c:
        out = _out_row(c)
        change(out)
        _write_base(c, out, None, "none")
    for role in (READER, ADMIN):
        got = _run(guarded, role)
        for q, answer in got.items():
            assert answer[0] in ("ok", "22023"), (role, q, answer)
        _shows_secret(got) if role == ADMIN else _no_secret(got)


def test_a_node_of_a_table_the_reader_may_not_select_stays_hidden_whatever_the_tables_say(guarded):
    """The base's table of each node says every node is cs.a's (the reader's): the
    nodes of cs.b stay hidden (graph._nodes' policy), their keys are never shown."""
    with as_role(guarded, ADMIN) as c:
        out = _out_row(c)
        out["tables"][:] = out["tables"][0]
        _write_base(c, out, None, "none")
        c.execute("""INSERT INTO graph._edge_overlay (op, edge_source_id, src, dst, weight, label_id)
                     SELECT '+', min(edge_source_id), 19, 22, 1, 2 FROM graph._edge_sources""")
    got = _run(guarded, READER)
    assert all(a[0] in ("ok", "22023") for a in got.values())
    _no_secret(got)
    _shows_secret(_run(guarded, ADMIN))


OVERLAYS = [
    ("a negative end", [("+", 19, -5, 1.0, 2)], "XX001"),
    ("a negative start", [("+", -1, 3, 1.0, 2)], "XX001"),
    ("a negative end removed", [("-", 19, -25, 1.0, 2)], "XX001"),
    ("an end past the node count", [("+", 19, 1000, 1.0, 2)], "XX001"),
    ("a huge end", [("+", 19, 2 ** 40, 1.0, 2)], "XX001"),
    ("a label id no label has", [("+", 19, 3, 1.0, 999)], "ok"),
    ("a negative label id", [("+", 19, 3, 1.0, -1)], "ok"),
    ("the largest label id", [("+", 19, 3, 1.0, 2 ** 31 - 1)], "ok"),
    ("a NaN weight", [("+", 19, 3, float("nan"), 2)], "ok"),
    ("a -Infinity weight", [("+", 19, 3, float("-inf"), 2)], "ok"),
    ("an edge removed that is not there", [("-", 19, 3, 1.0, 2)], "ok"),
]


@pytest.mark.parametrize("case,rows,expected", OVERLAYS, ids=[c[0] for c in OVERLAYS])
def test_overlay_rows(guarded, case, rows, expected):
    """A node id below 0 in graph._edge_overlay, or one past the nodes graph._nodes
    holds (replay writes an edge's ends as nodes first), is refused (XX001); any other
    row is folded in as it is."""
    with as_role(guarded, ADMIN) as c:
        for op, src, dst, w, label in rows:
            c.execute("""INSERT INTO graph._edge_overlay (op, edge_source_id, src, dst, weight, label_id)
                         SELECT %s, min(edge_source_id), %s, %s, %s, %s FROM graph._edge_sources""",
                      (op, src, dst, w, label))
    for role in (READER, ADMIN):
        got = _run(guarded, role)
        for q, answer in got.items():
            if expected == "XX001":
                assert answer[0] == "XX001" and "graph._edge_overlay" in answer[1] and HINT in answer[2], (q, answer)
            else:
                assert answer[0] in ("ok", "22023"), (role, q, answer)
        if role == READER:
            _no_secret(got)


@pytest.mark.parametrize("node_id,expected", [(-3, "XX001"), (1000, "XX001"), ("the next", "ok")])
def test_node_rows(guarded, node_id, expected):
    """A forged graph._nodes row: of a negative id, or one past the nodes, refused
    (XX001); of the id replay would give the next node, read as a node of no edge."""
    with as_role(guarded, ADMIN) as c:
        if node_id == "the next":
            node_id = c.execute("SELECT max(node_id) + 1 FROM graph._node_rows").fetchone()[0]
        c.execute("""INSERT INTO graph._node_rows (node_id, table_oid, pk, alive, change_id)
                     VALUES (%s, 'cs.a'::regclass, 'forged', true, nextval('graph._node_change_seq'))""", (node_id,))
    for role in (READER, ADMIN):
        for q, answer in _run(guarded, role).items():
            if expected == "XX001":
                assert answer[0] == "XX001" and "graph._nodes" in answer[1] and HINT in answer[2], (q, answer)
            else:
                assert answer[0] in ("ok", "22023"), (role, q, answer)


def _file_of(c):
    row = c.execute("""SELECT current_setting('data_directory'),
                              (SELECT oid FROM pg_database WHERE datname = current_database()), s.generation
                       FROM graph._sync_state AS s""").fetchone()
    folder = os.path.join(row[0], "graphsync", str(row[1]))
    return folder, row[2]


@pytest.mark.local_only(reason="writes a base file into the server's data directory")
def test_a_stamped_file_of_an_earlier_release_is_checked_before_it_is_mapped(guarded):
    """A shared file out of bounds, stamped as an earlier release stamped the files it
    wrote (from graph._csr rows it did not check: a negative target beside a stored
    'in' row went into the file), its checksum the one graph._csr records: a backend
    checks it in full before mapping it, refuses it, and holds the base the rows give."""
    with connect(guarded) as c:
        folder, generation = _file_of(c)
        before = _run(guarded, ADMIN)
        out = _out_row(c)
    forged = {k: v.copy() for k, v in out.items()}
    forged["targets"][0] = -25
    into = _reverse(out)
    content = _file_bytes(generation, forged, into)
    path = os.path.join(folder, "%d.base" % generation)
    os.chmod(path, 0o600)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, 0o400)
    st = os.stat(path)
    digest = hashlib.sha256(content).hexdigest()
    with open(os.path.join(folder, "%d.verified" % generation), "w") as f:  # the earlier release's stamp
        json.dump([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest], f)
    with connect(guarded) as c:
        c.execute("UPDATE graph._csr SET file_bytes = %s, file_sha256 = %s WHERE direction = 'out'",
                  (len(content), digest))
    after = _run(guarded, ADMIN)
    assert after == before


@pytest.mark.local_only(reason="writes a base file into the server's data directory")
def test_a_file_of_the_release_before_holding_another_in_csr_is_checked_before_it_is_mapped(guarded):
    """A shared file in bounds whose 'in' arrays are not the reverse of its 'out' ones
    (the release before this one wrote files from a stored 'in' row as it was), its
    checksum the one graph._csr records, stamped as that release stamped the files it
    checked ("in-bounds"): a backend checks it in full, refuses it, and answers what
    the rows give."""
    with connect(guarded) as c:
        folder, generation = _file_of(c)
        before = _run(guarded, ADMIN)
        out = _out_row(c)
    content = _file_bytes(generation, out, FORGED_IN["other targets"](out))
    path = os.path.join(folder, "%d.base" % generation)
    os.chmod(path, 0o600)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, 0o400)
    st = os.stat(path)
    digest = hashlib.sha256(content).hexdigest()
    with open(os.path.join(folder, "%d.verified" % generation), "w") as f:
        json.dump([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest, "in-bounds"], f)
    with connect(guarded) as c:
        c.execute("UPDATE graph._csr SET file_bytes = %s, file_sha256 = %s WHERE direction = 'out'",
                  (len(content), digest))
    assert _run(guarded, ADMIN) == before


def _file_bytes(generation, out, into):
    """The bytes of a shared base file (sync/basefile.py's format) of 'out' and 'in'
    arrays, 'any' as both directions, with out's alive flags and tables."""
    n = len(out["offsets"]) - 1
    named = [("%s.%s" % (d, f), np.ascontiguousarray(a[f], dtype=DTYPES[f]))
             for d, a in (("out", out), ("in", into)) for f in FIELDS]
    pos_out = np.arange(len(out["targets"])) + np.repeat(into["offsets"][:-1], np.diff(out["offsets"]))
    pos_in = np.arange(len(into["targets"])) + np.repeat(out["offsets"][1:], np.diff(into["offsets"]))
    for f in FIELDS:
        if f == "offsets":
            both = out["offsets"] + into["offsets"]
        else:
            both = np.empty(2 * len(out["targets"]), dtype=DTYPES[f])
            both[pos_out] = out[f]
            both[pos_in] = -1 - into[f] if f == "sources" else into[f]
        named.append(("any." + f, np.ascontiguousarray(both, dtype=DTYPES[f])))
    named += [("alive", out["alive"].astype("|b1")), ("tables", np.ascontiguousarray(out["tables"], dtype="<u4"))]
    assert all(len(a) for _, a in named) and n
    magic, align = b"GSBASE1\n", 64
    entries, header_len = [[name, a.dtype.str, 0, len(a)] for name, a in named], 0
    while True:
        at = -(-(len(magic) + 8 + header_len) // align) * align
        for entry, (_, a) in zip(entries, named, strict=True):
            entry[2] = at
            at = -(-(at + a.nbytes) // align) * align
        text = json.dumps({"generation": int(generation), "arrays": entries}, separators=(",", ":")).encode()
        if len(text) <= header_len:
            break
        header_len = len(text) + 64
    header = text + b" " * (header_len - len(text))
    body = bytearray(magic + len(header).to_bytes(8, "little") + header)
    for entry, (_, a) in zip(entries, named, strict=True):
        body += bytes(entry[2] - len(body))
        body += a.tobytes()
    return bytes(body)


@pytest.mark.parametrize("read_apply", ["admins", "everyone"])
def test_a_pending_row_naming_a_node_of_a_negative_id(guarded, read_apply):
    """A captured row not applied yet whose end is the key of a graph._nodes row of a
    negative node id: a read that folds it (graph.read_apply = 'admins': the reader's)
    or applies it (the overlay row replay writes) refuses it (XX001), where the fold
    gave the weighted paths an edge to node -3 (SciPy's C code then wrote before its
    arrays)."""
    with as_role(guarded, ADMIN) as c:
        c.execute("SELECT graph.set_setting('graph.read_apply', %s)", [read_apply])
        c.execute("""INSERT INTO graph._node_rows (node_id, table_oid, pk, alive)
                     VALUES (-3, 'cs.a'::regclass, '999', true)""")
    try:
        with connect(guarded) as c:
            c.execute("INSERT INTO cs.a VALUES (21, 999, 1, 'n21')")
        reads = [q.replace("'20'", "'21'") for q in READS]
        for role in (READER, ADMIN):
            for q, answer in _run(guarded, role, reads).items():
                assert answer[0] == "XX001" and "node id -3" in answer[1] and HINT in answer[2], (role, q, answer)
    finally:
        with connect(guarded) as c:
            c.execute("SELECT graph.set_setting('graph.read_apply', 'everyone')")
            c.execute("DELETE FROM cs.a WHERE id = 21")


# -- node ids far past the graph's nodes --------------------------------------------
#
# Node ids are dense: a build numbers the nodes 0..node_count-1 (the base), and replay
# gives each new node the next id after the largest (sync/apply.py, NODES), so every
# id between the base's node count and the largest id is a graph._nodes row. A read
# holds arrays of one entry per node id (alive flags, tables, each direction's
# adjacency): a single row of id 2^40 made every reading backend allocate for 2^40
# nodes (MemoryError, 38000), one of 2^31 or 2^28 gigabytes of every backend that
# read (a memory denial of service to the whole server).

HUGE_IDS = [2 ** 28, 2 ** 31, 2 ** 40]
SEED_READ = "SELECT node_table::text, node_id FROM graph.traverse('cs.a', '20', max_depth => 3, direction => 'any')"


def _status(pid, field):
    """``field`` (kB) of /proc/``pid``/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _forge_huge_id(c, table, node_id):
    if table == "graph._nodes":
        c.execute("""INSERT INTO graph._node_rows (node_id, table_oid, pk, alive, change_id)
                     VALUES (%s, 'cs.a'::regclass, 'forged', true, nextval('graph._node_change_seq'))""", (node_id,))
    else:
        c.execute("""INSERT INTO graph._edge_overlay (op, edge_source_id, src, dst, weight, label_id)
                     SELECT '+', min(edge_source_id), 19, %s, 1, 2 FROM graph._edge_sources""", (node_id,))


@pytest.mark.local_only(reason="reads the reading backend's /proc status and limits its address space")
@pytest.mark.parametrize("table", ["graph._nodes", "graph._edge_overlay"])
@pytest.mark.parametrize("node_id", HUGE_IDS, ids=["2^28", "2^31", "2^40"])
def test_a_node_id_far_past_the_nodes_is_refused_without_memory_for_it(guarded, table, node_id):
    """A graph_admin member's row of one huge node id: every read refuses it (XX001,
    naming the table, HINT run graph.build()), and the reading backend's address
    space grows by no more than a few megabytes. (The backend's address space is
    limited to 1 GiB above what it held when it started: a read that allocated in
    proportion to the id fails there with an out-of-memory error, rather than take the
    machine's memory.)"""
    with connect(guarded) as r:
        # (the backend lowers its own limit, as the superuser, before it becomes the reader)
        r.execute("""DO $$
                     import resource
                     kb = [int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmSize:')][0]
                     resource.setrlimit(resource.RLIMIT_AS, ((kb + 1024 * 1024) * 1024, resource.RLIM_INFINITY))
                     $$ LANGUAGE plpython3u""")
        r.execute(f"SET SESSION AUTHORIZATION {READER}")
        r.execute("SET statement_timeout = '60s'")
        assert r.execute(SEED_READ).fetchall()  # the graph loaded, NumPy and SciPy imported
        pid = r.execute("SELECT pg_backend_pid()").fetchone()[0]
        before = _status(pid, "VmPeak")
        with as_role(guarded, ADMIN) as c:
            _forge_huge_id(c, table, node_id)
        got = {}
        for q in [SEED_READ] + READS[:6]:
            try:
                got[q] = ("ok", r.execute(q).fetchall())
            except psycopg.Error as e:
                assert not r.closed and e.sqlstate is not None, (q, e)
                got[q] = (e.sqlstate, e.diag.message_primary, e.diag.message_hint)
        grew = _status(pid, "VmPeak") - before
    for q, answer in got.items():
        assert answer[0] == "XX001" and table in answer[1] and HINT in (answer[2] or ""), (q, answer)
    assert grew < 64 * 1024, f"the reading backend's address space grew by {grew} kB"


@pytest.mark.parametrize("table", ["graph._nodes", "graph._edge_overlay"])
@pytest.mark.parametrize("node_id", [1000, 2 ** 40])
def test_a_node_id_past_the_nodes_is_refused(guarded, table, node_id):
    """Every read, as the reader and as the admin, of a fresh backend (whose first
    read loads the graph with the row) and of one that read before. (Ids of 2^28 and
    2^31, which this release allocated for, are read under a limit above: local_only.)"""
    with as_role(guarded, READER) as r:
        r.execute(SEED_READ)
        with as_role(guarded, ADMIN) as c:
            _forge_huge_id(c, table, node_id)
        try:
            r.execute(SEED_READ)
            raise AssertionError("a read answered")
        except psycopg.Error as e:
            assert e.sqlstate == "XX001" and table in e.diag.message_primary, e
    for role in (READER, ADMIN):
        for q, answer in _run(guarded, role).items():
            assert answer[0] == "XX001" and table in answer[1] and HINT in answer[2], (role, q, answer)


def test_nodes_added_without_edges_before_an_edge_to_a_later_one_are_read(guarded):
    """The control: replay numbers 50 new nodes of no edge, then one with an edge, in
    one batch: the overlay row names an id 50 past the read's last node count, every
    id between held by a graph._nodes row. A read (which checks those ids) answers
    with the new edge."""
    with connect(guarded) as c:
        c.execute("SELECT graph.apply_sync()")
    with as_role(guarded, READER) as r:
        before = r.execute(SEED_READ).fetchall()
        with connect(guarded) as c:
            with c.transaction():
                c.execute("INSERT INTO cs.a SELECT i, NULL, 1, 'x' || i FROM generate_series(100, 149) AS i")
                c.execute("INSERT INTO cs.a VALUES (150, 20, 1, 'x150')")
            c.execute("SELECT graph.apply_sync()")
        try:
            after = r.execute(SEED_READ).fetchall()
            assert len(after) == len(before) + 1 and ("cs.a", "150") in [(t, str(i)) for t, i in after]
        finally:
            with connect(guarded) as c:
                c.execute("DELETE FROM cs.a WHERE id >= 100")


def test_a_seed_of_a_negative_node_id_is_refused(guarded):
    """The key a read starts from (or ends at) has a graph._nodes row of node id -3
    (a graph_admin member's UPDATE): the read refuses it (XX001, naming graph._nodes),
    as it refuses any other negative node id, where it answered as if the key had no
    node (empty)."""
    with as_role(guarded, ADMIN) as c:
        c.execute("UPDATE graph._node_rows SET node_id = -3 WHERE table_oid = 'cs.a'::regclass AND pk = '20'")
    reads = [q for q in READS if "'20'" in q]
    reads.append("SELECT node_table::text, node_id FROM graph.component_of('cs.a', '20')")
    for role in (READER, ADMIN):
        for q, answer in _run(guarded, role, reads).items():
            assert answer[0] == "XX001" and "node id -3" in answer[1] and "graph._nodes" in answer[1] \
                and HINT in answer[2], (role, q, answer)


FORGED_IN = {
    "no edges": lambda a: {"offsets": np.zeros(len(a["offsets"]), dtype=np.int64),
                           **{f: np.zeros(0, dtype=DTYPES[f]) for f in FIELDS[1:]}},
    "other targets": lambda a: {**_reverse(a), "targets": np.roll(_reverse(a)["targets"], 7)},
    # (out of bounds: refused with XX001 when the stored row was read)
    "a negative target": lambda a: {**_reverse(a), "targets": np.full(24, -2)},
    "a target past the node count": lambda a: {**_reverse(a), "targets": np.full(24, 1000)},
    "offsets past the edges": lambda a: {**_reverse(a), "offsets": np.arange(26) * 3},
    "fewer targets than weights": lambda a: {**_reverse(a), "targets": np.zeros(3, dtype=np.int64)},
}
STORED_IN = [(how, checksum) for how in FORGED_IN for checksum in ("none", "bogus")] + [
    ("other targets", "of the forged file")]


@pytest.mark.parametrize("how,checksum", STORED_IN, ids=["-".join(c) for c in STORED_IN])
def test_a_stored_in_row_that_is_not_the_reverse_changes_no_answer(guarded, how, checksum):
    """graph._csr's 'in' row of a generation (which builds no longer write: migration
    400) holding other edges than the reverse of its 'out' row, in bounds or not:
    every read answers what it answers without it (the 'in' CSR is made from the
    'out' row; the stored one gave the reads of direction 'in' and 'any' its edges).
    ``checksum``: graph._csr records no shared file (the backend holds the rows), one
    no file has (it writes one from the rows, which is then refused), or the checksum
    of the file the forged rows would make (then mapped, where it was written)."""
    with as_role(guarded, ADMIN) as c:
        before = {role: _run(guarded, role) for role in (READER, ADMIN)}
        out = _out_row(c)
        into = FORGED_IN[how](out)
        _write_base(c, out, into, "none" if checksum == "none" else "bogus")
        if checksum == "of the forged file":
            generation = c.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
            content = _file_bytes(generation, out, into)
            c.execute("UPDATE graph._csr SET file_bytes = %s, file_sha256 = %s WHERE direction = 'out'",
                      (len(content), hashlib.sha256(content).hexdigest()))
    for role in (READER, ADMIN):
        after = _run(guarded, role)
        for q in READS:
            assert after[q] == before[role][q], (role, q, before[role][q], after[q])


@pytest.mark.parametrize("gap", [False, True], ids=["every id between held", "one id between missing"])
def test_an_overlay_end_past_the_node_changes_read(guarded, gap):
    """Rows of graph._nodes that no node change names (no change_id) from the next id
    on, and an overlay row to the last: a read's refresh reads 2 node ids and grows by
    50, so it counts the rows of the ids in between. All 50 held: the reads answer;
    one missing: refused (XX001, naming graph._edge_overlay)."""
    with as_role(guarded, ADMIN) as c:
        top = c.execute("SELECT max(node_id) FROM graph._node_rows").fetchone()[0]
        c.execute("""INSERT INTO graph._node_rows (node_id, table_oid, pk, alive)
                     SELECT i, 'cs.a'::regclass, 'forged' || i, false FROM generate_series(%s::bigint, %s::bigint) AS i
                     WHERE NOT %s OR i <> %s""", (top + 1, top + 50, gap, top + 25))
        c.execute("""INSERT INTO graph._edge_overlay (op, edge_source_id, src, dst, weight, label_id)
                     SELECT '+', min(edge_source_id), 19, %s, 1, 2 FROM graph._edge_sources""", (top + 50,))
    for role in (READER, ADMIN):
        for q, answer in _run(guarded, role).items():
            if gap:
                assert answer[0] == "XX001" and "graph._edge_overlay" in answer[1] and "49 of the 50" in answer[1], \
                    (role, q, answer)
            else:
                assert answer[0] in ("ok", "22023"), (role, q, answer)
