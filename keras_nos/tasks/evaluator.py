"""Turn a rule into a reward: train the task's child network with it.

The default trains the whole learning-rate grid at once: K copies of the child
network sit side by side in one Keras model, each copy's variables updated with
its own learning rate. One graph trace and one pass over the data serve the
whole grid, which on small proxies is several times cheaper than K trainings.
Every copy starts from the same weights and sees the same batches, so copy k
trains exactly as a one-copy evaluation at its learning rate would. A copy that
diverges or stays at chance is marked and ignored (it still trains: the grid
is one graph); when every copy is done for, training stops, without validation.
"""

import collections
import math
import time

import keras
import numpy as np

from keras_nos.dsl import fingerprint as rule_fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.optimizers.rule_optimizer import RuleOptimizer
from keras_nos.tasks import result as statuses
from keras_nos.tasks.hurdles import DEFAULT_HURDLES, run_hurdles
from keras_nos.tasks.objectives import minimize_task
from keras_nos.tasks.registry import get_task
from keras_nos.tasks.scores import get_score, validation_scores
from keras_nos.tasks.result import EvaluationResult

LR_SEARCHES = ("grid", "halving", "optuna")
DEFAULT_LEARNING_RATES = tuple(10.0**k for k in range(-5, 2))  # 1e-5 ... 10


def learning_rate_grid(low=1e-5, high=10.0, count=7):
    """``count`` learning rates evenly spaced on a log scale from ``low`` to ``high``."""
    if not 0 < low <= high or count < 1:
        raise ValueError(f"A learning-rate grid needs 0 < low <= high and count >= 1, got {low}, {high}, {count}")
    return tuple(float(x) for x in np.geomspace(low, high, count))


class _GridRuleOptimizer(RuleOptimizer):
    """RuleOptimizer whose learning rate is set per model copy (variables under ``copy{k}/``)."""

    def __init__(self, rule, learning_rates, **kwargs):
        super().__init__(rule, learning_rate=1.0, **kwargs)
        self._grid = list(learning_rates)

    def build(self, var_list):
        super().build(var_list)
        copies = [int(v.path.split("/")[0][len("copy"):]) for v in var_list]
        self._scales = [self._grid[k] for k in copies]
        # Position of each variable inside its own copy: the random streams of noise and drop() are keyed by
        # it, so copy k draws what a one-copy run at its learning rate draws, whichever copies exist beside it.
        seen = collections.Counter()
        self._index_in_copy = []
        for k in copies:
            self._index_in_copy.append(seen[k])
            seen[k] += 1

    def update_step(self, gradient, variable, learning_rate):
        scale = self._scales[self._get_variable_index(variable)]
        super().update_step(gradient, variable, learning_rate * scale)

    def _random_draw(self, name, variable, index):
        return super()._random_draw(name, variable, self._index_in_copy[index])

    def _all_reduce_sum_gradients(self, grads_and_vars):
        """Skip the all-reduce on one replica (TensorFlow backend only; other backends never call this).

        Keras' TF optimizer sums gradients over replicas with ``ReplicaContext.all_reduce``,
        which in a traced train step wraps them in a ``tf.custom_gradient``. That registers a
        gradient function in TensorFlow's global gradient registry, never removed, whose closure
        holds the whole train graph: about 12 MiB per evaluation stayed alive, clear_session or
        not. With one replica the sum is the identity, so there is nothing to reduce.
        """
        import tensorflow as tf

        if tf.distribute.get_strategy().num_replicas_in_sync == 1:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


class _CopyMonitor(keras.callbacks.Callback):
    """Marks copies that diverge or make no progress, records validation curves, stops when all are done for.

    No progress: at ``no_progress_steps``, training accuracy at most 1.2 times chance (classification), or a
    running training loss no lower than the first step's (regression).
    """

    def __init__(self, copies, chance, no_progress_steps, early_stop, validate):
        super().__init__()
        self.validate = validate  # () -> {"lr0_score": ..., ...}: each copy's validation score
        # Keras names a one-output model's logs "loss", "accuracy", not "lr0_loss" ...
        self.prefixes = [""] if copies == 1 else [f"lr{k}_" for k in range(copies)]
        self.status = [statuses.OK] * copies
        self.curves = [[] for _ in range(copies)]
        self.first_losses = [None] * copies
        self.chance = chance  # None for regression
        self.no_progress_steps = no_progress_steps
        self.early_stop = early_stop
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if not self.early_stop:
            return
        for k, status in enumerate(self.status):
            if status != statuses.OK:
                continue
            loss = float(logs[f"{self.prefixes[k]}loss"])
            if self.first_losses[k] is None:
                self.first_losses[k] = loss
            if not math.isfinite(loss) or loss > 1e4:
                self.status[k] = statuses.DIVERGED
            elif self.steps == self.no_progress_steps and self._stalled(k, loss, logs):
                self.status[k] = statuses.NO_PROGRESS
        if all(s != statuses.OK for s in self.status):
            self.model.stop_training = True

    def _stalled(self, k, loss, logs):
        if self.chance is None:
            return not loss < self.first_losses[k]
        return float(logs[f"{self.prefixes[k]}accuracy"]) <= 1.2 * self.chance

    def on_epoch_end(self, epoch, logs=None):
        if self.early_stop and statuses.OK not in self.status:
            return  # every copy is done for: no validation, whose first call alone traces a test step
        validation = {f"val_{name}": value for name, value in self.validate().items()}
        if logs is not None:
            logs.update(validation)  # for the callbacks after this one, as fit's own validation would
        for k, curve in enumerate(self.curves):
            value = float(validation.get(f"val_{self.prefixes[k]}score", float("nan")))
            curve.append(value)
            if not math.isfinite(value) and self.status[k] == statuses.OK:
                self.status[k] = statuses.DIVERGED


def _standardize(x):
    """Float32 inputs; integer images (uint8 CIFAR-10) are scaled to [0, 1], float inputs are kept as they are.

    Scaling by value (``x.max() > 1.5``) would divide real-valued features such
    as the synthetic task's unit-variance patterns by 255 and make them nearly
    unlearnable for every rule but scale-free ones like adam.
    """
    scale = np.issubdtype(x.dtype, np.integer)
    x = x.astype("float32")
    if scale:
        x /= 255.0
    return x


def _targets(y, score):
    """Integer labels for classification, float32 targets for regression."""
    return y if score.classifies else np.asarray(y, dtype="float32")


class Evaluator:
    """Evaluates rules on one task; loads the data once for all of them.

    Args:
        task: a registered task name or a ``Task``.
        learning_rates: the grid tried for each rule (default 1e-5 ... 10, seven values).
        seed: seeds the data split, the initial weights and the rule's noise.
        data_path: where the task's data set is (for CIFAR-10 tasks).
        epochs: override the task's number of epochs.
        hurdles: names of cheap hurdles (``keras_nos.tasks.hurdles.HURDLES``); empty to skip.
        early_stop: stop a learning rate at once when it diverges or makes no progress.
        prune_learning_rates: with hurdles on and the grid, train only the learning rates that made
            progress on some hurdle (``hurdles.PROMISING_RATIO``); the others get status ``failed_hurdle``.
        no_progress_steps: steps after which training accuracy at chance level means no progress.
        lr_search: ``"grid"`` (every rate at once), ``"halving"`` (every rate for ``screen_epochs``, then the
            ``halving_keep`` best trained again from the start for all the epochs: a long training for the rates
            that can win at the price of a short one for the rest) or ``"optuna"`` (a TPE study with a median
            pruner); objective tasks such as ``rosenbrock`` always run the grid, which costs milliseconds.
        halving_keep: how many of the screened rates ``"halving"`` trains in full.
        screen_epochs: the epochs of ``"halving"``'s screen over the whole grid.
        optuna_trials: trials of the Optuna study.
        fuse_grid: train the grid's learning rates side by side in one model (one trace, one pass over the
            data). ``False`` trains each on its own, so a rate that diverges or stalls stops at once instead of
            riding along until the others finish: worth it where steps, not tracing, cost the time (CIFAR-size
            tasks on a CPU). The rewards are the same either way.
        reward_seeds: train the best learning rate with this many seeds (``seed``, ``seed + 1``, ...: other
            initial weights, batch order and noise, the same data split); the reward is the mean of their final
            validation accuracies, each in ``result.seed_rewards``, and 0 for a seed that diverges or stalls. One
            training's accuracy is noisy enough to reorder rules of nearly equal merit; each extra seed costs one
            training. Grid and halving only.
    """

    def __init__(self, task, learning_rates=DEFAULT_LEARNING_RATES, seed=0, data_path=None, epochs=None,
                 hurdles=DEFAULT_HURDLES, early_stop=True, no_progress_steps=None, lr_search="grid",
                 optuna_trials=8, prune_learning_rates=True, fuse_grid=True, halving_keep=2, screen_epochs=1,
                 reward_seeds=1):
        self.task = get_task(task)
        if lr_search not in LR_SEARCHES:
            raise ValueError(f"Unknown lr_search {lr_search!r}; allowed: {', '.join(LR_SEARCHES)}")
        if halving_keep < 1 or screen_epochs < 1 or reward_seeds < 1:
            raise ValueError(f"halving_keep, screen_epochs and reward_seeds must be at least 1, got {halving_keep}, "
                             f"{screen_epochs} and {reward_seeds}")
        if reward_seeds > 1 and lr_search == "optuna":
            raise ValueError(f"reward_seeds={reward_seeds} needs lr_search 'grid' or 'halving', not 'optuna'")
        self.learning_rates = tuple(float(lr) for lr in learning_rates)
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise ValueError(f"Learning rates must be positive numbers, got {learning_rates!r}")
        self.seed = seed
        self.epochs = epochs or self.task.epochs
        self.hurdles = tuple(hurdles or ())
        self.early_stop = early_stop
        self.prune_learning_rates = prune_learning_rates
        self.lr_search = lr_search
        self.optuna_trials = optuna_trials
        self.fuse_grid = fuse_grid
        self.halving_keep = halving_keep
        self.screen_epochs = screen_epochs
        self.reward_seeds = reward_seeds
        self._keras_state = False  # whether a model was built since the last clear_session
        if self.task.objective is not None:  # a function to minimise: no data, no network
            self.steps_per_epoch = self.task.steps_per_epoch
            return
        self.score = get_score(self.task.score)
        splits = self.task.load_data(data_path, seed)
        self.x_train, self.y_train = _standardize(splits.x_train), _targets(splits.y_train, self.score)
        self.x_val, self.y_val = _standardize(splits.x_val), _targets(splits.y_val, self.score)
        self.num_outputs = self.score.output_size(splits)
        self.steps_per_epoch = self.task.steps_per_epoch or math.ceil(len(self.x_train) / self.task.batch_size)
        self.no_progress_steps = no_progress_steps or self.steps_per_epoch

    def _clear_session(self):
        """Drop the Keras state of the last model; a no-op when none was built (a hurdle failure costs ms).

        No forced ``gc.collect()`` (``free_memory=False``): with TensorFlow loaded a full collection
        costs 0.25 s, a quarter of a stopped candidate's evaluation, and Python's own collector frees
        the models' reference cycles anyway (benchmarks/evaluator_memory.py: RSS flat over 300 rules).
        """
        if self._keras_state:
            self._keras_state = False
            keras.backend.clear_session(free_memory=False)

    def evaluate(self, rule):
        """An ``EvaluationResult``; a bad candidate is a status, never an exception."""
        started = time.perf_counter()
        text, fingerprint = str(rule), ""
        try:
            rule = parse_rule(rule)
            text, fingerprint = str(rule), rule_fingerprint(rule)
            hurdles = run_hurdles(rule, self.learning_rates, self.hurdles, seed=self.seed) if self.hurdles else None
            if hurdles and hurdles.failure:
                result = EvaluationResult(text, fingerprint, self.task.name, statuses.FAILED_HURDLE,
                                          message=hurdles.failure)
            elif self.task.objective is not None:
                result = minimize_task(rule, self.task, self.learning_rates, self.epochs, seed=self.seed)
            elif self.lr_search in ("grid", "halving"):
                result = self._train_promising(rule, hurdles)
            else:
                result = self._optuna(rule)
        except Exception as error:  # a crashing candidate is a result, not a crashed search
            result = EvaluationResult(text, fingerprint, self.task.name, statuses.ERROR,
                                      message=f"{type(error).__name__}: {error}"[:2000])
        finally:
            self._clear_session()
        result.fingerprint = result.fingerprint or fingerprint
        result.wall_time = time.perf_counter() - started
        return result

    def _train_promising(self, rule, hurdles):
        """Train the grid, less the learning rates the hurdles showed to be hopeless (a copy costs tracing and
        compute whatever becomes of it; each copy trains as it would alone, so the others' rewards stay)."""
        keep = hurdles.promising if hurdles and self.prune_learning_rates else [True] * len(self.learning_rates)
        rates = [lr for lr, kept in zip(self.learning_rates, keep) if kept]
        if self.lr_search == "halving" and len(rates) > self.halving_keep and self.screen_epochs < self.epochs:
            result = self._halving(rule, rates)
        else:
            result = self._train_rates(rule, rates, self.epochs)
        if result.status == statuses.OK and self.reward_seeds > 1:
            self._average_over_seeds(rule, result)
        result.lr_status = {f"{lr:g}": result.lr_status[f"{lr:g}"] if kept else statuses.FAILED_HURDLE
                            for lr, kept in zip(self.learning_rates, keep)}
        return result

    def _train_rates(self, rule, rates, epochs):
        """Train ``rates`` for ``epochs``, side by side or one by one (``fuse_grid``)."""
        if self.fuse_grid:
            return self._result(rule, [(rates, self._train(rule, rates, epochs))])
        parts = []
        for lr in rates:
            parts.append(([lr], self._train(rule, [lr], epochs)))
            self._clear_session()
        return self._result(rule, parts)

    def _halving(self, rule, rates):
        """Screen every rate for ``screen_epochs``, then train the ``halving_keep`` best again from the start
        for all the epochs; the others keep their screen curves and get status ``pruned``. A kept rate scores
        exactly what the grid would give it."""
        screen = self._train_rates(rule, rates, self.screen_epochs)
        self._clear_session()
        alive = [lr for lr in rates if screen.lr_status[f"{lr:g}"] == statuses.OK]
        if not alive:
            return screen
        ranked = sorted(alive, key=lambda lr: screen.curves[f"{lr:g}"][-1], reverse=True)
        kept = sorted(ranked[:self.halving_keep])
        result = self._train_rates(rule, kept, self.epochs)
        result.curves = {**screen.curves, **result.curves}
        result.lr_status = {**{f"{lr:g}": screen.lr_status[f"{lr:g}"] if lr not in alive else statuses.PRUNED
                               for lr in rates}, **result.lr_status}
        result.steps_trained += screen.steps_trained
        return result

    def _average_over_seeds(self, rule, result):
        """Train the best rate again with the next ``reward_seeds - 1`` seeds; the reward becomes the mean."""
        finals = [result.reward]
        for seed in range(self.seed + 1, self.seed + self.reward_seeds):
            final, steps = self.train_with_seed(rule, result.best_learning_rate, seed)
            finals.append(final)
            result.steps_trained += steps
        result.seed_rewards = finals
        result.reward = sum(finals) / len(finals)

    def train_with_seed(self, rule, learning_rate, seed):
        """(final validation score, steps) of one training at ``learning_rate`` whose initial weights, batch
        order and noise come from ``seed``, on this evaluator's data split; 0.0 if it diverges or stalls. What
        ``reward_seeds`` adds to a reward, one seed at a time."""
        self._clear_session()
        monitor = self._train(parse_rule(rule), [learning_rate], self.epochs, seed=seed)
        self._clear_session()
        curve = monitor.curves[0]
        return (curve[-1] if monitor.status[0] == statuses.OK and curve else 0.0), monitor.steps

    def _train(self, rule, learning_rates, epochs=None, callbacks=(), seed=None):
        seed = self.seed if seed is None else seed
        self._keras_state = True
        inputs = keras.Input(self.x_train.shape[1:])
        outputs = {}
        for k in range(len(learning_rates)):
            # Every copy starts from the same weights, as K separate runs with one seed would: copy k at
            # learning rate X trains exactly as a one-copy evaluation at X does.
            keras.utils.set_random_seed(seed)
            copy = self.task.build_model(self.x_train.shape[1:], self.num_outputs, name=f"copy{k}")
            outputs[f"lr{k}"] = copy(inputs)
        model = keras.Model(inputs, outputs)
        optimizer = _GridRuleOptimizer(rule, learning_rates, decay_steps=self.epochs * self.steps_per_epoch,
                                       seed=seed)
        loss = self.score.keras_loss()
        metrics = ["accuracy"] if self.score.classifies else []  # the no-progress test of classification
        model.compile(optimizer, loss={k: loss for k in outputs}, metrics={k: metrics for k in outputs},
                      jit_compile=False)
        # Create the optimizer slots and the loss and metric trackers now, eagerly on two examples (fit resets
        # the trackers). Keras' TF trainer would create them inside the first trace of the train step, and a
        # tf.function that creates variables is traced twice: that second trace was half of an evaluation's
        # cost on small tasks (digits-mlp: 2.3 of 3.2 CPU s were tracing, 0.1 s the 136 steps).
        optimizer.build(model.trainable_variables)
        x_few, y_few = self.x_train[:2], {k: self.y_train[:2] for k in outputs}
        y_pred = model(x_few)
        model.compute_loss(x_few, y_few, y_pred)
        model.compute_metrics(x_few, y_few, y_pred)

        def validate():
            scores = validation_scores(model, self.x_val, self.y_val, self.score)
            return {f"{prefix}score": scores[f"lr{k}"] for k, prefix in enumerate(monitor.prefixes)}

        chance = 1.0 / self.num_outputs if self.score.classifies else None
        monitor = _CopyMonitor(len(learning_rates), chance, self.no_progress_steps, self.early_stop, validate)
        keras.utils.set_random_seed(seed)  # the batch order does not depend on how many copies were built
        model.fit(
            self.x_train, {k: self.y_train for k in outputs},
            epochs=epochs or self.epochs, batch_size=self.task.batch_size, steps_per_epoch=self.task.steps_per_epoch,
            verbose=0, callbacks=[monitor, *callbacks],
        )
        return monitor

    def _result(self, rule, parts):
        """The result of trainings ``[(learning_rates, monitor), ...]``: the best final validation score of
        the rates that stayed ok, each rate's curve and status, and the steps trained in all."""
        learning_rates = [lr for rates, _ in parts for lr in rates]
        all_curves = [curve for _, monitor in parts for curve in monitor.curves]
        all_status = [status for _, monitor in parts for status in monitor.status]
        curves = {f"{lr:g}": curve for lr, curve in zip(learning_rates, all_curves)}
        lr_status = {f"{lr:g}": status for lr, status in zip(learning_rates, all_status)}
        finals = [(curve[-1] if curve else 0.0, lr) for lr, curve, status in
                  zip(learning_rates, all_curves, all_status) if status == statuses.OK]
        result = EvaluationResult(str(rule), "", self.task.name, statuses.OK, curves=curves, lr_status=lr_status,
                                  steps_trained=sum(monitor.steps for _, monitor in parts))
        if finals:
            result.reward, result.best_learning_rate = max(finals)
        else:
            result.status = statuses.DIVERGED if statuses.DIVERGED in all_status else statuses.NO_PROGRESS
        return result

    def _optuna(self, rule):
        """A TPE study over log learning rate whose median pruner stops bad rates after an epoch."""
        import optuna

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=self.seed),
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
        merged = EvaluationResult(str(rule), "", self.task.name, statuses.NO_PROGRESS)
        low, high = min(self.learning_rates), max(self.learning_rates)
        for _ in range(self.optuna_trials):
            trial = study.ask()
            lr = trial.suggest_float("learning_rate", low, high, log=True)
            pruning = _PruneCallback(trial)
            single = self._result(rule, [([lr], self._train(rule, [lr], callbacks=[pruning]))])
            self._clear_session()
            merged.curves.update(single.curves)
            merged.lr_status.update({k: (statuses.PRUNED if pruning.pruned else v) for k, v in single.lr_status.items()})
            merged.steps_trained += single.steps_trained
            if single.status == statuses.OK and not pruning.pruned:
                study.tell(trial, single.reward)
                if single.reward > merged.reward or merged.status != statuses.OK:
                    merged.reward, merged.best_learning_rate, merged.status = single.reward, lr, statuses.OK
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                if merged.status != statuses.OK and single.status == statuses.DIVERGED:
                    merged.status = statuses.DIVERGED
        return merged


class _PruneCallback(keras.callbacks.Callback):
    def __init__(self, trial):
        super().__init__()
        self.trial = trial
        self.pruned = False

    def on_epoch_end(self, epoch, logs=None):
        value = float(logs.get("val_score", 0.0))  # one copy: no "lr0_" prefix
        self.trial.report(value if math.isfinite(value) else 0.0, epoch)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True


def evaluate(rule, task, **options):
    """Evaluate one rule on one task; see ``Evaluator`` for the options."""
    return Evaluator(task, **options).evaluate(rule)
