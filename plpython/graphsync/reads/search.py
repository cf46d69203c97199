"""graph.search: find nodes by a registered property, through SQL on the source
tables, as the caller (their privileges and row-level security apply, and
their indexes help).

Identifiers enter the SQL only through quote_ident / the regclass text form;
the value is always a bound parameter. Modes:

- ``exact``: column = value (compared in the column's type when the value casts
  to it, so a b-tree index on the column serves it; otherwise as text)
- ``prefix``: column text LIKE 'value%' (a text_pattern_ops index serves it)
- ``contains``: column text LIKE '%value%' (a pg_trgm index serves it)

``case_sensitive => false`` compares lower-cased text (ILIKE for the patterns).
Tables the caller cannot SELECT are skipped unless named in table_filter
(then 42501).
"""

from graphsync import errors, settings
from graphsync.db import may_select, run
from graphsync.reads import arguments, nodes
from graphsync.sync import registry

MODES = ("exact", "prefix", "contains")
# Whether the caller may SELECT table $1 by name (its schema's USAGE too: db.may_select)
MAY_SELECT = "SELECT (SELECT %s FROM pg_catalog.pg_class AS c WHERE c.oid = $1) IS true AS ok" % may_select(
    "c.oid", "c.relnamespace")
MAX_ROWS = 100_000

# The column's type as exact compares need it: its base type (a domain's CHECK
# could call its owner's function; comparing in the base type runs none), whether
# it is text, and whether it is built in (graph._builtin_type). Values of other
# types are compared by their text form, rendered by the type's output function
# (graph._value_expr): their casts and operators may be functions a table owner
# wrote, and the search runs as its caller.
COLUMN_TYPE = """
SELECT pg_catalog.format_type(b.oid, NULL) AS type,
       b.typcategory = 'S' AS is_text, graph._builtin_type(a.atttypid) AS builtin,
       graph._value_expr($1, $2, 't') AS text_expr, graph._key_expr($1, $3, 't') AS key_expr,
       graph._object_expr($1, $4, 't', false) AS node_expr,
       CASE WHEN $5::text IS NOT NULL THEN graph._captured_expr($1, $5, 't') END AS tenant_expr
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_type AS b ON b.oid = graph._base_type(a.atttypid)
WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
"""


def _like_escape(value):
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _casts(plpy, value, type_name):
    """Whether ``value`` is valid input for ``type_name`` (only the type refusing the
    value counts as no: a cancel or a timeout meanwhile is raised)."""
    try:
        with plpy.subtransaction():
            run(plpy, "SELECT $1::%s AS v" % type_name, ["text"], [value])
        return True
    except plpy.SPIError as exc:
        if not errors.is_data_exception(exc):
            raise
        return False


def _table_sql(plpy, node, column, mode, case_sensitive, value, with_tenant):
    """(SQL, value argument) finding rows of ``node`` by ``column``; None when no row
    can match."""
    qi = plpy.quote_ident
    col = run(plpy, COLUMN_TYPE, ["oid", "text", "text[]", "text[]", "text"],
              [node.table_oid, column, list(node.id_columns),
               list(dict.fromkeys(node.id_columns + node.property_columns)), node.tenant_column])
    if not col:
        return None
    c = col[0]
    type_name, is_text, builtin = c["type"], c["is_text"], c["builtin"]
    ref = "t.%s" % qi(column)
    text_ref = ref if is_text and builtin else c["text_expr"]
    arg = value
    if mode == "exact" and case_sensitive:
        if not builtin:
            where = "%s = $1" % text_ref
        elif is_text or _casts(plpy, value, type_name):
            where = "%s = $1::%s" % (ref, type_name)
        else:
            return None
    elif mode == "exact":
        where = "lower(%s) = lower($1)" % text_ref
    else:
        pattern = _like_escape(value) + "%"
        if mode == "contains":
            pattern = "%" + pattern
        arg = pattern
        where = "%s %s $1" % (text_ref, "LIKE" if case_sensitive else "ILIKE")
    table = nodes.checked_source(plpy, node.table_oid)  # graph._source_name, and no policy code of another's
    key_expr, obj = c["key_expr"], c["node_expr"]
    if with_tenant and node.tenant_column:
        where += " AND %s = $3" % c["tenant_expr"]
    sql = ("SELECT %s AS pk, %s AS value, %s::text AS node FROM %s AS t WHERE %s LIMIT $2"
           % (key_expr, text_ref, obj, table, where))
    return sql, arg


@errors.entry_point
def search_rows(plpy, property_key, value, table_filter=None, mode=None, case_sensitive=True,
                max_rows=None, tenant=None):
    """Rows (node_table, node_id, value, node) of the nodes whose registered
    property ``property_key`` matches ``value``."""
    if property_key is None or value is None:
        raise errors.NullValue("property_key and value must not be NULL")
    mode = arguments.check_choice(plpy, "mode", mode, MODES, "exact")
    max_rows = 100 if max_rows is None else max_rows
    if max_rows < 1 or max_rows > MAX_ROWS:
        raise errors.InvalidArgument("max_rows must be between 1 and %d, not %d" % (MAX_ROWS, max_rows))
    if case_sensitive is None:
        case_sensitive = True
    arguments.check_tenant(tenant)
    reg = registry.load(plpy)
    if tenant is None:
        tenant = settings.get(plpy, "graph.tenant")
    named = arguments.table_oids(plpy, table_filter, "table_filter")
    if named is not None:
        for oid, name in zip(named, table_filter, strict=True):
            if oid not in reg.nodes:
                raise errors.ObjectNotInPrerequisiteState(
                    "%s is not a registered node table" % name,
                    hint="Register it with graph.add_table and run graph.build().")
            if not run(plpy, MAY_SELECT, ["oid"], [oid])[0]["ok"]:
                raise errors.InsufficientPrivilege("permission denied for table %s" % name)
    candidates = [n for oid, n in reg.nodes.items()
                  if (named is None or oid in named) and property_key in n.property_columns]
    if not candidates:
        raise errors.UndefinedColumn("no registered node table has a property column %s"
                                     % plpy.quote_ident(property_key),
                                     hint="Property columns are the columns and filter columns given to"
                                          " graph.add_table / graph.add_filter_column.")
    out = []
    for node in candidates:
        if len(out) >= max_rows:
            break
        if named is None and not run(plpy, MAY_SELECT, ["oid"], [node.table_oid])[0]["ok"]:
            continue
        made = _table_sql(plpy, node, property_key, mode, case_sensitive, value, tenant is not None)
        if made is None:
            continue
        sql, arg = made
        types, args = ["text", "int"], [arg, max_rows - len(out)]
        if tenant is not None and node.tenant_column:
            types.append("text")
            args.append(tenant)
        for row in run(plpy, sql, types, args):
            out.append((node.table_oid, row["pk"], row["value"], row["node"]))
    return out

