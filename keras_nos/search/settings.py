"""A search's settings, stored on its parent run so that ``resume=RUN_ID`` alone rebuilds the same search.

``search()`` wraps each of its setting defaults in :class:`Default`, so it can
tell what a caller gave from what it left out. A fresh search fills the gaps
with the defaults; a resumed one with the parent run's settings (the JSON tag
``keras_nos.settings``), and refuses a given value that contradicts them, except
a larger budget and the settings of :data:`WHERE`.
"""

import inspect
import json

from keras_nos.tracking import tags
# Where a search runs and reads its data, not what it computes: a resumed search may be given new values.
WHERE = ("workers", "ray_address", "data_path")


class Default:
    """A default of ``search()``; its repr is the value's, so ``help(search)`` reads as usual."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return repr(self.value)


def defaults_of(function):
    """{name: default} of the parameters of ``function`` whose default is a :class:`Default`."""
    return {name: parameter.default.value for name, parameter in inspect.signature(function).parameters.items()
            if isinstance(parameter.default, Default)}


def given(arguments, defaults):
    """The settings among ``arguments`` (a ``locals()``) that the caller gave."""
    return {name: value for name, value in arguments.items() if name in defaults and not isinstance(value, Default)}


def encode(settings):
    """The JSON text stored on the parent run; ValueError for a value JSON cannot hold."""
    try:
        return json.dumps(settings, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"search settings must be numbers, text, lists or dicts to be stored for a resume: "
                         f"{error}") from None


def _plain(value):
    """``value`` as it reads back from JSON (tuples become lists), for comparing with a stored setting."""
    return json.loads(json.dumps(value))


def stored(run):
    """The settings stored on parent run ``run``; None for a run made before keras_nos stored them."""
    text = run.data.tags.get(tags.SETTINGS)
    return None if text is None else json.loads(text)


def for_resume(run, given_settings, defaults):
    """The settings of the resumed search: the parent run's, with the given ones that may change.

    A run made before settings were stored resumes with the given settings and the defaults, as it used to.
    """
    parent = stored(run)
    if parent is None:
        return dict(defaults, **given_settings)
    parent = dict(defaults, **parent)  # a setting added since the run was made has its default
    for name, value in given_settings.items():
        if name in WHERE or _plain(value) == parent[name]:
            continue
        if name == "budget" and isinstance(value, int) and value > parent["budget"]:
            continue
        raise ValueError(f"{name}={value!r} contradicts the {name}={parent[name]!r} of search run "
                         f"{run.info.run_id} being resumed; leave it out to keep the stored value "
                         f"(a resume may raise the budget, and change {', '.join(WHERE)})")
    return dict(parent, **given_settings)
