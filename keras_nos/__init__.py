"""keras_nos: Neural Optimizer Search for Keras 3.

``model.compile(optimizer=keras_nos.AddSign())``, any rule with
``keras_nos.RuleOptimizer("exp(sign(g)*sign(m))*g")``, a search that finds
new rules (``keras-nos search``), and named classes or self-contained modules
for the rules it finds (``keras_nos.optimizer_class``, ``keras-nos export``).

The names below load on first use (PEP 562), so ``import keras_nos.cli`` does
not start TensorFlow: the command line parses and checks its arguments first
and imports Keras with TensorFlow's start-up log kept off the terminal.
"""

from keras_nos.lazy import lazy_exports
import os

# Before TensorFlow loads: fewer C++ log lines (it no longer silences all of them, see native_log).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

_EXPORTS = {
    "AddSign": "keras_nos.optimizers",
    "PowerSign": "keras_nos.optimizers",
    "RuleOptimizer": "keras_nos.optimizers",
    "make_optimizer": "keras_nos.optimizers",
    "optimizer_class": "keras_nos.optimizers",
    "Rule": "keras_nos.dsl",
    "fingerprint": "keras_nos.dsl",
    "parse_rule": "keras_nos.dsl",
    "named_rules": "keras_nos.named_rules",
    "Objective": "keras_nos.tasks.scores",
    "OptimizerSearch": "keras_nos.search.optimizer_search",
    "schedules": "keras_nos.optimizers.schedules",
    "search": "keras_nos.search",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
