"""Graph changes from log rows: the one reading of the captured-row format.

Replay (sync/apply.py) and reads that fold pending rows in memory
(reads/freshness.py) both turn log rows into graph changes here, so a folded
read and an applied one agree. Pure Python over dicts: no database access.
Both gather a whole batch in one loop (add_rows: the JSON images parsed in one
go, each table's edge sources read once, each key's NodeChange changed in
place); add_row() is the same reading of one row, which add_rows falls back on
for rows of filtered tables and rows whose JSON did not parse.

A log row (see the capture generator, graph._install_capture) carries the key
(``old_pk``/``new_pk``: one column's text form, or a composite key's record
text form), ``properties`` (JSON text of the registered columns) and
``old_row``/``new_row`` (JSON text of the captured columns: tenant, edge
endpoints, weight, label, as text).
"""

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal

from graphsync.algorithms import weights

# float8's largest value and its smallest above 0 (a denormal), as exact decimals:
# weight_of and sources.weight_expr compare a weight's text with them exactly.
FLOAT8_MAX = Decimal("1.7976931348623157e308")
FLOAT8_MIN = Decimal("4.9406564584124654e-324")


@dataclass(slots=True)
class NodeChange:
    """What log rows did to the node of one key.

    A node counts the rows that hold its key, and is alive while that count is
    above 0: a deferrable unique key can be held by two rows for a moment inside
    a transaction (keys swapped in two statements, a new version inserted before
    the old one is deleted), and each statement is captured alone, so "a row
    with key k left" does not mean "no row has key k" (graph._nodes.extra_rows,
    migration 041). A row coming in adds 1, a row going out takes 1, never below
    0: the change maps a count c to max(c + add, floor), or to floor alone when
    ``absolute``. ``state`` is (tenant, properties json) of the last row that
    came in; None when none did (the node keeps its state while rows remain).
    """

    add: int = 0
    floor: int = 0
    absolute: bool = False
    state: tuple | None = None

    @classmethod
    def exactly(cls, count, state=None):
        """The node has ``count`` rows afterwards, whatever it had."""
        return cls(0, count, True, state)

    def row_in(self, tenant, properties):
        self.add += 1
        self.floor += 1
        self.state = (tenant, properties)

    def row_out(self):
        self.add -= 1
        self.floor = max(self.floor - 1, 0)

    def count(self, before):
        """The node's row count after the change, from ``before``."""
        return self.floor if self.absolute else max(before + self.add, self.floor)

    def then(self, later):
        """This change followed by ``later``."""
        if later.absolute:
            return later
        return NodeChange(self.add + later.add, max(self.floor + later.add, later.floor),
                          self.absolute, later.state if later.state is not None else self.state)

    def result(self, before):
        """(alive, extra_rows, state) after the change, from ``before`` rows; state
        is None when the node keeps the one it has (alive, no row came in)."""
        n = self.count(before)
        if n == 0:
            return False, 0, (None, None)
        return True, n - 1, self.state


@dataclass
class Changes:
    """Graph changes gathered from log rows, written by flush()."""

    nodes: dict = field(default_factory=dict)  # (oid, pk) -> NodeChange
    edges: list = field(default_factory=list)  # (op, source, (oid, pk), (oid, pk), w, label)

    def node(self, key):
        change = self.nodes.get(key)
        if change is None:
            change = self.nodes[key] = NodeChange()
        return change


def weight_of(text):
    """The weight an edge takes from the text of its weight column (README
    "Weights"): NULL counts as 1; NaN counts as +Infinity (NaN equals nothing,
    not even itself, so an edge weighing NaN could never be matched and removed);
    a number beyond float8's range counts as +-Infinity and one closer to 0 than
    float8 holds as 0; any other number is the float8 nearest to it. Negative and
    infinite weights are kept: weighted_shortest_path refuses them when its search
    can reach them, or leaves them out (invalid_weights => 'skip').
    sources.weight_expr is the same rule in SQL, for build."""
    if text is None:
        return 1.0
    w = float(text)
    if 1e-300 < abs(w) < 1e300:
        return w
    d = Decimal(text)
    if d.is_nan() or d > FLOAT8_MAX:
        return math.inf
    if d < -FLOAT8_MAX:
        return -math.inf
    if d != 0 and abs(d) < FLOAT8_MIN:
        return 0.0
    return w


def _ends(e, pk, row):
    """(from keys, to keys) of the edges of source ``e`` a row carries: the row's
    own key and plain columns, or the keys capture computed (graph._carried_expr:
    under "", the source's entry: false when the row fails the source's filter)."""
    computed = None
    if e.computed:
        computed = (row.get("") or {}).get(str(e.edge_source_id))
        if not computed:
            return (), ()
        if computed is True:
            computed = {}
        _raise_failed(computed)
    if e.kind == "fk":
        froms = (pk,)
        tos = computed["t"] if e.from_columns is not None else (row.get(e.from_column),)
    else:
        froms = computed["f"] if e.from_columns is not None else (row.get(e.from_column),)
        tos = computed["t"] if e.to_columns is not None else (row.get(e.to_column),)
    return froms, tos


# How the error of a log row a row filter raised on at capture begins (health and
# maintenance recognise such rows by it: graph._health, ops/maintenance.py).
CAPTURED_FILTER_ERROR = "the row filter raised an error when this row was captured"


class CapturedFilterError(ValueError):
    """A row filter raised at capture: its error is in the log row, in place of the
    filter's result, so no later apply of that row can succeed (a rebuild reads the
    row afresh: as failing the filter while it still raises). Replay records it on the row
    and passes it under either graph.sync_error_policy (apply.by_halves): a writer's
    value the filter raises on holds back no other row."""


# How the error of a log row that names a key too long for graph._nodes' index begins
# (errors.is_unfit_key; apply.by_halves records it so): health and maintenance
# recognise such rows by it (graph._health, ops/maintenance.py).
UNFIT_KEY_ERROR = "a key this row names is too long to index"


def _raise_failed(result):
    """Raise the error a row filter raised at capture (graph._carried_expr's marker)."""
    if isinstance(result, dict) and "error" in result:
        raise CapturedFilterError("%s: %s" % (CAPTURED_FILTER_ERROR, result["error"]))


def is_node(node, row):
    """Whether a row of node table ``node`` (its captured image) is a node: it
    passes the table's row filter, whose result capture logs under "" as "n"."""
    if node.row_filter is None:
        return True
    result = (row.get("") or {}).get("n")
    _raise_failed(result)
    return result is True


def edges_of_row(reg, table_oid, pk, row):
    """The edges a row (text values of captured columns) carries:
    [(source_id, (oid, pk), (oid, pk), weight, label)]."""
    found = []
    for e in reg.edges_carried_by(table_oid):
        froms, tos = _ends(e, pk, row)
        if not froms or not tos:
            continue
        weight = weight_of(row.get(e.weight_column) if e.weight_column else None)
        label = row.get(e.label_column) if e.label_column else None
        if label is None:
            label = e.label
        for a in froms:
            if a is None:
                continue
            for b in tos:
                if b is None:
                    continue
                found.append((e.edge_source_id, (e.from_table, a), (e.to_table, b), weight, label))
                if e.bidirectional:
                    found.append((e.edge_source_id, (e.to_table, b), (e.from_table, a), weight, label))
    return found


def add_row(reg, row, changes, parsed=None):
    """Add the graph changes of one I/U/D log row to ``changes``. ``parsed``:
    (old_row, new_row) as the row's JSON texts parse, when the caller parsed them."""
    op, table_oid = row["op"], int(row["table_oid"])
    if op not in ("I", "U", "D"):
        # The log keeps no CHECK on op (migration 175); 'T' rows are the callers' own.
        raise ValueError("log row %d has op %r, not I, U or D" % (row["id"], op))
    if parsed is None:
        old_row = json.loads(row["old_row"]) if row["old_row"] else None
        new_row = json.loads(row["new_row"]) if row["new_row"] else None
    else:
        old_row, new_row = parsed
    if op in ("I", "U") and (row["new_pk"] is None or new_row is None):
        raise ValueError("log row %d (%s) has no new key or new_row" % (row["id"], op))
    if op in ("U", "D") and (row["old_pk"] is None or old_row is None):
        raise ValueError("log row %d (%s) has no old key or old_row" % (row["id"], op))
    node = reg.nodes.get(table_oid)
    if node is not None:
        # An update is its old row going out and its new row coming in, also
        # when the key stays: the count is unchanged, the state is the new row's.
        if op in ("U", "D") and is_node(node, old_row):
            changes.node((table_oid, row["old_pk"])).row_out()
        if op in ("I", "U") and is_node(node, new_row):
            tenant = new_row.get(node.tenant_column) if node.tenant_column else None
            changes.node((table_oid, row["new_pk"])).row_in(tenant, row["properties"])
    old = edges_of_row(reg, table_oid, row["old_pk"], old_row) if old_row else []
    new = edges_of_row(reg, table_oid, row["new_pk"], new_row) if new_row else []
    gone, came = edge_diff(old, new)
    changes.edges.extend(("-",) + edge for edge in gone)
    changes.edges.extend(("+",) + edge for edge in came)


def edge_diff(old, new):
    """(the edges of ``old`` not in ``new``, those of ``new`` not in ``old``), as
    multisets, each in its list's order: each edge of ``old`` takes the first
    occurrence of an equal one in ``new`` still untaken. In time linear in their
    lengths: taking them by list.remove was quadratic, and one row's JSON array of
    20,000 references updated in reverse order took 14 s to replay and as long in
    every read that folded it."""
    if not old or not new:
        return list(old), list(new)
    if old == new:  # most updates: the row's edges stay as they were
        return [], []
    left = {}
    for edge in new:
        left[edge] = left.get(edge, 0) + 1
    gone = []
    taken = {}
    for edge in old:
        if left.get(edge, 0):
            left[edge] -= 1
            taken[edge] = taken.get(edge, 0) + 1
        else:
            gone.append(edge)
    came = []
    for edge in new:
        if taken.get(edge, 0):
            taken[edge] -= 1
        else:
            came.append(edge)
    return gone, came


_UNPARSED = object()


def _parsed(rows, column):
    """The JSON of ``column`` of every row (None where empty), parsed in one go: a
    call of json.loads per row costs several times its parsing. When one text
    does not parse (or a row has no such column), _UNPARSED for every row
    (add_row parses, and refuses, each)."""
    try:
        texts = [r[column] for r in rows]
    except KeyError:
        return [_UNPARSED] * len(rows)
    return parse_texts(texts)


def parse_texts(texts):
    """_parsed() of a column's texts (None or empty: no image), a list."""
    present = [t for t in texts if t]
    try:
        values = json.loads("[" + ",".join(present) + "]")
    except ValueError:
        return [_UNPARSED] * len(texts)
    # One JSON object per text (what the log holds), or each text on its own.
    if len(values) != len(present) or not set(map(type, values)) <= {dict}:  # json.loads makes plain dicts
        return [_UNPARSED] * len(texts)
    if len(present) == len(texts):
        return values
    values = iter(values)
    return [next(values) if t else None for t in texts]


class _Plan:
    """How the rows of one table turn into graph changes, worked out once per
    gathering (add_rows) instead of once per row: the node table, and each edge
    source the rows carry as a flat tuple when none of them is computed by
    capture (then edges_of_row, the general reading, is used)."""

    __slots__ = ("table_oid", "node", "plain_node", "tenant", "specs", "general", "is_node", "filtered")

    def __init__(self, reg, table_oid):
        self.table_oid = table_oid
        self.node = reg.nodes.get(table_oid)
        self.is_node = self.node is not None
        self.plain_node = self.node is not None and self.node.row_filter is None
        self.filtered = self.is_node and not self.plain_node  # its rows go through add_row
        self.tenant = self.node.tenant_column if self.node is not None else None
        carried = reg.edges_carried_by(table_oid)
        self.general = any(e.computed for e in carried)
        self.specs = () if self.general else tuple(
            (e.edge_source_id, e.kind == "fk", e.from_table, e.to_table, e.from_column,
             e.from_column if e.kind == "fk" else e.to_column, e.weight_column, e.label_column, e.label,
             e.bidirectional)
            for e in carried)


def _plain_edges(specs, pk, row, sign=None):
    """edges_of_row for sources that are plain columns (``specs``: _Plan.specs); with
    ``sign`` ("+" or "-"), each edge as the change (sign, edge) instead."""
    found = []
    for sid, fk, ft, tt, fc, tc, wc, lc, label, bi in specs:
        a = pk if fk else row.get(fc)
        b = row.get(tc)
        weight = weight_of(row.get(wc)) if wc else 1.0
        if a is None or b is None:
            continue
        if lc:
            lab = row.get(lc)
            if lab is None:
                lab = label
        else:
            lab = label
        if sign:
            found.append((sign, sid, (ft, a), (tt, b), weight, lab))
            if bi:
                found.append((sign, sid, (tt, b), (ft, a), weight, lab))
        else:
            found.append((sid, (ft, a), (tt, b), weight, lab))
            if bi:
                found.append((sid, (tt, b), (ft, a), weight, lab))
    return found


def add_rows(reg, rows, changes, parsed=None, skip=False, truncated=(), plans=None):
    """Add the graph changes of I/U/D log ``rows`` (in id order, no TRUNCATE) to
    ``changes``: what add_row() does row by row, in one loop over the batch.
    ``parsed``: (old_rows, new_rows) as _parsed() gives them (parsed here when None).
    A row that cannot be gathered raises (as add_row does), or with ``skip`` adds
    nothing and is left out. A key of a table in ``truncated`` that ``changes``
    does not hold yet counts its rows from 0 (NodeChange.exactly). ``plans``: a
    dict of _Plan by table oid to reuse between calls. Returns the number of
    rows skipped."""
    if parsed is None:
        parsed = (_parsed(rows, "old_row"), _parsed(rows, "new_row"))
    if plans is None:
        plans = {}
    nodes, edges = changes.nodes, changes.edges
    skipped = 0
    for row, old_row, new_row in zip(rows, parsed[0], parsed[1], strict=True):
        raw = row["table_oid"]
        plan = plans.get(raw)
        if plan is None:
            plan = plans[raw] = _Plan(reg, int(raw))
        if plan.filtered or old_row is _UNPARSED or new_row is _UNPARSED:
            # The general reading, on a copy: a row adds all of its changes or none.
            one = Changes()
            try:
                add_row(reg, row, one, None if old_row is _UNPARSED or new_row is _UNPARSED
                        else (old_row, new_row))
            except (ValueError, TypeError, KeyError):
                if not skip:
                    raise
                skipped += 1
                continue
            _merge(one, nodes, edges, truncated)
            continue
        try:
            op, old_pk, new_pk = row["op"], row["old_pk"], row["new_pk"]
            if op != "D" and (new_pk is None or new_row is None):
                raise ValueError("log row %d (%s) has no new key or new_row" % (row["id"], op))
            if op != "I" and (old_pk is None or old_row is None):
                raise ValueError("log row %d (%s) has no old key or old_row" % (row["id"], op))
            signed = ()  # the row's edge changes, when it is an insert or a delete of plain columns
            if plan.general:
                old = edges_of_row(reg, plan.table_oid, old_pk, old_row) if old_row else []
                new = edges_of_row(reg, plan.table_oid, new_pk, new_row) if new_row else []
            elif not plan.specs:
                old = new = ()
            elif not old_row:
                old, new = (), ()
                signed = _plain_edges(plan.specs, new_pk, new_row, "+") if new_row else ()
            elif not new_row:
                old, new = (), ()
                signed = _plain_edges(plan.specs, old_pk, old_row, "-")
            else:
                old = _plain_edges(plan.specs, old_pk, old_row)
                new = _plain_edges(plan.specs, new_pk, new_row)
            is_node = plan.is_node
            if is_node and op != "D":
                tenant = new_row.get(plan.tenant) if plan.tenant else None
                properties = row["properties"]
        except (ValueError, TypeError, KeyError, AttributeError):
            if not skip:
                raise
            skipped += 1
            continue
        if is_node:
            table_oid = plan.table_oid
            if op != "I":
                key = (table_oid, old_pk)
                c = nodes.get(key)
                if c is None:
                    c = nodes[key] = NodeChange.exactly(0) if table_oid in truncated else NodeChange()
                c.add -= 1
                if c.floor:
                    c.floor -= 1
            if op != "D":
                key = (table_oid, new_pk)
                c = nodes.get(key)
                if c is not None:
                    c.add += 1
                    c.floor += 1
                    c.state = (tenant, properties)
                elif table_oid in truncated:
                    nodes[key] = NodeChange(1, 1, True, (tenant, properties))  # exactly(0), then row_in
                else:
                    nodes[key] = NodeChange(1, 1, False, (tenant, properties))
        if signed:
            edges.extend(signed)
            continue
        if old:
            gone, new = edge_diff(old, new)
            for edge in gone:
                edges.append(("-",) + edge)
        for edge in new:
            edges.append(("+",) + edge)
    return skipped


def cancel_edges(edges):
    """``edges`` (edge changes (op, source, key, key, weight, label) in order) less
    every addition that a later removal of the same edge undoes, and that removal:
    the overlay rows a batch need not write. Each removal takes the latest
    addition of its edge not taken yet (brackets matched), so what is left means
    the same under every reading of the overlay: summed per edge (csr.fold_overlay,
    adjacency.Overlay) a pair adds 0; applied in order, a removal never below 0
    (the adjacency's relocation), an addition then its removal leave the count
    as it was. A removal with no addition before it in ``edges`` stays: it may
    remove an edge of the base or of an earlier batch. Returns ``edges`` itself
    when nothing cancels. Weights are compared by algorithms.weights.key (a NaN
    weight is +Infinity, as weight_of makes it)."""
    # Only an addition of an edge that some removal names can cancel: key those
    # (most of a batch's changes are additions) and skip the rest. An edge change
    # is its own key (c[1:]) but for a NaN weight (weight_of never gives one).
    removed = {_cancel_key(c) for c in edges if c[0] == "-"}
    if not removed:
        return edges
    open_, drop = {}, set()
    for i, c in enumerate(edges):
        key = c[1:] if c[4] == c[4] else _cancel_key(c)  # _cancel_key, inline for the common case
        if key not in removed:
            continue
        if c[0] == "+":
            open_.setdefault(key, []).append(i)
        else:
            added = open_.get(key)
            if added:
                drop.add(added.pop())
                drop.add(i)
    if not drop:
        return edges
    return [c for i, c in enumerate(edges) if i not in drop]


def _cancel_key(c):
    """The key by which cancel_edges matches edge change ``c``: (source, key, key,
    weight, label), the weight by weights.key (-0.0 is 0.0 already under == and
    hash; a NaN is +Infinity)."""
    w = c[4]
    if w == w:
        return c[1:]
    return (c[1], c[2], c[3], weights.key(w), c[5])


def _merge(one, nodes, edges, truncated):
    """Compose the changes of one row (``one``) after ``nodes`` and ``edges``."""
    for k, change in one.nodes.items():
        before = nodes.get(k) or (NodeChange.exactly(0) if k[0] in truncated else None)
        nodes[k] = before.then(change) if before is not None else change
    edges.extend(one.edges)


def parse_images(rows):
    """(old_rows, new_rows): the captured images of log ``rows``, each column's
    JSON parsed in one go (_parsed), for add_rows."""
    return _parsed(rows, "old_row"), _parsed(rows, "new_row")


def fold_rows(reg, rows):
    """Replay ``rows`` (log rows in id order) in memory: (node changes {(oid, pk):
    NodeChange}, edge changes [(op, source, key, key, weight, label)], truncated
    table oids, cut edge sources). A row that cannot be gathered is skipped
    (replay records its error). A key of a table truncated on the way counts
    its rows from 0 (NodeChange.exactly)."""
    gathered, truncated, cuts = Changes(), set(), set()
    old_rows, new_rows = parse_images(rows)
    plans = {}
    start = 0
    for at in [i for i, row in enumerate(rows) if row["op"] == "T"] + [len(rows)]:
        if at > start:
            add_rows(reg, rows[start:at], gathered, (old_rows[start:at], new_rows[start:at]), True,
                     truncated, plans)
        if at == len(rows):
            break
        table_oid = int(rows[at]["table_oid"])
        carried = {e.edge_source_id for e in reg.edges_carried_by(table_oid)}
        gathered.edges = [c for c in gathered.edges if c[1] not in carried]
        cuts |= carried
        if table_oid in reg.nodes:
            truncated.add(table_oid)
            for k in gathered.nodes:
                if k[0] == table_oid:
                    gathered.nodes[k] = NodeChange.exactly(0)
        start = at + 1
    return gathered.nodes, gathered.edges, truncated, cuts
