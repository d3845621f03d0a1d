"""The default loop: batches of proposals, each batch finished, observed and checkpointed before the next.

Exactly reproducible for a seed, whatever the executor and the number of workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from keras_nos.search.session import CandidateBar, SearchSession
    from keras_nos.tracking import Trial


def run_batches(session: SearchSession, max_batches: Optional[int] = None) -> bool:
    """Evaluate batches until the budget is spent; True when it was, False when stopped by ``max_batches``."""
    bar = session.candidate_bar()
    batches = 0
    try:
        while len(session.records) < session.budget:
            if max_batches is not None and batches >= max_batches:
                return False
            proposals = session.strategy.propose(min(session.batch_size, session.budget - len(session.records)))
            session.observe(_evaluate_batch(session, proposals, bar))
            session.checkpoint()
            session.stop_if_failing()
            batches += 1
    finally:
        bar.close()
    return True


def _evaluate_batch(session: SearchSession, proposals: list[Any], bar: CandidateBar) -> list[Trial]:
    """The trials of ``proposals`` in index order: answered without training where possible, else trained."""
    start = len(session.records)
    to_train, answered = [], []
    for offset, tokens in enumerate(proposals):
        index = start + offset
        trial, rule = session.answer_untrained(index, tokens)
        if trial is not None:
            answered.append(trial)
        else:
            to_train.append((index, tokens, rule))
    bar.add(answered)
    finished = list(answered)
    for position, result in session.executor.map_unordered([rule for _, _, rule in to_train]):
        index, tokens, _ = to_train[position]
        trial = session.record_trained(index, tokens, result)
        finished.append(trial)
        bar.add([trial])
    finished.sort(key=lambda trial: trial.index)
    session.records.extend(finished)
    return finished
