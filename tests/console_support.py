"""The console on a real listener on 127.0.0.1 for tests, and a store seeded with what its pages
show: a healthy feed, a failing one, alerts with explanations, a dead letter and archived items.

    with ConsoleServer(console) as srv:     # the listener runs in a thread of its own
        httpx.get(srv.url("/ui/feeds"))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from monitor.clock import FakeClock
from monitor.config.ui import Credential, UIConfig
from monitor.console import Console, build_console
from monitor.console.pages import ConsoleStore
from monitor.metrics import Metrics
from monitor.model import ArchivedItem, FeedSpec, FeedUpdate, NewAlert, Rule, SeenItem, StorySource
from monitor.process.httpserver import ReadyState, Server, serve
from monitor.query.ruleset import RuleSet
from monitor.store.base import Store

READ_PASSWORD = "read-only-password"
ADMIN_PASSWORD = "admin-password-0123"
READ_TOKEN = "read-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
CREDENTIALS = [
    Credential("read", "password", READ_PASSWORD, "NEWSMON_UI_PASSWORD"),
    Credential("admin", "password", ADMIN_PASSWORD, "NEWSMON_UI_ADMIN_PASSWORD"),
    Credential("read", "token", READ_TOKEN, "NEWSMON_UI_TOKEN"),
    Credential("admin", "token", ADMIN_TOKEN, "NEWSMON_UI_ADMIN_TOKEN"),
]
RULES = RuleSet.from_rules(
    [
        Rule(id="troops", name="Troop movements", query="troops", severity="high"),
        Rule(id="quiet", name="Never matches", query="zebracorn", severity="low"),
    ]
)


def ui_config(**kw: Any) -> UIConfig:
    return UIConfig.model_validate({"enabled": True, **kw})


def make_console(
    store: ConsoleStore,
    clock: FakeClock,
    *,
    rules: RuleSet = RULES,
    credentials: Sequence[Credential] = CREDENTIALS,
    on_replay: Any = lambda: None,
    **ui: Any,
) -> Console:
    return build_console(
        ui_config(**ui),
        list(credentials),
        store=store,
        rules=lambda: rules,
        clock=clock,
        on_replay=on_replay,
    )


class ConsoleServer:
    """`serve()` with the console, on 127.0.0.1:0, in a thread running its own event loop."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Server | None = None

    def __enter__(self) -> ConsoleServer:
        self._thread.start()

        async def start() -> Server:
            async def ready() -> ReadyState:
                return ReadyState(True, "v", 1)

            return await serve(
                "127.0.0.1:0",
                metrics=Metrics(),
                liveness=lambda: True,
                readiness=ready,
                console=self.console,
                max_body_bytes=65_536,
            )

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The listener's event loop (the daemon's, in a real run)."""
        return self._loop

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# -- seeding -----------------------------------------------------------------------------------
def document(
    alert_id: str,
    destination: str,
    title: str,
    url: str | None,
    *,
    rule: str = "troops",
    snippet: str = "Government sends **troops** to the border",
    feed: str = "good",
    clauses: Sequence[str] = ("troops",),
) -> dict[str, Any]:
    """An alert document as the daemon writes one (monitor/schemas/alert-v1.json)."""
    return {
        "version": 1,
        "type": "newsmon.alert",
        "id": alert_id,
        "destination": destination,
        "created_at": "2026-03-01T12:00:00+00:00",
        "rules": [{"id": rule, "name": "Troop movements", "severity": "high", "tags": []}],
        "item": {
            "title": title,
            "url": url,
            "summary": snippet.replace("**", ""),
            "published": None,
            "feed": {"id": feed, "title": "Good feed", "url": None},
            "key": "k1",
        },
        "matches": [
            {
                "rule": rule,
                "explanation": {
                    "clauses": list(clauses),
                    "hits": [
                        {
                            "field": "title",
                            "word": "troops",
                            "term": "troops",
                            "position": 2,
                            "start": 0,
                            "end": 6,
                        }
                    ],
                },
                "snippet": snippet,
            }
        ],
    }


def _poll(
    store: Store,
    feed_id: str,
    now: datetime,
    update: FeedUpdate,
    seen: Sequence[SeenItem] = (),
    alerts: Sequence[NewAlert] = (),
    sources: Sequence[StorySource] = (),
    archive: Sequence[ArchivedItem] = (),
) -> None:
    full = store
    claimed = full.claim_due_feeds(now, 100, timedelta(minutes=2), "seed")
    assert feed_id in {f.id for f in claimed}, f"{feed_id} was not due"
    full.commit_poll(feed_id, "seed", now, update, seen, alerts, sources, archive=archive)
    for other in claimed:
        if other.id != feed_id:
            full.release_feed(other.id, "seed")


def seed(
    store: Store,
    now: datetime,
    *,
    titles: Sequence[tuple[str, str | None]] = (),
    destination: str = "hook",
    clauses: Sequence[str] = ("troops",),
) -> dict[str, str]:
    """A healthy feed `good` with archived items and an alert per title (the first one of which
    is dead), a failing feed `broken`. Returns {"dead": the dead alert's id, ...}."""
    full = store
    full.sync_feeds(
        [
            FeedSpec(id="good", url="https://news.example/rss", name="Good feed"),
            FeedSpec(id="broken", url="https://broken.example/rss", name="Broken feed"),
        ],
        now - timedelta(days=2),
    )
    titles = list(titles) or [
        ("Government sends troops to the border", "https://news.example/a/1"),
        ("Troops withdraw after talks", "https://news.example/a/2"),
    ]
    seen, alerts, sources, archive = [], [], [], []
    for n, (title, url) in enumerate(titles):
        key, story = f"k{n}", f"story-{n}"
        created = now - timedelta(days=n % 5, hours=1)
        alert_id = f"msg_{n:032x}"
        seen.append(SeenItem(key=key, story_key=story))
        alerts.append(
            NewAlert(
                alert_id,
                destination,
                story,
                "good",
                key,
                document(alert_id, destination, title, url, clauses=clauses),
                created,
            )
        )
        sources.append(StorySource(story, "good", key, created, url, title))
        archive.append(
            ArchivedItem("good", key, story, created, title=title, summary=title, link=url)
        )
    ok = FeedUpdate(status="ok", next_poll_at=now + timedelta(minutes=5), fetched_at=now,
                    title="Good feed")  # fmt: skip
    _poll(store, "good", now - timedelta(hours=1), ok, seen, alerts, sources, archive)
    failing = FeedUpdate(
        status="error", next_poll_at=now + timedelta(minutes=20), fetched_at=now,
        error="HTTP 500 from broken.example", error_kind="http_status", error_count=3,
    )  # fmt: skip
    _poll(store, "broken", now - timedelta(hours=1), failing)
    dead = alerts[0].id
    assert full.dead_letter(dead, None, now, "HTTP 410: the hook is gone")
    return {"dead": dead}


def clock_at(when: datetime) -> FakeClock:
    return FakeClock(when)
