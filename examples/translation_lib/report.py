"""The summary table, shaped like Table 2 of the paper (optimizer, perplexity, BLEU).

Each cell is mean ± sample standard deviation over seeds (just the value for
one seed).
"""

import math
import statistics

from common.markdown import escape_cell, markdown_table

COLUMNS = [("train_perplexity", "Train perplexity"), ("test_perplexity", "Test perplexity"),
           ("bleu_greedy", "Test BLEU (greedy)"), ("bleu_beam", "Test BLEU (beam {beam})")]


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return mean, std


def summarize(results, order):
    """One row per optimizer (in ``order``) with mean/std of every metric."""
    rows = []
    for spec in order:
        runs = [r for r in results if r["optimizer"] == spec]
        if not runs:
            continue
        row = {"optimizer": spec, "lr": runs[0]["lr"], "seeds": len(runs)}
        for key, _ in COLUMNS:
            row[key], row[key + "_std"] = _stats([r.get(key) for r in runs])
        rows.append(row)
    return rows


def _cell(mean, std, digits):
    if mean is None:
        return "-"
    if not math.isfinite(mean):
        return str(mean)
    text = f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def to_markdown(rows, beam_size, title=None):
    columns = [(key, label.format(beam=beam_size)) for key, label in COLUMNS
               if key != "bleu_beam" or beam_size > 1]
    header = ["Optimizer", "lr"] + [label for _, label in columns] + ["Seeds"]
    body = []
    for row in rows:
        cells = [f"`{escape_cell(row['optimizer'])}`", f"{row['lr']:g}"]
        for key, _ in columns:
            digits = 3 if "perplexity" in key else 2
            cells.append(_cell(row[key], row[key + "_std"], digits))
        cells.append(str(row["seeds"]))
        body.append(cells)
    return markdown_table(header, body, title=title)
