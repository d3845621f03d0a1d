"""Name -> object tables (search tasks, compare tasks) that register and look up alike.

A name is claimed once unless the caller says ``overwrite=True``, and a missing
name is a ``ValueError`` that lists what is registered, which the CLI prints as
its one-line error.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from keras_nos.errors import KerasNosError


def register(table: MutableMapping[str, Any], item: Any, kind: str, overwrite: bool = False) -> Any:
    """Put ``item`` in ``table`` under ``item.name``; ``kind`` ("task") names it in the error."""
    if item.name in table and not overwrite:
        raise KerasNosError(f"A {kind} named {item.name!r} is already registered; pass overwrite=True to replace it")
    table[item.name] = item
    return item


def lookup(table: Mapping[str, Any], name: Any, kind: str, item_type: type) -> Any:
    """``name`` itself if it is already an ``item_type``, else ``table[name]``."""
    if isinstance(name, item_type):
        return name
    if name not in table:
        raise KerasNosError(f"Unknown {kind} {name!r}; registered {kind}s: {', '.join(sorted(table))}")
    return table[name]
