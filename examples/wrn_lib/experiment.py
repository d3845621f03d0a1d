"""The sweep: data once, then every (optimizer, learning rate) under one parent run.

The parent run carries the shared settings, a hash of them (see
``common.sweep``), the table and the plot. A second start with the same
settings (or ``--resume RUN_ID``) reuses the finished nested runs and trains
only what is missing.
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import mlflow

from common.cli import UsageError
from common.sweep import config_hash, metric_history, start_parent
from keras_nos.tracking import get_or_create_experiment

from .pipeline import channel_stats, eval_dataset, train_dataset
from .report import best_rows, plot_test_curves, to_markdown
from .train import run_one


@dataclass
class Prepared:
    """What every run shares: datasets and sizes."""

    train_ds: object          # seed -> tf.data.Dataset
    val_ds: object
    test_ds: object
    steps_per_epoch: int
    sizes: tuple              # (train, val, test) images
    name: str


def _say(message):
    print(message, flush=True)


def prepare(cfg, splits):
    x_test, y_test = splits.x_test, splits.y_test
    if cfg.test_limit:
        from keras_nos.tasks.datasets import _balanced_subset

        keep = _balanced_subset(y_test, cfg.test_limit, cfg.seed)
        x_test, y_test = x_test[keep], y_test[keep]
    stats = channel_stats(splits.x_train)
    sizes = (len(splits.x_train), len(splits.x_val), len(x_test))
    return Prepared(
        train_ds=lambda seed: train_dataset(splits.x_train, splits.y_train, cfg.batch_size,
                                            stats, seed),
        val_ds=eval_dataset(splits.x_val, splits.y_val, cfg.eval_batch_size, stats),
        test_ds=eval_dataset(x_test, y_test, cfg.eval_batch_size, stats),
        steps_per_epoch=max(1, sizes[0] // cfg.batch_size), sizes=sizes,
        name=str(cfg.data or "default CIFAR-10"))


def shared_params(cfg, data):
    """The settings that decide the results (their hash finds the parent to resume)."""
    return {"depth": cfg.depth, "width": cfg.width, "weight_decay": cfg.weight_decay,
            "dropout": cfg.dropout, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "schedule": cfg.schedule, "seed": cfg.seed, "data": data.name,
            "train_limit": cfg.train_limit, "validation_size": cfg.validation_size,
            "test_limit": cfg.test_limit, "train_images": data.sizes[0],
            "val_images": data.sizes[1], "test_images": data.sizes[2],
            "mixed_precision": cfg.mixed_precision, "jit_compile": cfg.jit_compile}


def _reused(client, run, spec, lr):
    metrics = run.data.metrics
    result = {key: metrics[key] for key in ("final_val", "final_test", "best_val", "best_test")}
    return {**result, "optimizer": spec, "lr": lr, "run_id": run.info.run_id,
            "diverged": run.data.tags.get("diverged") == "true", "reused": True,
            "seconds": metrics.get("seconds", 0.0),
            "test_curve": metric_history(client, run.info.run_id, "test_accuracy")}


def sweep_key(spec, lr):
    return f"{spec} @ {lr:g}"


def run_sweep(cfg, splits, started=None):
    """Train (or reuse) every (optimizer, lr); write the table and plot; return the rows."""
    started = started or time.time()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = prepare(cfg, splits)
    out_dir = Path(cfg.out or Path("runs", "wrn_cifar10", f"{stamp}-wrn-{cfg.depth}-{cfg.width}"))
    cfg.out = str(out_dir)  # where the table is, for --doc
    out_dir.mkdir(parents=True, exist_ok=True)
    experiment_id = get_or_create_experiment(cfg.experiment, cfg.tracking_uri)
    client = mlflow.MlflowClient(mlflow.get_tracking_uri())
    params = shared_params(cfg, data)
    chash = config_hash(params)
    _say(f"data: {data.sizes[0]} training, {data.sizes[1]} validation, {data.sizes[2]} test "
         f"images; WRN-{cfg.depth}-{cfg.width}, {cfg.epochs} epochs x {data.steps_per_epoch} "
         f"steps; config hash {chash}")
    run_name = cfg.run_name or f"wrn-{cfg.depth}-{cfg.width} {stamp}"
    try:
        parent, done = start_parent(client, experiment_id, chash, run_name, cfg.resume, cfg.fresh)
    except ValueError as error:  # --resume names a missing run or one with other settings
        raise UsageError(str(error)) from None
    results = []
    with parent:
        if not done:
            mlflow.log_params(params)
        mlflow.set_tags({"optimizers": ",".join(cfg.optimizer_specs)[:5000],
                         "learning_rates": json.dumps(cfg.learning_rates)[:5000]})
        if done:
            _say(f"resuming parent run {parent.info.run_id}: {len(done)} finished run(s)")
        for spec in cfg.optimizer_specs:
            for lr in cfg.learning_rates[spec]:
                key = sweep_key(spec, lr)
                if key in done:
                    results.append(_reused(client, done[key], spec, lr))
                    _say(f"[{spec} lr={lr:g}] finished before, reused (run {done[key].info.run_id})")
                else:
                    results.append(run_one(cfg, data, spec, lr, key, experiment_id, log=_say))
        rows = best_rows(results, cfg.optimizer_specs)
        title = (f"WRN-{cfg.depth}-{cfg.width} on CIFAR-10 ({data.sizes[0]} training images), "
                 f"{cfg.epochs} epoch(s), {cfg.schedule} schedule; best lr on validation")
        table = to_markdown(rows, title=title)
        (out_dir / "table.md").write_text(table, encoding="utf-8")
        plot = plot_test_curves(rows, out_dir / "test_accuracy.png", title)
        trained = sum(not r["reused"] for r in results)
        summary = {"parent_run_id": parent.info.run_id, "experiment_id": experiment_id,
                   "tracking_uri": mlflow.get_tracking_uri(), "config_hash": chash,
                   "trained": trained, "reused": len(results) - trained,
                   "rows": rows, "runs": results, "seconds": time.time() - started}
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2, default=str),
                                              encoding="utf-8")
        for path in (out_dir / "table.md", plot, out_dir / "results.json"):
            mlflow.log_artifact(str(path))
    _say("")
    _say(table)
    _say(f"wrote {out_dir / 'table.md'} and {plot}; MLflow parent run {parent.info.run_id}; "
         f"{trained} run(s) trained, {len(results) - trained} reused "
         f"({time.time() - started:.0f}s in all)")
    return rows
