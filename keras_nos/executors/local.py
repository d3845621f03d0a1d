"""Run evaluations on this machine: inline, or in a pool of worker processes.

Each worker builds its ``Evaluator`` once (so it loads the data once) and then
evaluates rule after rule. Workers are spawned, not forked, because TensorFlow
is not fork-safe once initialised.
"""

import concurrent.futures
import multiprocessing

from keras_nos.tasks import result as statuses
from keras_nos.tasks.evaluator import Evaluator
from keras_nos.tasks.result import EvaluationResult

_WORKER_EVALUATOR = None


def _init_worker(options, threads):
    global _WORKER_EVALUATOR
    if threads:
        try:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except (ImportError, RuntimeError):
            pass
    _WORKER_EVALUATOR = Evaluator(**options)


def _evaluate_in_worker(rule_text):
    return _WORKER_EVALUATOR.evaluate(rule_text).to_dict()


class LocalExecutor:
    """Evaluates rules with ``workers`` processes (1: in this process)."""

    name = "local"

    def __init__(self, evaluator_options, workers=1):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.options = evaluator_options
        self.workers = workers
        self._evaluator = None
        self._pool = None

    def _ensure_pool(self):
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init_worker, initargs=(self.options, 1)
            )
        return self._pool

    def map_unordered(self, rules):
        """Yield (position, EvaluationResult) for each rule text as each finishes."""
        if self.workers == 1:
            if self._evaluator is None:
                self._evaluator = Evaluator(**self.options)
            for position, rule in enumerate(rules):
                yield position, self._evaluator.evaluate(rule)
            return
        pool = self._ensure_pool()
        futures = {pool.submit(_evaluate_in_worker, rule): position for position, rule in enumerate(rules)}
        for future in concurrent.futures.as_completed(futures):
            position = futures[future]
            try:
                yield position, EvaluationResult.from_dict(future.result())
            except concurrent.futures.process.BrokenProcessPool as error:
                self._pool = None
                yield position, EvaluationResult(rules[position], "", self.options["task"], statuses.WORKER_LOST,
                                                 message=str(error))

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
