"""Versioned schema migrations, the part both stores share.

Each store keeps a numbered list of scripts (``sqlite_schema.py``, ``postgres_schema.py``): script N
takes a database from schema version N-1 to N, and a released script is never edited, only followed by
a new one. On start the store reads its database's version and runs the scripts after it, all in one
transaction that holds the store's migration lock, so that several processes starting at once migrate
once and a failing script leaves the database at the version it had.
"""

from __future__ import annotations

from collections.abc import Sequence

from widget_server.store import StoreError


def pending(scripts: Sequence[str], version: int) -> list[tuple[int, str]]:
    """The scripts a database at ``version`` still needs, with the version each one leads to.

    A database newer than the scripts known here was migrated by a newer widget_server: running on it
    could write what the newer one no longer reads, so it is refused."""
    if version > len(scripts):
        raise StoreError(
            f"the database has schema version {version}, newer than this widget_server knows"
            f" ({len(scripts)}): run the newer widget_server, or restore a backup from before it"
        )
    return list(enumerate(scripts[version:], start=version + 1))
