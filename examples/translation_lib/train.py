"""One training run: one optimizer, one seed, as a nested MLflow run.

Per epoch: train loss / NLL / perplexity, validation loss / perplexity and
the learning rate go to MLflow, and the weights to
``<run dir>/checkpoints/epoch-NNN.weights.h5``. At the end: test perplexity,
train perplexity (on a fixed sample of training pairs), BLEU with greedy and
with beam-search decoding, and the test translations as an artifact.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import mlflow

from keras_nos.optimizers import make_optimizer

from .evaluate import bleu, perplexity
from .losses import smoothed_cross_entropy, token_accuracy, token_nll
from .models import build_model, model_params
from .pipeline import train_dataset
from .schedules import build_schedule


@dataclass
class Prepared:
    """What every run shares: tokenizers, tokenized data, step counts."""

    corpus_name: str
    src_tok: object
    tgt_tok: object
    train_source: object      # arrays (src, tgt) or a streaming dataset of id pairs
    train_pairs: int
    val_ds: object
    train_eval_ds: object
    test_ds: object
    test_src_ids: object
    test_srcs: list
    test_refs: list
    steps_per_epoch: int


def _safe_exp(x):
    return math.exp(min(float(x), 50.0))


class EpochLogger(keras.callbacks.Callback):
    """Log Keras' epoch metrics (and the current learning rate) to the active MLflow run."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metrics = {"train_loss": logs.get("loss"), "train_nll": logs.get("token_nll"),
                   "train_token_accuracy": logs.get("token_accuracy"),
                   "val_loss": logs.get("val_loss"), "val_nll": logs.get("val_token_nll"),
                   "val_token_accuracy": logs.get("val_token_accuracy")}
        if metrics["val_nll"] is not None:
            metrics["val_perplexity"] = _safe_exp(metrics["val_nll"])
        if metrics["train_nll"] is not None:
            metrics["train_perplexity_running"] = _safe_exp(metrics["train_nll"])
        step = int(self.model.optimizer.iterations.numpy())
        metrics["learning_rate"] = float(keras.ops.convert_to_numpy(self.schedule(step)))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None},
                           step=epoch + 1)


def _run_params(cfg, data, spec, lr, seed):
    return {"arch": cfg.arch, "optimizer": spec, "lr": lr, "seed": seed,
            **model_params(cfg), "schedule": cfg.schedule, "warmup_steps": cfg.warmup_steps,
            "label_smoothing": cfg.label_smoothing, "clip_norm": cfg.clip_norm,
            "batch_size": cfg.batch_size,
            "epochs": cfg.epochs, "steps_per_epoch": data.steps_per_epoch,
            "total_steps": cfg.epochs * data.steps_per_epoch, "max_len": cfg.max_len,
            "src_vocab_size": data.src_tok.vocab_size, "tgt_vocab_size": data.tgt_tok.vocab_size,
            "train_pairs": data.train_pairs, "data": data.corpus_name,
            "beam_size": cfg.beam_size, "length_penalty": cfg.length_penalty,
            "jit_compile": cfg.jit_compile}


def run_one(cfg, data, spec, lr, seed, run_dir, log=print):
    """Train and evaluate one (optimizer, seed); return a dict of results."""
    from .decoding import Translator

    started = time.time()
    run_dir = Path(run_dir)
    keras.utils.set_random_seed(seed)
    total_steps = cfg.epochs * data.steps_per_epoch
    schedule = build_schedule(cfg.schedule, lr, total_steps, cfg.warmup_steps)
    optimizer = make_optimizer(spec, learning_rate=schedule, decay_steps=total_steps)
    if cfg.clip_norm:
        optimizer.global_clipnorm = cfg.clip_norm  # the same clipping for every optimizer
    model = build_model(cfg, data.src_tok.vocab_size, data.tgt_tok.vocab_size)
    model.compile(optimizer=optimizer, loss=smoothed_cross_entropy(cfg.label_smoothing),
                  metrics=[token_nll, token_accuracy], jit_compile=cfg.jit_compile)

    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent else None
    with mlflow.start_run(run_name=f"{spec} seed={seed}", nested=True,
                          experiment_id=experiment_id) as run:
        mlflow.log_params(_run_params(cfg, data, spec, lr, seed))
        mlflow.set_tags({"role": "child", "run_dir": str(run_dir.resolve())})
        callbacks = [EpochLogger(schedule), keras.callbacks.TerminateOnNaN()]
        if cfg.checkpoints:
            (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            callbacks.append(keras.callbacks.ModelCheckpoint(
                str(run_dir / "checkpoints" / "epoch-{epoch:03d}.weights.h5"),
                save_weights_only=True))
        history = model.fit(
            train_dataset(data.train_source, cfg.max_len, cfg.batch_size, seed),
            epochs=cfg.epochs, steps_per_epoch=data.steps_per_epoch,
            validation_data=data.val_ds, callbacks=callbacks, verbose=cfg.verbose, shuffle=False)
        train_seconds = time.time() - started
        timer = time.time()
        test_ppl = perplexity(model, data.test_ds, cfg.jit_compile)
        train_ppl = perplexity(model, data.train_eval_ds, cfg.jit_compile)
        result = {"optimizer": spec, "lr": lr, "seed": seed, "run_id": run.info.run_id,
                  "train_perplexity": train_ppl, "test_perplexity": test_ppl}
        eval_seconds = time.time() - timer
        diverged = not (math.isfinite(history.history["loss"][-1]) and math.isfinite(test_ppl))
        greedy = beam = None
        if diverged:
            # NaN weights translate to nothing: score 0 without decoding.
            result.update({"bleu_greedy": 0.0, "bleu_beam": 0.0 if cfg.beam_size > 1 else None})
            mlflow.set_tag("diverged", "true")
        else:
            translator = Translator(model, cfg.max_len, cfg.jit_compile)
            greedy = data.tgt_tok.detokenize(translator.translate(
                data.test_src_ids, cfg.decode_batch_size, beam_size=1))
            result["bleu_greedy"] = bleu(greedy, data.test_refs)
            if cfg.beam_size > 1:
                beam = data.tgt_tok.detokenize(translator.translate(
                    data.test_src_ids, cfg.decode_batch_size, beam_size=cfg.beam_size,
                    alpha=cfg.length_penalty))
                result["bleu_beam"] = bleu(beam, data.test_refs)
        result["diverged"] = diverged
        result["seconds"] = time.time() - started
        result["train_seconds"] = train_seconds
        result["decode_seconds"] = result["seconds"] - train_seconds - eval_seconds
        mlflow.log_metrics({k: v for k, v in result.items()
                            if k not in ("optimizer", "lr", "seed", "run_id", "diverged")
                            and isinstance(v, float) and math.isfinite(v)})
        if greedy is not None:
            _write_translations(run_dir / "translations.tsv", data, greedy, beam)
            mlflow.log_artifact(str(run_dir / "translations.tsv"))
    beam_text = f"  beam {result['bleu_beam']:.2f}" if result.get("bleu_beam") is not None else ""
    log(f"[{spec} seed={seed}] test ppl {test_ppl:.3f}  train ppl {train_ppl:.3f}  "
        f"BLEU greedy {result['bleu_greedy']:.2f}{beam_text}"
        + ("  (diverged)" if diverged else "")
        + f"  ({result['seconds']:.0f}s: train {train_seconds:.0f}s, perplexities "
          f"{eval_seconds:.0f}s, decoding {result['decode_seconds']:.0f}s)")
    return result


def _write_translations(path, data, greedy, beam):
    lines = ["source\treference\tgreedy" + ("\tbeam" if beam else "")]
    for i, (src, ref) in enumerate(zip(data.test_srcs, data.test_refs)):
        lines.append("\t".join([src, ref, greedy[i]] + ([beam[i]] if beam else [])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
