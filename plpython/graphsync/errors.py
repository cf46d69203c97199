"""The errors graphsync raises: one exception type per SQLSTATE, raised one way.

Any module raises one of the types below, with a message a user can act on and,
where useful, a detail and a hint::

    raise errors.InvalidArgument("max_depth must be >= 0, not -1")

This is the only file that names a SQLSTATE. The functions the SQL wrappers call
(the entry points) are decorated with ``@errors.entry_point``: a graphsync error
leaving one is raised to PostgreSQL by ``raise_`` with its SQLSTATE, its message
as the one line the user reads, and its DETAIL and HINT. An error PostgreSQL
itself raised inside (``plpy.SPIError``: an unknown table, a cancel, a timeout)
is not a graphsync error and passes through unchanged. PL/Python renders such an
error leaving a function as ``spiexceptions.<Type>: <message>`` (once per
PL/Python level it crosses); the PL/pgSQL wrapper of each public function drops
that prefix when it re-raises, so the caller reads PostgreSQL's own message, with
its SQLSTATE, DETAIL and HINT.

The line reads ``graphsync: <message>``. PL/Python reports an exception that
leaves a function as ``<module>.<type>: <message>`` (``plpy.Error: ...``); the
exception ``raise_`` raises is a ``plpy.Error`` whose type is named
``graphsync`` in ``builtins``, which PL/Python prints without a module. Its
traceback goes to CONTEXT, as for every PL/Python error; the message, DETAIL
and HINT carry none.

The algorithms raise plain Python exceptions (they import nothing of graphsync);
the read that calls them maps those to the types here.
"""


# The class of SQLSTATEs PostgreSQL uses for bad data (invalid input syntax, out
# of range, ...): an SPIError of this class, raised while graphsync checks a
# value the caller gave, means the value is bad. Any other SPIError (a cancel,
# a lock timeout, a missing privilege) is not caught.
DATA_EXCEPTION_CLASS = "22"

# PostgreSQL stopping a statement, not anything wrong with a row or a value:
# class 57 (operator intervention: 57014 query_canceled, from pg_cancel_backend
# and statement_timeout; 57P01 admin_shutdown, ...) and 55P03 lock_not_available
# (lock_timeout). See is_cancel.
CANCEL_CLASS = "57"
LOCK_TIMEOUT = "55P03"
DEADLOCK_DETECTED = "40P01"
# A relation named that does not exist (e.g. renamed while its lock was waited for).
UNDEFINED_TABLE = "42P01"
# program_limit_exceeded: among others, a btree index entry past what a page holds.
PROGRAM_LIMIT_EXCEEDED = "54000"
UNIQUE_VIOLATION = "23505"
# The index a node's key must fit (schema, table, constraint as an error names them):
# graph._nodes' unique (table_oid, pk), which holds the key text whole (migration 001).
NODE_KEY_INDEX = ("graph", "_node_rows", "_nodes_table_oid_pk_key")


class GraphsyncError(Exception):
    """An error graphsync raises on purpose; subclasses set ``sqlstate``."""

    sqlstate = None

    def __init__(self, message, detail=None, hint=None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint


class InvalidArgument(GraphsyncError, ValueError):
    """22023 invalid_parameter_value: an argument or a graph.* setting outside what
    is allowed (a bound, a choice, a filter, a negative edge weight in reach)."""

    sqlstate = "22023"


class NumericValueOutOfRange(GraphsyncError, ValueError):
    """22003 numeric_value_out_of_range: a cheapest path whose finite edge weights sum
    past what double precision holds."""

    sqlstate = "22003"


class NullValue(GraphsyncError, ValueError):
    """22004 null_value_not_allowed: NULL where a value is needed, also inside an
    array argument."""

    sqlstate = "22004"


class InvalidTextRepresentation(GraphsyncError, ValueError):
    """22P02 invalid_text_representation: a node id that is not a key of its table."""

    sqlstate = "22P02"


class ObjectNotInPrerequisiteState(GraphsyncError):
    """55000 object_not_in_prerequisite_state: a table that is not registered,
    committed log rows not applied under 'error_on_pending', a rebuild blocked by
    schema drift."""

    sqlstate = "55000"


class InsufficientPrivilege(GraphsyncError):
    """42501 insufficient_privilege: an admin-only function called by a role outside
    graph_admin; a table the caller may not read."""

    sqlstate = "42501"


class UndefinedColumn(GraphsyncError):
    """42703 undefined_column: a property no registered node table has."""

    sqlstate = "42703"


class ProgramLimitExceeded(GraphsyncError):
    """54000 program_limit_exceeded: more pending log rows than a read folds in memory."""

    sqlstate = "54000"


class ReadOnlySqlTransaction(GraphsyncError):
    """25006 read_only_sql_transaction: an admin function (which writes the graph or
    the log) called on a hot standby or in a read-only transaction."""

    sqlstate = "25006"


class DataCorrupted(GraphsyncError):
    """XX001 data_corrupted: a graph table holds what no build or replay writes (CSR
    arrays whose offsets or node ids are out of bounds, of mismatched lengths): a read
    refuses it rather than index past an array (sync/base.py, reads/view.py)."""

    sqlstate = "XX001"


class SerializationFailure(GraphsyncError):
    """40001 serialization_failure: the graph was rebuilt again and again during a read."""

    sqlstate = "40001"


class DeadlockDetected(GraphsyncError):
    """40P01 deadlock_detected: a call lost a race for graph._sync_state's row and a
    source table's lock with a session that takes them in the other order."""

    sqlstate = "40P01"


def is_data_exception(spi_error):
    """Whether a plpy.SPIError is PostgreSQL refusing a value (SQLSTATE class 22)."""
    return is_data_exception_state(getattr(spi_error, "sqlstate", None))


def is_data_exception_state(sqlstate):
    """Whether SQLSTATE ``sqlstate`` (text; None: none) is of class 22, data exception:
    what is_data_exception asks of an error, asked of one recorded (a source check's
    failure, ops/maintenance.py)."""
    return (sqlstate or "").startswith(DATA_EXCEPTION_CLASS)


def is_unfit_key(exc):
    """Whether ``exc`` is the unique index of graph._nodes refusing a key too long for
    a btree entry (some 2.7 kB that compression does not shorten): SQLSTATE 54000
    raised by that index, as the error's schema, table and constraint fields name it
    (PL/Python keeps them in spidata after sqlstate, detail, hint, query, position),
    not any 54000 from anywhere, nor a message's words (which lc_messages translates)."""
    if getattr(exc, "sqlstate", None) != PROGRAM_LIMIT_EXCEEDED:
        return False
    spidata = getattr(exc, "spidata", None) or ()
    return len(spidata) >= 10 and (spidata[5], spidata[6], spidata[9]) == NODE_KEY_INDEX


def is_cancel(exc):
    """Whether ``exc`` is PostgreSQL stopping the statement: a cancel, a statement
    or lock timeout, a shutdown (SQLSTATE class 57, or 55P03). Cancel means stop:
    code that catches exceptions to retry, record or fold them re-raises these
    first (``if errors.is_cancel(exc): raise``), so a cancel is never retried, never
    recorded as a log row's or a maintenance phase's failure."""
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(CANCEL_CLASS) or state == LOCK_TIMEOUT


def first_line(exc):
    """The first line of ``exc``'s text, or its type's name when it has none: what a
    failed log row, a failed maintenance phase or a WARNING records of an error."""
    return (str(exc) or type(exc).__name__).splitlines()[0]


def spi_message(spi_error):
    """The primary message of a plpy.SPIError (its text, without a type prefix)."""
    return spi_error.args[0] if spi_error.args else str(spi_error)


def spi_detail_hint(spi_error):
    """(DETAIL, HINT) of a plpy.SPIError, each None when it has none: PL/Python keeps
    an SPI error's fields in spidata (sqlerrcode, detail, hint, ...)."""
    spidata = getattr(spi_error, "spidata", None) or (None, None, None)
    return spidata[1], spidata[2]


_pg_error = {}  # plpy.Error -> the subclass raise_ raises (one per interpreter)


def _pg_error_type(plpy):
    cls = _pg_error.get(plpy.Error)
    if cls is None:
        cls = _pg_error[plpy.Error] = type("graphsync", (plpy.Error,), {"__module__": "builtins"})
    return cls


def raise_(plpy, exc):
    """Raise graphsync error ``exc`` to PostgreSQL: its SQLSTATE, the line
    'graphsync: <message>', its DETAIL and HINT. Never returns."""
    err = _pg_error_type(plpy)(exc.message)
    err.sqlstate = exc.sqlstate
    err.detail = exc.detail
    err.hint = exc.hint
    raise err from None


def wraps(fn):
    """What functools.wraps does for the decorators here (name, qualified name, module,
    docstring, __wrapped__), without importing functools, which a first read does not
    otherwise need (it imports types too)."""
    def wrap(wrapper):
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(wrapper, name, getattr(fn, name, None))
        wrapper.__dict__.update(getattr(fn, "__dict__", {}))
        wrapper.__wrapped__ = fn
        return wrapper
    return wrap


def entry_point(fn):
    """Decorate a function a SQL wrapper calls as ``fn(plpy, ...)``: a graphsync error
    leaving it is raised to PostgreSQL by ``raise_``; anything else passes unchanged."""
    @wraps(fn)
    def call(plpy, *args, **kwargs):
        try:
            return fn(plpy, *args, **kwargs)
        except GraphsyncError as exc:
            raise_(plpy, exc)
    return call
