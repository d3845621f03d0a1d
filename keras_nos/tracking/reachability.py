"""Whether an error from the tracking store means "it cannot be reached now" or something else.

A store that is away (a server restarting, a network cut, a SQLite file held
by another writer) is worth waiting for; any other error (a bad value, a
store of a newer schema) is not, and must not be reported as unreachable.
"""

from __future__ import annotations

# Causes a store raises when it is away: an HTTP server that refuses, drops or does not answer, a gateway
# in front of it that has no server to pass to, a SQLite file that another process holds or that cannot be opened.
_AWAY_MESSAGES = ("connection refused", "connection reset", "connection aborted", "connection broken",
                  "remote end closed", "max retries exceeded", "failed to establish a new connection", "read timed out",
                  "error code 502", "error code 503", "error code 504", "database is locked",
                  "unable to open database file")


def is_unreachable(error: BaseException) -> bool:
    """True when ``error`` (or an exception it was raised from) says the store is away, not wrong."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (ConnectionError, TimeoutError)) or _is_requests_connection_error(error):
            return True
        if any(message in str(error).lower() for message in _AWAY_MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def _is_requests_connection_error(error: BaseException) -> bool:
    from requests.exceptions import ConnectionError as RequestsConnectionError, Timeout  # MLflow's HTTP client

    return isinstance(error, (RequestsConnectionError, Timeout))
