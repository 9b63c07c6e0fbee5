"""The console in a real headless Chromium (tests/browser_support.py), against `newsmon run` as a
real process with a real feed server and webhook receiver on 127.0.0.1: log in, see the failing
feed marked, open a rule's chart, run a playground query, replay a dead letter and watch the
receiver get it. Then a page of every hostile title and link from the corpora, rendered with
nothing executed: no browser console entry, no CSP report."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.console.pages import MAX_SHOWN
from monitor.store.sqlite import SQLiteStore
from tests.browser_support import (  # noqa: F401 (the fixtures)
    REBOUND,
    Browser,
    browser,
    rebound_browser,
)
from tests.console_support import (
    ADMIN_PASSWORD,
    READ_PASSWORD,
    ConsoleServer,
    make_console,
    seed,
)
from tests.daemon_support import DaemonProcess, daemon_env, wait_for
from tests.feedserver import feed_server, rss
from tests.hostile_titles import HOSTILE
from tests.receiver import Received, Receiver, Reply
from tests.store_fixtures import T0

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "corpora"


def _by(kind: str) -> str:
    from selenium.webdriver.common.by import By

    return str(getattr(By, kind))


def _wait(b: Browser, what: str, css: str, timeout: float = 30.0, reload: bool = False) -> None:
    """Wait until `css` matches something on the page (reloading it each time if asked)."""

    def found() -> bool:
        if reload:
            b.driver.refresh()
        return bool(b.driver.find_elements(_by("CSS_SELECTOR"), css))

    wait_for(what, found, timeout)


def write_config(tmp: Path, feeds: str, hook: str, port: int) -> Path:
    rules = tmp / "rules"
    rules.mkdir()
    (rules / "watch.yaml").write_text(
        "rules:\n"
        "  - id: troops\n    name: Troop movements\n    query: troops\n    severity: high\n"
        "  - id: quiet\n    name: Nothing yet\n    query: zebracorn\n"
    )
    config = tmp / "newsmon.yaml"
    config.write_text(
        f"""
database_url: {tmp / "state.db"}
rules: {rules}
http_addr: 127.0.0.1:{port}
allow_networks: ["127.0.0.1/32"]
log_level: info
ui:
  enabled: true
feeds:
  - id: wire
    name: Local Wire
    url: {feeds}/wire.rss
    interval: 1s
    backfill: 1d
  - id: broken
    name: Broken Feed
    url: {feeds}/broken.rss
    interval: 1s
destinations:
  - name: hook
    type: webhook
    url: {hook}
"""
    )
    return config


def test_log_in_see_the_failing_feed_chart_playground_and_replay(
    tmp_path: Path,
    browser: Browser,  # noqa: F811
) -> None:
    accept = threading.Event()  # the receiver refuses (400: dead letter) until told otherwise

    def reply(_: Received) -> Reply:
        return Reply(200) if accept.is_set() else Reply(400, b"bad request")

    def broken(handler: BaseHTTPRequestHandler) -> None:
        handler.send_error(500)

    b = browser
    d = b.driver
    with feed_server() as server, Receiver(reply) as rx:
        server.put(
            "/wire.rss",
            rss(
                [
                    ("t1", "Troops dispatched to the border", "The army moved two brigades."),
                    ("w1", "Local bakery wins prize", "Bread."),
                ]
            ),
        )
        server.routes["/broken.rss"] = broken
        # Port 0: the daemon's pick, which DaemonProcess.port reads from its log.
        config = write_config(tmp_path, server.url("").rstrip("/"), rx.url, 0)
        env = daemon_env(NEWSMON_UI_ADMIN_PASSWORD=ADMIN_PASSWORD)
        with DaemonProcess(config, tmp_path, env=env) as daemon:
            daemon.wait_healthy(timeout=40)
            wait_for("the alert's first attempt (refused)", lambda: len(rx.requests) >= 1, 40)
            base = f"http://127.0.0.1:{daemon.port}"

            # Log in: the console sends a browser without a session to the login page.
            d.get(f"{base}/ui/feeds")
            assert "/ui/login" in d.current_url
            b.shot("login")
            d.find_element(_by("ID"), "password").send_keys(ADMIN_PASSWORD)
            d.find_element(_by("ID"), "login").click()
            _wait(b, "the feeds page", "#feeds")
            assert d.current_url.endswith("/ui/feeds")
            assert d.find_element(_by("ID"), "role").text == "admin"

            # The failing feed is marked.
            _wait(
                b, "the broken feed marked failing", 'tr.failing[data-feed="broken"]', reload=True
            )
            row = d.find_element(_by("CSS_SELECTOR"), 'tr.failing[data-feed="broken"]')
            assert "failing" in row.text
            assert d.find_element(_by("ID"), "failing-count").text == "1"
            assert d.find_elements(_by("CSS_SELECTOR"), 'tr.ok[data-feed="wire"]')
            b.shot("feeds-failing-marked")

            # A rule's chart: one alert today.
            d.find_element(_by("LINK_TEXT"), "Rules").click()
            d.find_element(_by("LINK_TEXT"), "troops").click()
            _wait(b, "the rule's chart", "#rule-chart svg rect.bar")
            bars = d.find_elements(_by("CSS_SELECTOR"), "#rule-chart svg rect.bar")
            assert len(bars) == 30
            heights = [float(bar.get_attribute("height") or 0) for bar in bars]
            assert heights[-1] > 0  # today's bar
            assert sum(1 for h in heights if h > 0) == 1
            assert d.find_element(_by("ID"), "rule-alerts").text == "1"
            b.shot("rule-chart")

            # The playground: a query over the archive, its matches with the words marked.
            d.find_element(_by("LINK_TEXT"), "Playground").click()
            d.find_element(_by("ID"), "q").send_keys("troops OR bakery")
            d.find_element(_by("CSS_SELECTOR"), '#since option[value="all"]').click()
            d.find_element(_by("ID"), "run").click()
            _wait(b, "the playground's matches", "#matches li.match")
            assert d.find_element(_by("ID"), "match-count").text == "2"
            marked = {m.text for m in d.find_elements(_by("CSS_SELECTOR"), "#matches mark")}
            assert {"Troops", "bakery"} <= marked
            b.shot("playground-matches")

            # The dead letter, replayed: the receiver now takes it.
            d.find_element(_by("LINK_TEXT"), "Dead letters").click()
            _wait(b, "the dead letter", "#dead button.replay", reload=True)
            assert "HTTP 400" in d.find_element(_by("ID"), "dead").text
            b.shot("dead-letter")
            accept.set()
            before = len(rx.requests)
            d.find_element(_by("CSS_SELECTOR"), "#dead button.replay").click()
            _wait(b, "the replay's note", "#done")
            assert d.find_element(_by("ID"), "done").text == "Replayed 1 dead letter."
            wait_for("the replayed alert at the receiver", lambda: len(rx.requests) > before, 30)
            first, again = rx.requests[0], rx.requests[-1]
            assert again.headers["webhook-id"] == first.headers["webhook-id"]

            def no_dead_letters() -> bool:
                d.refresh()
                return bool(d.find_element(_by("ID"), "dead-count").text == "0")

            wait_for("the dead letters page empty", no_dead_letters, 20)
            d.find_element(_by("LINK_TEXT"), "Alerts").click()
            _wait(b, "the delivered badge", "span.badge.delivered")
            b.shot("alert-delivered")

            # Nothing went wrong in the page itself.
            severe = [e for e in b.console_log() if e.get("level") == "SEVERE"]
            assert severe == []


# -- the hostile page --------------------------------------------------------------------------
# Every text a feed reader shows of an entry or a feed, and every address it links.
_TITLE = re.compile(
    r"<((?:\w+:)?(?:title|content|description|summary|subtitle|tagline|info|copyright|body|"
    r"fullitem|encoded))\b[^>]*>(.*?)</\1>",
    re.S | re.I,
)
_LINK = re.compile(r"<link[^>]*>(.*?)</link>|(?:href|src|url)=[\"']([^\"']*)[\"']", re.S | re.I)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)


def _raw(text: str) -> str:
    """A title or link as a feed carries it, unsanitised: CDATA opened, entities decoded once."""
    return html.unescape(_CDATA.sub(lambda m: m.group(1), text)).strip()


def hostile_corpus() -> list[tuple[str, str | None]]:
    """(title, link) pairs: every title, content, summary (and the like) and every link in the
    hostile feed corpora (feedparser's sanitizer cases, the malicious XML), unsanitised, the XXE
    payloads one a line, and hostile_titles.py. Each text becomes an item's title."""
    folders = [
        DATA / "feeds" / "feedparser" / "tests" / "wellformed" / "sanitize",
        DATA / "malicious-xml",
    ]
    if not all(f.is_dir() for f in folders):
        folders = [
            SHARED / "feeds" / "feedparser" / "tests" / "wellformed" / "sanitize",
            SHARED / "malicious-xml",
        ]
        if not all(f.is_dir() for f in folders):
            pytest.skip(f"no hostile corpora in tests/data or {SHARED}")
    pairs: list[tuple[str, str | None]] = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".md"):
            text = path.read_text(encoding="utf-8", errors="replace")
            titles = [_raw(t) for _, t in _TITLE.findall(text)]
            links = [_raw(a or b) for a, b in _LINK.findall(text)]
            if path.name == "XXE_Fuzzing.txt":
                titles, links = text.splitlines()[:300], []
            for n, title in enumerate(titles):
                pairs.append((title or path.name, links[n % len(links)] if links else None))
            for link in links[len(titles) :]:
                pairs.append((path.name, link))  # a file with links and no text
    for text in HOSTILE.values():
        pairs.append((text, "javascript:alert(document.domain)"))
    pairs += [("data link", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
              ("spaced", "  javascript:alert(1)"), ("tab", "jav\tascript:alert(1)")]  # fmt: skip
    return pairs


@pytest.fixture
def hostile_console(tmp_path: Path) -> Iterator[ConsoleServer]:
    store = SQLiteStore(tmp_path / "hostile.db")
    store.migrate()
    pairs = hostile_corpus()
    assert len(pairs) > 100, "the corpora lost their hostile material"
    seed(store, T0, titles=pairs)
    # The feeds page too: a feed per pair, named by its text, at its address.
    from monitor.model import FeedSpec

    specs = [
        FeedSpec(id="good", url="https://news.example/rss", name="Good feed"),
        FeedSpec(id="broken", url="https://broken.example/rss", name="Broken feed"),
    ]
    specs += [
        FeedSpec(id=f"h{n:04d}", url=link or "", name=title)
        for n, (title, link) in enumerate(pairs)
    ]
    store.sync_feeds(specs, T0)
    for n, _ in enumerate(pairs):  # every alert a dead letter too
        store.dead_letter(f"msg_{n:032x}", None, T0, "HTTP 400")
    console = make_console(store, FakeClock(T0))
    with ConsoleServer(console) as srv:
        yield srv
    store.close()


def test_every_hostile_title_and_link_renders_without_running_anything(
    hostile_console: ConsoleServer,
    browser: Browser,  # noqa: F811
) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    b, d, srv = browser, browser.driver, hostile_console
    d.get(srv.url("/ui/login"))
    d.find_element(_by("ID"), "password").send_keys(ADMIN_PASSWORD)
    d.find_element(_by("ID"), "login").click()
    _wait(b, "the feeds page", "#feeds")
    n = len(hostile_corpus())
    assert n <= MAX_SHOWN, "more pairs than a page shows: raise pages.MAX_SHOWN or split"
    pages = [f"/ui/alerts?n={n}", f"/ui/dead?n={n}", "/ui/rules", "/ui/feeds",
             "/ui/playground?q=troops+OR+script+OR+alert&since=all"]  # fmt: skip
    for path in pages:
        d.get(srv.url(path))
        time.sleep(0.3)  # let any (blocked) script or image be tried and reported
        with pytest.raises(NoAlertPresentException):
            d.switch_to.alert.text  # noqa: B018 (no dialog was opened)
        for tag in ("script", "iframe", "object", "embed", "img", "frame"):
            assert d.find_elements(_by("TAG_NAME"), tag) == [], (path, tag)
        for a in d.find_elements(_by("TAG_NAME"), "a"):
            href = a.get_attribute("href") or ""
            assert href.startswith(("http://", "https://")), (path, href)
            assert not href.lower().startswith(("javascript", "data"))
        b.shot("hostile" + path.split("?")[0].replace("/", "-"))
        rows = {
            "/ui/alerts": "article.alert",
            "/ui/dead": "#dead tbody tr",
            "/ui/feeds": "#feeds tbody tr",
        }
        css = rows.get(path.split("?")[0])
        if css is not None:  # every pair is on the page, not only the first few
            expected = n + 2 if css.startswith("#feeds") else n
            assert len(d.find_elements(_by("CSS_SELECTOR"), css)) == expected, path
    log = b.console_log()
    assert log == [], log
    time.sleep(0.5)
    assert list(srv.console.csp_reports) == []

    # The two detectors work: a script forced into the page is blocked, logged and reported.
    d.execute_script(
        "var s = document.createElement('script'); s.textContent = 'window.x = 1';"
        " document.body.appendChild(s);"
    )
    wait_for("the CSP report of the forced script", lambda: list(srv.console.csp_reports), 10)
    assert srv.console.csp_reports[0]["violated-directive"].startswith("script-src")
    assert any("Content Security Policy" in e.get("message", "") for e in b.console_log())


def test_a_missing_browser_skips_here_but_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests import browser_support

    monkeypatch.setattr(browser_support, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the Debian package 'chromium'"):
        browser_support.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no browser"):
        browser_support.require_browser()


# -- cookies of other apps on the same host ------------------------------------------------------
class _OtherApp(BaseHTTPRequestHandler):
    """Another web app on 127.0.0.1, on another port. Cookies ignore ports: what it sets for `/`
    comes with every request the browser makes to the console too."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Set-Cookie", "prefs=dark mode; Path=/")  # a space: legal to browsers
        self.send_header("Set-Cookie", 'state={"tab":1}; Path=/')
        self.send_header("Set-Cookie", "lang=en; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_cookies_another_app_of_the_host_sets_do_not_stop_a_login(
    tmp_path: Path,
    browser: Browser,  # noqa: F811
) -> None:
    from http.server import ThreadingHTTPServer

    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    other = ThreadingHTTPServer(("127.0.0.1", 0), _OtherApp)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    b, d = browser, browser.driver
    try:
        with ConsoleServer(make_console(store, FakeClock(T0))) as srv:
            d.get(f"http://127.0.0.1:{other.server_port}/")
            assert {c["name"] for c in d.get_cookies()} >= {"prefs", "state", "lang"}
            d.get(srv.url("/ui/feeds"))
            d.find_element(_by("ID"), "password").send_keys(ADMIN_PASSWORD)
            d.find_element(_by("ID"), "login").click()
            _wait(b, "the feeds page", "#feeds", timeout=10)
            assert d.find_element(_by("ID"), "role").text == "admin"
            d.find_element(_by("LINK_TEXT"), "Dead letters").click()
            _wait(b, "the dead letters page", "#dead button.replay", timeout=10)
            b.shot("login-beside-other-cookies")
    finally:
        other.shutdown()
        other.server_close()
        thread.join(10)
        store.close()


def test_a_page_on_another_port_of_the_host_cannot_log_the_browser_in(
    tmp_path: Path,
    browser: Browser,  # noqa: F811
) -> None:
    """Another port of 127.0.0.1 is the same site to a browser: its forms carry the console's
    SameSite=Strict cookies, and cookies it sets reach the console (they ignore ports). Such a
    page picks a login nonce, fetches the console's CSRF token for it, sets the nonce as the
    console's cookie and posts the login form with a password it knows."""
    import httpx

    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    nonce = "A" * 24
    page: list[bytes] = []

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Set-Cookie", f"newsmon_login={nonce}; Path=/ui")
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page[0])))
            self.end_headers()
            self.wfile.write(page[0])

        def log_message(self, *args: object) -> None:
            pass

    from http.server import ThreadingHTTPServer

    other = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    b, d = browser, browser.driver
    try:
        with ConsoleServer(make_console(store, FakeClock(T0))) as srv:
            form = httpx.get(srv.url("/ui/login"), cookies={"newsmon_login": nonce})
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            page.append(
                f'<form method="post" action="{srv.url("/ui/login")}">'
                f'<input name="csrf" value="{token.group(1)}">'
                f'<input name="password" value="{READ_PASSWORD}"></form>'
                "<script>document.forms[0].submit()</script>".encode()
            )
            d.get(f"http://127.0.0.1:{other.server_port}/")
            wait_for("the form posted", lambda: d.current_url.startswith(srv.url("/ui/")), 10)
            time.sleep(0.3)
            b.shot("login-posted-from-another-port")
            assert d.current_url == srv.url("/ui/login")
            assert "refused" in d.find_element(_by("TAG_NAME"), "body").text
            assert not any(c["name"] == "newsmon_session" for c in d.get_cookies())
            d.get(srv.url("/ui/feeds"))
            assert "/ui/login" in d.current_url  # not logged in

            # The console's own form still logs in: the browser says same-origin.
            d.find_element(_by("ID"), "password").send_keys(ADMIN_PASSWORD)
            d.find_element(_by("ID"), "login").click()
            _wait(b, "the feeds page", "#feeds", timeout=10)
    finally:
        other.shutdown()
        other.server_close()
        thread.join(10)
        store.close()


def test_a_page_whose_name_was_rebound_to_127_0_0_1_reads_and_posts_nothing(
    tmp_path: Path,
    rebound_browser: Browser,  # noqa: F811
) -> None:
    """DNS rebinding: the browser resolves the attacker's name to 127.0.0.1, so a script of that
    page is same-origin with the console's port. The listener sees the name in Host and refuses
    the page itself, its reads of /metrics and its login posts; localhost still gets the form."""
    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    b, d = rebound_browser, rebound_browser.driver
    try:
        with ConsoleServer(make_console(store, FakeClock(T0))) as srv:
            origin = f"http://{REBOUND}:{srv.port}"
            d.get(f"{origin}/ui/login")
            b.shot("rebound-name-refused")
            text = d.find_element(_by("TAG_NAME"), "body").text
            assert "http_allowed_hosts" in text
            assert not d.find_elements(_by("ID"), "password")
            d.get(f"{origin}/metrics")  # a page of that origin, as the attacker's script runs
            answers = d.execute_async_script(
                """const done = arguments[arguments.length - 1];
                const metrics = fetch("/metrics").then(r => r.status);
                const login = fetch("/ui/login", {method: "POST", body: new URLSearchParams(
                    {password: arguments[0]})}).then(r => r.status);
                Promise.all([metrics, login]).then(done, e => done(String(e)));""",
                READ_PASSWORD,
            )
            assert answers == [403, 403]
            assert not d.get_cookies()
            d.get(f"http://localhost:{srv.port}/ui/login")
            _wait(b, "the login form under localhost", "#password", timeout=10)
    finally:
        store.close()


class _CountingStore(SQLiteStore):
    """A real store that counts the playground's archive reads."""

    reads = 0

    def read_archive(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super().read_archive(*args, **kwargs)


def test_an_image_on_another_port_of_the_host_does_not_run_the_playground(
    tmp_path: Path,
    browser: Browser,  # noqa: F811
) -> None:
    from http.server import ThreadingHTTPServer

    store = _CountingStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    page: list[bytes] = []

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page[0])))
            self.end_headers()
            self.wfile.write(page[0])

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    b, d = browser, browser.driver
    try:
        with ConsoleServer(make_console(store, FakeClock(T0))) as srv:
            d.get(srv.url("/ui/login"))
            d.find_element(_by("ID"), "password").send_keys(ADMIN_PASSWORD)
            d.find_element(_by("ID"), "login").click()
            _wait(b, "the feeds page", "#feeds", timeout=10)
            run = srv.url("/ui/playground?q=troops&since=all")
            page.append(
                f'<img src="{run}" id="probe" alt="x"><a href="{run}" id="go">go</a>'.encode()
            )
            d.get(f"http://127.0.0.1:{other.server_port}/")
            wait_for(
                "the image tried",
                lambda: d.execute_script("return document.getElementById('probe').complete"),
                10,
            )
            assert store.reads == 0
            # A link on that page still opens the console, signed in: the run happens.
            d.find_element(_by("ID"), "go").click()
            _wait(b, "the playground's matches", "#match-count", timeout=10)
            assert store.reads > 0
    finally:
        other.shutdown()
        other.server_close()
        thread.join(10)
        store.close()
