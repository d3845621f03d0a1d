"""One run: one optimizer at one learning rate, as a nested MLflow run.

Per epoch (MLflow step = epoch): train loss and accuracy, validation loss and
accuracy, test loss and accuracy, and the learning rate. At the end: final and
best validation and test accuracy (``final_*``, ``best_*``).
"""

import math
import time

import keras
import mlflow

from common.sweep import start_child
from keras_nos.optimizers import make_optimizer

from .lrs import build_schedule
from .model import build_wrn


class EpochLogger(keras.callbacks.Callback):
    """Evaluate on the test set after each epoch; log every epoch metric to MLflow."""

    def __init__(self, test_ds, schedule):
        super().__init__()
        self.test_ds = test_ds
        self.schedule = schedule
        self.history = {"train_loss": [], "val_accuracy": [], "test_accuracy": []}

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        test = self.model.evaluate(self.test_ds, verbose=0, return_dict=True)
        step = int(self.model.optimizer.iterations.numpy())
        lr = self.schedule(step) if callable(self.schedule) else self.schedule
        metrics = {"train_loss": logs.get("loss"), "train_accuracy": logs.get("accuracy"),
                   "val_loss": logs.get("val_loss"), "val_accuracy": logs.get("val_accuracy"),
                   "test_loss": test.get("loss"), "test_accuracy": test.get("accuracy"),
                   "learning_rate": float(keras.ops.convert_to_numpy(lr))}
        for key in self.history:
            self.history[key].append(float(metrics[key]) if metrics[key] is not None else math.nan)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()
                            if v is not None and math.isfinite(float(v))}, step=epoch + 1)


def summarize_history(history):
    """Final and best (highest over epochs) validation and test accuracy; NaN counts as 0."""
    def clean(values):
        return [v if math.isfinite(v) else 0.0 for v in values] or [0.0]

    val, test = clean(history["val_accuracy"]), clean(history["test_accuracy"])
    return {"final_val": val[-1], "final_test": test[-1], "best_val": max(val),
            "best_test": max(test)}


def run_params(cfg, data, spec, lr):
    return {"optimizer": spec, "lr": lr, "depth": cfg.depth, "width": cfg.width,
            "weight_decay": cfg.weight_decay, "dropout": cfg.dropout, "epochs": cfg.epochs,
            "batch_size": cfg.batch_size, "steps_per_epoch": data.steps_per_epoch,
            "schedule": cfg.schedule, "seed": cfg.seed, "train_images": data.sizes[0],
            "val_images": data.sizes[1], "test_images": data.sizes[2],
            "mixed_precision": cfg.mixed_precision, "jit_compile": cfg.jit_compile}


def run_one(cfg, data, spec, lr, key, experiment_id, log=print):
    """Train WRN-depth-width with ``spec`` at ``lr``; return a result dict."""
    started = time.time()
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    total_steps = cfg.epochs * data.steps_per_epoch
    schedule = build_schedule(cfg.schedule, lr, total_steps)
    optimizer = make_optimizer(spec, learning_rate=schedule, decay_steps=total_steps)
    model = build_wrn(cfg.depth, cfg.width, weight_decay=cfg.weight_decay, dropout=cfg.dropout)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=cfg.jit_compile)
    logger = EpochLogger(data.test_ds, schedule)
    with start_child(key, f"{spec} lr={lr:g}", experiment_id) as run:
        mlflow.log_params(run_params(cfg, data, spec, lr))
        model.fit(data.train_ds(cfg.seed), epochs=cfg.epochs, validation_data=data.val_ds,
                  callbacks=[logger, keras.callbacks.TerminateOnNaN()], verbose=cfg.verbose,
                  shuffle=False)  # the dataset shuffles itself
        result = summarize_history(logger.history)
        diverged = not all(math.isfinite(v) for v in logger.history["train_loss"])
        if diverged or len(logger.history["train_loss"]) < cfg.epochs:
            mlflow.set_tag("diverged", "true")
        result["seconds"] = time.time() - started
        mlflow.log_metrics(result)
    result.update(optimizer=spec, lr=lr, run_id=run.info.run_id, diverged=diverged,
                  test_curve=logger.history["test_accuracy"], reused=False)
    log(f"[{spec} lr={lr:g}] val {result['final_val']:.4f} (best {result['best_val']:.4f})  "
        f"test {result['final_test']:.4f} (best {result['best_test']:.4f})"
        + ("  (diverged)" if diverged else "") + f"  {result['seconds']:.0f}s")
    return result
