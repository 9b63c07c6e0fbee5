"""monitor.store.pgwait: turns on one connection, a call that waits on a server that does not
answer (here a socket pair whose far end never writes), said once, and given up when stopping."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.errors import StoreError
from monitor.store.pgwait import Turns


@contextmanager
def stuck_call(turns: Turns) -> Iterator[dict[str, Any]]:
    """A thread holding the turn, waiting in recv() on a socket whose peer never answers (the
    driver waiting on a hung server); yields what it ended with once it ends."""
    ours, theirs = socket.socketpair()
    duplicate = os.dup(ours.fileno())  # the store keeps one such duplicate per connection
    outcome: dict[str, Any] = {}
    holding = threading.Event()

    def wait_for_answer() -> None:
        with turns.turn():
            turns.watch(duplicate)
            holding.set()
            outcome["received"] = ours.recv(10)
            # What the driver makes of a connection closed under it.
            raise turns.failure("PostgreSQL: server closed the connection unexpectedly")

    def call() -> None:
        try:
            wait_for_answer()
        except StoreError as exc:
            outcome["error"] = str(exc)
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert holding.wait(5)
    try:
        yield outcome
    finally:
        theirs.close()  # a call still waiting gets its EOF now
        thread.join(5)
        ours.close()
        os.close(duplicate)
        turns.close()


def test_hurry_ends_the_call_in_flight_and_every_later_call_at_once() -> None:
    turns = Turns("PostgreSQL at test")
    with stuck_call(turns) as outcome, capture_logs() as logs:
        time.sleep(0.2)
        assert "ended" not in outcome  # nothing ends a wait on a silent server by itself
        hurried = time.monotonic()
        turns.hurry(0.3)
        deadline = time.monotonic() + 5
        while "ended" not in outcome and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 0.25 < outcome["ended"] - hurried < 1.5
        assert outcome["received"] == b""  # the socket was shut down under the waiting call
        assert "did not answer within" in outcome["error"]
        assert "stopping" in outcome["error"]
        started = time.monotonic()
        with pytest.raises(StoreError, match="did not answer"), turns.turn():
            pass  # not reached: the store gave up
        assert time.monotonic() - started < 0.1
    assert [e["event"] for e in logs] == ["store_call_abandoned"]


def test_a_call_waiting_for_its_turn_gives_up_when_hurried() -> None:
    turns = Turns("PostgreSQL at test")
    with stuck_call(turns):
        errors: list[str] = []

        def waiter() -> None:
            try:
                with turns.turn():
                    pass
            except StoreError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        time.sleep(0.2)
        assert thread.is_alive()  # waits for its turn as long as the call in flight lasts
        turns.hurry(0.2)
        thread.join(3)
        assert not thread.is_alive()
        assert len(errors) == 1
        assert "did not answer" in errors[0]


def test_a_wait_past_warn_after_is_said_once_and_its_end_once() -> None:
    turns = Turns("PostgreSQL at test", warn_after=0.3)
    with capture_logs() as logs:
        with stuck_call(turns) as outcome:
            time.sleep(1.0)  # three times warn_after: still one line
            said = [e for e in logs if e["event"] == "store_not_answering"]
            assert len(said) == 1
            assert said[0]["store"] == "PostgreSQL at test"
        assert "error" in outcome  # the call that never got its answer did not succeed...
        assert [e for e in logs if e["event"] == "store_answering"] == []
        with turns.turn():
            pass  # ...the next one does
        with turns.turn():
            pass
    assert [e["event"] for e in logs] == ["store_not_answering", "store_answering"]


def test_patience_bounds_the_wait_for_a_turn_and_a_thread_may_nest_calls() -> None:
    turns = Turns("PostgreSQL at test")
    with stuck_call(turns):
        started = time.monotonic()
        with pytest.raises(StoreError, match="busy"), turns.turn(patience=0.2):
            pass
        assert 0.15 < time.monotonic() - started < 1.0
    with turns.turn(), turns.turn():  # the same thread: no deadlock
        pass
    turns.close()


def test_a_call_without_an_answer_for_answer_within_ends_and_the_next_one_goes_ahead() -> None:
    turns = Turns("PostgreSQL at test", answer_within=0.4)
    with capture_logs() as logs:
        started = time.monotonic()
        with stuck_call(turns) as outcome:
            time.sleep(0.2)
            turns.progress()  # another thread's progress is not the call's: the bound holds
            deadline = time.monotonic() + 5
            while "ended" not in outcome and time.monotonic() < deadline:
                time.sleep(0.01)
        assert 0.35 < outcome["ended"] - started < 1.5
        assert outcome["received"] == b""  # its socket was shut down under it
        assert "did not answer within 0.4s" in outcome["error"]
        assert "stopping" not in outcome["error"]
        with turns.turn():  # not refused: the next call connects again
            turns.progress()
    assert [(e["event"], e["reason"]) for e in logs] == [("store_call_abandoned", "no_answer")]


def test_answer_within_counts_from_the_last_progress_and_not_for_an_unbounded_call() -> None:
    turns = Turns("PostgreSQL at test", answer_within=0.3)
    ours, theirs = socket.socketpair()
    duplicate = os.dup(ours.fileno())
    try:
        with turns.turn():
            turns.watch(duplicate)
            for _ in range(4):  # statements answered in time: 0.8 s in all, never cut short
                time.sleep(0.2)
                turns.progress()
        with turns.turn(bounded=False):
            turns.watch(duplicate)
            time.sleep(0.6)  # a migration's statement, twice the bound
        theirs.send(b"x")
        assert ours.recv(1) == b"x"  # the socket was never shut down
    finally:
        turns.close()
        theirs.close()
        ours.close()
        os.close(duplicate)
