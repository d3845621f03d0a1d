"""Evaluate many rules at once on a network task: hurdles on the host, every training in one program.

What ``Evaluator`` does for one rule with the learning-rate grid, for a batch of rules: parse, fingerprint,
the cheap hurdles and their pruning of the grid, then one ``BatchedTrainer`` call trains every surviving
(rule, learning rate) copy, and ``replay.Judgement`` gives each rule the statuses, curves and reward the
current evaluator would. A rule of more groups than ``num_groups`` (the text of a space's rule can need more
than its tokens: ``h0^h0`` with a random operand in ``h0`` is two draws, so three groups) is trained by a
second program of ``MAX_PROGRAM_GROUPS`` groups, compiled when first needed. Rules the interpreter cannot run
(``rule_code.groups_of``: no token form, or more groups than that) are evaluated one by one by the current
``Evaluator``, with the same settings: under JAX it compiles each rule, which costs seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from keras_nos.dsl import fingerprint as rule_fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.errors import KerasNosError
from keras_nos.tasks import fit_data
from keras_nos.tasks import result as statuses
from keras_nos.tasks.batched.replay import Judgement
from keras_nos.tasks.batched.rule_code import MAX_PROGRAM_GROUPS, encode, groups_of
from keras_nos.tasks.batched.start import training_start
from keras_nos.tasks.batched.trainer import DEFAULT_COPIES_PER_CALL, BatchedTrainer, require_jax_backend
from keras_nos.tasks.checks import check_network_task
from keras_nos.tasks.evaluator import Evaluator
from keras_nos.tasks.fused_trainer import FusedTrainer
from keras_nos.tasks.hurdles import DEFAULT_HURDLES, run_hurdles
from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
from keras_nos.tasks.registry import get_task
from keras_nos.tasks.result import EvaluationResult

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.tasks.batched.start import TrainingStart
    from keras_nos.tasks.registry import Task

    # (position in the batch, the rule, its token groups, which learning rates the hurdles kept)
    Batch = list[tuple[int, Rule, list[list[str]], list[bool]]]


class BatchedEvaluator:
    """Evaluates batches of rules on one network task with the learning-rate grid; needs Keras on JAX.

    Args:
        task, learning_rates, seed, data_path, epochs, hurdles, early_stop, no_progress_steps,
            prune_learning_rates: as ``Evaluator`` takes them (its ``lr_search="grid"``, one reward seed).
        num_groups: the groups of the compiled program; None: the most groups of a batch's rules. A program
            serves every rule of up to its groups, so a search passes its space's ``num_groups`` (rules of more
            groups go to a second program of ``MAX_PROGRAM_GROUPS``).
        start: the ``start.TrainingStart`` to train from; None: the one the current evaluator would use in this
            process (``start.training_start``). Rules the interpreter cannot run train from the latter.
        copies_per_call: see ``BatchedTrainer``.
    """

    def __init__(self, task: Union[str, Task], learning_rates: Sequence[float] = DEFAULT_LEARNING_RATES, seed: int = 0,
                 data_path: Optional[Union[str, os.PathLike]] = None, epochs: Optional[int] = None,
                 hurdles: Optional[Sequence[str]] = DEFAULT_HURDLES, early_stop: bool = True,
                 no_progress_steps: Optional[int] = None, prune_learning_rates: bool = True,
                 num_groups: Optional[int] = None, start: Optional[TrainingStart] = None,
                 copies_per_call: int = DEFAULT_COPIES_PER_CALL) -> None:
        require_jax_backend()
        self.task = get_task(task)
        if self.task.objective is not None:
            raise KerasNosError(f"Task {self.task.name!r} minimises a function in NumPy; the batched evaluator "
                                f"trains networks: use Evaluator for it")
        self.learning_rates = tuple(float(lr) for lr in learning_rates)
        self.seed, self.num_groups, self.prune_learning_rates = seed, num_groups, prune_learning_rates
        self.hurdles = tuple(hurdles or ())
        self.epochs = epochs or self.task.epochs
        self._fallback_options: dict[str, Any] = dict(learning_rates=learning_rates, seed=seed, data_path=data_path, epochs=epochs,
                                      hurdles=hurdles, early_stop=early_stop, no_progress_steps=no_progress_steps,
                                      prune_learning_rates=prune_learning_rates)
        self._fallback: Optional[Evaluator] = None
        splits = self.task.load_data(data_path, seed)
        check_network_task(self.task, splits)
        score = self.task.make_score()
        num_outputs = score.output_size(splits) if self.task.builds_from_shape else None
        steps_per_epoch = fit_data.steps_per_epoch(splits.x_train, self.task.batch_size)
        start = start or training_start(self.task, splits.x_train, num_outputs, seed, self.epochs)
        self.trainer = BatchedTrainer(self.task, splits, score, self.epochs, start, self.epochs * steps_per_epoch,
                                      seed, copies_per_call)
        self.chance = 1.0 / num_outputs if score.classifies else None
        self.no_progress_steps = no_progress_steps or (steps_per_epoch if score.judges_progress else None)
        self.early_stop = early_stop

    def evaluate(self, rules: Sequence[Union[str, Rule]]) -> list[EvaluationResult]:
        """An ``EvaluationResult`` for each of ``rules`` (texts or ``Rule``s), in order; a bad rule is a status."""
        started = time.perf_counter()
        results: list[Optional[EvaluationResult]] = [None] * len(rules)
        batch: Batch = []
        for position, rule in enumerate(rules):
            results[position] = self._screen(rule, batch, position)
        trained = self._train(batch)
        share = (time.perf_counter() - started) / max(1, len(batch))
        for position, result in trained.items():
            result.wall_time = share
            results[position] = result
        return results

    def _screen(self, rule: Union[str, Rule], batch: Batch, position: int) -> Optional[EvaluationResult]:
        """The result of a rule that needs no batched training (an error, a failed hurdle, a rule for the
        current evaluator); else None, and ``(position, rule, groups, kept rates)`` joins ``batch``."""
        try:
            parsed = parse_rule(rule)
            groups = groups_of(parsed, MAX_PROGRAM_GROUPS)
            if groups is None:
                return self._current_evaluator().evaluate(parsed)
            hurdles = run_hurdles(parsed, self.learning_rates, self.hurdles, seed=self.seed) if self.hurdles else None
        except Exception as error:  # a crashing candidate is a result, not a crashed batch
            return EvaluationResult(str(rule), "", self.task.name, statuses.ERROR,
                                    message=f"{type(error).__name__}: {error}"[:2000])
        if hurdles and hurdles.failure:
            return EvaluationResult(str(parsed), rule_fingerprint(parsed), self.task.name, statuses.FAILED_HURDLE,
                                    message=hurdles.failure)
        keep = hurdles.promising if hurdles and self.prune_learning_rates else [True] * len(self.learning_rates)
        batch.append((position, parsed, groups, keep))
        return None

    def _current_evaluator(self) -> Evaluator:
        if self._fallback is None:
            self._fallback = Evaluator(self.task, **self._fallback_options)
        return self._fallback

    def _train(self, batch: Batch) -> dict[int, EvaluationResult]:
        """{position: result} of the batch's rules: those of up to ``num_groups`` groups in one program, the
        others in the larger one."""
        if self.num_groups is None:
            return self._train_part(batch)
        fits = [item for item in batch if len(item[2]) <= self.num_groups]
        return {**self._train_part(fits), **self._train_part([item for item in batch if item not in fits])}

    def _train_part(self, batch: Batch) -> dict[int, EvaluationResult]:
        """{position: result} of rules trained side by side; a failing call is split and retried, down to one
        rule, whose failure is its status."""
        if not batch:
            return {}
        try:
            return self._train_together(batch)
        except Exception as error:
            if len(batch) == 1:
                position, rule = batch[0][:2]
                return {position: EvaluationResult(str(rule), rule_fingerprint(rule), self.task.name, statuses.ERROR,
                                                   message=f"{type(error).__name__}: {error}"[:2000])}
            middle = len(batch) // 2
            return {**self._train_part(batch[:middle]), **self._train_part(batch[middle:])}

    def _train_together(self, batch: Batch) -> dict[int, EvaluationResult]:
        most = max(len(groups) for _, _, groups, _ in batch)
        num_groups = most if self.num_groups is None else (self.num_groups if most <= self.num_groups
                                                             else MAX_PROGRAM_GROUPS)
        code = encode([groups for _, _, groups, _ in batch], num_groups)
        rows, rates = [], []
        for row, (_, _, _, keep) in enumerate(batch):
            kept = [lr for lr, kept in zip(self.learning_rates, keep) if kept]
            rows += [row] * len(kept)
            rates += kept
        log = self.trainer.train(code.take(rows), rates)
        results, first = {}, 0
        for position, rule, _, keep in batch:
            count = sum(keep)
            copies = slice(first, first + count)
            first += count
            judgement = Judgement(log.loss[copies], log.correct[copies], log.validation[copies], log.batch_sizes,
                                  self.chance, self.no_progress_steps, self.early_stop)
            results[position] = self._result(rule, keep, judgement)
        return results

    def _result(self, rule: Rule, keep: Sequence[bool], judgement: Judgement) -> EvaluationResult:
        """The ``EvaluationResult`` the current evaluator gives these curves and statuses, pruned rates marked."""
        rates = [lr for lr, kept in zip(self.learning_rates, keep) if kept]
        result = FusedTrainer.result(self, rule, [(rates, judgement)])  # the one definition of a grid's reward
        result.fingerprint = rule_fingerprint(rule)
        result.lr_status = {f"{lr:g}": result.lr_status[f"{lr:g}"] if kept else statuses.FAILED_HURDLE
                            for lr, kept in zip(self.learning_rates, keep)}
        return result
