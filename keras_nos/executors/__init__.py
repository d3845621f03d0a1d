"""Where candidate evaluations run."""

from keras_nos.executors.local import LocalExecutor

EXECUTORS = {"local": LocalExecutor}


def make_executor(name, evaluator_options, workers=1):
    if name not in EXECUTORS:
        raise ValueError(f"Unknown executor {name!r}; allowed: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](evaluator_options, workers=workers)
