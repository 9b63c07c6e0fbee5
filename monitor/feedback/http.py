"""POST /feedback: a label through the daemon's listener, for receivers and chat buttons. Decides
(token, body) and calls `record_label` in a worker thread; no sockets here.

    POST /feedback
    Authorization: Bearer TOKEN
    {"alert": "msg_...", "relevant": true, "rule": "troop-dispatch", "note": "...", "who": "ana"}

`item` ("FEED/ITEM_KEY") may stand for `alert`; `rule`, `note` and `who` are optional (`who`
defaults to "http"). Answers 200 with the labels recorded; 401 without the right token (checked in
constant time, before the body is parsed); 400 for a body that is not such an object, or a `rule`
that is neither a live rule nor one the alert carried (as `newsmon feedback --rule` refuses it:
no score would read the label); 404 for an alert or item the store does not have; 503 when the
store fails. Each error is `{"error": ...}`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import structlog

from monitor.clock import Clock
from monitor.errors import StoreError, did_you_mean
from monitor.feedback.labels import to_json
from monitor.feedback.record import (
    BadLabel,
    LabelStore,
    UnknownRule,
    UnknownTarget,
    record_label,
)

__all__ = ["Answer", "Handler", "feedback_handler", "token_matches"]

log = structlog.get_logger(__name__)
_FIELDS = frozenset({"alert", "item", "relevant", "rule", "note", "who"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What the handler answers: a status and a JSON document, which the listener
    (monitor.process.httpapp) sends; `headers` with `_` for `-` (`www_authenticate`)."""

    status: int
    data: object
    headers: dict[str, str] = field(default_factory=dict)


# (the request's headers, its body) -> the answer; the listener reads the body, bounded.
Handler = Callable[[dict[str, str], bytes], Awaitable[Answer]]


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `token` as a bearer token. Constant time in the
    header's content, so a guess learns nothing from how long the refusal took."""
    if not token or header is None:
        return False
    scheme, _, given = header.partition(" ")
    ok = hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))
    return ok and scheme.lower() == "bearer"


def _error(status: int, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": message}, headers)


def parse_body(body: bytes) -> dict[str, Any]:
    """The request as keyword arguments of `record_label`; ValueError saying what is wrong."""
    try:
        data = json.loads(body)
    # RecursionError: arrays or objects nested past the parser's limit (a 500 otherwise)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ValueError(
            'the body is not JSON: send an object such as {"alert": "msg_...", "relevant": true}'
        ) from None
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 - a client's JSON; answered 400
            'the body must be a JSON object such as {"alert": "msg_...", "relevant": true}'
        )
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}"
        )
    targets = [data[k] for k in ("alert", "item") if data.get(k) is not None]
    if len(targets) != 1 or not isinstance(targets[0], str):
        raise ValueError(
            'give exactly one of "alert" (msg_...) and "item" (FEED/ITEM_KEY), a string'
        )
    if not isinstance(data.get("relevant"), bool):
        # TRY004: a client's JSON; answered 400
        raise ValueError('"relevant" must be true or false')  # noqa: TRY004
    for key in ("rule", "note", "who"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f'"{key}" must be a string')
    return {
        "target": targets[0],
        "relevant": data["relevant"],
        "rule": data.get("rule"),
        "note": data.get("note") or "",
        "who": data.get("who") or "http",
    }


def _unknown_rule(e: UnknownRule) -> Answer:
    hint = did_you_mean([e.rule], e.known)
    shown = ", ".join(e.known[:20]) + (" ..." if len(e.known) > 20 else "")
    return _error(400, f"no rule {e.rule!r} in the running rules{hint} (rules: {shown})")


def feedback_handler(
    store: LabelStore,
    token: str,
    clock: Clock,
    rule_ids: Callable[[], Collection[str]] | None = None,
) -> Handler:
    """The POST /feedback handler for `monitor.process.httpapp.App` (made only when a token is
    set). `rule_ids`: the live rules' ids, which a `rule` given must be one of (or one the
    alert carried)."""

    async def handle(headers: dict[str, str], body: bytes) -> Answer:
        if not token_matches(headers.get("authorization"), token):
            return _error(
                401,
                "missing or wrong token: send Authorization: Bearer TOKEN "
                "(the feedback_token setting)",
                www_authenticate="Bearer",
            )
        try:
            request = parse_body(body)
        except ValueError as e:
            return _error(400, str(e))
        known = rule_ids() if rule_ids is not None and request["rule"] else None
        try:
            labels = await asyncio.to_thread(
                record_label,
                store,
                request.pop("target"),
                now=clock.now(),
                known_rules=known,
                **request,
            )
        except UnknownTarget as e:
            return _error(404, str(e))
        except UnknownRule as e:
            return _unknown_rule(e)
        except BadLabel as e:
            return _error(400, str(e))
        except StoreError as e:
            log.warning("feedback_store_failed", error=str(e))
            return _error(503, "the store is unavailable; try again")
        log.info("feedback_recorded", labels=len(labels), who=labels[0].who)
        return Answer(200, {"labels": [to_json(x) for x in labels]})

    return handle
