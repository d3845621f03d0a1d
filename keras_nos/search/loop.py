"""``search()``: the settings resolved and checked, the executor, tracker and strategy built, then the loop.

Order of work: the settings (a resume reads them back from its parent run,
``settings.resolve``) become a :class:`~keras_nos.search.config.SearchConfig`,
checked once; the tracking store and the task's data are checked before
anything is written; then the candidates are evaluated in batches
(``sync_loop``, the default, reproducible for a seed) or with ``workers``
always in flight (``async_loop``), and when the budget is spent the funnel and
the compare suite run (``funnel``). ``session.SearchSession`` holds the state
between steps and checkpoints it on the parent run. With ``tracking_uri="memory:"``
the records stay in the process (``tracking/in_memory.py``): the same loop, no store.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from keras_nos.errors import KerasNosError
from keras_nos.executors import make_executor
from keras_nos.search import settings as stored_settings
from keras_nos.search.async_loop import run_in_flight
from keras_nos.search.config import SearchConfig
from keras_nos.search.funnel import run_funnel_stage
from keras_nos.search.screen import HurdleScreen
from keras_nos.search.session import SearchSession
from keras_nos.search.strategies import make_strategy
from keras_nos.search.sync_loop import run_batches
from keras_nos.tasks.checks import check_network_task
from keras_nos.tracking import SearchTracker, check_reachable, default_tracking_uri, find_search_run
from keras_nos.tracking.in_memory import MEMORY_URI, InMemoryTracker, is_in_memory
from keras_nos.tracking.lease import RunLease
from keras_nos.tracking.patience import DEFAULT_STORE_PATIENCE, PatientClient, check_store_patience
from keras_nos.tracking.resume import SearchInterrupted


def search(config: SearchConfig | None = None, *, tracking_uri: str | InMemoryTracker | None = None,
           resume: str | None = None,
           progress: bool = True, max_batches: int | None = None, store_patience: float = DEFAULT_STORE_PATIENCE,
           **settings: Any) -> list[dict[str, Any]]:
    """Run (or resume) a search and return its leaderboard rows, best first.

    The settings are keyword arguments by their flat names (``task``, ``strategy``, ``budget``, ``workers``,
    ...; the fields of :mod:`keras_nos.search.config`), or a ``SearchConfig`` as ``config`` (all of it counts
    as given; keywords override it). Every setting is checked before anything is written.

    ``resume`` is the parent run id of an earlier search: its settings are stored on that run and used for every
    setting left out; a given one that contradicts them is a ValueError, except a larger ``budget`` and
    ``workers``, ``ray_address`` and ``data_path`` (where it runs, not what). Finished evaluations are restored,
    never run again. ``max_batches`` stops early after that many batches (in async mode: checkpoints).

    ``executor`` is ``"local"`` (processes on this machine) or ``"ray"`` (a Ray
    cluster at ``ray_address``: None starts a local instance, ``"auto"`` or
    ``"HOST:PORT"`` connects). A candidate whose worker dies is retried up to
    ``max_retries`` times, then recorded as ``worker_lost``; one running over
    ``candidate_timeout`` seconds is cancelled as ``timeout``. ``mode`` is
    ``"sync"`` (batches; reproducible) or ``"async"`` (``workers`` candidates
    always in flight). ``executor_options`` are further keyword arguments of
    the executor (for Ray: ``num_cpus_per_task``, ``num_gpus_per_task``, ``ship_data``).
    ``warm_start`` (``"named"`` or rules: ``strategies/warm_start.py``) is evaluated first, by any strategy, and
    learnt from; a resume does not evaluate it again. ``reward_seeds`` > 1 trains each candidate's best learning rate with that many
    seeds and rewards their mean (``Evaluator``): a less noisy reward for more compute.

    The funnel trains the top ``funnel_top_k`` rules and tuned Adam with ``funnel_seeds`` seeds (for the
    search's epochs unless ``funnel_epochs`` is set); each row's ``speedup`` over Adam, with a 95% interval
    over paired seeds (``tasks/speedup.py``), is what the star and ``leaderboard.summary`` judge by, beside
    ``vs_adam``, its paired final-score difference. ``funnel_suite`` (``keras_nos.compare`` task names,
    ``"all"`` or ``"none"``) then runs the winner and Adam through that suite (``suite_vs_adam``: tasks won).

    A store that goes away is waited for up to ``store_patience`` seconds (``tracking/patience.py``); one
    process runs a search, holding a lease on its parent run (``tracking/lease.py``); Ctrl-C raises
    ``SearchInterrupted`` (run id, resume command). ``tracking_uri="memory:"`` (or an ``InMemoryTracker``, to
    read its trials after) keeps the records in this process: nothing to resume, no compare suite.
    """
    _refuse_in_a_worker_process()
    given = dict(config.settings() if config is not None else {}, **settings)
    in_memory = is_in_memory(tracking_uri)
    config = _resolve(given, tracking_uri, resume)
    config.check_evaluator()
    uri = tracking_uri or default_tracking_uri()
    if not in_memory:
        check_reachable(uri)
    patience = check_store_patience(store_patience)
    lease = RunLease(uri, resume).acquire() if resume else None  # claimed before anything is written on the run
    run_id = resume
    try:
        # The data and the executor come first: a missing data set, a missing Ray or an unreachable cluster is
        # reported before anything is written.
        config = config.with_evaluator(_check_data(config))
        executor = make_executor(config.executor.name, config.evaluator_options(), config.executor.workers,
                                 **config.executor.executor_options())
        try:
            session = _start_session(config, uri, resume, executor, progress, patience)
            run_id = session.tracker.run_id
            if not in_memory:
                session.lease = lease = lease or RunLease(uri, run_id).acquire(contested=False)
        except BaseException:
            executor.close()
            raise
        try:
            if resume:
                session.restore()
            run = run_in_flight if config.executor.mode == "async" else run_batches
            if run(session, max_batches):
                run_funnel_stage(session)
                session.finish()
            return session.leaderboard()
        finally:
            executor.close()
    except KeyboardInterrupt:
        if run_id is None or in_memory:
            raise
        raise SearchInterrupted(run_id, uri) from None
    finally:
        if lease is not None:
            lease.release()


def _refuse_in_a_worker_process():
    """A worker process is spawned, and so imports the user's script again: a search called at the top of the
    script would run once more in every worker. Python's rule for spawned processes is the way out."""
    # ``_inheriting``: set while a spawned process imports the main script; Python's own check of this mistake
    # (multiprocessing.spawn._check_not_importing_main) reads it too
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise KerasNosError("search() was called while a keras_nos worker process imported your script: put the "
                            "call under `if __name__ == \"__main__\":` (workers are spawned processes, which "
                            "import the main script again)")


def _resolve(given, tracking_uri, resume):
    """The checked settings: ``given`` over those stored on run ``resume``. A search in memory has no stored
    settings to resume from, nor a store for the compare suite's runs: its suite is off unless asked for."""
    in_memory = is_in_memory(tracking_uri)
    if in_memory and resume:
        raise KerasNosError(f"resume={resume!r}: a search kept in memory (tracking_uri={MEMORY_URI!r}) ends with its "
                            f"process; resume a search tracked in an MLflow store")
    config = stored_settings.resolve(dict({"funnel_suite": "none"} if in_memory else {}, **given),
                                     _parent_run(tracking_uri, resume) if resume else None)
    if in_memory and config.funnel.top_k and config.funnel.seeds and config.funnel.suite_names():
        raise KerasNosError(f"funnel_suite={','.join(config.funnel.suite_names())!r} needs an MLflow store for the "
                            f"comparison's runs; with tracking_uri={MEMORY_URI!r} use funnel_suite='none'")
    return config


def _parent_run(tracking_uri, run_id):
    uri = tracking_uri or default_tracking_uri()
    check_reachable(uri)
    return find_search_run(uri, run_id)


def _start_session(config, uri, resume, executor, progress, store_patience):
    """The session of a new parent run, or of run ``resume``, with its strategy; its tracker waits
    ``store_patience`` seconds for a store that goes away."""
    space = config.strategy.search_space()
    if is_in_memory(uri):
        tracker = uri if isinstance(uri, InMemoryTracker) else InMemoryTracker()
        tracker.params.update(_run_params(config, space))
    else:
        tracker = SearchTracker(uri, config.experiment, run_id=resume, params=_run_params(config, space),
                                run_name=f"{config.strategy.name}-{config.task.label}",
                                settings=stored_settings.encode(config))
        tracker.client = PatientClient(tracker.client, uri, store_patience)
        tracker.client.run_id = tracker.run_id
    screen = HurdleScreen(config.task.hurdles, config.task.learning_rates)
    strategy = make_strategy(config.strategy.name, space, seed=config.seed, screen=screen,
                             warm_start=config.strategy.warm_start, **(config.strategy.options or {}))
    session = SearchSession(config, tracker, space, strategy, executor, progress)
    if not is_in_memory(uri):
        tracker.client.waiting = lambda: session.unwritten
    return session


def _run_params(config, space):
    """The parameters of the parent run: what the MLflow runs table shows of a search."""
    executor, funnel, suite = config.executor, config.funnel, config.funnel.suite_names()
    return {"strategy": config.strategy.name, "budget": config.budget.candidates, "space": space.name,
            "num_groups": space.num_groups, "workers": executor.workers, "batch_size": config.budget.batch_size,
            "executor": executor.name, "funnel_top_k": funnel.top_k, "funnel_seeds": funnel.seeds,
            **dict(zip(("search_epochs", "funnel_epochs"), config.training_lengths())),
            "mode": executor.mode, "candidate_timeout": executor.candidate_timeout,
            "max_retries": executor.max_retries, **config.evaluator_options(), "task": config.task.label,
            **({"ray_address": executor.ray_address or "local"} if executor.name == "ray" else {}),
            **{f"executor.{k}": v for k, v in (executor.options or {}).items()},
            **{f"strategy.{k}": v for k, v in (config.strategy.options or {}).items()},
            **({"funnel_suite": ",".join(suite)} if suite else {}),
            **({"warm_start": _warm_start_text(config.strategy.warm_start)} if config.strategy.warm_start else {})}


def _warm_start_text(warm_start):
    return warm_start if isinstance(warm_start, str) else ",".join(warm_start)


def _check_data(config):
    """Load the task's data once in the driver (the workers load it lazily, after the parent run exists);
    its training inputs, or None for a task without data."""
    task = config.task.task()
    if task.load_data is None:
        return None
    splits = task.load_data(config.task.data_path, config.seed)
    check_network_task(task, splits)
    return splits.x_train
