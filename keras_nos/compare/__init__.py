"""``keras-nos compare``: any rule against Adam, SGD, momentum, RMSProp and Lion on a suite of small tasks.

``suite`` holds the tasks (add yours with ``register_compare_task``), ``runner``
the equal-budget tuning and the seeds, ``report`` the tables, ranks and
speedups, ``plots`` the loss curves; ``keras_nos.tracking.CompareTracker``
writes the MLflow runs.
"""

from keras_nos.compare.report import to_markdown
from keras_nos.compare.runner import DEFAULT_BASELINES, Budget, Comparison, compare
from keras_nos.compare.suite import (COMPARE_TASKS, CompareTask, Training, compare_task_names, get_compare_task,
                                     register_compare_task)

__all__ = ["COMPARE_TASKS", "Budget", "CompareTask", "Comparison", "DEFAULT_BASELINES", "Training", "compare",
           "compare_task_names", "get_compare_task", "register_compare_task", "to_markdown"]
