"""graphsync settings: custom GUCs under the ``graph.`` prefix, with defaults.

Set them like any parameter: ``SET graph.sync_batch_size = 5000``, or per
database with ``ALTER DATABASE … SET``. A bad value raises SQLSTATE 22023.
"""

DEFAULTS = {
    "graph.sync_batch_size": "10000",
    "graph.edge_buffer_size": "100000",
    "graph.query_freshness": "apply_pending_sync",
    "graph.sync_error_policy": "stop",
    "graph.job_retention": "7 days",
    "graph.verify_interval": "1 day",
}

CHOICES = {
    "graph.query_freshness": ("apply_pending_sync", "off", "error_on_pending"),
    "graph.sync_error_policy": ("stop", "skip"),
}


class SettingError(ValueError):
    """A setting holds a value graphsync cannot use (SQLSTATE 22023)."""

    sqlstate = "22023"


def raw(plpy, name):
    """The current value of setting ``name`` as text, or its default."""
    row = plpy.execute(
        plpy.prepare("SELECT current_setting($1, true) AS v", ["text"]), [name]
    )[0]
    value = row["v"]
    return DEFAULTS[name] if value in (None, "") else value


def positive_int(plpy, name):
    value = raw(plpy, name)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise SettingError("%s must be a positive integer, not %r" % (name, value))
    return number


def choice(plpy, name):
    value = raw(plpy, name)
    if value not in CHOICES[name]:
        raise SettingError(
            "%s must be one of %s, not %r" % (name, ", ".join(CHOICES[name]), value)
        )
    return value
