"""The stage after the budget: the funnel re-trains the top rules and tuned Adam with more epochs and seeds,
then the winner and Adam run through a suite of compare tasks.

Each row's ``vs_adam`` is then its mean difference from Adam paired by seed,
with a standard error (``leaderboard.funnel_statistics``), and the
``suite_vs_adam`` column says on how many suite tasks the winner beat Adam.
"""

import dataclasses

from keras_nos.dsl.fingerprint import fingerprint as rule_fingerprint
from keras_nos.search import leaderboard as board
from keras_nos.search.records import make_trial
from keras_nos.search.session import progress_bar
from keras_nos.tracking import tags

REFERENCES = (board.REFERENCE,)


def run_funnel_stage(session):
    """The funnel, then the compare suite when one is set; off when ``top_k`` or ``seeds`` is 0."""
    funnel, task = session.config.funnel, session.config.task
    if funnel.top_k <= 0 or funnel.seeds <= 0:
        return
    search_epochs = task.epochs or task.task().epochs
    run_funnel(session, funnel.top_k, funnel.seeds, funnel.epochs or 2 * search_epochs, search_epochs)
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
        if not waiting:
            continue
        bar.set_postfix_str(f"seed {seed}")
        # The funnel averages its own seeds: each of its trainings is one seed's.
        session.executor.reconfigure(dict(session.options, seed=seed, epochs=epochs, hurdles=(), reward_seeds=1),
                                     timeout=timeout)
        for i, result in session.executor.map_unordered([rule for _, (_, rule, _) in waiting]):
            position, (fingerprint, _, is_reference) = waiting[i]
            trial = make_trial(position * seeds + seed, result, strategy="funnel", seed=seed, stage="funnel",
                               reference=is_reference)
            trial = dataclasses.replace(trial, run_id=session.tracker.log_candidate(trial))
            if is_reference and seed == 0:
                session.references.append(trial)
            session.funnel_results.setdefault(fingerprint, []).append(result.reward)
            session.checkpoint()
            bar.update(1)
    bar.close()


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
