"""One owner per search run: a lease on the parent run, kept fresh by a heartbeat.

Two processes that resume the same run would train and write the same
candidates twice. The process that runs a search holds its lease, the tag
``keras_nos.lease`` on the parent run (host, pid, a token of its own and a
heartbeat in wall-clock seconds), refreshed every :data:`HEARTBEAT_SECONDS` by
a daemon thread. Another process refuses the run while the lease is fresh. A
lease is stale, and is taken over at once, when its heartbeat is older than
:data:`STALE_AFTER_SECONDS` or its holder ran on this host and is gone, so
``kill -9`` followed by ``--resume`` needs no wait.

MLflow has no compare-and-set on tags, so a contested claim writes its lease,
waits :data:`SETTLE_SECONDS` and reads it back: of two processes that claim at
once, the one whose write landed last keeps the run and the other refuses.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from typing import Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.tracking import store, tags

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0  # twelve missed heartbeats: a holder this quiet is gone, or cut off from the store
SETTLE_SECONDS = 2.0


class RunLeaseHeldError(KerasNosError):
    """Another live process runs this search."""


class RunLease:
    """This process's claim on search run ``run_id``: :meth:`acquire` it before the first write, :meth:`release`
    it when the search stops, however it stops."""

    def __init__(self, uri: str, run_id: str) -> None:
        self.uri, self.run_id = uri, run_id
        self.host, self.pid, self.token = socket.gethostname(), os.getpid(), uuid.uuid4().hex
        self.lost_to = None  # the holder that took the run over from this process, if one did
        self._client = store.client(uri)
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name=f"keras-nos lease {run_id}", daemon=True)

    def acquire(self, contested: bool = True) -> RunLease:
        """Hold the run, or raise RunLeaseHeldError naming its live holder. ``contested=False`` for a run this
        process has just made, which nobody else can know yet."""
        self._refuse_if_held(self._holder())
        self._write()
        if contested:
            time.sleep(SETTLE_SECONDS)
            self._refuse_if_held(self._holder())
        self._heartbeat.start()
        return self

    def check(self) -> None:
        """Raise RunLeaseHeldError when another process has taken the run over (this one looked dead to it)."""
        if self.lost_to is not None:
            raise RunLeaseHeldError(f"search run {self.run_id} was taken over by {_describe(self.lost_to)}; "
                                    f"this process stops so that no candidate is written twice")

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still this process's (best effort: a store that
        is away leaves a lease that goes stale)."""
        self._stop.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=HEARTBEAT_SECONDS)
        try:
            holder = self._holder()
            if holder is not None and holder.get("token") == self.token:
                self._client.delete_tag(self.run_id, tags.LEASE)
        except Exception:  # the store is away or the run is gone: the lease goes stale, as a killed one does
            pass

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                holder = self._holder()
                if holder is not None and holder.get("token") != self.token:
                    self.lost_to = holder
                    return
                self._write()
            except Exception:  # the store is away: the search's own writes wait for it; the next beat tries again
                continue

    def _holder(self) -> Optional[dict[str, Any]]:
        text = self._client.get_run(self.run_id).data.tags.get(tags.LEASE)
        return json.loads(text) if text else None

    def _write(self) -> None:
        lease = {"host": self.host, "pid": self.pid, "token": self.token, "heartbeat": time.time()}
        self._client.set_tag(self.run_id, tags.LEASE, json.dumps(lease))

    def _refuse_if_held(self, holder: Optional[dict[str, Any]]) -> None:
        if holder is None or holder.get("token") == self.token or is_stale(holder):
            return
        raise RunLeaseHeldError(f"search run {self.run_id} is being run by {_describe(holder)}; wait for it to end "
                                f"or stop it (a lease without a heartbeat for {STALE_AFTER_SECONDS:g} s is taken over)")


def is_stale(holder: dict[str, Any], now: Optional[float] = None) -> bool:
    """Whether the lease ``holder`` (the tag's fields) belongs to nobody any more."""
    age = (time.time() if now is None else now) - float(holder.get("heartbeat", 0))
    if age > STALE_AFTER_SECONDS:
        return True
    return holder.get("host") == socket.gethostname() and not _process_runs(int(holder.get("pid", -1)))


def _process_runs(pid: int) -> bool:
    if pid <= 0:  # not a process id (os.kill would signal a whole group)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def _describe(holder: dict[str, Any]) -> str:
    age = time.time() - float(holder.get("heartbeat", 0))
    return f"pid {holder.get('pid')} on host {holder.get('host')} (heartbeat {age:.0f} s ago)"
