"""The exceptions a user's input raises, apart from the bugs.

As ``optuna.exceptions`` does, every error that a user can fix (a bad rule
text, an unknown task, a setting out of range, data that does not fit the
model, a missing data set) is a :class:`KerasNosError`. The command line turns
exactly these into one line on stderr and exit status 2; any other exception
is a bug and keeps its traceback.
"""


class KerasNosError(ValueError):
    """A bad value given by the user; the message names it and what is allowed.

    A ``ValueError``, so code that caught ``ValueError`` before still catches it.
    """


class DataNotFoundError(KerasNosError, FileNotFoundError):
    """A data set that is not where the user said, nor anywhere else it was looked for."""


class SearchStoppedError(KerasNosError):
    """A search that cannot go on for a reason the user must fix, such as every candidate failing alike."""
