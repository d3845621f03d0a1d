"""Run evaluations on a Ray cluster (or a local Ray instance).

One Ray actor per worker; each builds its ``Evaluator`` once and then
evaluates rule after rule, so the data reaches each worker once. By default
the driver loads the task's data itself and puts it in Ray's object store
once (``ship_data``), so workers on other nodes need neither the data files
nor a download; each node then holds one copy. The driver is the only writer
of MLflow: actors only return results.

Failures are results: an actor that dies mid-evaluation (killed, out of
memory, node lost) is replaced and its candidate retried up to
``max_retries`` times, then reported ``worker_lost``; a candidate running
longer than ``timeout`` seconds has its actor killed and replaced and is
reported ``timeout``.

Ray is an optional extra: ``pip install keras-nos[ray]``.
"""

import dataclasses
import math
import os
import time

from keras_nos.executors.local import Executor, worker_options
from keras_nos.tasks.result import EvaluationResult

INSTALL_HINT = "pip install keras-nos[ray]"


class RayNotInstalledError(ImportError, ValueError):
    """Ray is missing; an ImportError and a ValueError (so the CLI reports it as a user error)."""


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise RayNotInstalledError(f"The ray executor needs Ray, which is not installed: {INSTALL_HINT}") from error
    return ray


class _ShippedData:
    """A task's ``load_data`` that reads splits the driver put in the object store.

    Called with other arguments than the ones the splits were loaded with, it
    falls back to the task's own loader.
    """

    def __init__(self, reference, loader, data_path, seed):
        self.reference = [reference]  # in a list, so Ray passes the reference itself rather than the value
        self.loader, self.data_path, self.seed = loader, data_path, seed

    def __call__(self, data_path, seed):
        if (data_path, seed) != (self.data_path, self.seed):
            return self.loader(data_path, seed)
        import ray

        return ray.get(self.reference[0])


class EvaluatorActor:
    """The body of one Ray worker (wrapped with ``ray.remote`` by the executor)."""

    def __init__(self, options, threads):
        self.error = None
        try:
            from keras_nos.executors.local import _init_worker

            _init_worker(options, threads)
        except Exception as error:  # reported by ready(), so the driver can raise it
            from keras_nos.executors.local import _portable

            self.error = _portable(error)

    def ready(self):
        return os.getpid(), self.error

    def evaluate(self, rule):
        from keras_nos.executors.local import _evaluate_in_worker

        return _evaluate_in_worker(rule)


class _Actor:
    __slots__ = ("handle", "ready_ref", "ready", "pid", "ticket", "ref", "started")

    def __init__(self, handle, ready_ref):
        self.handle, self.ready_ref = handle, ready_ref
        self.ready, self.pid, self.ticket, self.ref, self.started = False, None, None, None, None


class RayExecutor(Executor):
    """Evaluates rules with ``workers`` Ray actors.

    Args:
        evaluator_options: keyword arguments of ``Evaluator`` (task, learning_rates, seed, ...).
        workers: actors, i.e. candidates evaluated at once.
        address: ``None`` or ``"local"`` starts a local Ray instance with
            ``workers * num_cpus_per_task`` CPUs; ``"auto"`` or ``"HOST:PORT"``
            connects to a running cluster (``ray start --head``). When Ray is
            already initialised in this process, that instance is used.
        num_cpus_per_task, num_gpus_per_task: resources each actor holds.
        max_retries: retries of a candidate whose actor died, before ``worker_lost``.
        timeout: seconds a candidate may run (from the moment it reaches a
            ready actor) before it is cancelled with status ``timeout``.
        ship_data: load the data once in the driver and share it through the object store.
    """

    name = "ray"

    def __init__(self, evaluator_options, workers=1, address=None, num_cpus_per_task=1, num_gpus_per_task=0,
                 max_retries=2, timeout=None, ship_data=True):
        super().__init__(evaluator_options, workers=workers, max_retries=max_retries, timeout=timeout)
        if not num_cpus_per_task >= 0 or not num_gpus_per_task >= 0:
            raise ValueError(f"num_cpus_per_task and num_gpus_per_task must be >= 0, got "
                             f"{num_cpus_per_task!r}, {num_gpus_per_task!r}")
        ray = _import_ray()
        self.address = address
        self.num_cpus_per_task, self.num_gpus_per_task = num_cpus_per_task, num_gpus_per_task
        self.ship_data = ship_data
        self._owns_ray = False
        if not ray.is_initialized():
            try:
                if address in (None, "local"):
                    ray.init(num_cpus=max(1, math.ceil(workers * num_cpus_per_task)), include_dashboard=False,
                             log_to_driver=False)
                else:
                    ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ValueError(f"Cannot start or reach Ray at {address or 'local'!r}: {error}") from None
            self._owns_ray = True
        self._actors = None
        self._remote = None
        self._worker_options = None
        self._startup_failures = 0

    def worker_pids(self):
        """Process ids of the actors that are ready."""
        return [actor.pid for actor in self._actors or [] if actor.pid is not None]

    def _options_for_workers(self):
        if self._worker_options is None:
            import ray

            options = worker_options(self.options)
            if self.ship_data and options["task"].load_data is not None:
                task = options["task"]
                data = task.load_data(options.get("data_path"), options.get("seed", 0))
                shipped = _ShippedData(ray.put(data), task.load_data, options.get("data_path"), options.get("seed", 0))
                options["task"] = dataclasses.replace(task, load_data=shipped)
            self._worker_options = options
        return self._worker_options

    def _new_actor(self):
        import ray

        if self._remote is None:
            env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
            self._remote = ray.remote(EvaluatorActor).options(
                num_cpus=self.num_cpus_per_task, num_gpus=self.num_gpus_per_task, max_restarts=0,
                max_task_retries=0, runtime_env={"env_vars": env})
        threads = max(1, int(self.num_cpus_per_task))
        handle = self._remote.remote(self._options_for_workers(), threads)
        return _Actor(handle, handle.ready.remote())

    def _ensure_actors(self):
        if self._actors is None:
            self._actors = [self._new_actor() for _ in range(self.workers)]
        return self._actors

    def _replace(self, actor):
        import ray

        try:
            ray.kill(actor.handle, no_restart=True)
        except Exception:  # already gone
            pass
        self._actors[self._actors.index(actor)] = self._new_actor()

    def _dispatch(self):
        for actor in self._actors:
            if not self._queue:
                return
            if actor.ready and actor.ticket is None:
                ticket = self._queue.popleft()
                actor.ticket, actor.started = ticket, time.monotonic()
                actor.ref = actor.handle.evaluate.remote(self._tasks[ticket].rule)

    def _wait(self):
        import ray

        self._ensure_actors()
        self._dispatch()
        waiting = {}
        for actor in self._actors:
            if not actor.ready:
                waiting[actor.ready_ref] = actor
            elif actor.ticket is not None:
                waiting[actor.ref] = actor
        deadline = None
        if self.timeout is not None:
            starts = [a.started for a in self._actors if a.ticket is not None]
            if starts:
                deadline = max(0.0, min(starts) + self.timeout - time.monotonic())
                deadline = min(deadline, 3600.0)  # long limits: wait in hours, poll() takes no more
        done, _ = ray.wait(list(waiting), num_returns=1, timeout=deadline)
        for ref in done:
            actor = waiting[ref]
            if not actor.ready:
                self._on_ready(actor)
            else:
                self._on_result(actor)
        self._check_timeouts()

    def _on_ready(self, actor):
        import ray

        try:
            actor.pid, error = ray.get(actor.ready_ref)
        except ray.exceptions.RayError as died:
            self._startup_failures += 1
            if self._startup_failures > max(3, self.max_retries + 1):
                self.close()
                raise RuntimeError(f"Ray actors keep dying while they start: {died}") from None
            self._replace(actor)
            return
        if error is not None:
            self.close()
            raise error
        actor.ready = True
        self._startup_failures = 0

    def _on_result(self, actor):
        import ray

        ticket = actor.ticket
        try:
            result = EvaluationResult.from_dict(ray.get(actor.ref))
        except ray.exceptions.RayTaskError as error:  # evaluate() itself raised (it catches every Exception)
            pending = self._tasks.get(ticket)
            actor.ticket = actor.ref = actor.started = None
            if pending is not None:
                from keras_nos.executors.local import failed_result
                from keras_nos.tasks import result as statuses

                self._finish(ticket, failed_result(pending.rule, self.options["task"], statuses.ERROR, str(error)[:2000]))
            return
        except ray.exceptions.RayError as error:  # the actor died: killed, out of memory, node lost
            self._replace(actor)
            self._lost(ticket, f"Ray actor (pid {actor.pid}) died: {type(error).__name__}: {str(error)[:300]}")
            return
        actor.ticket = actor.ref = actor.started = None
        if ticket in self._tasks:
            self._finish(ticket, result)

    def _check_timeouts(self):
        if self.timeout is None or self._actors is None:
            return
        now = time.monotonic()
        for actor in list(self._actors):
            if actor.ticket is not None and now - actor.started >= self.timeout:
                ticket = actor.ticket
                self._replace(actor)  # actor tasks cannot be force-cancelled; killing the actor stops the candidate
                self._timed_out(ticket)

    def _stop_workers(self):
        """Kill the actors; the next submit starts new ones with the options of that time."""
        actors, self._actors, self._worker_options = self._actors, None, None
        if actors:
            import ray

            for actor in actors:
                try:
                    ray.kill(actor.handle, no_restart=True)
                except Exception:
                    pass

    def close(self):
        """Kill the actors; shut Ray down when this executor started it."""
        self._stop_workers()
        if self._owns_ray:
            import ray

            if ray.is_initialized():
                ray.shutdown()
            self._owns_ray = False
        self._tasks.clear()
        self._queue.clear()
        self._done.clear()
