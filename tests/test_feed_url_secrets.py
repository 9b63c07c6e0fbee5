"""A feed URL's password or API key (`https://user:pass@host/feed`, `?apikey=...`) never reaches a
fetch error, a log line, the store's last_error, `feeds list`, `rules test --feed`, `check --feed`
or the console's feed page. Real HTTP servers and closed ports on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from monitor.cli.main import main
from monitor.errors import FeedError
from monitor.feeds.fetch import _credentials
from monitor.net.urls import hide_url_secrets, public_url, shown_url
from monitor.store import open_store
from tests.daemon_support import refusing_port
from tests.receiver import Receiver
from tests.test_fetch import do_fetch
from tests.test_fetch_support import LocalServer, redirect, respond, run

PASSWORD = "FeedPassw0rdSENTINEL"
KEY = "ApiKeySENTINEL12345"
TOKEN = "TokSENTINEL"
SENTINEL = "SENTINEL"  # in every secret above, nowhere else


def with_secrets(base: str, path: str) -> str:
    """`base` (http://127.0.0.1:PORT) with a password and two credential query parameters."""
    scheme, _, host = base.partition("://")
    return f"{scheme}://reader:{PASSWORD}@{host}{path}?format=rss&apikey={KEY}&access_token={TOKEN}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def test_shown_url_hides_userinfo_and_credential_parameters_only() -> None:
    url = "https://bob:pw@example.org/feed?edition=uk&api_key=abc123&sig=x:y#top"
    assert shown_url(url) == "https://***@example.org/feed?edition=uk&api_key=***&sig=***#top"
    assert shown_url("https://feeds.example.org/world/rss.xml?edition=uk") == (
        "https://feeds.example.org/world/rss.xml?edition=uk"
    )
    # A message that goes on after the URL keeps its `: `.
    text = "https://h/f?token=abc: HTTP 401 Unauthorized"
    assert hide_url_secrets(text) == "https://h/f?token=***: HTTP 401 Unauthorized"
    # The URL's credentials are hidden wherever else the message quotes them.
    assert hide_url_secrets("login abcd1234 failed", "https://u:abcd1234@h/") == "login *** failed"


@pytest.mark.timeout(30)
def test_the_feed_urls_password_is_basic_auth_for_its_own_origin_only(server: LocalServer) -> None:
    """`https://user:password@host/feed` is how a feed behind Basic auth is configured: httpx sent
    the userinfo as Basic auth, and the feed client that replaced it sent nothing (401). A
    redirect to another origin (here `localhost` for `127.0.0.1`) must not get the password."""
    basic = "Basic " + base64.b64encode(f"reader:{PASSWORD}".encode()).decode()

    def guarded(h: BaseHTTPRequestHandler) -> None:
        allowed = h.headers.get("Authorization") == basic
        respond(200 if allowed else 401, b"<rss/>" if allowed else b"")(h)

    server.routes["/feed"] = guarded
    server.routes["/same"] = redirect(302, "/feed")
    server.routes["/away"] = redirect(302, f"http://localhost:{server.port}/feed")
    base = server.url("")
    assert run(do_fetch(with_secrets(base, "/feed"))).body == b"<rss/>"
    assert run(do_fetch(with_secrets(base, "/same"))).body == b"<rss/>"  # the same origin
    with pytest.raises(FeedError) as info:
        run(do_fetch(with_secrets(base, "/away")))
    assert info.value.status == 401
    sent = [(path.split("?")[0], headers.get("authorization")) for path, headers in server.requests]
    assert sent == [
        ("/feed", basic),
        ("/same", basic),
        ("/feed", basic),
        ("/away", basic),
        ("/feed", None),  # on localhost: another origin
    ]


@pytest.mark.parametrize(
    ("hop", "sent"),
    [
        ("http://h/other", "u:p"),  # the same origin
        ("https://h/feed", "u:p"),  # its https form (as httpx did)
        ("https://h:8443/feed", None),
        ("http://h:8080/feed", None),
        ("http://evil/feed", None),
        ("http://x:y@evil/feed", "x:y"),  # a hop's own userinfo, to its own host
    ],
)
def test_which_hops_get_the_feed_urls_credentials(hop: str, sent: str | None) -> None:
    headers = _credentials(httpx.URL(hop), httpx.URL("http://u:p@h/feed"))
    if sent is None:
        assert headers == []
    else:
        assert headers == [("Authorization", "Basic " + base64.b64encode(sent.encode()).decode())]


@pytest.mark.timeout(60)
def test_hiding_secrets_in_a_servers_long_words_takes_linear_time(server: LocalServer) -> None:
    """A reason phrase (or a `Location`, or a redirect's URL) is the server's text, up to the
    100 KiB of a response head: the patterns that hide credentials backtracked quadratically
    over a long parameter name or scheme (99 KB of `&keykey...`: 18 s of CPU, on the event
    loop, at every poll of the feed)."""
    words = "key" * 33_000

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(500, f"&{words} a=1")
        h.end_headers()

    server.routes["/feed"] = answer
    started = time.process_time()
    with pytest.raises(FeedError) as info:
        run(do_fetch(server.url("/feed"), deadline=30))
    assert info.value.status == 500
    hide_url_secrets(f"http://h/f: {'a.' * 50_000}")  # a long scheme before one `://`
    public_url(f"http://h/f?{words}!=1")  # a redirect's URL, made the base of item links
    hide_url_secrets("error", f"http://h/f?&{words}!=1")  # its credentials hidden elsewhere
    assert time.process_time() - started < 3


@pytest.mark.timeout(30)
def test_fetch_errors_do_not_quote_the_feed_urls_credentials(server: LocalServer) -> None:
    server.routes["/denied"] = respond(401)
    server.routes["/moved"] = redirect(302, "/denied?session=ServerSENTINELsid")
    base = server.url("")
    refused = with_secrets(f"http://127.0.0.1:{refusing_port()}", "/feed")
    tls = with_secrets(base.replace("http://", "https://"), "/denied")  # plain HTTP port
    for url in (with_secrets(base, "/denied"), with_secrets(base, "/moved"), refused, tls):
        with pytest.raises(FeedError) as info:
            run(do_fetch(url, deadline=10))
        message = str(info.value)
        assert SENTINEL not in message, message
        assert "127.0.0.1" in message  # still says which feed


@pytest.mark.timeout(60)
def test_feed_credentials_stay_out_of_logs_store_and_cli(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.routes["/denied"] = respond(401)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: any\n    name: Any\n    query: news\n", encoding="utf-8"
    )
    db = tmp_path / "n.db"
    url = with_secrets(server.url(""), "/denied")
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\nrules: {rules}\nlog_level: debug\n"
        "allow_networks: ['127.0.0.1']\n"
        f"feeds:\n  - id: locked\n    url: '{url}'\n",
        encoding="utf-8",
    )
    base = ["--config", str(config)]
    assert main(["check", "--deliver", *base, "--log-level", "debug"]) == 2  # a feed failed
    assert main(["feeds", "list", *base]) == 0
    assert main(["feeds", "list", "--json", *base]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["url"] == shown_url(url)
    assert "401" in listed["error"]
    main(["rules", "test", *base, "--feed", url])
    main(["check", *base, "--feed", url])
    main(["check", *base, "--feed", url.replace("127.0.0.1", "[bad")])
    main(["archive", "import", *base, url])
    out = capsys.readouterr()
    assert SENTINEL not in out.out + out.err, out.out + out.err
    assert "HTTP 401" in out.err
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT last_error FROM feeds WHERE id = 'locked'").fetchone()
        assert "HTTP 401" in stored
        assert SENTINEL not in stored
        # A row written before errors hid credentials: the console does not show them either.
        conn.execute("UPDATE feeds SET last_error = ? WHERE id = 'locked'", (f"{url}: boom",))
    conn.close()
    store = open_store(str(db))
    try:
        (row,) = store.feed_health(datetime.now(UTC) - timedelta(days=7))
    finally:
        store.close()
    assert row.url == shown_url(url)
    assert row.last_error == f"{shown_url(url)}: boom"
    assert main(["feeds", "list", *base]) == 0
    listing = capsys.readouterr().out
    assert "boom" in listing
    assert SENTINEL not in listing


RELATIVE_FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>Locked</title>"
    "<item><guid>a1</guid><title>Volcano news from the island</title><link>/items/a1</link>"
    f"<pubDate>{formatdate(time.time() - 3600, usegmt=True)}</pubDate>"
    "<description>news</description></item></channel></rss>"
).encode()


@pytest.mark.timeout(60)
def test_alert_documents_carry_no_feed_credentials(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The document's item.feed.url was the URL as fetched, and a relative item link resolved
    # against it kept its `user:password@`: both went to every destination and the outbox.
    server.routes["/locked"] = respond(200, RELATIVE_FEED, {"Content-Type": "application/rss+xml"})
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: any\n    name: Any\n    query: volcano\n    notify: [hook]\n",
        encoding="utf-8",
    )
    url = with_secrets(server.url(""), "/locked")
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'n.db'}\nrules: {rules}\n"
        "allow_networks: ['127.0.0.1']\n"
        f"feeds:\n  - id: locked\n    url: '{url}'\n    backfill: 7d\n"
        "destinations:\n  - {name: hook, type: webhook, url_env: HOOK_URL}\n",
        encoding="utf-8",
    )
    with Receiver() as rx:
        env = {"HOOK_URL": rx.url}
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            assert main(["check", "--deliver", "--config", str(config)]) == 0
            assert main(["deliveries", "list", "--json", "--config", str(config)]) == 0
            # A URL the config does not list: `check --feed` says so, without its credentials.
            assert main(["check", "--config", str(config), "--feed", f"{url}&v=2"]) == 0
    (request,) = rx.requests
    document = json.loads(request.body)
    assert document["item"]["url"] == f"{server.url('')}/items/a1"
    assert document["item"]["feed"]["url"] == f"{server.url('')}/locked?format=rss"
    out = capsys.readouterr()
    assert SENTINEL not in request.body.decode() + out.out + out.err
