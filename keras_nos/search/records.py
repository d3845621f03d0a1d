"""Where the search makes its trials: the simplified rule (sympy) is computed once here, so tracking only writes."""

from keras_nos.tracking import Trial


def simplified_text(text):
    """The simplified form of rule text (same fingerprint, never longer); the text itself when it does not parse."""
    from keras_nos.dsl.simplify import simplify

    try:
        return str(simplify(text))
    except ValueError:
        return text


def make_trial(index, result, **fields):
    """A :class:`~keras_nos.tracking.Trial` of ``result`` (an ``EvaluationResult``), its rule simplified."""
    return Trial(index=index, result=result, simplified_rule=simplified_text(result.rule), **fields)
