"""The paper's Figure 4: reward of each sampled rule, with the running best and a moving mean."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Union

import numpy as np

from keras_nos.search.progress import MOVING_WINDOW, moving_mean


def plot_rewards(rewards: Sequence[float], path: Union[str, os.PathLike], title: str = "Search progress",
                 reward_label: str = "validation accuracy") -> None:
    """Save a scatter of reward against the number of sampled rules, the running best and the moving mean: a
    search that learns shows the mean rising, not only the best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rewards = np.asarray(rewards, dtype=float)
    figure, axes = plt.subplots(figsize=(7, 4))
    samples = np.arange(1, len(rewards) + 1)
    axes.scatter(samples, rewards, s=8, alpha=0.5, label="sampled rule")
    if len(rewards):
        axes.plot(samples, np.maximum.accumulate(rewards), color="C3", label="running best")
        axes.plot(samples, moving_mean(rewards), color="C2", label=f"mean of the last {MOVING_WINDOW}")
    axes.set_xlabel("number of sampled rules")
    axes.set_ylabel(f"reward ({reward_label})")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
