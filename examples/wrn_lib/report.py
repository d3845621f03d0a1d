"""The summary, shaped like Table 1 of the paper, and the test-accuracy plot.

Per optimizer the best learning rate is the one with the highest final
validation accuracy (ties: best validation accuracy); the row then shows that
run's final and best validation and test accuracy. "Best" is the highest over
epochs. The test set never chooses anything.
"""

from common.markdown import escape_cell, markdown_table

COLUMNS = [("final_val", "Final Val"), ("final_test", "Final Test"), ("best_val", "Best Val"),
           ("best_test", "Best Test")]


def best_rows(results, order):
    """One row per optimizer (in ``order``): its best run on validation, plus the lrs tried."""
    rows = []
    for spec in order:
        runs = [r for r in results if r["optimizer"] == spec]
        if not runs:
            continue
        best = max(runs, key=lambda r: (r["final_val"], r["best_val"]))
        rows.append({**best, "lrs_tried": sorted(r["lr"] for r in runs)})
    return rows


def to_markdown(rows, title=None):
    header = ["Optimizer", "best lr"] + [label for _, label in COLUMNS] + ["lrs tried"]
    body = [[f"`{escape_cell(row['optimizer'])}`", f"{row['lr']:g}"]
            + [f"{row[key]:.4f}" for key, _ in COLUMNS]
            + [", ".join(f"{lr:g}" for lr in row["lrs_tried"])] for row in rows]
    return markdown_table(header, body, title=title)


def plot_test_curves(rows, path, title):
    """Test accuracy per epoch of each optimizer's best run, as a PNG."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        curve = row["test_curve"]
        ax.plot(range(1, len(curve) + 1), curve, marker="o" if len(curve) < 20 else None,
                label=f"{row['optimizer']} (lr {row['lr']:g})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
