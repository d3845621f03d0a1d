"""How to continue a stopped search: the command, written out so that it can be pasted as it is, and the
interrupt that carries it."""

from __future__ import annotations

import shlex


def resume_command(run_id: str, uri: str) -> str:
    """``keras-nos search --resume RUN_ID --tracking-uri URI``, each value quoted for a shell where needed."""
    return f"keras-nos search --resume {shlex.quote(run_id)} --tracking-uri {shlex.quote(uri)}"


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a search, carrying the run it stopped, so that the command line can say how to resume it.

    A KeyboardInterrupt still, for code that catches those.
    """

    def __init__(self, run_id: str, uri: str) -> None:
        super().__init__(run_id)
        self.run_id, self.uri = run_id, uri

    @property
    def resume_command(self) -> str:
        return resume_command(self.run_id, self.uri)
