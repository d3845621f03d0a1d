"""Run evaluations on a Ray cluster (or a local Ray instance).

One Ray actor per worker; each builds its evaluator once and then
evaluates batch after batch, so the data reaches each worker once (actors of
the batched evaluator run Keras on JAX: ``worker.worker_environment``). By default
the driver loads the task's data itself and puts it in Ray's object store
once (``ship_data``), so workers on other nodes need neither the data files
nor a download; each node then holds one copy. The driver is the only writer
of MLflow: actors only return results.

Failures are results, decided by ``PoolExecutor`` as for local processes:
an actor that dies mid-evaluation (killed, out of memory, node lost) is
replaced and its candidate retried, and one over the time limit is killed.
Ray's own ``ActorPool`` and actor restarts (``max_restarts``,
``max_task_retries``) would not keep those guarantees: the pool cannot kill
one hung actor and hands a timed-out actor the next task, a restarted actor
that crashes while it starts is restarted without end, and a retried task
keeps the clock of its first attempt running through the restart.

Ray is an optional extra: ``pip install keras-nos[ray]``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.executors.pool import PoolExecutor
from keras_nos.executors.worker import evaluate_in_worker, init_worker, portable, worker_environment, worker_options
from keras_nos.tasks.result import EvaluationResult

if TYPE_CHECKING:
    from keras_nos.tasks.datasets import Splits

INSTALL_HINT = "pip install keras-nos[ray]"


class RayNotInstalledError(ImportError, KerasNosError):
    """Ray is missing; an ImportError and a ValueError (so the CLI reports it as a user error)."""


def _import_ray() -> Any:
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

    def __init__(self, reference: Any, loader: Callable[[Any, int], Splits], data_path: Any, seed: int) -> None:
        self.reference = [reference]  # in a list, so Ray passes the reference itself rather than the value
        self.loader, self.data_path, self.seed = loader, data_path, seed

    def __call__(self, data_path: Any, seed: int) -> Splits:
        if (data_path, seed) != (self.data_path, self.seed):
            return self.loader(data_path, seed)
        import ray

        return ray.get(self.reference[0])


class EvaluatorActor:
    """The body of one Ray worker (wrapped with ``ray.remote`` by the executor)."""

    def __init__(self, options: dict[str, Any], threads: int) -> None:
        self.error = None
        try:
            init_worker(options, threads)
        except Exception as error:  # reported by ready(), so the driver can raise it
            self.error = portable(error)

    def ready(self) -> tuple[int, Optional[BaseException]]:
        return os.getpid(), self.error

    def evaluate(self, rules: list[str]) -> list[dict[str, Any]]:
        return evaluate_in_worker(rules)


class _Actor:
    """One actor and the reference the driver waits on (a ``WorkerHandle``)."""

    __slots__ = ("handle", "ready_ref", "ready", "pid", "tickets", "ref", "started")

    def __init__(self, handle: Any) -> None:
        self.handle, self.ready_ref = handle, handle.ready.remote()
        self.ready, self.pid, self.tickets, self.ref, self.started = False, None, None, None, None

    @property
    def awaited(self) -> Any:
        """The reference whose completion is news: its start-up, then its current evaluation (or None)."""
        if not self.ready:
            return self.ready_ref
        return self.ref if self.tickets is not None else None

    def send(self, tickets: list[int], rules: list[str]) -> bool:
        self.ref = self.handle.evaluate.remote(rules)
        return True

    def stop(self) -> None:
        import ray

        try:
            ray.kill(self.handle, no_restart=True)
        except Exception:  # already gone
            pass


class RayExecutor(PoolExecutor):
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
    worker_kind = "Ray actors"

    def __init__(self, evaluator_options: dict[str, Any], workers: int = 1, address: str | None = None,
                 num_cpus_per_task: float = 1, num_gpus_per_task: float = 0, max_retries: int = 2,
                 timeout: float | None = None, ship_data: bool = True) -> None:
        super().__init__(evaluator_options, workers=workers, max_retries=max_retries, timeout=timeout)
        if not num_cpus_per_task >= 0 or not num_gpus_per_task >= 0:
            raise KerasNosError(f"num_cpus_per_task and num_gpus_per_task must be >= 0, got "
                             f"{num_cpus_per_task!r}, {num_gpus_per_task!r}")
        self.address = address
        self.num_cpus_per_task, self.num_gpus_per_task = num_cpus_per_task, num_gpus_per_task
        self.ship_data = ship_data
        self._owns_ray = _start_ray(address, max(1, math.ceil(workers * num_cpus_per_task)))
        self._remote = None
        self._worker_options = None

    def _options_for_workers(self) -> dict[str, Any]:
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

    def _spawn(self) -> _Actor:
        import ray

        if self._remote is None:
            env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                   **worker_environment(self.options)}
            # No restarts or retries by Ray: the pool replaces and retries itself (see the module's docstring).
            self._remote = ray.remote(EvaluatorActor).options(
                num_cpus=self.num_cpus_per_task, num_gpus=self.num_gpus_per_task, max_restarts=0,
                max_task_retries=0, runtime_env={"env_vars": env})
        threads = max(1, int(self.num_cpus_per_task))
        return _Actor(self._remote.remote(self._options_for_workers(), threads))

    def _await_events(self, timeout: Optional[float]) -> None:
        import ray

        waiting = {actor.awaited: actor for actor in self._pool if actor.awaited is not None}
        done, _ = ray.wait(list(waiting), num_returns=1, timeout=timeout)
        for ref in done:
            actor = waiting[ref]
            if actor.ready:
                self._collect(actor)
            else:
                self._greet(actor)

    def _greet(self, actor: _Actor) -> None:
        """The actor's start-up finished: it is ready, or its Evaluator failed, or it died."""
        import ray

        try:
            actor.pid, error = ray.get(actor.ready_ref)
        except ray.exceptions.RayError as died:
            why = str(died)
        else:
            if error is not None:
                self._on_init_error(error)
            self._on_ready(actor)
            return
        self._on_death(actor, why)

    def _collect(self, actor: _Actor) -> None:
        """The actor's evaluation finished: a result, an error, or the actor died."""
        import ray

        ref, actor.ref = actor.ref, None
        try:
            results = [EvaluationResult.from_dict(result) for result in ray.get(ref)]
        except ray.exceptions.RayTaskError as error:  # evaluate() itself raised (it catches every Exception)
            self._on_error(actor, str(error)[:2000])
            return
        except ray.exceptions.RayError as error:  # the actor died: killed, out of memory, node lost
            why = f"Ray actor (pid {actor.pid}) died: {type(error).__name__}: {str(error)[:300]}"
        else:
            self._on_result(actor, results)
            return
        self._on_death(actor, why)

    def _stop_workers(self) -> None:
        """Kill the actors; the next submit starts new ones with the options of that time."""
        self._worker_options = self._remote = None  # the next options may need another environment
        super()._stop_workers()

    def close(self) -> None:
        """Kill the actors; shut Ray down when this executor started it."""
        super().close()
        if self._owns_ray:
            import ray

            if ray.is_initialized():
                ray.shutdown()
            self._owns_ray = False


def _start_ray(address: Optional[str], num_cpus: int) -> bool:
    """Start or join Ray unless it runs in this process already; True when this call started it."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    try:
        if address in (None, "local"):
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise KerasNosError(f"Cannot start or reach Ray at {address or 'local'!r}: {error}") from None
    return True
