"""Every ``graph.*`` setting, declared once, and the one way to read each.

Settings are custom parameters: ``SET graph.sync_batch_size = 5000`` for a
session, ``ALTER ROLE … SET`` or ``ALTER DATABASE … SET`` for more (pg_cron's
sessions see the database's). Unset or empty means the default below.

Python reads a setting with ``get(plpy, name)``, which returns the typed value;
SQL reads one with ``graph._setting(name)``, which returns the same value as text
(``text`` below). Both validate: a value outside what is allowed is SQLSTATE
22023, and the message says what is allowed. No other file repeats a default.

Scope: a 'session' setting changes only what the caller's own reads do
(query_freshness, max_staleness, tenant); a 'shared' one governs the graph everyone sees
(batch and buffer sizes, error policy, rebuild thresholds, retentions, the
source check). The README's Settings table is checked against SETTINGS.

A shared setting is changed only by admins. Its value in force is the one the
session has (from SET, the role, the database or the server's configuration)
when the session user is a superuser or a member of graph_admin; for any other
session it is the database's value (``ALTER DATABASE … SET``, or
``graph.set_setting``), else the server's (postgresql.conf, ``ALTER SYSTEM``:
graph._server_setting), else the default, whatever that session SETs. So a reader
whose read applies pending rows (through the SECURITY DEFINER graph._read_sync)
applies them exactly as an admin's maintenance would. The session user decides,
not current_user: inside a SECURITY DEFINER function current_user is its owner.
"""

import math

from graphsync import errors
from graphsync.db import run
from graphsync.records import record

INT_MAX = 2_147_483_647
OFF = ("off", "none", "false")  # what turns graph.verify_interval off


class Setting(record("Setting", ("name", "default", "kind", "meaning", "scope", "low", "high", "choices"),
                         defaults=(1, INT_MAX, ()))):
    """One setting: ``default`` as text (None: no value); ``kind`` 'integer',
    'choice', 'fraction', 'interval', 'interval_or_off' or 'text'; ``scope``
    'session' or 'shared'; ``low``..``high``: an 'integer''s allowed range;
    ``choices``: a 'choice''s allowed values. (A named tuple, not a dataclass:
    importing dataclasses is a first read's cost.)"""

    __slots__ = ()

    def allowed(self):
        """What the setting accepts, in words (the README and error messages say it)."""
        if self.kind == "integer":
            return "an integer from %d to %d" % (self.low, self.high)
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "fraction":
            return "a number above 0 and at most 1"
        if self.kind == "interval":
            return "an interval of 0 or more"
        if self.kind == "interval_or_off":
            return "an interval of 0 or more, or off"
        return "any text"


SETTINGS = {s.name: s for s in (
    Setting("graph.sync_batch_size", "10000", "integer",
            "log rows per replay batch", "shared"),
    Setting("graph.edge_buffer_size", "100000", "integer",
            "most edge-overlay rows: past it apply_sync() rebuilds the base, a read's apply turns the graph"
            " read-only", "shared"),
    Setting("graph.rebuild_backlog_rows", "100000", "integer",
            "apply_sync() rebuilds the base instead of replaying when at least this many log rows are pending"
            " and at least half as many as the base's nodes and edges and the overlay's rows", "shared"),
    Setting("graph.sync_error_policy", "stop", "choice",
            "`stop`: a failing row and everything after it wait; `skip`: record it and go on", "shared",
            choices=("stop", "skip")),
    Setting("graph.query_freshness", "apply_pending_sync", "choice",
            "what a read does about log rows not applied yet (see Freshness)", "session",
            choices=("apply_pending_sync", "off", "error_on_pending")),
    Setting("graph.max_staleness", None, "interval",
            "a read whose transaction wrote nothing reads the applied graph as it is when every row"
            " committed this long before the read is applied (see Freshness); none: never", "session"),
    Setting("graph.tenant", None, "text",
            "the tenant a read keeps to when it names none (see Read security)", "session"),
    Setting("graph.read_apply", "everyone", "choice",
            "whose reads may apply pending rows: `everyone`'s, or only `admins`' (graph_admin members;"
            " every other read folds them: see Freshness)", "shared",
            choices=("everyone", "admins")),
    Setting("graph.rebuild_overlay_fraction", "0.5", "fraction",
            "maintenance rebuilds when the edge overlay reaches this share of graph.edge_buffer_size",
            "shared"),
    Setting("graph.rebuild_tombstone_fraction", "0.25", "fraction",
            "maintenance rebuilds when tombstones reach this share of the base's nodes", "shared"),
    Setting("graph.verify_interval", "1 day", "interval_or_off",
            "how often maintenance compares the graph with the sources", "shared"),
    Setting("graph.log_retention", "1 hour", "interval",
            "applied log rows older than this are pruned", "shared"),
    Setting("graph.job_retention", "7 days", "interval",
            "maintenance job rows older than this are pruned", "shared"),
    Setting("graph.notify_queue_limit", "0.5", "fraction",
            "NOTIFY graphsync is skipped (and counted) while the notification queue is at least this full",
            "shared"),
)}

CURRENT = "SELECT pg_catalog.current_setting($1, true) AS v"
# A shared setting's value in force (see the module docstring): the session's for an
# admin (graph._session_is_admin's rule, written out: a reader may run this accessor,
# not that helper); else the database's (ALTER DATABASE ... SET: setrole 0), or one
# set for every database (ALTER ROLE ALL SET), or the server's configuration files'
# (graph._server_setting), or none.
SHARED = """
SELECT CASE WHEN pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER')
            THEN pg_catalog.current_setting($1, true)
            ELSE coalesce((SELECT pg_catalog.substr(c.setting, pg_catalog.length($1) + 2)
                  FROM pg_catalog.pg_db_role_setting AS d
                  CROSS JOIN LATERAL pg_catalog.unnest(d.setconfig) AS c (setting)
                  WHERE d.setrole = 0
                    AND d.setdatabase IN (0, (SELECT b.oid FROM pg_catalog.pg_database AS b
                                              WHERE b.datname = pg_catalog.current_database()))
                    AND pg_catalog.starts_with(c.setting, pg_catalog.concat($1, '='))
                  ORDER BY d.setdatabase DESC
                  LIMIT 1), graph._server_setting($1))
       END AS v
"""
INTERVAL_OK = "SELECT $1::pg_catalog.interval >= pg_catalog.interval '0' AS ok"


def declared(name):
    """The declaration of setting ``name`` (22023 when graphsync has no such setting)."""
    s = SETTINGS.get(name)
    if s is None:
        raise errors.InvalidArgument("%s is not a graphsync setting" % name,
                                     hint="The settings are " + ", ".join(sorted(SETTINGS)) + ".")
    return s


def _bad(s, value):
    default = "no value" if s.default is None else "the default, %s" % s.default
    return errors.InvalidArgument(
        "%s must be %s, not %r" % (s.name, s.allowed(), value),
        hint="SET %s to a valid value, or RESET it for %s." % (s.name, default))


def _interval_ok(plpy, value):
    """Whether ``value`` is an interval of 0 or more (PostgreSQL parses it)."""
    try:
        with plpy.subtransaction():
            return bool(run(plpy, INTERVAL_OK, ["text"], [value])[0]["ok"])
    except plpy.SPIError as exc:
        if not errors.is_data_exception(exc):
            raise
        return False


def parse(plpy, s, value):
    """The typed value of text ``value`` (not empty) for setting ``s``; 22023 when bad.
    ``plpy`` is needed only for intervals."""
    if s.kind == "integer":
        try:
            number = int(value.strip())
        except ValueError:
            raise _bad(s, value) from None
        if not s.low <= number <= s.high:
            raise _bad(s, value)
        return number
    if s.kind == "choice":
        if value not in s.choices:
            raise _bad(s, value)
        return value
    if s.kind == "fraction":
        try:
            number = float(value)
        except ValueError:
            raise _bad(s, value) from None
        if not (math.isfinite(number) and 0 < number <= 1):
            raise _bad(s, value)
        return number
    if s.kind == "interval_or_off" and value.strip().lower() in OFF:
        return "off"
    if s.kind in ("interval", "interval_or_off"):
        if not _interval_ok(plpy, value):
            raise _bad(s, value)
        return value
    return value


# The typed defaults (an interval's default is its text: valid by declaration).
_DEFAULTS = {s.name: s.default if s.default is None or s.kind.startswith("interval") else parse(None, s, s.default)
             for s in SETTINGS.values()}


def get(plpy, name):
    """The value of setting ``name`` in force, typed: int for sizes, float for
    fractions, text for choices, intervals ('off' for verify_interval turned off)
    and the tenant; None for a text setting without a value. One query (an
    interval that is set takes a second one, to parse it). A shared setting's
    value comes from an admin or the database only (see the module docstring)."""
    s = declared(name)
    value = run(plpy, SHARED if s.scope == "shared" else CURRENT, ["text"], [name])[0]["v"]
    if value is None or value == "":
        return _DEFAULTS[name]
    return parse(plpy, s, value)


@errors.entry_point
def text(plpy, name):
    """graph._setting(name): the value ``get`` returns, as text (None stays NULL)."""
    value = get(plpy, name)
    return None if value is None else str(value)
