"""The stage after the budget: the funnel re-trains the top rules and the Adam references with more seeds, for as
many epochs as the search's candidates trained (unless ``funnel_epochs`` says otherwise), then the winner and Adam
run through a suite of compare tasks.

The Adam references (``leaderboard.reference_rules``) are tuned ``adam`` and, when the space has the decay
operands ``ld``, ``cd`` or ``rd``, ``adam*ld``, ``adam*cd`` and ``adam*rd``: the schedules a rule can express
internally. Each is first trained once as the candidates were (the search's evaluator options: seed, epochs,
grid, hurdles), a run of stage ``reference`` whose reward is the leaderboard's ``reward`` column; then the funnel
trains them with the same grid and seeds as the found rules.

Each funnel training records its validation curve at ``CURVE_POINTS`` evenly spaced steps (and step 0 and each
epoch's end). Each rule's speed to a target over each reference is measured seed by seed
(``keras_nos/tasks/speedup.py``: the steps the reference takes to reach the rule's final validation score, over
the rule's). For that, each reference also trains ``REFERENCE_LENGTH`` times as long at the learning rate its
funnel training chose (its own curve, continued): a rule that ends past the reference's final score then gets a
measured speedup instead of a lower bound of about 1, as VeLO gives its Adam baselines a longer budget. The
leaderboard compares with the best reference, the one with the highest mean funnel reward:
``speedup`` with a 95% interval over the seeds, ``vs_adam`` the mean final-score difference paired by seed, with
a standard error (``leaderboard.funnel_statistics``); the ``suite_vs_adam`` column says on how many suite tasks
the winner beat Adam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from keras_nos.tasks.speedup import speedup
from keras_nos.dsl.fingerprint import fingerprint as rule_fingerprint
from keras_nos.search import leaderboard as board
from keras_nos.search.records import make_trial
from keras_nos.search.session import progress_bar
from keras_nos.tasks.speedup_reward import REFERENCE_LENGTH
from keras_nos.tracking import speedup_metrics, tags

if TYPE_CHECKING:
    from tqdm.auto import tqdm

    from keras_nos.search.session import SearchSession
    from keras_nos.tasks.result import EvaluationResult

Entry = tuple[str, str, bool]  # a rule the funnel trains: (fingerprint, rule text, whether it is an Adam reference)
CURVE_POINTS = 24  # validations a funnel training: enough to interpolate the steps to a target (the issue asks 20)


def run_funnel_stage(session: SearchSession) -> None:
    """The funnel, then the compare suite when one is set; off when ``top_k`` or ``seeds`` is 0."""
    funnel = session.config.funnel
    if funnel.top_k <= 0 or funnel.seeds <= 0:
        return
    search_epochs, funnel_epochs = session.config.training_lengths()
    measure_references(session)
    run_funnel(session, funnel.top_k, funnel.seeds, funnel_epochs, search_epochs)
    suite = funnel.suite_names()
    if suite:
        run_suite(session, suite, funnel.seeds)


def _entries(session: SearchSession, top_k: int) -> list[Entry]:
    """[(fingerprint, rule, is_reference)] of the top-k behaviours and the references; a found rule that is
    Adam is also the reference."""
    entries: dict[str, list] = {}
    for row in board.build_leaderboard(session.records, {})[:top_k]:
        entries[row["fingerprint"]] = [row["rule"], False]
    for fingerprint, reference in session.reference_rules().items():
        entries.setdefault(fingerprint, [reference, True])[1] = True
    return [(fingerprint, rule, is_reference) for fingerprint, (rule, is_reference) in entries.items()]


def run_funnel(session: SearchSession, top_k: int, seeds: int, epochs: int, search_epochs: int) -> None:
    """Re-train the top-k behaviours and the references with ``epochs`` epochs and ``seeds`` seeds.

    The trainings run on the search's executor, seed by seed (the seed is an
    evaluator option, so each seed gets fresh workers); each is written and
    checkpointed as it finishes, and a resumed funnel runs only what is missing.
    The per-candidate time limit grows with the epochs."""
    entries = _entries(session, top_k)
    missing = sum(max(0, seeds - len(session.funnel_results.get(fingerprint, []))) for fingerprint, _, _ in entries)
    bar = progress_bar(missing, 0, session.progress, desc="funnel", unit="training")
    timeout = session.executor.timeout and session.executor.timeout * max(1.0, epochs / search_epochs)
    for seed in range(seeds):
        waiting = [(position, entry) for position, entry in enumerate(entries)
                   if len(session.funnel_results.get(entry[0], [])) == seed]
        if waiting:
            bar.set_postfix_str(f"seed {seed}")
            _train_seed(session, waiting, seed, seeds, epochs, timeout, bar)
        _extend_references(session, seed, epochs, timeout, bar)
        _measure_speedups(session, entries, seed)
    bar.close()


def _train_seed(session: SearchSession, waiting: list[tuple[int, Entry]], seed: int, seeds: int, epochs: int,
                timeout: Optional[float], bar: tqdm) -> None:
    """Train the entries ``waiting`` with ``seed``; write, keep and checkpoint each as it finishes."""
    session.executor.reconfigure(_funnel_options(session, seed, epochs), timeout=timeout)
    for i, result in session.executor.map_unordered([rule for _, (_, rule, _) in waiting]):
        position, (fingerprint, _, is_reference) = waiting[i]
        trial = make_trial(position * seeds + seed, result, strategy="funnel", seed=seed, stage="funnel",
                           reference=is_reference)
        trial = dataclasses.replace(trial, run_id=session.tracker.log_candidate(trial))
        session.funnel_results.setdefault(fingerprint, []).append(result.reward)
        steps, values = result.best_curve() if result.status == "ok" else ([], [])
        session.funnel_curves.setdefault(fingerprint, {})[seed] = {"steps": steps, "values": values,
                                                                   "run_id": trial.run_id,
                                                                   "learning_rate": result.best_learning_rate}
        session.checkpoint()
        bar.update(1)


def _funnel_options(session: SearchSession, seed: int, epochs: int) -> dict:
    # The funnel averages its own seeds: each of its trainings is one seed's. It trains rule after rule (the
    # "keras" evaluator), which draws dense curves; the few trainings of a seed would not pay for a compilation.
    # Its reward is the final score, whatever the search's: the speedup is measured from its curves.
    options = {name: value for name, value in session.options.items() if name != "num_groups"}
    return dict(options, seed=seed, epochs=epochs, hurdles=(), reward_seeds=1, curve_points=CURVE_POINTS,
                evaluator="keras", reward="final")


def _extend_references(session: SearchSession, seed: int, epochs: int, timeout: Optional[float], bar: tqdm) -> None:
    """Train each reference with ``seed`` ``REFERENCE_LENGTH`` times as long, at the learning rate of its funnel
    training (whose curve is this one's first part); keep the curve beside that training's (``extended_steps``,
    ``extended_values``; both None when the longer training did not finish as "ok") and log its final score on
    the training's run as ``extended_score``."""
    waiting = [(fingerprint, rule, curve) for fingerprint, rule in session.reference_rules().items()
               if (curve := session.funnel_curves.get(fingerprint, {}).get(seed)) is not None
               and curve.get("learning_rate") and "extended_values" not in curve]
    by_rate: dict[float, list] = {}
    for entry in waiting:
        by_rate.setdefault(entry[2]["learning_rate"], []).append(entry)
    for rate, entries in by_rate.items():
        bar.set_postfix_str(f"seed {seed}, references x{REFERENCE_LENGTH}")
        options = dict(_funnel_options(session, seed, REFERENCE_LENGTH * epochs), learning_rates=(rate,),
                       curve_points=REFERENCE_LENGTH * CURVE_POINTS)
        session.executor.reconfigure(options, timeout=timeout and timeout * REFERENCE_LENGTH)
        for i, result in session.executor.map_unordered([rule for _, rule, _ in entries]):
            curve = entries[i][2]
            steps, values = result.best_curve() if result.status == "ok" else (None, None)
            curve.update(extended_steps=steps, extended_values=values)
            if values:
                session.tracker.log_run_metrics(curve["run_id"], {"extended_score": values[-1]})
            session.checkpoint()


def _measure_speedups(session: SearchSession, entries: list[Entry], seed: int) -> None:
    """Each funnel entry's speedup over each Adam reference with ``seed``, once both trained: kept for the
    leaderboard and written to the entry's funnel run (``speedup_metrics``: ``speedup``, ``speedup_lower_bound``,
    ``adam_steps_to_target`` over ``adam``, ``speedup_over_adam_cd``, ... over the others, and
    ``steps_to_target``). The reference's curve is its extended one where there is one (``_extend_references``)."""
    measured = False
    for reference_print, reference_rule in session.reference_rules().items():
        reference = session.funnel_curves.get(reference_print, {}).get(seed)
        if reference is None:
            continue
        speeds = session.funnel_speedups.setdefault(reference_print, {})
        names = speedup_metrics(reference_rule)
        for fingerprint, _, _ in entries:
            curve = session.funnel_curves.get(fingerprint, {}).get(seed)
            if fingerprint == reference_print or curve is None or seed in speeds.get(fingerprint, {}):
                continue
            result = speedup(*_reference_curve(reference), curve["steps"], curve["values"])
            speeds.setdefault(fingerprint, {})[seed] = result and dataclasses.asdict(result)
            if result is not None:
                session.tracker.log_run_metrics(curve["run_id"], {
                    names[0]: result.value, names[1]: float(result.lower_bound), "steps_to_target": result.steps,
                    names[2]: result.reference_steps})
            measured = True
    if measured:
        session.checkpoint()


def _reference_curve(reference: dict) -> tuple[list, list]:
    """(steps, values) of a reference's funnel training for the speedup: the extended one, when it trained."""
    if reference.get("extended_values"):
        return reference["extended_steps"], reference["extended_values"]
    return reference["steps"], reference["values"]


def measure_references(session: SearchSession) -> None:
    """Train each Adam reference once as the search's candidates were trained (its evaluator options: seed,
    epochs, learning rates, hurdles, reward seeds), each a run of stage ``reference``, kept and checkpointed as it
    finishes; a resumed search trains only the missing ones. A reference whose behaviour the search already trained
    is answered by the cache, as a candidate's would be."""
    measured = {trial.fingerprint for trial in session.references if trial.stage == "reference"}
    waiting = [(position, rule) for position, (fingerprint, rule) in enumerate(session.reference_rules().items())
               if fingerprint not in measured]
    cached = [(position, rule) for position, rule in waiting if rule_fingerprint(rule) in session.cache]
    for position, rule in cached:
        result = dataclasses.replace(session.cache[rule_fingerprint(rule)], rule=rule, wall_time=0.0)
        _keep_reference(session, position, result, cache_hit=True)
    training = [(position, rule) for position, rule in waiting if (position, rule) not in cached]
    if not training:
        return
    if session.executor.options != session.options:
        session.executor.reconfigure(session.options, timeout=session.executor.timeout)
    for i, result in session.executor.map_unordered([rule for _, rule in training]):
        _keep_reference(session, training[i][0], result, cache_hit=False)


def _keep_reference(session: SearchSession, position: int, result: EvaluationResult, cache_hit: bool) -> None:
    trial = make_trial(position, result, strategy="reference", seed=session.config.seed, stage="reference",
                       reference=True, cache_hit=cache_hit)
    session.references.append(dataclasses.replace(trial, run_id=session.tracker.log_candidate(trial)))
    session.checkpoint()


def run_suite(session: SearchSession, suite: Sequence[str], seeds: int) -> None:
    """Run the funnel's winner and Adam through the compare tasks ``suite``; count the tasks it beats Adam on."""
    from keras_nos.compare import compare
    from keras_nos.compare.report import score

    rows = [row for row in session.leaderboard() if not row["reference"]][:1]
    rows = [row for row in rows if row["fingerprint"] not in session.suite_results]
    if not rows:
        return
    rates = session.options["learning_rates"]
    comparison = compare([row["raw_rule"] for row in rows], baselines=["adam"], tasks=suite, seeds=seeds,
                         lr_grid=len(rates), lr_range=(min(rates), max(rates)), tracking_uri=session.tracker.uri,
                         experiment=session.config.experiment, progress=session.progress,
                         parent_run_id=session.tracker.run_id, run_name="funnel-suite")
    for row in rows:
        wins = sum(score(comparison.outcome(t, row["raw_rule"].strip()).mean, t.higher_is_better)
                   > score(comparison.outcome(t, "adam").mean, t.higher_is_better) for t in comparison.tasks)
        session.suite_results[row["fingerprint"]] = f"{wins}/{len(comparison.tasks)}"
    session.tracker.set_tag(tags.SUITE, session.suite_results)
    session.checkpoint()
