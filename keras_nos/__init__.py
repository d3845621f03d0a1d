"""keras_nos: Neural Optimizer Search for Keras 3.

``model.compile(optimizer=keras_nos.AddSign())``, any rule with
``keras_nos.RuleOptimizer("exp(sign(g)*sign(m))*g")``, and a search that finds
new rules (``keras-nos search``).
"""

from keras_nos import rules, schedules
from keras_nos.dsl import Rule, fingerprint, parse_rule
from keras_nos.optimizers import AddSign, PowerSign, RuleOptimizer, make_optimizer

__version__ = "0.1.0"

__all__ = ["AddSign", "PowerSign", "Rule", "RuleOptimizer", "fingerprint", "make_optimizer", "parse_rule", "rules", "schedules"]
