"""Turns on a PostgreSQL store's one connection, and what happens when the server stops answering.
Does I/O (shuts a socket down) and logs.

A server alive at the TCP level but not answering (its processes stopped, a proxy that lost its
server side) leaves the driver waiting forever: the far kernel takes the bytes and answers
keepalives, so neither libpq's keepalives nor its TCP user timeout fire (those end a connection
whose *path* is dead: see `postgres.LINK_OPTIONS`), and a sync psycopg call cannot be cancelled
from another thread. So:

- `answer_within`: the server cancels any statement that runs longer than the session's
  `statement_timeout` (the store sets it), so a statement with no answer for that long and a
  margin is one the server will not answer. The call is ended (below) with a StoreError; its
  connection is broken and the next call connects again, to whatever answers at the address now.
  The time counts from the statement's start or the last answer (`progress`), not from the call's:
  a transaction of several slow statements is not cut short;
- one `store_not_answering` warning once a call has waited `warn_after` seconds (the holder TTL:
  by then other replicas take this process's work over), and one `store_answering` when a call
  next succeeds;
- `hurry(s)` (the daemon is stopping): every call in flight or waiting for its turn gives up `s`
  seconds from then (or from its start). Once one call has given up, the later ones fail at once
  instead of connecting again;
- a call is ended by shutting its socket down from the watcher thread: the driver sees the
  connection closed and raises. A transaction whose COMMIT was not answered may have committed
  (the server may still read it): every write of the store is one a retry finds done;
- `patience`: a call may wait for its turn at most so long (a ping for /readyz).
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from monitor.errors import StoreError
from monitor.store.coord import HOLDER_TTL_S

log = structlog.get_logger("newsmon.store")


class Turns:
    """One call at a time on one connection (re-entrant on the thread that holds the turn)."""

    def __init__(
        self,
        where: str,
        *,
        warn_after: float = HOLDER_TTL_S,
        answer_within: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where
        self.warn_after = warn_after
        self.answer_within = answer_within
        self.clock = clock
        self._cond = threading.Condition()
        self._owner: int | None = None  # the thread holding the turn
        self._depth = 0
        self._started = 0.0  # when the call holding the turn got it
        self._progress = 0.0  # when it last sent a statement or got an answer
        self._bounded = True  # `answer_within` applies to the call holding the turn
        self._socket: int | None = None  # a duplicate of its connection's socket
        self._aborted = False  # that call was ended, by `hurry` or for want of an answer
        self._hurry: tuple[float, float] | None = None  # (since, seconds)
        self._gave_up: float | None = None  # a call gave up after waiting so long
        self._warned = False  # store_not_answering said, store_answering not yet
        self._watcher: threading.Thread | None = None
        self._closed = False

    # -- the caller's side ---------------------------------------------------------------------
    @contextmanager
    def turn(self, patience: float | None = None, *, bounded: bool = True) -> Iterator[None]:
        """`bounded=False`: no `answer_within` for this call (a migration may build an index for
        long); `hurry` still applies."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:  # a call within a call: already this thread's turn
                self._depth += 1
                nested = True
            else:
                nested = False
                self._wait_for_turn(patience)
                self._owner, self._depth, self._aborted = me, 1, False
                self._started = self._progress = self.clock()
                self._bounded = bounded
                self._start_watcher()
                self._cond.notify_all()
        if nested:
            try:
                yield
            finally:
                with self._cond:
                    self._depth -= 1
            return
        ok = False
        try:
            yield
            ok = True
        finally:
            with self._cond:
                waited = self.clock() - self._started
                self._owner, self._socket, self._depth = None, None, 0
                if ok and self._warned:
                    self._warned = False
                    log.info("store_answering", store=self.where, waited_s=round(waited, 1))
                self._cond.notify_all()

    def watch(self, sock: int) -> None:
        """The socket (a duplicate the caller keeps open) that `hurry` may shut down. Until it is
        given, the call is connecting: the connect timeout bounds that, not `answer_within`."""
        with self._cond:
            self._socket = sock
            self._progress = self.clock()
            self._cond.notify_all()

    def progress(self) -> None:
        """The call holding the turn sends a statement or got its answer: `answer_within` counts
        from now."""
        with self._cond:
            if self._owner == threading.get_ident():
                self._progress = self.clock()

    def failure(self, message: str) -> StoreError:
        """The StoreError for a call that failed: it says when it was ended, and why."""
        with self._cond:
            if self._aborted and self._owner == threading.get_ident():
                if self._gave_up is None:
                    return StoreError(
                        f"{self.where} did not answer within {self.answer_within:g}s;"
                        " the connection is dropped, the next call connects again"
                    )
                return self._given_up(self.clock() - self._started)
        return StoreError(message)

    def remaining(self) -> float:
        """Seconds before the call holding the turn gives up (inf when not stopping)."""
        with self._cond:
            return self._deadline(self._started) - self.clock()

    # -- stopping ------------------------------------------------------------------------------
    def hurry(self, wait_s: float) -> None:
        with self._cond:
            if self._hurry is not None:
                wait_s = min(wait_s, self._hurry[1])
            self._hurry = (self.clock(), wait_s)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- inside ----------------------------------------------------------------------------------
    def _deadline(self, start: float) -> float:
        if self._hurry is None:
            return math.inf
        since, wait_s = self._hurry
        return max(start, since) + wait_s

    def _given_up(self, waited: float) -> StoreError:
        return StoreError(
            f"{self.where} did not answer within {waited:.1f}s; given up, the daemon is stopping"
        )

    def _wait_for_turn(self, patience: float | None) -> None:
        start = self.clock()
        limit = math.inf if patience is None else start + patience
        while True:
            if self._gave_up is not None:
                raise self._given_up(self._gave_up)
            if self._owner is None:
                return
            deadline = min(limit, self._deadline(start))
            left = deadline - self.clock()
            if left <= 0:
                if deadline == limit:
                    raise StoreError(f"{self.where}: busy with a call for {patience:g}s")
                raise self._given_up(self.clock() - start)
            self._cond.wait(None if math.isinf(left) else left)

    def _start_watcher(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="newsmon-store-watch", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        with self._cond:
            while not (self._closed and self._owner is None):  # a call in flight may be hurried
                if self._owner is None:
                    self._cond.wait()
                    continue
                now = self.clock()
                wake = [self._deadline(self._started)]
                bounded = self._bounded and self._socket is not None
                silent = self._progress + self.answer_within if bounded else math.inf
                if not self._warned:
                    if now - self._started >= self.warn_after:
                        self._warned = True
                        log.warning("store_not_answering", store=self.where,
                                    waited_s=round(now - self._started, 1))  # fmt: skip
                    else:
                        wake.append(self._started + self.warn_after)
                if not self._aborted and now >= wake[0]:
                    self._abort(now - self._started, stopping=True)
                    wake[0] = math.inf
                elif not self._aborted and now >= silent:
                    self._abort(now - self._progress, stopping=False)
                    wake[0] = math.inf
                elif self._aborted:
                    wake[0] = math.inf
                else:
                    wake.append(silent)
                left = min(wake) - now
                self._cond.wait(None if math.isinf(left) else max(left, 0.0))

    def _abort(self, waited: float, *, stopping: bool) -> None:
        self._aborted = True
        if stopping:
            self._gave_up = waited
        log.warning("store_call_abandoned", store=self.where, waited_s=round(waited, 1),
                    reason="stopping" if stopping else "no_answer")  # fmt: skip
        if self._socket is None:  # still connecting: the connect timeout ends it
            return
        try:
            with socket.socket(fileno=os.dup(self._socket)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed by the driver: nothing is waiting on it
            pass
