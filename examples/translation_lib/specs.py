"""``--optimizers`` and ``--lr`` for translation: the shared parsing of
``common.specs`` with learning-rate defaults tuned for the Transformer.

``--lr`` is one value for all, one value per optimizer in order, or
``name=value`` pairs; an optimizer without a value gets its default from
``DEFAULT_LR``.
"""

from common.specs import lr_lookup, parse_optimizers  # noqa: F401  (parse_optimizers: re-exported)
from common.specs import parse_learning_rates as _parse_learning_rates

# Defaults from a coarse sweep on the built-in corpus (Transformer smoke size,
# batch 64, 100 warm-up steps, gradients clipped to global norm 1). PowerSign,
# AddSign and rule texts scale the raw gradient (no per-parameter
# normalisation), so like SGD they take far larger learning rates than Adam.
# Without clipping they diverge on the Transformer already around 0.5-0.8.
DEFAULT_LR = {"adam": 1e-3, "rmsprop": 1e-3, "lion": 1e-4, "sgd": 0.3, "momentum": 0.05}
DEFAULT_PREFIX_LR = {"powersign": 0.5, "addsign": 0.5}
DEFAULT_RULE_LR = 0.3

default_lr = lr_lookup(DEFAULT_LR, DEFAULT_PREFIX_LR, DEFAULT_RULE_LR)


def parse_learning_rates(text, specs):
    """{spec: learning rate} for every spec."""
    return _parse_learning_rates(text, specs, default_lr)
