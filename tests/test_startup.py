"""What a one-shot command's start imports: the libraries it never uses stay out
(docs/performance.md, issue 18: start-up is most of a `check --deliver` round where every feed
answers 304). Each probe runs in a fresh interpreter, as the command does."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import monitor.cli.check
import monitor.cli.oneshot
import monitor.cli.rules
from monitor.cli.main import main
from monitor.clock import FakeClock
from monitor.delivery.destinations import Destination
from monitor.pipeline.source import poll_named
from tests.delivery_support import SECRET, T0, deliverer, enqueue, open_sqlite, plain_client
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver

REPO = Path(__file__).resolve().parent.parent


def probe(code: str, exit_code: int = 0) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == exit_code, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio is not installed")
def test_httpcore_comes_up_without_trio_which_stays_importable() -> None:
    out = probe(
        "import sys, monitor.cli.main, monitor.process.cycle, httpcore\n"
        "print('trio' in sys.modules, httpcore._synchronization.trio)\n"
        "import trio\n"
        "print(trio.__name__, any(type(f).__name__ == '_NoTrioForHttpcore' for f in sys.meta_path))"
    )
    assert out.splitlines() == ["False None", "trio False"]


def test_loading_a_config_looks_for_no_pydantic_plugins(tmp_path: Path) -> None:
    # Looking for plugins imports importlib.metadata (zipfile, csv, email.message): none of it
    # is needed by a start that validates its config.
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        "feeds:\n  - {id: a, url: 'http://127.0.0.1:9/a.xml', interval: 5m}\n"
        "destinations:\n  - {name: hook, type: webhook, url: 'http://127.0.0.1:9/hook'}\n"
    )
    out = probe(
        "import sys, monitor.cli.main, monitor.cli.check, monitor.process.cycle\n"
        "from monitor.config import load_config\n"
        f"config = load_config({str(config)!r}, env={{}})\n"
        "print(len(config.feeds), config.destinations[0].name, 'importlib.metadata' in sys.modules)"
    )
    assert out == "1 hook False"


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """As `monitor.cli.entry` leaves it for `main`; on again afterwards whatever happened."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("collector_paused")
def test_check_starts_with_the_collector_paused_and_polls_with_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, bool] = {}
    run_check = monitor.cli.check.run_check

    def spy_check(args: argparse.Namespace) -> int:
        seen["start"] = gc.isenabled()
        return run_check(args)

    async def spy_poll(*args: Any, **kwargs: Any) -> Any:
        seen["polling"] = gc.isenabled()
        return await poll_named(*args, **kwargs)

    monkeypatch.setattr(monitor.cli.check, "run_check", spy_check)
    monkeypatch.setattr(monitor.cli.oneshot, "poll_named", spy_poll)
    feed = tmp_path / "calm.rss"
    feed.write_bytes(rss([("a", "Local bakery wins prize", "Bread and cakes.")]))
    code = main(["check", "--rules", str(REPO / "rules"), "--feed", str(feed)], gc_paused=True)
    assert code == 1
    assert seen == {"start": False, "polling": True}


@pytest.mark.usefixtures("collector_paused")
def test_a_command_that_settles_nothing_runs_with_the_collector_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    def spy_rules_check(args: argparse.Namespace) -> int:
        seen.append(gc.isenabled())
        return 0

    monkeypatch.setattr(monitor.cli.rules, "cmd_check", spy_rules_check)
    assert main(["rules", "check", "--rules", str(REPO / "rules")], gc_paused=True) == 0
    assert seen == [True]


def test_a_delivery_run_with_nothing_due_makes_no_http_client(tmp_path: Path) -> None:
    # A cron round where every feed answered 304 delivers nothing: no client (an SSL context,
    # a connection pool) is built for it. The first row due gets one.
    store = open_sqlite(tmp_path / "newsmon.db")
    made: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        made.append(plain_client())
        return made[-1]

    dest = Destination.create("hook", "webhook", "http://127.0.0.1:9/hook", [SECRET])
    clock = FakeClock(T0)
    sender = deliverer(store, {"hook": dest}, clock, client_factory=factory)

    async def run() -> None:
        async with sender:
            stats = await sender.run_once()
            assert (stats.delivered, stats.retried, stats.dead, made) == (0, 0, 0, [])
            enqueue(store, T0, "hook", ["s1"])
            stats = await sender.run_once()
            assert stats.retried == 1  # nothing listens on port 9: a retry, through a client
            assert len(made) == 1

    try:
        asyncio.run(run())
    finally:
        store.close()


def _cron_round(tmp_path: Path, hook_url: str, feed_url: str, at_exit: str) -> str:
    """A probe script: `check --deliver` of the example rules over one feed to one webhook, as
    the installed command runs it; `at_exit` (statements) prints what the test looks at, from
    an `atexit` handler (`check` ends its process itself: `monitor.cli.leave`)."""
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'newsmon.db'}\n"
        f"rules: {REPO / 'rules'}\n"
        'allow_networks: ["127.0.0.1/32"]\n'
        "destinations:\n"
        f"  - {{name: hook, type: webhook, url: '{hook_url}'}}\n"
        "feeds:\n"
        f"  - {{id: wire, url: '{feed_url}'}}\n"
    )
    return (
        "import atexit, sys\n"
        "def report():\n"
        + "".join(f"    {line}\n" for line in at_exit.splitlines())
        + "atexit.register(report)\n"
        f"sys.argv = ['newsmon', 'check', '--deliver', '--config', {str(config)!r}]\n"
        "from monitor.cli.entry import main\n"
        "sys.exit(main())\n"
    )


def test_a_cron_round_where_every_feed_answers_304_imports_what_it_uses(tmp_path: Path) -> None:
    # The whole `newsmon check --deliver` as cron runs it, twice: the second round finds every
    # feed unchanged and delivers nothing, and must not have imported the mail, diff or
    # plugin-lookup modules, nor rich or prometheus_client (docs/performance.md), nor make
    # a TLS context. The store's migrations are read from their folder, without the zip
    # reader of importlib.resources.
    # Nothing matched, so nothing was delivered: the delivery client (httpx's pool on httpcore,
    # `monitor.net.client`) is never made, and the feed client connects without it; what sends,
    # judges and decides an attempt (webhook, retry, decide) is not loaded. The config loaded
    # without a problem: what masks secrets in its error messages is not loaded either.
    watched = (
        "smtplib",
        "difflib",
        "importlib.metadata",
        "importlib.readers",
        "zipfile",
        "rich",
        "prometheus_client",
        "httpcore",
        "monitor.net.client",
        "monitor.delivery.decide",
        "monitor.delivery.retry",
        "monitor.delivery.webhook",
        "monitor.config.masking",
    )
    # The parser and the story code: the round with a new item needs them, the 304 round not.
    parsing = ("monitor.dedup.lookup", "monitor.dedup.settle", "monitor.feeds.parse")
    with feed_server() as server, Receiver() as hook:
        server.put("/wire.xml", rss([("a", "Local bakery wins prize", "Bread and cakes.")]))
        run = _cron_round(
            tmp_path,
            hook.url,
            server.url("/wire.xml"),
            f"print('parsing', sorted(m for m in {parsing!r} if m in sys.modules))\n"
            f"print('modules', sorted(m for m in {watched!r} if m in sys.modules))\n"
            "from monitor.net.connect import default_context\n"
            "print('tls contexts', default_context.cache_info().currsize)\n",
        )
        *_, cold_parsing, cold, cold_tls = probe(run, exit_code=1).splitlines()
        *_, unchanged_parsing, unchanged, unchanged_tls = probe(run, exit_code=1).splitlines()
        conditional = [r for r in server.hits("/wire.xml") if "If-None-Match" in r.headers]
    assert cold == "modules []"
    assert unchanged == "modules []"
    assert cold_parsing == f"parsing {sorted(parsing)}"
    assert unchanged_parsing == "parsing []"
    # Feeds and the hook on plain http, nothing delivered: the CA bundle is never read.
    assert cold_tls == unchanged_tls == "tls contexts 0"
    assert len(conditional) == 1  # the second round asked, and was answered 304
    assert hook.requests == []


def test_a_cron_round_whose_feed_fails_loads_no_story_code(tmp_path: Path) -> None:
    # A feed that serves an error page in its place is parsed and refused; its poll finds no
    # item, so no story can be founded: the story code (fingerprints, bands, settling) stays
    # out, as in a round where every feed answers 304.
    stories = (
        "monitor.dedup.fingerprint",
        "monitor.dedup.minhash",
        "monitor.dedup.resolve",
        "monitor.dedup.settle",
    )
    with feed_server() as server, Receiver() as hook:
        page = b"<html><body><h1>403 Forbidden</h1></body></html>"
        server.put("/wire.xml", page, content_type="text/html")
        run = _cron_round(
            tmp_path,
            hook.url,
            server.url("/wire.xml"),
            "print('parsed', 'monitor.feeds.parse' in sys.modules)\n"
            f"print('modules', sorted(m for m in {stories!r} if m in sys.modules))\n",
        )
        *_, parsed, failed = probe(run, exit_code=2).splitlines()  # 2: a feed failed
    assert (parsed, failed) == ("parsed True", "modules []")
    assert hook.requests == []


def test_a_cron_round_that_alerts_a_webhook_loads_no_other_channel(tmp_path: Path) -> None:
    # `check --deliver` to a webhook: the chat channels' modules (and the message they read),
    # Slack's Block Kit, storm folding, digests and the daemon's parse workers are each loaded
    # by the destination or command that uses them, never by this round, which polls, matches
    # and delivers (docs/performance.md, issue 18's start-up).
    unused = (
        "monitor.delivery.channels.discord",
        "monitor.delivery.channels.matrix",
        "monitor.delivery.channels.message",
        "monitor.delivery.channels.ntfy",
        "monitor.delivery.channels.request",
        "monitor.delivery.channels.teams",
        "monitor.delivery.channels.telegram",
        "monitor.delivery.channels.template",
        "monitor.delivery.digest",
        "monitor.delivery.parts",
        "monitor.delivery.slack",
        "monitor.delivery.storm",
        "monitor.feeds.budget",
        "monitor.feeds.parse_worker",
    )
    calm = ("a", "Local bakery wins prize", "Bread and cakes.")
    # A dataclass without a docstring gets one made from its signature at import (Python 3.11:
    # inspect.signature, ≈0.1 ms a class): every one this round loads has its own.
    undocumented = (
        "import dataclasses\n"
        "print('undocumented', sorted(f'{n}.{c.__name__}' for n, m in list(sys.modules.items())"
        " if n.startswith('monitor') and m for c in vars(m).values() if isinstance(c, type)"
        " and dataclasses.is_dataclass(c) and c.__module__ == n"
        " and (c.__doc__ or '').startswith(c.__name__ + '(')))\n"
    )
    with feed_server() as server, Receiver() as hook:
        server.put("/wire.xml", rss([calm]))
        run = _cron_round(
            tmp_path,
            hook.url,
            server.url("/wire.xml"),
            f"print('modules', sorted(m for m in {unused!r} if m in sys.modules))\n" + undocumented,
        )
        # The feed's first poll is its silent baseline: nothing matched, exit code 1.
        baseline = probe(run, exit_code=1).splitlines()[-2]
        server.put("/wire.xml", rss([calm, ("b", "Troops dispatched to the border", "x")]))
        *_, alerted, alerted_docs = probe(run).splitlines()
    assert baseline == "modules []"
    assert alerted == "modules []"
    assert alerted_docs == "undocumented []"
    assert len(hook.requests) == 1
