"""keras_nos: Neural Optimizer Search for Keras 3.

``model.compile(optimizer=keras_nos.AddSign())``, any rule with
``keras_nos.RuleOptimizer("exp(sign(g)*sign(m))*g")``, a search that finds
new rules (``keras-nos search``), and named classes or self-contained modules
for the rules it finds (``keras_nos.optimizer_class``, ``keras-nos export``).
"""

import os

# Before TensorFlow loads: its C++ start-up log would otherwise break one-line CLI errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from keras_nos import rules, schedules
from keras_nos.dsl import Rule, fingerprint, parse_rule
from keras_nos.optimizers import AddSign, PowerSign, RuleOptimizer, make_optimizer, optimizer_class

__version__ = "0.1.0"

__all__ = [
    "AddSign", "PowerSign", "Rule", "RuleOptimizer", "fingerprint", "make_optimizer", "optimizer_class", "parse_rule",
    "rules", "schedules",
]
