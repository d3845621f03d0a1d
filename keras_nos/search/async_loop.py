"""``mode="async"``: keep ``workers`` candidates in flight, proposing one as soon as one finishes.

The strategy observes each result as it arrives, each is written at once, and
the checkpoint (which then also holds the candidates in flight) is stored every
``batch_size`` results. No worker waits for the slowest candidate of a batch,
but the proposals depend on the order results arrive in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from keras_nos.search.session import SearchSession
    from keras_nos.tracking import Trial


def run_in_flight(session: SearchSession, max_checkpoints: Optional[int] = None) -> bool:
    """Evaluate until the budget is spent; True when it was, False when stopped by ``max_checkpoints``."""
    bar = session.candidate_bar()
    capacity = session.executor.workers
    waiting, session.pending = sorted(session.pending), []  # in flight when the last run stopped: first again
    in_flight = {}  # ticket -> (index, tokens)
    since_checkpoint = checkpoints = 0
    try:
        while True:
            while len(in_flight) < capacity and (waiting or session.next_index < session.budget):
                trial = _start(session, waiting, in_flight)
                if trial is not None:
                    session.accept(trial, bar)
                    since_checkpoint += 1
            if in_flight:
                ticket, result = session.executor.next_result()
                index, tokens = in_flight.pop(ticket)
                session.accept(session.record_trained(index, tokens, result), bar)
                since_checkpoint += 1
            done = not in_flight and not waiting and session.next_index >= session.budget
            if since_checkpoint >= session.batch_size or (done and since_checkpoint):
                session.checkpoint(list(in_flight.values()) + waiting)
                session.stop_if_failing()
                since_checkpoint = 0
                checkpoints += 1
                if not done and max_checkpoints is not None and checkpoints >= max_checkpoints:
                    session.executor.forget(list(in_flight))
                    session.pending = sorted(list(in_flight.values()) + waiting)
                    return False
            if done:
                return True
    finally:
        bar.close()


def _start(session: SearchSession, waiting: list[Any], in_flight: dict[int, Any]) -> Optional[Trial]:
    """Take the next candidate (a waiting one first, else a new proposal): its trial when it needs no
    training, else None, the candidate submitted to the executor."""
    if waiting:
        index, tokens = waiting.pop(0)
    else:
        index, tokens = session.next_index, list(session.strategy.propose(1)[0])
        session.next_index += 1
    trial, rule = session.answer_untrained(index, tokens)
    if trial is None:
        in_flight[session.executor.submit(rule)] = (index, tokens)
    return trial
