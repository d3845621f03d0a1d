"""A search's settings as its parent run stores them, so that ``resume=RUN_ID`` alone rebuilds the same search.

A fresh search fills the settings the caller left out with the defaults; a
resumed one with the parent run's (the JSON tag ``keras_nos.settings``), and
refuses a given value that contradicts them, except a larger budget and the
settings of :data:`WHERE`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.search.config import SearchConfig, check_known
from keras_nos.tasks.registry import Task
from keras_nos.tracking import tags

if TYPE_CHECKING:
    from mlflow.entities import Run

# Where a search runs and reads its data, not what it computes: a resumed search may be given new values.
WHERE = ("workers", "ray_address", "data_path")


def encode(config: SearchConfig) -> str:
    """The JSON text of ``config`` stored on the parent run; ValueError for a value JSON cannot hold."""
    try:
        return json.dumps(dict(config.settings(), task=config.task.label), sort_keys=True)
    except (TypeError, ValueError) as error:
        raise KerasNosError(f"search settings must be numbers, text, lists or dicts to be stored for a resume: "
                         f"{error}") from None


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists; a ``Task`` is stored by its name), for
    comparing with a stored setting."""
    return json.loads(json.dumps(value.name if isinstance(value, Task) else value))


def stored(run: Run) -> dict[str, Any]:
    """The settings stored on parent run ``run``; KerasNosError for a run without them (an earlier version's)."""
    text = run.data.tags.get(tags.SETTINGS)
    if text is None:
        raise KerasNosError(f"Search run {run.info.run_id} has no stored settings (tag {tags.SETTINGS}): an earlier "
                            "keras_nos version made it; resume it with that version, or start a new search")
    return json.loads(text)


def resolve(given: Mapping[str, Any], run: Optional[Run] = None) -> SearchConfig:
    """The :class:`SearchConfig` of a search given flat settings ``given``, resuming parent run ``run`` if any.

    A resumed search takes the parent run's settings, with the given ones that may change.
    """
    check_known(given)
    if run is None:
        return SearchConfig.from_settings(given)
    parent = stored(run)
    for name, value in given.items():
        if name in WHERE or _plain(value) == _plain(parent.get(name)):
            continue
        if name == "budget" and isinstance(value, int) and value > parent["budget"]:
            continue
        raise KerasNosError(f"{name}={value!r} contradicts the {name}={parent.get(name)!r} of search run "
                         f"{run.info.run_id} being resumed; leave it out to keep the stored value "
                         f"(a resume may raise the budget, and change {', '.join(WHERE)})")
    return SearchConfig.from_settings(dict(parent, **given))
