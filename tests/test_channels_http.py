"""The chat and push channels against real HTTP receivers on 127.0.0.1 that check each service's
documented request shape and answer as the service does: success with its confirmation, 429 with
Retry-After, a 4xx that dead-letters, a refusal that disables, a 200 that confirms nothing."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.delivery.destinations import Destination
from monitor.net.client import make_client
from monitor.net.guard import AddressGuard
from monitor.store.base import Store
from tests.bidi_support import RLO, SPOOF_TITLE, assert_outside, open_at
from tests.delivery_support import T0, deliverer, enqueue, open_sqlite
from tests.hostile_titles import HOSTILE
from tests.receiver import Received, Receiver, Reply

TOKEN = "123456:TEST-token"


@dataclass(frozen=True)
class Service:
    kind: str
    make: Callable[[str], Destination]  # from the receiver's base URL
    ok: Reply  # a success the service documents, with its confirmation
    unconfirmed: Reply  # a 2xx that confirms nothing
    rate_limited: Reply  # 429 as the service sends it
    dead: int  # a 4xx that dead-letters
    disable: int | None  # a 4xx that disables the destination
    check: Callable[[Received], None]  # the documented request shape


def _json(req: Received) -> Any:
    assert req.headers["content-type"] == "application/json"
    return json.loads(req.body)


def check_discord(req: Received) -> None:
    assert req.method == "POST"
    assert req.path == "/api/webhooks/1/abc?wait=true"
    body = _json(req)
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["url"].startswith("https://example.com/")
    assert "content" not in body or "@everyone" not in body["content"]


def check_teams(req: Received) -> None:
    assert req.method == "POST"
    body = _json(req)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert all(block["type"] == "TextBlock" for block in card["body"])
    assert card["actions"][0]["type"] == "Action.OpenUrl"


def check_telegram(req: Received) -> None:
    assert req.method == "POST"
    assert req.path == f"/bot{TOKEN}/sendMessage"
    body = _json(req)
    assert body["chat_id"] == -1001234
    assert body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"is_disabled": True}
    assert '<a href="https://example.com/' in body["text"]


def check_ntfy(req: Received) -> None:
    assert req.method == "POST"
    assert req.path == "/"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    body = _json(req)
    assert body["topic"] == "desk-alerts"
    assert body["click"].startswith("https://example.com/")
    assert body["priority"] == 4  # the rule's severity is high
    assert isinstance(body["title"], str)
    assert isinstance(body["message"], str)


def check_matrix(req: Received) -> None:
    assert req.method == "PUT"
    prefix = "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/msg_"
    assert req.path.startswith(prefix)
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    body = _json(req)
    assert body["msgtype"] == "m.text"
    assert body["format"] == "org.matrix.custom.html"
    assert body["m.mentions"] == {}
    assert isinstance(body["body"], str)


def _reply(status: int, data: dict[str, Any], **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


SERVICES = [
    Service(
        "discord",
        lambda base: Destination.create("x", "discord", f"{base}/api/webhooks/1/abc"),
        _reply(200, {"id": "1100", "type": 0}),
        _reply(200, {}),
        _reply(429, {"message": "You are being rate limited.", "retry_after": 7.0, "global": False},
               **{"Retry-After": "7"}),
        400,
        404,
        check_discord,
    ),
    Service(
        "teams",
        lambda base: Destination.create("x", "teams", f"{base}/workflows/abc/triggers/manual"),
        Reply(202),
        Reply(202),  # a workflow answers 202 and nothing more: accepted is all it confirms
        _reply(429, {"error": {"code": "WorkflowTriggerIsThrottled"}}, **{"Retry-After": "7"}),
        400,
        None,
        check_teams,
    ),
    Service(
        "telegram",
        lambda base: Destination.create("x", "telegram", base, token=TOKEN, chat_id="-1001234"),
        _reply(200, {"ok": True, "result": {"message_id": 5}}),
        _reply(200, {"ok": False}),
        _reply(429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                     "parameters": {"retry_after": 7}}),
        400,
        403,
        check_telegram,
    ),
    Service(
        "ntfy",
        lambda base: Destination.create("x", "ntfy", f"{base}/desk-alerts", token=TOKEN),
        _reply(200, {"id": "sPs71M8A2T", "time": 1, "event": "message", "topic": "desk-alerts"}),
        Reply(200, b"<html>ok</html>"),
        _reply(429, {"code": 42901, "http": 429, "error": "limit reached"}, **{"Retry-After": "7"}),
        413,
        401,
        check_ntfy,
    ),
    Service(
        "matrix",
        lambda base: Destination.create(
            "x", "matrix", base, token=TOKEN, room="!room:example.org"
        ),
        _reply(200, {"event_id": "$abc:example.org"}),
        _reply(200, {}),
        _reply(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many", "retry_after_ms": 7000}),
        400,
        401,
        check_matrix,
    ),
]  # fmt: skip
IDS = [s.kind for s in SERVICES]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_sqlite(tmp_path / "newsmon.db")


def base_of(rx: Receiver) -> str:
    return f"http://127.0.0.1:{rx.port}"


def run(store: Store, dest: Destination, clock: FakeClock, **kw: Any) -> None:
    d = deliverer(store, {"x": dest}, clock, **kw)
    asyncio.run(d.run_once())


def status_of(store: Store, alert_id: str) -> tuple[str, str]:
    row = store.get_alert(alert_id)
    assert row is not None
    return row.status, row.last_error or ""


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_documented_request_and_confirmed_delivery(store: Store, service: Service) -> None:
    with Receiver([service.ok]) as rx:
        ids = enqueue(store, T0, "x", ["s1", "s2"], {"s2": HOSTILE["markup"]})
        run(store, service.make(base_of(rx)), FakeClock(T0))
    assert [status_of(store, i)[0] for i in ids] == ["delivered", "delivered"]
    assert len(rx.requests) == 2
    for req in rx.requests:
        service.check(req)
        assert TOKEN.encode() not in req.body


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_429_retry_after_pauses_the_destination(store: Store, service: Service) -> None:
    with Receiver([service.rate_limited, service.ok]) as rx:
        ids = enqueue(store, T0, "x", ["s1", "s2"])
        run(store, service.make(base_of(rx)), FakeClock(T0))
    assert len(rx.requests) == 1  # the rest of the run waits out the limit
    states = sorted(status_of(store, i) for i in ids)
    assert states == [("pending", ""), ("pending", "HTTP 429" + _code(service))]
    [first] = [i for i in ids if status_of(store, i)[1]]
    row = store.get_alert(first)
    assert row is not None
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= T0 + timedelta(seconds=7)  # the service's own wait, at least


# A wait no service means: JSON that Python reads as NaN (json.loads takes `NaN`) or as an
# integer past a float's range, and header digits that `str.isdigit` takes but `float` refuses.
# Then the retry comes at the schedule's first slot (5 s ± 10 %), or at the 1 h cap.
ODD_WAITS = {
    "discord-nan": ("discord", b'{"retry_after": NaN}', {}, 5),
    "discord-huge": ("discord", b'{"retry_after": 1' + b"0" * 400 + b"}", {}, 3600),
    "telegram-nan": ("telegram", b'{"ok": false, "parameters": {"retry_after": NaN}}', {}, 5),
    "matrix-nan": ("matrix", b'{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": NaN}', {}, 5),
    "ntfy-superscript": ("ntfy", b'{"code": 42901}', {"Retry-After": "\u00b2"}, 5),
    "teams-superscript": ("teams", b"", {"Retry-After": "\u00b3\u00b9"}, 5),
}


@pytest.mark.parametrize(
    ("kind", "body", "headers", "wait"), ODD_WAITS.values(), ids=list(ODD_WAITS)
)
def test_a_429_with_an_unreadable_wait_is_retried_not_stuck(
    store: Store, kind: str, body: bytes, headers: dict[str, str], wait: float
) -> None:
    """An unreadable wait is no wait: the alert is retried on the schedule. It raised after the
    request was made and before the attempt was recorded, so the alert stayed claimed, came
    back after its lease and was sent again, without end and without an attempt counted."""
    [service] = [s for s in SERVICES if s.kind == kind]
    with Receiver([Reply(429, body, {"Content-Type": "application/json", **headers})]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, service.make(base_of(rx)), FakeClock(T0))
    row = store.get_alert(aid)
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 1)
    assert (row.last_error or "").startswith("HTTP 429")
    assert row.next_attempt_at is not None
    delay = (row.next_attempt_at - T0).total_seconds()
    assert wait * 0.9 <= delay <= wait * 1.1


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
@pytest.mark.parametrize(("status", "outcome"), [(200, "pending"), (400, "dead")])
def test_a_reply_of_deeply_nested_json_is_judged(
    store: Store, service: Service, status: int, outcome: str
) -> None:
    """`json.loads` raises RecursionError, not ValueError, on `[[[[...`: it escaped the attempt
    after the request was made, so the alert stayed claimed and was sent again after every
    lease, never counted. Now it is a reply that confirms nothing."""
    nested = Reply(status, b"[" * 50_000, {"Content-Type": "application/json"})
    with Receiver([nested]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, service.make(base_of(rx)), FakeClock(T0))
    row = store.get_alert(aid)
    assert row is not None
    if service.kind == "teams" and status == 200:
        outcome = "delivered"  # a workflow's 2xx is all it confirms; its body is not read
    assert (row.status, row.attempts) == (outcome, 1)


def test_an_attempt_that_raises_is_a_counted_retry(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a reply's reading may still raise (the defects above were three), the alert is
    retried on the schedule and counted; the run goes on and the rest of its alerts are given
    back. It stayed claimed, was sent again after every lease and held the queue behind it."""
    from monitor.delivery.channels import telegram as module

    def unreadable(status: int, body: bytes, retry_after: float | None) -> Any:
        raise KeyError("result")

    monkeypatch.setattr(module, "judge", unreadable)
    telegram = SERVICES[2]
    with Receiver([telegram.ok]) as rx:
        ids = enqueue(store, T0, "x", ["s1", "s2"])
        run(store, telegram.make(base_of(rx)), FakeClock(T0))
    assert len(rx.requests) == 1
    rows = sorted((r for r in map(store.get_alert, ids) if r), key=lambda r: r.attempts)
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [
        ("pending", 0, None),
        ("pending", 1, "attempt failed: KeyError"),
    ]
    later = T0 + timedelta(seconds=3)  # past the destination's pause, within the run's lease
    [again] = store.claim_due_alerts(later, 10, timedelta(seconds=30), "other", ["x"])
    assert again.id == rows[0].id  # given back, not left claimed


def _compressed(reply: Reply) -> Reply:
    return Reply(
        reply.status, gzip.compress(reply.body), {**reply.headers, "Content-Encoding": "gzip"}
    )


CONFIRMING = [s for s in SERVICES if s.kind != "teams"]  # teams: a 202 confirms, not its body


@pytest.mark.parametrize("service", CONFIRMING, ids=lambda s: s.kind)
@pytest.mark.parametrize("always", [False, True], ids=["when-offered", "always"])
def test_a_compressed_confirmation_is_read(store: Store, service: Service, always: bool) -> None:
    """Cloudflare (Discord) and nginx compress JSON for a client that offers gzip, and the
    client offered it: read raw, no confirmation was one, and each alert was posted again on
    every retry until dead. The reply is asked for uncompressed, and decoded if it is not."""

    def answer(req: Received) -> Reply:
        offered = "gzip" in req.headers.get("accept-encoding", "")
        return _compressed(service.ok) if always or offered else service.ok

    with Receiver(answer) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        guard = AddressGuard(allow=["127.0.0.0/8"])
        run(
            store,
            service.make(base_of(rx)),
            FakeClock(T0),
            client_factory=lambda: make_client(guard, connect_timeout=5, read_timeout=5),
        )
    assert status_of(store, aid) == ("delivered", "")
    assert rx.requests[0].headers["accept-encoding"] == "identity"


def _code(service: Service) -> str:
    return {
        "discord": "",
        "teams": " WorkflowTriggerIsThrottled",
        "telegram": "",  # its error_code repeats the status: not said twice
        "ntfy": " 42901",
        "matrix": " M_LIMIT_EXCEEDED",
    }[service.kind]


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_4xx_dead_letters_and_replay_sends_again(store: Store, service: Service) -> None:
    with Receiver([Reply(service.dead, b'{"message": "bad"}'), service.ok]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        dest = service.make(base_of(rx))
        run(store, dest, FakeClock(T0))
        assert status_of(store, aid)[0] == "dead"
        assert status_of(store, aid)[1].startswith(f"HTTP {service.dead}")
        assert store.replay([aid], T0) == 1
        run(store, dest, FakeClock(T0 + timedelta(seconds=1)))
    assert status_of(store, aid)[0] == "delivered"
    assert rx.requests[0].path == rx.requests[1].path  # the same target; matrix: same txn id


HOSTILE_CODE = "bad\x00\x1b[2J\u202ecode"
ERROR_BODIES: dict[str, dict[str, Any]] = {  # where each service puts its error code
    "discord": {"code": HOSTILE_CODE, "message": "x"},
    "teams": {"error": {"code": HOSTILE_CODE}},
    "ntfy": {"code": HOSTILE_CODE, "http": 500},
    "matrix": {"errcode": HOSTILE_CODE, "error": "x"},
}


@pytest.mark.parametrize("kind", sorted(ERROR_BODIES))
def test_a_service_s_error_code_is_quoted_printable_only(
    make_store: Callable[[], Store], kind: str
) -> None:
    # The receiver's code went into the reason as it came: a NUL failed the record of the
    # attempt on PostgreSQL (the alert stayed claimed, never retried nor dead-lettered), and
    # an ESC or bidi control reached `deliveries list`.
    service = next(s for s in SERVICES if s.kind == kind)
    store = make_store()
    with Receiver([_reply(500, ERROR_BODIES[kind])]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, service.make(base_of(rx)), FakeClock(T0))
    assert status_of(store, aid) == ("pending", "HTTP 500 bad[2Jcode")


TELEGRAM_ERRORS = {
    "chat-not-found": (400, {"description": "Bad Request: chat not found"}, "dead",
                       "HTTP 400 chat not found: check chat_id"),
    "migrated": (400, {"description": "Bad Request: group chat was upgraded to a supergroup chat",
                       "parameters": {"migrate_to_chat_id": -1009876543210}}, "dead",
                 "HTTP 400 the group is now a supergroup: set chat_id to -1009876543210"),
    "blocked": (403, {"description": "Forbidden: bot was blocked by the user"}, "dead",
                "HTTP 403 the bot was blocked by the user"),
    "unknown": (400, {"description": "Bad Request: <b>whatever</b> the server says"}, "dead",
                "HTTP 400"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "reply", "outcome", "reason"), TELEGRAM_ERRORS.values(), ids=list(TELEGRAM_ERRORS)
)
def test_telegram_says_what_went_wrong(
    store: Store, status: int, reply: dict[str, Any], outcome: str, reason: str
) -> None:
    """Telegram's error_code is the HTTP status again: the dead letter said "HTTP 400 400" for a
    wrong chat id and a migrated group alike. Known descriptions are named, never copied."""
    telegram = SERVICES[2]
    body = {"ok": False, "error_code": status, **reply}
    with Receiver([_reply(status, body)]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, telegram.make(base_of(rx)), FakeClock(T0))
    assert status_of(store, aid) == (outcome, reason)


@pytest.mark.parametrize("service", [s for s in SERVICES if s.disable], ids=lambda s: s.kind)
def test_refusal_disables_the_destination(store: Store, service: Service) -> None:
    assert service.disable is not None
    with Receiver([Reply(service.disable, b"{}")]) as rx:
        ids = enqueue(store, T0, "x", ["s1", "s2", "s3"])
        run(store, service.make(base_of(rx)), FakeClock(T0))
    assert len(rx.requests) == 1
    assert "x" in store.disabled_destinations()
    assert {status_of(store, i)[0] for i in ids} == {"dead"}


@pytest.mark.parametrize(
    "service", [s for s in SERVICES if s.kind != "teams"], ids=lambda s: s.kind
)
def test_a_2xx_without_confirmation_is_not_delivered(store: Store, service: Service) -> None:
    with Receiver([service.unconfirmed]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, service.make(base_of(rx)), FakeClock(T0))
    status, error = status_of(store, aid)
    assert status == "pending"
    assert "not confirmed" in error
    assert len(rx.requests) == 1


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_private_address_refused_by_the_guard(store: Store, service: Service) -> None:
    with Receiver([service.ok]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])

        def guarded() -> Any:
            return make_client(AddressGuard())  # the default: loopback refused

        run(store, service.make(base_of(rx)), FakeClock(T0), client_factory=guarded)
    assert rx.requests == []
    status, error = status_of(store, aid)
    assert status == "dead"
    assert "blocked address" in error


def test_a_reply_that_never_ends_is_not_confirmed(store: Store) -> None:
    """A confirmation that does not arrive within the deadline is no confirmation."""
    telegram = SERVICES[2]
    with Receiver([Reply(200, b'{"ok": true}', trickle=0.5, trickle_body_only=True)]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, telegram.make(base_of(rx)), FakeClock(T0), deadline=1.0)
    status, error = status_of(store, aid)
    assert status == "pending"
    assert "not confirmed" in error


@pytest.mark.parametrize(
    ("service", "reply"),
    [
        (SERVICES[1], Reply(202, b"accepted" * 8, trickle=0.5, trickle_body_only=True)),
        (SERVICES[1], Reply(202, endless=True)),
    ],
    ids=["teams-trickle", "teams-endless"],
)
def test_a_status_that_confirms_is_not_undone_by_a_slow_body(
    store: Store, service: Service, reply: Reply
) -> None:
    """A Teams workflow's 202 is all it confirms: its body says nothing more. A body that then
    trickled past the deadline (or never ended) made the alert "reply cut off: not confirmed",
    and the card was posted again; a webhook's 2xx is not undone so either."""
    with Receiver([reply]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"])
        run(store, service.make(base_of(rx)), FakeClock(T0), deadline=1.0)
    assert status_of(store, aid) == ("delivered", "")
    assert len(rx.requests) == 1


def _strings(value: Any) -> list[str]:
    """Every string of a JSON payload, in order (a card's or embed's text as it is laid out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("kind", [*IDS, "slack"])
def test_an_override_in_a_title_does_not_reach_the_rest_of_the_message(
    store: Store, kind: str
) -> None:
    """An RLO and an RLI left open by a title reversed and reordered what followed it in the
    same paragraph (Matrix's HTML body is one): the rules line, the alert id. Each field is
    closed where it ends; the title keeps its override."""
    ok = Reply(200, b"ok") if kind == "slack" else next(s.ok for s in SERVICES if s.kind == kind)
    with Receiver([ok]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"], {"s1": SPOOF_TITLE})
        if kind == "slack":
            dest = Destination.create("x", "slack", rx.url)
        else:
            dest = next(s for s in SERVICES if s.kind == kind).make(base_of(rx))
        run(store, dest, FakeClock(T0))
    assert status_of(store, aid)[0] == "delivered"
    [req] = rx.requests
    strings = _strings(json.loads(req.body))
    assert any(RLO in s for s in strings)  # the title's own override is kept
    for s in strings:
        assert open_at(s, len(s)) == [], s
    assert_outside("".join(strings), "Rules")  # the whole laid out as one paragraph


def test_a_webhook_gets_the_title_as_it_came(store: Store) -> None:
    """The webhook's JSON is data for a program, not a message laid out: its title keeps the
    override it came with, unclosed (docs/webhooks.md)."""
    with Receiver([Reply(200)]) as rx:
        [aid] = enqueue(store, T0, "x", ["s1"], {"s1": SPOOF_TITLE})
        run(store, Destination.create("x", "webhook", rx.url), FakeClock(T0))
    assert status_of(store, aid)[0] == "delivered"
    assert json.loads(rx.requests[0].body)["item"]["title"] == SPOOF_TITLE
