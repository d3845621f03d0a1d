"""One process at a time creates or upgrades a local SQLite store.

MLflow builds a new SQLite store's schema with migrations that race when two
processes open the same new file at once (``table _alembic_tmp_metrics already
exists``). A file lock beside the database, held while a process opens the
store for the first time, lets the first one build it and the others find it
built. Stores that are not local files need no lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from keras_nos.errors import KerasNosError

LOCK_TIMEOUT_SECONDS = 300.0  # a migration takes seconds; this long means a stuck process holds the lock


def sqlite_database(uri: str) -> Optional[Path]:
    """The database file of a ``sqlite:///`` URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def store_creation_lock(uri: str) -> Iterator[None]:
    """Hold ``<database>.lock`` while the body opens the store at ``uri`` (no lock for other stores)."""
    database = sqlite_database(uri)
    if database is None or not database.parent.is_dir():
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(f"{database}.lock")
    try:
        lock.acquire(timeout=LOCK_TIMEOUT_SECONDS)
    except Timeout:
        raise KerasNosError(f"Tracking URI {uri!r}: another process has held {lock.lock_file} for "
                            f"{LOCK_TIMEOUT_SECONDS:g} s while creating the store; stop it or delete that file") from None
    try:
        yield
    finally:
        lock.release()
