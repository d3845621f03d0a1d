"""The paper's Figure 4: reward of each sampled rule, with the running best."""

import numpy as np


def plot_rewards(rewards, path, title="Search progress"):
    """Save a scatter of reward against the number of sampled rules and the running best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rewards = np.asarray(rewards, dtype=float)
    figure, axes = plt.subplots(figsize=(7, 4))
    samples = np.arange(1, len(rewards) + 1)
    axes.scatter(samples, rewards, s=8, alpha=0.5, label="sampled rule")
    if len(rewards):
        axes.plot(samples, np.maximum.accumulate(rewards), color="C3", label="running best")
    axes.set_xlabel("number of sampled rules")
    axes.set_ylabel("reward (validation accuracy)")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
