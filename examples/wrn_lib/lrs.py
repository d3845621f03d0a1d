"""Learning rates: the log-scale grid swept per optimizer, and the schedule.

The grid is ``count`` values around a centre, ``step`` decades apart
(seven values half a decade apart span three decades, as the paper's sweep
of seven learning rates on a log scale). Centres: 0.1 for SGD and momentum
(the WRN paper's rate), 1e-3 for Adam and RMSProp, 1e-4 for Lion, and 0.1
for PowerSign, AddSign and rule texts, which scale the raw gradient as SGD does.

Schedules (``--schedule``): ``cosine`` decay to zero over the whole run (the
default), ``step`` (the WRN paper's: x0.2 at 30%, 60% and 80% of training), or
``constant``.
"""

from common.specs import lr_lookup

DEFAULT_CENTER = {"sgd": 0.1, "momentum": 0.1, "adam": 1e-3, "rmsprop": 1e-3, "lion": 1e-4}
DEFAULT_PREFIX_CENTER = {"powersign": 0.1, "addsign": 0.1}
DEFAULT_RULE_CENTER = 0.1
SCHEDULES = ("cosine", "step", "constant")

default_center = lr_lookup(DEFAULT_CENTER, DEFAULT_PREFIX_CENTER, DEFAULT_RULE_CENTER)


def lr_grid(center, count, step=0.5):
    """``count`` rates ``step`` decades apart, centred on ``center``, 3 significant digits."""
    return [float(f"{center * 10 ** (step * (i - (count - 1) / 2)):.3g}") for i in range(count)]


def build_schedule(name, lr, total_steps):
    import keras

    if name == "constant":
        return lr
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1))
    boundaries = sorted({max(1, int(total_steps * f)) for f in (0.3, 0.6, 0.8)})
    values = [lr * 0.2 ** i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
