"""The batched evaluator: many rules at many learning rates trained side by side in one compiled JAX program.

``rule_code`` (rules as token arrays), ``interpreter`` (their update, vectorised), ``program`` (the
``jit(vmap(scan))`` training), ``validation`` (the scores in JAX), ``start`` (the initial weights and batch
order of the current evaluator), ``trainer`` (``BatchedTrainer``), ``replay`` (statuses and curves, as
``CopyMonitor`` judges them) and ``evaluator`` (``BatchedEvaluator``). Keras must run on JAX in the process
that imports the trainer: a search's workers (``executors/worker.py``). The rest of the library imports only
``eligibility``, which asks whether a task can be batched without importing JAX.
"""
