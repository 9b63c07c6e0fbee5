"""Delivery costs: document + Slack rendering + signing per alert, and signed webhook deliveries
per second from a SQLite outbox to a receiver on 127.0.0.1.

    python benchmarks/delivery.py [--alerts 500]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from monitor.clock import SystemClock
from monitor.delivery import slack, webhook
from monitor.delivery.destinations import Destination
from tests.delivery_support import (
    SECRET,
    deliverer,
    document,
    enqueue,
    open_sqlite,
)
from tests.receiver import Receiver


def pure(n: int) -> None:
    dest = Destination.create("ops", "webhook", "https://example.com/hook", [SECRET])
    started = time.perf_counter()
    for i in range(n):
        doc = document("ops", f"s{i}", title="T" * 200)
        slack.render(doc)
        webhook.prepare(dest, doc, doc["id"], 1_700_000_000)
    per = (time.perf_counter() - started) / n
    print(f"document + Slack render + signed webhook body: {per * 1e6:.0f} µs per alert")


def deliveries(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Receiver() as rx:
        store = open_sqlite(Path(tmp) / "bench.db")
        clock = SystemClock()
        enqueue(store, clock.now(), "ops", [f"s{i}" for i in range(n)])
        dest = Destination.create("ops", "webhook", rx.url, [SECRET], rate=1e6, burst=1e6)
        d = deliverer(store, {"ops": dest}, clock, lease=timedelta(minutes=5))
        d.batch = 100

        async def drive() -> None:
            async with d:
                while store.outbox_stats(clock.now())[0]:
                    await d.run_once()

        started = time.perf_counter()
        asyncio.run(drive())
        elapsed = time.perf_counter() - started
        store.close()
    print(f"{n} signed webhooks to 127.0.0.1 (one destination, sequential): {n / elapsed:.0f}/s")
    assert len(rx.requests) == n


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=500)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    pure(args.alerts)
    deliveries(args.alerts)
