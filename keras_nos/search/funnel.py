"""The stage after the budget: the funnel re-trains the top rules and tuned Adam with more seeds, for as many
epochs as the search's candidates trained (unless ``funnel_epochs`` says otherwise), then the winner and Adam run
through a suite of compare tasks.

Each funnel training records its validation curve at ``CURVE_POINTS`` evenly spaced steps (and step 0 and each
epoch's end). Each row's ``speedup`` is then its speed to a target over tuned Adam, seed by seed
(``keras_nos/compare/speedup.py``: the steps Adam takes to reach the rule's final validation score, over the
rule's), with a 95% interval over the seeds; ``vs_adam`` its mean final-score difference from Adam paired by
seed, with a standard error (``leaderboard.funnel_statistics``); the ``suite_vs_adam`` column says on how many
suite tasks the winner beat Adam.
"""

import dataclasses

from keras_nos.compare.speedup import speedup
from keras_nos.dsl.fingerprint import fingerprint as rule_fingerprint
from keras_nos.search import leaderboard as board
from keras_nos.search.records import make_trial
from keras_nos.search.session import progress_bar
from keras_nos.tracking import tags

REFERENCES = (board.REFERENCE,)
CURVE_POINTS = 24  # validations a funnel training: enough to interpolate the steps to a target (the issue asks 20)


def run_funnel_stage(session):
    """The funnel, then the compare suite when one is set; off when ``top_k`` or ``seeds`` is 0."""
    funnel = session.config.funnel
    if funnel.top_k <= 0 or funnel.seeds <= 0:
        return
    search_epochs, funnel_epochs = session.config.training_lengths()
    run_funnel(session, funnel.top_k, funnel.seeds, funnel_epochs, search_epochs)
    suite = funnel.suite_names()
    if suite:
        run_suite(session, suite, funnel.seeds)


def _entries(session, top_k):
    """[(fingerprint, rule, is_reference)] of the top-k behaviours and the references; a found rule that is
    Adam is also the reference."""
    entries = {}
    for row in board.build_leaderboard(session.records, {})[:top_k]:
        entries[row["fingerprint"]] = [row["rule"], False]
    for reference in REFERENCES:
        entries.setdefault(rule_fingerprint(reference), [reference, True])[1] = True
    return [(fingerprint, rule, is_reference) for fingerprint, (rule, is_reference) in entries.items()]


def run_funnel(session, top_k, seeds, epochs, search_epochs):
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
        _measure_speedups(session, entries, seed)
    bar.close()


def _train_seed(session, waiting, seed, seeds, epochs, timeout, bar):
    """Train the entries ``waiting`` with ``seed``; write, keep and checkpoint each as it finishes."""
    # The funnel averages its own seeds: each of its trainings is one seed's.
    session.executor.reconfigure(dict(session.options, seed=seed, epochs=epochs, hurdles=(), reward_seeds=1,
                                      curve_points=CURVE_POINTS), timeout=timeout)
    for i, result in session.executor.map_unordered([rule for _, (_, rule, _) in waiting]):
        position, (fingerprint, _, is_reference) = waiting[i]
        trial = make_trial(position * seeds + seed, result, strategy="funnel", seed=seed, stage="funnel",
                           reference=is_reference)
        trial = dataclasses.replace(trial, run_id=session.tracker.log_candidate(trial))
        if is_reference and seed == 0:
            session.references.append(trial)
        session.funnel_results.setdefault(fingerprint, []).append(result.reward)
        steps, values = result.best_curve() if result.status == "ok" else ([], [])
        session.funnel_curves.setdefault(fingerprint, {})[seed] = {"steps": steps, "values": values,
                                                                   "run_id": trial.run_id}
        session.checkpoint()
        bar.update(1)


def _measure_speedups(session, entries, seed):
    """Each found rule's speedup over tuned Adam with ``seed``, once both trained: kept for the leaderboard and
    written to the rule's funnel run (``speedup``, ``speedup_lower_bound``, ``steps_to_target``,
    ``adam_steps_to_target``)."""
    reference = session.funnel_curves.get(rule_fingerprint(board.REFERENCE), {}).get(seed)
    if reference is None:
        return
    measured = False
    for fingerprint, _, is_reference in entries:
        curve = session.funnel_curves.get(fingerprint, {}).get(seed)
        if is_reference or curve is None or seed in session.funnel_speedups.get(fingerprint, {}):
            continue
        result = speedup(reference["steps"], reference["values"], curve["steps"], curve["values"])
        session.funnel_speedups.setdefault(fingerprint, {})[seed] = result and dataclasses.asdict(result)
        if result is not None:
            session.tracker.log_run_metrics(curve["run_id"], {
                "speedup": result.value, "speedup_lower_bound": float(result.lower_bound),
                "steps_to_target": result.steps, "adam_steps_to_target": result.reference_steps})
        measured = True
    if measured:
        session.checkpoint()


def run_suite(session, suite, seeds):
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
