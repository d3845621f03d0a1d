"""The loss curves of a comparison: one subplot per task, one line per optimizer (mean over seeds)."""

from __future__ import annotations

import math
import os
from typing import Any, Union


def _short(spec: str, width: int = 36) -> str:
    return spec if len(spec) <= width else spec[:width - 1] + "…"


def plot_loss_curves(comparison: Any, path: Union[str, os.PathLike]) -> Union[str, os.PathLike]:
    """Save the training-loss curves of ``comparison`` (a ``Comparison``; not imported here: runner imports this
    module) at each optimizer's chosen rate; log-scale y where the losses span
    more than a decade and stay positive. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(comparison.tasks)
    columns = min(3, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for ax, task in zip(axes.flat, comparison.tasks):
        everything = []
        for index, spec in enumerate(comparison.optimizers):
            outcome = comparison.outcome(task, spec)
            steps, losses = outcome.mean_curve()
            if not len(losses):
                continue
            ax.plot(steps, losses, label=f"{_short(spec)} (lr {outcome.best_learning_rate:.2g})",
                    color=f"C{index % 10}", linewidth=1.4)
            everything.extend(v for v in losses if math.isfinite(v))
        if everything and min(everything) > 0 and max(everything) / min(everything) > 10:
            ax.set_yscale("log")
        ax.set_title(f"{task.name} (test {task.metric}: {'higher' if task.higher_is_better else 'lower'} is better)",
                     fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    figure.suptitle(f"Training loss, mean over {comparison.budget.seeds} seeds, each optimizer at its tuned rate",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

