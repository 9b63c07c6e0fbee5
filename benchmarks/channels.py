"""Alerts per second to each channel's local receiver: Discord, Teams, Telegram, ntfy and
Matrix to an HTTP receiver on 127.0.0.1 that answers as the service does, and email to a real
SMTP server (aiosmtpd) with STARTTLS. One destination per channel, sequential sends, the rate
limit lifted, from a SQLite outbox through the deliverer (claim, render, send, record).

    python benchmarks/channels.py [--alerts 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from monitor.clock import SystemClock
from monitor.delivery.destinations import Destination
from monitor.net.guard import AddressGuard
from tests.delivery_support import deliverer, enqueue, open_sqlite
from tests.receiver import Receiver, Reply


class Limits(TypedDict):
    rate: float
    burst: float


FAST = Limits(rate=1e6, burst=1e6)
TOKEN = "1:bench"


def _ok(data: dict[str, object]) -> Reply:
    return Reply(200, json.dumps(data).encode(), {"Content-Type": "application/json"})


HTTP: dict[str, tuple[Callable[[str], Destination], Reply]] = {
    "discord": (lambda b: Destination.create("x", "discord", f"{b}/api/webhooks/1/a", **FAST),
                _ok({"id": "1"})),
    "teams": (lambda b: Destination.create("x", "teams", f"{b}/workflows/a", **FAST), Reply(202)),
    "telegram": (lambda b: Destination.create("x", "telegram", b, token=TOKEN, chat_id="1", **FAST),
                 _ok({"ok": True, "result": {}})),
    "ntfy": (lambda b: Destination.create("x", "ntfy", f"{b}/topic", **FAST), _ok({"id": "a"})),
    "matrix": (lambda b: Destination.create("x", "matrix", b, token=TOKEN, room="!r:x.org", **FAST),
               _ok({"event_id": "$e"})),
}  # fmt: skip


def drive(store_dir: Path, dest: Destination, n: int, **extra: object) -> float:
    store = open_sqlite(store_dir / f"{dest.type}.db")
    clock = SystemClock()
    enqueue(store, clock.now(), "x", [f"s{i}" for i in range(n)])
    d = deliverer(store, {"x": dest}, clock, deadline=10.0, lease=timedelta(minutes=5))
    d.batch = 100
    for key, value in extra.items():
        setattr(d, key, value)

    async def run() -> None:
        async with d:
            while store.outbox_stats(clock.now())[0]:
                await d.run_once()

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    delivered = len(store.list_alerts("delivered", limit=n + 1))
    store.close()
    assert delivered == n, f"{dest.type}: {delivered} of {n} delivered"
    return n / elapsed


def email_rate(tmp: Path, n: int) -> float | None:
    try:
        from tests.smtp_support import client_context, make_cert, smtp_server
    except Exception:  # noqa: BLE001 - aiosmtpd missing (pytest.skip raises outside pytest too)
        return None
    cert, key = make_cert(tmp)
    with smtp_server(cert, key) as (inbox, port):
        dest = Destination.create(
            "x", "email", f"smtp://localhost:{port}", sender="a@example.org",
            recipients=["b@example.org"], **FAST,
        )  # fmt: skip
        guard = AddressGuard(allow=["127.0.0.0/8", "::1/128"])
        rate = drive(tmp, dest, n, guard=guard, smtp_context=client_context(cert))
        assert len(inbox.messages) == n
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=300)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = args.alerts
    print("| channel | alerts | alerts/s (sequential, one destination, 127.0.0.1) |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, reply) in HTTP.items():
            with Receiver([reply]) as rx:
                rate = drive(Path(tmp), make(f"http://127.0.0.1:{rx.port}"), n)
            print(f"| {name} | {n} | {rate:.0f} |")
        rate_or_none = email_rate(Path(tmp), n)
        shown = f"{rate_or_none:.0f}" if rate_or_none else "skipped (aiosmtpd or openssl missing)"
        print(f"| email (STARTTLS, new connection per alert) | {n} | {shown} |")


if __name__ == "__main__":
    main()
