"""POST /feedback on the real listener (127.0.0.1:0) with a real SQLite store: token, body,
unknown ids, the label in force; and the route is off without a token."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.clock import FakeClock
from monitor.feedback.http import feedback_handler, token_matches
from monitor.feedback.labels import in_force
from monitor.metrics import Metrics
from monitor.process.httpserver import ReadyState, Server, serve
from monitor.store.sqlite import SQLiteStore
from tests.daemon_support import (
    ROOT,
    DaemonProcess,
    daemon_env,
    wait_for,
    write_config,
    write_rules,
)
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver
from tests.store_fixtures import T0
from tests.test_feedback import ALERT, MISSING, poll_with_alert

TOKEN = "s3cret-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def run(
    tmp_path: Path,
    scenario: Callable[[httpx.AsyncClient, SQLiteStore, FakeClock], Awaitable[None]],
    *,
    token: str | None = TOKEN,
    rule_ids: Callable[[], Collection[str]] | None = None,
    **options: Any,
) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.migrate()
    poll_with_alert(store)
    clock = FakeClock(T0)

    async def ready() -> ReadyState:
        return ReadyState(store=True, rules_version="v1", rules=1)

    async def main() -> None:
        handler = feedback_handler(store, token, clock, rule_ids) if token else None
        srv: Server = await serve("127.0.0.1:0", metrics=Metrics(), liveness=lambda: True,
                                  readiness=ready, feedback=handler, read_timeout=1,
                                  **options)  # fmt: skip
        async with (
            srv,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{srv.port}", trust_env=False, timeout=5
            ) as client,
        ):
            await asyncio.wait_for(scenario(client, store, clock), 20)

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_label_posted_is_recorded_and_the_last_one_wins(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient, store: SQLiteStore, clock: FakeClock) -> None:
        body = {"alert": ALERT, "relevant": True, "rule": "troops", "who": "ana"}
        r = await c.post("/feedback", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        [label] = r.json()["labels"]
        assert (label["item_key"], label["rule"], label["relevant"], label["who"]) == (
            "item-s1", "troops", True, "ana")  # fmt: skip
        clock.advance(60)
        body = {"alert": ALERT, "relevant": False, "rule": "troops", "note": "a drill"}
        assert (await c.post("/feedback", json=body, headers=AUTH)).status_code == 200
        history = store.list_labels()
        assert [(x.relevant, x.who) for x in history] == [(True, "ana"), (False, "http")]
        assert in_force(history)["f1", "item-s1", "troops"].note == "a drill"
        r = await c.post("/feedback", json={"alert": ALERT, "relevant": True}, headers=AUTH)
        assert [x["rule"] for x in r.json()["labels"]] == ["troops", "border"]  # the alert's rules

    run(tmp_path, scenario)


def test_a_rule_neither_live_nor_on_the_alert_is_400_with_the_close_id(tmp_path: Path) -> None:
    # `newsmon feedback --rule trops` is refused; posted, the typo was recorded, and no backtest
    # or tune ever read the label.
    async def scenario(c: httpx.AsyncClient, store: SQLiteStore, _: FakeClock) -> None:
        r = await c.post("/feedback", json={"item": "f1/k2", "relevant": True, "rule": "trops"},
                         headers=AUTH)  # fmt: skip
        assert r.status_code == 400, r.text
        assert r.json()["error"] == (
            "no rule 'trops' in the running rules; did you mean 'troops'? (rules: ports, troops)"
        )
        r = await c.post("/feedback", json={"alert": ALERT, "relevant": True, "rule": "bordr"},
                         headers=AUTH)  # fmt: skip
        assert "did you mean 'border'?" in r.json()["error"]  # the alert carried it
        assert store.list_labels() == []
        for body in ({"alert": ALERT, "relevant": True, "rule": "border"},  # since removed
                     {"item": "f1/k2", "relevant": True, "rule": "ports"},
                     {"item": "f1/k2", "relevant": True}):  # fmt: skip
            assert (await c.post("/feedback", json=body, headers=AUTH)).status_code == 200, body
        assert len(store.list_labels()) == 3

    live = {"troops": object(), "ports": object()}  # a reload may change them: read each time
    run(tmp_path, scenario, rule_ids=lambda: live)


def test_a_missing_or_wrong_token_is_401_and_nothing_is_recorded(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient, store: SQLiteStore, _: FakeClock) -> None:
        body = {"alert": ALERT, "relevant": True}
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN},
                        {"authorization": f"Basic {TOKEN}"}):  # fmt: skip
            r = await c.post("/feedback", json=body, headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == "Bearer"
            assert "missing or wrong token" in r.json()["error"]
            assert TOKEN not in r.text
        assert store.list_labels() == []

    run(tmp_path, scenario)


def test_bad_bodies_get_400_and_unknown_ids_404_with_clear_messages(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient, store: SQLiteStore, _: FakeClock) -> None:
        cases: list[tuple[bytes, int, str]] = [
            (b"{not json", 400, "the body is not JSON"),
            (b"[1, 2]", 400, "must be a JSON object"),
            (json.dumps({"alert": ALERT}).encode(), 400, '"relevant" must be true or false'),
            (json.dumps({"relevant": True}).encode(), 400, 'exactly one of "alert"'),
            (json.dumps({"alert": ALERT, "item": "f1/k1", "relevant": True}).encode(), 400,
             "exactly one of"),
            (json.dumps({"alert": ALERT, "relevant": True, "score": 3}).encode(), 400,
             "unknown field(s) score"),
            (json.dumps({"alert": "msg_nope", "relevant": True}).encode(), 400,
             "neither an alert id"),
            (json.dumps({"alert": MISSING, "relevant": True}).encode(), 404,
             f"no alert {MISSING} in the store"),
            (json.dumps({"item": "f1/k9", "relevant": True}).encode(), 404,
             "no item 'k9' of feed 'f1'"),
            (b"\xff\xfe", 400, "the body is not JSON"),
            (b"[" * 10_000, 400, "the body is not JSON"),  # nested past json's recursion limit
        ]  # fmt: skip
        for body, status, message in cases:
            r = await c.post("/feedback", content=body, headers=AUTH)
            assert (r.status_code, message in r.json()["error"]) == (status, True), (body, r.text)
        assert store.list_labels() == []

    run(tmp_path, scenario)


def test_a_body_over_the_cap_is_413_and_other_methods_405(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient, store: SQLiteStore, _: FakeClock) -> None:
        big = {"alert": ALERT, "relevant": True, "note": "x" * 5000}
        r = await c.post("/feedback", json=big, headers=AUTH)
        assert r.status_code == 413
        assert r.json() == {"error": "the body is larger than 1024 bytes"}

        async def chunks() -> Any:  # no Content-Length: refused before a chunk is read
            for _ in range(10):
                yield b" " * 200

        r = await c.post("/feedback", content=chunks(), headers=AUTH)
        assert r.status_code == 411
        r = await c.get("/feedback", headers=AUTH)
        assert (r.status_code, r.headers["allow"]) == (405, "POST")
        assert (await c.get("/healthz")).status_code == 200
        assert store.list_labels() == []

    run(tmp_path, scenario, max_body_bytes=1024)


def test_a_body_that_never_arrives_is_408(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient, _: SQLiteStore, __: FakeClock) -> None:
        port = int(str(c.base_url).rsplit(":", 1)[1].rstrip("/"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                     TOKEN.encode() + b"\r\nContent-Length: 50\r\n\r\n{")  # fmt: skip
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # read_timeout is 1 s
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"the body took too long" in answer

    run(tmp_path, scenario)


def test_without_a_token_the_route_is_not_there(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient, store: SQLiteStore, _: FakeClock) -> None:
        r = await c.post("/feedback", json={"alert": ALERT, "relevant": True}, headers=AUTH)
        assert r.status_code == 405  # like any other path: only GET and HEAD
        assert (await c.get("/feedback")).status_code == 404
        assert store.list_labels() == []

    run(tmp_path, scenario, token=None)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN} ", True),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        ("Bearer ", False),
        (None, False),
        (f"Token {TOKEN}", False),
    ],
)
def test_token_matches(header: str | None, expected: bool) -> None:
    assert token_matches(header, TOKEN) is expected
    assert token_matches(header, "") is False  # an empty token never opens the route


@pytest.mark.slow
def test_the_daemon_takes_feedback_for_the_alert_a_receiver_got(tmp_path: Path) -> None:
    """`newsmon run` as a real process: the receiver posts the alert id it got back to
    /feedback with the configured token; the label is in the store for `newsmon feedback
    export`, another process."""
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", ["rx"])})
    with feed_server() as server, Receiver() as rx:
        server.put("/wire.rss", rss([("w0", "Weather", "Rain.")]))
        config = write_config(tmp_path, feeds={"wire": server.url("/wire.rss")},
                              destinations={"rx": rx.url}, rules=rules)  # fmt: skip
        env = daemon_env(NEWSMON_FEEDBACK_TOKEN=TOKEN)
        with DaemonProcess(config, tmp_path, env=env) as daemon:
            daemon.wait_healthy()
            wait_for("the baseline", lambda: len(daemon.events("feed_polled")) >= 1)
            server.put("/wire.rss", rss([("t1", "Troops cross the river", "At dawn."),
                                         ("w0", "Weather", "Rain.")]))  # fmt: skip
            wait_for("the alert", lambda: len(rx.requests) >= 1)
            document = json.loads(rx.requests[0].body)
            body = json.dumps({"alert": document["id"], "relevant": False, "who": "desk"})

            def post(token: str) -> int:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{daemon.port}/feedback", data=body.encode(),
                    headers={"Authorization": f"Bearer {token}",
                             "Content-Type": "application/json"}, method="POST")  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        return int(response.status)
                except urllib.error.HTTPError as err:
                    return err.code

            assert post("wrong") == 401
            assert post(TOKEN) == 200
            assert TOKEN not in daemon.log_text()
        out = subprocess.run(
            [sys.executable, "-m", "monitor", "feedback", "export", "--config", str(config)],
            cwd=ROOT, env=daemon_env(), capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
    [label] = [json.loads(line) for line in out.splitlines()]
    assert (label["feed"], label["item_key"]) == ("wire", document["item"]["key"])
    assert (label["rule"], label["relevant"], label["who"]) == ("troops", False, "desk")
    assert label["alert"] == document["id"]
    assert label["title"] == "Troops cross the river"
