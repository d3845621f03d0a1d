"""Cheap tests a rule must pass before it costs a network's training.

As in AutoML-Zero and Lion's search, most random rules cannot even minimise a
small quadratic; catching them in milliseconds leaves the training budget for
rules that might work.
"""

import numpy as np

from keras_nos.tasks import numpy_stepper

# name -> (problem factory, steps, the loss ratio final/initial a rule must beat at some learning rate)
HURDLES = {
    "quadratic": (numpy_stepper.quadratic, 100, 0.5),
    "rosenbrock": (numpy_stepper.rosenbrock, 200, 0.5),
}
DEFAULT_HURDLES = ("quadratic",)


def check_hurdles(rule, learning_rates, names=DEFAULT_HURDLES, seed=0):
    """None when the rule passes every hurdle, else a message naming the one it failed."""
    for name in names:
        if name not in HURDLES:
            raise ValueError(f"Unknown hurdle {name!r}; allowed: {', '.join(HURDLES)}")
        make_problem, steps, max_ratio = HURDLES[name]
        value_and_grad, start = make_problem()
        losses = numpy_stepper.minimize(rule, value_and_grad, start, learning_rates, steps, seed=seed)
        ratios = losses[:, -1] / losses[:, 0]
        ratios = np.where(np.isfinite(ratios), ratios, np.inf)
        if not np.min(ratios) < max_ratio:
            return f"failed the {name} hurdle: best loss ratio {np.min(ratios):.3g} over {steps} steps, needs < {max_ratio}"
    return None
