"""Types on the public surface (issue 32, point 5): the entry points a user calls are annotated throughout, as
Optuna's ``create_study`` is, and the share of annotated public functions of the package does not fall.

A function counts as annotated when every parameter but ``self``/``cls`` has an annotation and, except for
``__init__``, so does its return. A class counts through its ``__init__`` and its public methods (properties
included) that it defines itself.
"""

import importlib
import inspect
import pkgutil

import pytest

import keras_nos

# Modules left out of the count until they are annotated: none now.
NOT_YET = ()
# The share of public functions and methods annotated: 498 of 500 in the package (99%; 54 of 436 in the whole
# package before the annotations of issue 32). Those left are dense_gradient, uniform_draw and normal_draw, whose source
# keras-nos export copies into modules that import only keras. Raise it as more get annotations, never lower it.
MIN_ANNOTATED_SHARE = 0.99


def _unannotated(function):
    """The names in ``function``'s signature that lack an annotation ("return" for the return)."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    missing = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    if function.__name__ != "__init__" and signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def _methods(cls):
    """(name, function) of ``__init__`` and the public methods and properties ``cls`` defines itself."""
    for name, member in vars(cls).items():
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member) and (name == "__init__" or not name.startswith("_")):
            if member.__qualname__.startswith(f"{cls.__qualname__}."):  # not typing.Protocol's own __init__
                yield name, member


def _functions_of(obj, name):
    if inspect.isclass(obj):
        return [(f"{name}.{method}", function) for method, function in _methods(obj)]
    return [(name, obj)]


def _entry_points():
    from keras_nos import compare, dsl, executors, optimizers, tracking
    from keras_nos.executors.ray_executor import RayExecutor
    from keras_nos.search.optimizer_search import InMemoryData, OptimizerSearch
    from keras_nos.tasks.evaluator import Evaluator, evaluate
    from keras_nos.tasks.registry import Task, get_task, register_task
    from keras_nos.search.leaderboard import format_leaderboard, read_leaderboard, summary
    from keras_nos.search.loop import search
    from keras_nos.search.session import SearchSession
    from keras_nos.tracking.in_memory import InMemoryTracker

    objects = {"keras_nos.export.export_search": importlib.import_module("keras_nos.export").export_search,
               "keras_nos.export.module_source": importlib.import_module("keras_nos.export").module_source,
               "OptimizerSearch": OptimizerSearch, "InMemoryData": InMemoryData, "Task": Task, "get_task": get_task,
               "register_task": register_task, "evaluate": evaluate, "Evaluator": Evaluator,
               "RayExecutor": RayExecutor, "search": search, "InMemoryTracker": InMemoryTracker,
               "SearchSession": SearchSession, "read_leaderboard": read_leaderboard,
               "format_leaderboard": format_leaderboard, "summary": summary}
    for package in (optimizers, dsl, compare, executors, tracking):
        for name in package.__all__:
            obj = getattr(package, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                objects[f"{package.__name__}.{name}"] = obj
    for name in keras_nos.__all__:
        obj = getattr(keras_nos, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            objects[f"keras_nos.{name}"] = obj
    return sorted((label, function) for name, obj in objects.items() for label, function in _functions_of(obj, name))


ENTRY_POINTS = _entry_points()


def test_the_entry_points_are_many():
    """The list below is the public surface, not an empty loop that passes by itself."""
    names = {label for label, _ in ENTRY_POINTS}
    for expected in ("OptimizerSearch.__init__", "OptimizerSearch.search", "Task.make_score", "evaluate",
                     "keras_nos.compare.compare", "keras_nos.executors.Executor.submit",
                     "keras_nos.optimizers.RuleOptimizer.__init__", "keras_nos.dsl.parse_rule",
                     "keras_nos.tracking.default_tracking_uri", "RayExecutor.__init__", "SearchSession.__init__",
                     "read_leaderboard", "format_leaderboard", "summary"):
        assert expected in names, expected
    assert len(ENTRY_POINTS) > 80


@pytest.mark.parametrize("label, function", ENTRY_POINTS, ids=[label for label, _ in ENTRY_POINTS])
def test_every_entry_point_is_annotated(label, function):
    assert not _unannotated(function), f"{label} lacks annotations for {_unannotated(function)}"


def _package_functions():
    """(qualified name, function) of every public function and method defined in a module of keras_nos."""
    found = []
    for info in pkgutil.walk_packages(keras_nos.__path__, "keras_nos."):
        if info.name.startswith(NOT_YET):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.extend(_functions_of(obj, f"{module.__name__}.{name}"))
    return found


def test_most_public_functions_of_the_package_are_annotated():
    found = _package_functions()
    missing = sorted(label for label, function in found if _unannotated(function))
    share = 1 - len(missing) / len(found)
    assert len(found) > 300, len(found)
    assert share >= MIN_ANNOTATED_SHARE, (f"{len(found) - len(missing)} of {len(found)} public functions are "
                                          f"annotated ({share:.0%}); unannotated: {missing}")
