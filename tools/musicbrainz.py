"""The MusicBrainz schema as the mbdata package (a dev dependency) ships it, made
loadable without MusicBrainz's own collation and the cube extension: empty tables
of a real, large schema for graph.add_schema. tests/test_add_schema.py and
benchmarks/add_schema.py load it through this module (both put tools/ on sys.path).
"""

from __future__ import annotations

import re
from pathlib import Path

SCHEMA = "musicbrainz"  # the schema it is loaded into


def musicbrainz_sql() -> tuple[str, str, str]:
    """CreateTypes, CreateTables, and CreatePrimaryKeys + CreateFKConstraints,
    without psql's backslash commands, BEGIN/COMMIT, the musicbrainz collation and
    the cube type (text in its place)."""
    import mbdata

    root = Path(mbdata.__file__).parent / "sql"

    def clean(name):
        text = (root / name).read_text()
        text = re.sub(r"^\\.*$", "", text, flags=re.M)
        text = re.sub(r"^(BEGIN|COMMIT);$", "", text, flags=re.M)
        return text.replace("COLLATE musicbrainz", "").replace(" CUBE", " text")

    return (clean("CreateTypes.sql"), clean("CreateTables.sql"),
            clean("CreatePrimaryKeys.sql") + clean("CreateFKConstraints.sql"))


def load_musicbrainz(conn, parts: tuple[str, str, str] | None = None) -> None:
    """Create schema musicbrainz on ``conn`` (a psycopg connection) and load the
    types, tables and keys into it (``parts``: musicbrainz_sql(), read again when
    not given); leaves the session's search_path reset."""
    types, tables, keys = parts or musicbrainz_sql()
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"SET search_path = {SCHEMA}")
    conn.execute(types)
    conn.execute(tables)
    conn.execute(keys)
    conn.execute("RESET search_path")
