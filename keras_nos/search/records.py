"""Where the search makes its trials: the simplified rule (sympy) is computed once here, so tracking only writes."""

from __future__ import annotations

from typing import Any

from keras_nos.tasks.result import EvaluationResult
from keras_nos.tracking import Trial


def simplified_text(text: str) -> str:
    """The simplified form of rule text (same fingerprint, never longer); the text itself when it does not parse."""
    from keras_nos.dsl.simplify import simplify

    try:
        return str(simplify(text))
    except ValueError:
        return text


def make_trial(index: int, result: EvaluationResult, **fields: Any) -> Trial:
    """A :class:`~keras_nos.tracking.Trial` of ``result`` (an ``EvaluationResult``), its rule simplified."""
    return Trial(index=index, result=result, simplified_rule=simplified_text(result.rule), **fields)
