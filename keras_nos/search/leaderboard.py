"""The leaderboard of a search: rows, the text table, CSV, and reading it back from MLflow."""

import csv

COLUMNS = ("rank", "rule", "reward", "funnel_reward", "funnel_std", "best_learning_rate", "fingerprint", "tokens",
           "raw_rule", "suite_vs_adam")


def simplified_text(text):
    """The simplified form of rule text (same fingerprint, never longer); the text itself when it does not parse."""
    from keras_nos.dsl.simplify import simplify

    try:
        return str(simplify(text))
    except ValueError:
        return text


def build_leaderboard(records, funnel, suite=None):
    """Rows sorted by funnel reward (when the funnel ran) then proxy reward; one row per fingerprint.

    ``rule`` is the simplified formula (``Rule.simplify``), ``raw_rule`` the text the search evaluated.

    ``funnel`` maps fingerprint -> {"mean", "std", "rule"}; reference optimizers
    (like Adam) appear with tokens ``reference``. ``suite`` maps fingerprint ->
    "wins/tasks" against Adam on the compare suite (``search(funnel_suite=...)``).
    """
    best = {}
    for record in records:
        result = record["result"]
        if result["status"] != "ok":
            continue
        fingerprint = result["fingerprint"]
        if fingerprint not in best or result["reward"] > best[fingerprint]["reward"]:
            best[fingerprint] = {
                "rule": simplified_text(result["rule"]),
                "raw_rule": result["rule"],
                "reward": result["reward"],
                "best_learning_rate": result["best_learning_rate"],
                "fingerprint": fingerprint,
                "tokens": " ".join(record.get("tokens") or ["reference"]),
            }
    for fingerprint, row in best.items():
        row["funnel_reward"] = funnel.get(fingerprint, {}).get("mean")
        row["funnel_std"] = funnel.get(fingerprint, {}).get("std")
        row["suite_vs_adam"] = (suite or {}).get(fingerprint)
    rows = sorted(best.values(), key=lambda r: (r["funnel_reward"] is None, -round(r["funnel_reward"] or 0.0, 9),
                                               -r["reward"], r["fingerprint"]))  # ties: stable by fingerprint
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def format_leaderboard(rows, limit=20):
    """A fixed-width text table of the top ``limit`` rows."""
    suite = any(row.get("suite_vs_adam") for row in rows)  # the column appears when the funnel ran the suite
    lines = [f"{'rank':>4}  {'reward':>6}  {'funnel':>13}  {'lr':>7}  " + ("vs adam  " if suite else "")
             + f"{'fingerprint':16}  rule"]
    for row in rows[:limit]:
        funnel = f"{row['funnel_reward']:.4f}±{row['funnel_std']:.4f}" if row["funnel_reward"] is not None else "-"
        lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
        wins = f"{row.get('suite_vs_adam') or '-':>7}  " if suite else ""
        lines.append(f"{row['rank']:>4}  {row['reward']:.4f}  {funnel:>13}  {lr:>7}  {wins}{row['fingerprint']:16}  "
                     f"{row['rule']}")
    return "\n".join(lines)


def write_csv(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in COLUMNS})


def read_leaderboard(uri, run_id):
    """Rows of a finished or running search, read from its MLflow runs."""
    from keras_nos.search.tracking import TAG_PREFIX, candidate_runs

    records, funnel_values = [], {}
    for run in candidate_runs(uri, run_id):
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        result = {
            "rule": params.get("rule", ""),
            "fingerprint": params.get("fingerprint", ""),
            "status": tags.get(TAG_PREFIX + "status", ""),
            "reward": metrics.get("reward", 0.0),
            "best_learning_rate": float(params["learning_rate"]) if params.get("learning_rate") not in (None, "None") else None,
        }
        if tags.get(TAG_PREFIX + "stage") == "funnel":
            funnel_values.setdefault(result["fingerprint"], []).append(result["reward"])
            if tags.get(TAG_PREFIX + "reference") != "true":
                continue
        records.append({"result": result, "tokens": params.get("tokens", "").split() or None})
    import numpy as np

    funnel = {fp: {"mean": float(np.mean(v)), "std": float(np.std(v))} for fp, v in funnel_values.items()}
    import json

    from keras_nos.search.tracking import find_run

    suite = json.loads(find_run(uri, run_id).data.tags.get(TAG_PREFIX + "suite", "{}"))
    return build_leaderboard(records, funnel, suite)
