"""Raising errors with a SQLSTATE from PL/Python."""


def raise_sql(plpy, sqlstate, message, hint=None):
    """Raise a PostgreSQL error with ``sqlstate`` (never returns)."""
    kwargs = {"sqlstate": sqlstate}
    if hint:
        kwargs["hint"] = hint
    plpy.error(message, **kwargs)
