"""The settings of a search in five groups, each checked once when it is made.

``search(task=..., budget=...)`` takes the settings by their flat names (the
names of the command's flags); :meth:`SearchConfig.from_settings` groups them
and :meth:`SearchConfig.settings` flattens them back, which is the JSON a
parent run stores so that ``--resume RUN_ID`` rebuilds the same search
(``keras_nos.search.settings``). A field whose flat name differs from its own
says so in its metadata.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.executors import EXECUTORS
from keras_nos.search.space import SearchSpace
from keras_nos.search.strategies import STRATEGIES, strategy_options
from keras_nos.search.strategies.warm_start import parse_warm_start, warm_start_tokens
from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
from keras_nos.tasks.hurdles import DEFAULT_HURDLES
from keras_nos.tasks.registry import get_task
from keras_nos.tasks.speedup_reward import REWARDS

if TYPE_CHECKING:
    from keras_nos.tasks.registry import Task

# The compare tasks a finished search runs its winner and Adam on by default: none of them on digits, a
# ConvNet, a regression MLP and a function to minimise, about 45 CPU seconds each (benchmarks/noise_ceiling.py).
DEFAULT_FUNNEL_SUITE = ("convnet-shapes", "friedman-regression", "rosenbrock")
MODES = ("sync", "async")
EVALUATORS = ("auto", "batched", "keras")
# "auto" trains with the batched evaluator from this budget up: below it, starting its JAX worker and compiling
# its program (about 15 CPU-s) cost more than it saves (about 1.5 CPU-s a candidate on digits-autoencoder).
BATCHED_FROM_BUDGET = 50


def _setting(default: Any, name: str, **field_options: Any) -> Any:
    """A field that the flat settings call ``name``."""
    return dataclasses.field(default=default, metadata={"setting": name}, **field_options)


def _check_whole(value: Any, name: str, least: int, what: str = "a whole number") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise KerasNosError(f"{name} must be {what} >= {least}, got {value!r}")


def _check_choice(value: Any, allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise KerasNosError(f"Unknown {what} {value!r}; allowed: {', '.join(allowed)}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """What every candidate trains on, and how its reward is measured."""

    name: Any = _setting("digits-autoencoder", "task")  # a registered name, "package.module:attr", or a Task
    learning_rates: tuple[float, ...] = DEFAULT_LEARNING_RATES
    epochs: Optional[int] = None  # None: the task's own
    data_path: Optional[str] = None
    hurdles: tuple[str, ...] = DEFAULT_HURDLES
    reward_seeds: int = 1
    # "batched": many rules in one compiled JAX program; "keras": rule after rule on the running Keras backend;
    # "auto": batched where it can (SearchConfig.with_evaluator)
    evaluator: str = "auto"
    # "final": the best rate's final validation score; "speedup": the steps tuned Adam takes to reach it over the
    # rule's own (tasks/speedup_reward.py)
    reward: str = "final"

    def __post_init__(self) -> None:
        task = self.task()
        _check_whole(self.reward_seeds, "reward_seeds", 1)
        _check_choice(self.evaluator, EVALUATORS, "evaluator")
        _check_choice(self.reward, REWARDS, "reward")
        if self.reward == "speedup" and (task.objective is not None or self.reward_seeds > 1):
            raise KerasNosError(f"reward 'speedup' needs a network task and one reward seed, got task {task.name!r} "
                                f"and reward_seeds={self.reward_seeds}; use reward 'final' there")
        object.__setattr__(self, "learning_rates", tuple(self.learning_rates))  # a JSON list reads back as one
        object.__setattr__(self, "hurdles", tuple(self.hurdles))

    def task(self) -> Task:
        """The ``Task`` itself."""
        return get_task(self.name)

    @property
    def label(self) -> str:
        """The task's name as the parent run stores it: the text given, or a ``Task``'s own name."""
        return self.name if isinstance(self.name, str) else self.name.name

    def evaluator_options(self, seed: int) -> dict[str, Any]:
        """The keyword arguments of each worker's evaluator (``executors/worker.py``)."""
        return dict(task=self.name, learning_rates=self.learning_rates, seed=seed, data_path=self.data_path,
                    epochs=self.epochs, hurdles=self.hurdles, reward_seeds=self.reward_seeds, evaluator=self.evaluator,
                    reward=self.reward)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StrategyConfig:
    """Who proposes the candidates, and from which space."""

    name: str = _setting("rl", "strategy")
    options: Optional[dict[str, Any]] = _setting(None, "strategy_options")
    space: str = "paper"
    num_groups: Optional[int] = None  # None: the space's own
    warm_start: Any = None  # None, "named", or rule texts and names (strategies/warm_start.py): proposed first

    def __post_init__(self) -> None:
        _check_choice(self.name, STRATEGIES, "strategy")
        strategy_options(self.name, self.options)  # a bad option is refused before anything is written
        object.__setattr__(self, "warm_start", parse_warm_start(self.warm_start))
        warm_start_tokens(self.search_space(), self.warm_start)  # every rule must be one of the space

    def search_space(self) -> SearchSpace:
        """The ``SearchSpace`` preset ``space``, with ``num_groups`` groups when given."""
        return SearchSpace.preset(self.space, num_groups=self.num_groups)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BudgetConfig:
    """How many candidates the search evaluates, and how many it proposes at a time."""

    candidates: int = _setting(2000, "budget")
    batch_size: int = 25  # the batched evaluator trains a batch in one call: 25 rules cost about twice 10
    max_consecutive_errors: int = 10  # stop after this many candidates in a row end in error; 0: never

    def __post_init__(self) -> None:
        _check_whole(self.candidates, "budget", 1, "a whole number of candidates")
        _check_whole(self.batch_size, "batch_size", 1, "a whole number of candidates")
        _check_whole(self.max_consecutive_errors, "max_consecutive_errors", 0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutorConfig:
    """Where the candidates run, how many at once, and what happens to one that hangs or loses its worker."""

    name: str = _setting("local", "executor")
    workers: int = 1
    mode: str = "sync"  # "sync": batches, reproducible; "async": ``workers`` candidates always in flight
    ray_address: Optional[str] = None
    candidate_timeout: Optional[float] = None
    max_retries: int = 2
    options: Optional[dict[str, Any]] = _setting(None, "executor_options")

    def __post_init__(self) -> None:
        _check_choice(self.name, EXECUTORS, "executor")
        _check_choice(self.mode, MODES, "mode")
        if self.candidate_timeout is not None and not self.candidate_timeout > 0:
            raise KerasNosError(f"candidate_timeout must be a positive number of seconds, got {self.candidate_timeout!r}")
        _check_whole(self.max_retries, "max_retries", 0)
        if self.ray_address is not None and self.name != "ray":
            raise KerasNosError(f"ray_address {self.ray_address!r} needs executor='ray' (--executor ray)")

    def executor_options(self) -> dict[str, Any]:
        """The keyword arguments of ``make_executor`` beyond the evaluator's options and the workers."""
        options = dict(self.options or {}, timeout=self.candidate_timeout, max_retries=self.max_retries)
        return dict(options, address=self.ray_address) if self.name == "ray" else options


@dataclasses.dataclass(frozen=True, kw_only=True)
class FunnelConfig:
    """The stage after the budget: the top rules and tuned Adam again with more seeds, then the
    winner and Adam on a suite of compare tasks. ``top_k=0`` or ``seeds=0`` turns the whole stage off."""

    top_k: int = _setting(5, "funnel_top_k")
    seeds: int = _setting(5, "funnel_seeds")
    epochs: Optional[int] = _setting(None, "funnel_epochs")  # None: the search's
    suite: Any = _setting(DEFAULT_FUNNEL_SUITE, "funnel_suite")  # compare task names, "all", or "none"
    # (for a user's own task the default is "none": SearchConfig.from_settings)

    def __post_init__(self) -> None:
        self.suite_names()

    def suite_names(self) -> Optional[list[str]]:
        """Names of the compare tasks of the suite (an unknown one is a ValueError), or None for none."""
        if not self.suite or self.suite == "none":
            return None
        from keras_nos.compare.suite import resolve_tasks

        return [task.name for task in resolve_tasks(self.suite)]


GROUPS = {"task": TaskConfig, "strategy": StrategyConfig, "budget": BudgetConfig, "executor": ExecutorConfig,
          "funnel": FunnelConfig}


def _setting_name(field: dataclasses.Field) -> str:
    return field.metadata.get("setting", field.name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Every setting of a search: its seed (the strategy's and the evaluations'), its MLflow experiment, and
    the five groups."""

    seed: int = 0
    experiment: str = "keras-nos"
    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    budget: BudgetConfig = dataclasses.field(default_factory=BudgetConfig)
    executor: ExecutorConfig = dataclasses.field(default_factory=ExecutorConfig)
    funnel: FunnelConfig = dataclasses.field(default_factory=FunnelConfig)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SearchConfig:
        """The config of flat ``settings`` ({flat name: value}); the ones left out keep their defaults, except
        that a user's own task (a ``Task`` or ``package.module:attr``) runs the bundled compare suite only when
        asked: its winner is judged on the user's model, not on tasks unrelated to it."""
        check_known(settings)
        task = settings.get("task", "")
        if "funnel_suite" not in settings and (not isinstance(task, str) or ":" in task):
            settings = dict(settings, funnel_suite="none")
        groups = {group: kind(**{field.name: settings[_setting_name(field)] for field in dataclasses.fields(kind)
                                 if _setting_name(field) in settings})
                  for group, kind in GROUPS.items()}
        return cls(**{name: settings[name] for name in _top_level() if name in settings}, **groups)

    def settings(self) -> dict[str, Any]:
        """{flat name: value} of every setting: what the parent run stores."""
        flat = {name: getattr(self, name) for name in _top_level()}
        for group in GROUPS:
            part = getattr(self, group)
            flat.update({_setting_name(field): getattr(part, field.name) for field in dataclasses.fields(part)})
        return flat

    def with_evaluator(self, x_train: Any) -> SearchConfig:
        """This config with its evaluator decided, given the task's training inputs (None for an objective):
        ``"auto"`` becomes ``"batched"`` for a bundled task that the batched evaluator can train, from a budget
        of ``BATCHED_FROM_BUDGET``, unless the task trains slower batched without a GPU (``batched_on_cpu``) and
        there is none; else ``"keras"``: a user's own model may use what only its backend runs, so
        it is batched when asked. ``"batched"`` where it cannot train is a KerasNosError."""
        why_not = self._why_not_batched(x_train)
        if self.task.evaluator != "auto":
            return self
        from keras_nos.tasks.batched.eligibility import gpu_present

        bundled = isinstance(self.task.name, str) and ":" not in self.task.name
        faster = self.task.task().batched_on_cpu or gpu_present()
        kind = ("batched" if bundled and faster and why_not is None and self.budget.candidates >= BATCHED_FROM_BUDGET
                else "keras")
        return dataclasses.replace(self, task=dataclasses.replace(self.task, evaluator=kind))

    def check_evaluator(self) -> None:
        """A KerasNosError now, before the data are loaded, when ``evaluator="batched"`` cannot train the task."""
        self._why_not_batched(None)

    def _why_not_batched(self, x_train: Any) -> Optional[str]:
        """Why the batched evaluator cannot train this search's task (raised when it was asked for), or None."""
        from keras_nos.tasks.batched.eligibility import why_not_batched

        why_not = why_not_batched(self.task.task(), self.task.reward_seeds, x_train)
        if self.task.evaluator == "batched" and why_not:
            raise KerasNosError(f"evaluator='batched' cannot train this search's candidates: {why_not}; "
                                f"use evaluator='keras'")
        return why_not

    def evaluator_options(self) -> dict[str, Any]:
        """The keyword arguments of each worker's evaluator: the task's, and the space's groups, which size
        the batched evaluator's compiled program."""
        options = self.task.evaluator_options(self.seed)
        if self.task.evaluator == "batched":
            options["num_groups"] = self.strategy.search_space().num_groups
        return options

    def training_lengths(self) -> tuple[int, int]:
        """(the search's epochs, the funnel's): the funnel trains as long as the search's candidates, so that it
        measures what they were ranked by, unless ``funnel_epochs`` is set."""
        search_epochs = self.task.epochs or self.task.task().epochs
        return search_epochs, self.funnel.epochs or search_epochs


def check_known(settings: Iterable[str]) -> None:
    """TypeError, as for an unknown keyword argument, when ``settings`` names a setting there is not."""
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"search() got unexpected settings: {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(DEFAULTS))}")


def _top_level() -> list[str]:
    """The settings of :class:`SearchConfig` outside the groups."""
    return [field.name for field in dataclasses.fields(SearchConfig) if field.name not in GROUPS]


def _defaults() -> dict[str, Any]:
    flat = {field.name: field.default for field in dataclasses.fields(SearchConfig) if field.name not in GROUPS}
    for kind in GROUPS.values():
        flat.update({_setting_name(field): field.default for field in dataclasses.fields(kind)})
    return flat


DEFAULTS = _defaults()  # {flat name: default}, read off the fields without checking them
