"""The console on a real listener on 127.0.0.1: authentication on every page, sessions, CSRF,
the login rate limit, security headers, escaping of hostile feed text, and each page's content."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from monitor.clock import FakeClock
from monitor.model import ArchivedItem
from monitor.store.console_sql import FeedHealth
from monitor.store.sqlite import SQLiteStore
from tests.console_support import (
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    READ_PASSWORD,
    READ_TOKEN,
    ConsoleServer,
    make_console,
    seed,
)
from tests.delivery_support import alert_row
from tests.store_fixtures import T0

PAGES = [
    "/ui/feeds",
    "/ui/rules",
    "/ui/rules/troops",
    "/ui/alerts",
    "/ui/dead",
    "/ui/playground",
    "/ui/playground?q=troops",
]
ACTIONS = ["/ui/dead/replay", "/ui/destinations/enable", "/ui/alerts/label", "/ui/logout"]


class Env:
    def __init__(
        self, srv: ConsoleServer, store: SQLiteStore, clock: FakeClock, ids: dict[str, str]
    ):
        self.srv, self.store, self.clock, self.ids = srv, store, clock, ids
        self.replays = 0

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.srv.url(""), trust_env=False, timeout=10, **kw)

    @contextmanager
    def login(self, password: str, **kw: Any) -> Iterator[httpx.Client]:
        with self.client(**kw) as c:
            form = c.get("/ui/login")
            assert form.status_code == 200
            r = c.post("/ui/login", data={"password": password, "csrf": csrf_of(form.text)})
            assert r.status_code == 303, r.text
            yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = SQLiteStore(tmp_path / "newsmon.db")
    store.migrate()
    clock = FakeClock(T0)
    ids = seed(store, T0)
    holder: list[Env] = []

    def replayed() -> None:
        holder[0].replays += 1

    console = make_console(store, clock, on_replay=replayed)
    with ConsoleServer(console) as srv:
        holder.append(Env(srv, store, clock, ids))
        yield holder[0]
    store.close()


# -- authentication ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_credentials_is_401_or_a_redirect_to_login(env: Env, path: str) -> None:
    with env.client() as c:
        plain = c.get(path)
        assert plain.status_code == 401
        assert plain.headers["www-authenticate"].startswith("Bearer")
        browser = c.get(path, headers={"accept": "text/html"})
        assert browser.status_code == 303
        assert browser.headers["location"].startswith("/ui/login?next=%2Fui%2F")
        wrong = c.get(path, headers={"authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401
        c.cookies.set("newsmon_session", '["admin", "x", 9999999999].AAAA')
        assert c.get(path).status_code == 401


@pytest.mark.parametrize("path", ACTIONS)
def test_every_action_without_credentials_is_401_and_changes_nothing(env: Env, path: str) -> None:
    with env.client() as c:
        r = c.post(path, data={"all": "1", "id": env.ids["dead"], "name": "hook"})
        assert r.status_code in (401, 303)  # logout without a session just clears the cookie
        if path != "/ui/logout":
            assert r.status_code == 401
    assert alert_row(env.store, env.ids["dead"]).status == "dead"


def test_login_sets_a_strict_httponly_cookie_and_opens_every_page(env: Env) -> None:
    with env.client() as c:
        form = c.get("/ui/login")
        wrong = c.post("/ui/login", data={"password": "nope-nope", "csrf": csrf_of(form.text)})
        assert wrong.status_code == 401
        assert "Wrong password" in wrong.text
        r = c.post(
            "/ui/login",
            data={"password": READ_PASSWORD, "csrf": csrf_of(form.text), "next": "/ui/alerts"},
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/ui/alerts"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("newsmon_session=")
        for part in ("HttpOnly", "SameSite=Strict", "Path=/ui"):
            assert part in cookie
        assert "Secure" not in cookie  # plain http on loopback
        for path in PAGES:
            page = c.get(path)
            assert page.status_code == 200, path
            assert 'id="role">read<' in page.text
        # A login form that did not come from this console is refused.
        c.cookies.clear()
        assert c.post("/ui/login", data={"password": READ_PASSWORD}).status_code == 403


def test_an_offsite_next_is_ignored(env: Env) -> None:
    with env.client() as c:
        form = c.get("/ui/login")
        r = c.post(
            "/ui/login",
            data={
                "password": READ_PASSWORD,
                "csrf": csrf_of(form.text),
                "next": "//evil.example/ui/x",
            },
        )
        assert r.headers["location"] == "/ui/feeds"


def test_sessions_expire_and_logout_revokes_them(env: Env) -> None:
    with env.login(READ_PASSWORD) as c:
        assert c.get("/ui/feeds").status_code == 200
        env.clock.advance(hours=9)  # past the 8h session
        assert c.get("/ui/feeds").status_code == 401
    with env.login(READ_PASSWORD) as c:
        page = c.get("/ui/feeds")
        stolen = dict(c.cookies)
        assert c.post("/ui/logout", data={}).status_code == 403  # CSRF token missing
        out = c.post("/ui/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        assert "Max-Age=0" in out.headers["set-cookie"]
    with env.client(cookies=stolen) as other:
        assert other.get("/ui/feeds").status_code == 401


@pytest.mark.parametrize(
    "others",
    ["prefs=dark mode; lang=en", 'state={"tab": 1}', 'x="unclosed; y=1', "newsmon_session=planted"],
)
def test_cookies_other_apps_of_the_host_set_do_not_hide_the_session(env: Env, others: str) -> None:
    """Cookies ignore ports: any app on 127.0.0.1 may set cookies for `/`, sent after the
    console's own (a browser sends the cookie of the longest path first). One the console
    cannot read is passed over, not the whole header; a same-named one does not replace ours."""
    with env.login(READ_PASSWORD) as c:
        session = c.cookies["newsmon_session"]
    with env.client() as c:
        r = c.get("/ui/feeds", headers={"cookie": f"newsmon_session={session}; {others}"})
        assert r.status_code == 200, others


def test_secure_cookie_only_on_https_said_by_a_trusted_proxy(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    for trusted, expect_secure in (["127.0.0.1"], True), ([], False):
        console = make_console(store, FakeClock(T0), trusted_proxies=trusted)
        with (
            ConsoleServer(console) as srv,
            httpx.Client(base_url=srv.url(""), trust_env=False) as c,
        ):
            headers = {"x-forwarded-proto": "https"}
            form = c.get("/ui/login", headers=headers)
            assert ("Secure" in form.headers["set-cookie"]) is expect_secure
            # httpx keeps a Secure cookie from plain http; the proxy's side would be https.
            headers["cookie"] = form.headers["set-cookie"].split(";")[0]
            c.cookies.clear()
            data = {"password": READ_PASSWORD, "csrf": csrf_of(form.text)}
            r = c.post("/ui/login", headers=headers, data=data)
            assert r.status_code == 303
            assert ("Secure" in r.headers["set-cookie"]) is expect_secure
    store.close()


def test_bearer_tokens_for_scripts_with_their_roles(env: Env) -> None:
    with env.client() as c:
        read = {"authorization": f"Bearer {READ_TOKEN}"}
        admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        assert c.get("/ui/feeds", headers=read).status_code == 200
        assert (
            c.get("/ui/feeds", headers={"authorization": f"Basic {READ_TOKEN}"}).status_code == 401
        )
        refused = c.post("/ui/dead/replay", headers=read, data={"id": env.ids["dead"]})
        assert refused.status_code == 403
        assert alert_row(env.store, env.ids["dead"]).status == "dead"
        # No browser sends a bearer token by itself: no CSRF token needed.
        done = c.post("/ui/dead/replay", headers=admin, data={"id": env.ids["dead"]})
        assert done.status_code == 303
    assert alert_row(env.store, env.ids["dead"]).status == "pending"
    assert env.replays == 1


# -- CSRF and roles ----------------------------------------------------------------------------
def test_a_state_change_without_the_csrf_token_is_403(env: Env) -> None:
    with env.login(ADMIN_PASSWORD) as c:
        page = c.get("/ui/dead")
        assert 'class="replay"' in page.text
        for data in ({"id": env.ids["dead"]}, {"id": env.ids["dead"], "csrf": "forged"}):
            r = c.post("/ui/dead/replay", data=data)
            assert r.status_code == 403
        assert alert_row(env.store, env.ids["dead"]).status == "dead"
        assert c.get("/ui/dead/replay").status_code == 404  # a GET changes nothing
        r = c.post("/ui/dead/replay", data={"id": env.ids["dead"], "csrf": csrf_of(page.text)})
        assert r.status_code == 303
        assert r.headers["location"] == "/ui/dead?replayed=1"
        assert "Replayed 1 dead letter." in c.get(r.headers["location"]).text
        assert "Recorded 2 labels." in c.get("/ui/alerts?labelled=2").text
    assert alert_row(env.store, env.ids["dead"]).status == "pending"


def test_a_post_a_browser_says_another_site_or_port_made_is_403(env: Env) -> None:
    """Sec-Fetch-Site: "same-site" is any other port of this host too (cookies and SameSite
    ignore ports). Scripts and older browsers send no such header; the token still holds."""
    with env.login(ADMIN_PASSWORD) as c:
        data = {"id": env.ids["dead"], "csrf": csrf_of(c.get("/ui/dead").text)}
        for site in ("cross-site", "same-site"):
            r = c.post("/ui/dead/replay", data=data, headers={"sec-fetch-site": site})
            assert r.status_code == 403, site
            assert "another site or another port" in r.text
            out = c.post("/ui/logout", data=data, headers={"sec-fetch-site": site})
            assert out.status_code == 403
        assert alert_row(env.store, env.ids["dead"]).status == "dead"
        assert c.get("/ui/feeds", headers={"sec-fetch-site": "same-site"}).status_code == 200
        r = c.post("/ui/dead/replay", data=data, headers={"sec-fetch-site": "same-origin"})
        assert r.status_code == 303
    assert alert_row(env.store, env.ids["dead"]).status == "pending"


def test_only_a_link_from_another_site_or_port_opens_a_page(env: Env) -> None:
    """An <img> (or a fetch, or a frame) of another port's page carries the SameSite=Strict
    cookie too: it must not run the playground as the signed-in user."""
    run = "/ui/playground?q=troops&since=all"
    other = {"sec-fetch-site": "same-site"}
    with env.login(READ_PASSWORD) as c:
        for mode, dest in (("no-cors", "image"), ("cors", "empty"), ("navigate", "iframe")):
            headers = {**other, "sec-fetch-mode": mode, "sec-fetch-dest": dest}
            r = c.get(run, headers=headers)
            assert r.status_code == 403, dest
            assert "match-count" not in r.text
        link = {**other, "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
        assert 'id="match-count"' in c.get(run, headers=link).text
        own = {
            "sec-fetch-site": "same-origin",
            "sec-fetch-mode": "no-cors",
            "sec-fetch-dest": "image",
        }
        assert c.get("/ui/feeds", headers=own).status_code == 200
        assert c.get("/ui/static/favicon.svg", headers=headers).status_code == 200


def test_the_read_only_role_sees_but_cannot_act(env: Env) -> None:
    with env.login(READ_PASSWORD) as c:
        page = c.get("/ui/dead")
        assert env.ids["dead"] in page.text
        assert 'class="replay"' not in page.text
        r = c.post("/ui/dead/replay", data={"id": env.ids["dead"], "csrf": csrf_of(page.text)})
        assert r.status_code == 403
    assert alert_row(env.store, env.ids["dead"]).status == "dead"


def test_an_admin_labels_an_alert_and_re_enables_a_destination(env: Env) -> None:
    env.store.disable_destination("hook", "410 Gone", T0)
    with env.login(ADMIN_PASSWORD) as c:
        page = c.get("/ui/dead")
        assert "Disabled destinations" in page.text
        token = csrf_of(page.text)
        r = c.post("/ui/destinations/enable", data={"name": "hook", "csrf": token})
        assert r.status_code == 303
        assert env.store.disabled_destinations() == {}
        done = c.get(r.headers["location"]).text
        assert "Destination re-enabled: its dead letters stay dead until replayed." in done
        # A second click (or a stale page) said "re-enabled" too, of a destination that was not.
        r = c.post("/ui/destinations/enable", data={"name": "hook", "csrf": token})
        assert r.headers["location"].endswith("/ui/dead?enabled=0")
        assert (
            "That destination was not disabled: nothing changed."
            in c.get("/ui/dead?enabled=0").text
        )
        alert_id = f"msg_{1:032x}"
        r = c.post("/ui/alerts/label", data={"alert": alert_id, "relevant": "1", "csrf": token})
        assert r.status_code == 303
    labels = env.store.list_labels()
    assert [(x.relevant, x.who) for x in labels] == [(True, "console")]


# -- the login rate limit ----------------------------------------------------------------------
def test_login_rate_limit_holds_and_lifts_with_the_clock(env: Env) -> None:
    with env.client() as c:
        form = c.get("/ui/login")
        token = csrf_of(form.text)
        for _ in range(5):
            r = c.post("/ui/login", data={"password": "guess-guess", "csrf": token})
            assert r.status_code == 401
        limited = c.post("/ui/login", data={"password": READ_PASSWORD, "csrf": token})
        assert limited.status_code == 429  # even the right password, while limited
        assert int(limited.headers["retry-after"]) > 0
        assert "newsmon_session" not in limited.headers.get("set-cookie", "")
        env.clock.advance(minutes=16)
        ok = c.post("/ui/login", data={"password": READ_PASSWORD, "csrf": token})
        assert ok.status_code == 303


def test_logins_refused_by_the_limit_are_logged_once_a_second(env: Env) -> None:
    """No form token is needed to be refused by the limit, so whoever reaches the port can send
    a thousand refused logins a second: each was a warning line. Now one a second, with the
    number refused since the last."""
    with env.client() as c:
        token = csrf_of(c.get("/ui/login").text)
        for _ in range(5):
            assert c.post("/ui/login", data={"password": "guess", "csrf": token}).status_code == 401
        with capture_logs() as logs:
            for _ in range(30):
                assert c.post("/ui/login", data={}).status_code == 429
            env.clock.advance(seconds=1)
            assert c.post("/ui/login", data={}).status_code == 429
    limited = [e for e in logs if e["event"] == "console_login_limited"]
    assert [(e["log_level"], e.get("refused")) for e in limited] == [
        ("warning", 1),
        ("warning", 30),
    ]


def test_a_read_only_login_does_not_reset_the_guesses_at_the_admin_password(env: Env) -> None:
    with env.client() as c:
        token = csrf_of(c.get("/ui/login").text)

        def attempt(password: str) -> int:
            return c.post("/ui/login", data={"password": password, "csrf": token}).status_code

        assert [attempt(f"admin-guess-{n}") for n in range(4)] == [401] * 4
        assert attempt(READ_PASSWORD) == 303
        c.cookies.delete("newsmon_session")
        assert attempt("admin-guess-4") == 401  # the fifth failure of the window
        assert attempt(ADMIN_PASSWORD) == 429
        env.clock.advance(minutes=16)
        assert attempt(ADMIN_PASSWORD) == 303
        # An admin login forgives: nothing is left to guess.
        c.cookies.delete("newsmon_session")
        assert [attempt(f"typo-{n}") for n in range(4)] == [401] * 4
        assert attempt(ADMIN_PASSWORD) == 303
        c.cookies.delete("newsmon_session")
        assert [attempt(f"typo-{n}") for n in range(4)] == [401] * 4


def test_the_limit_is_per_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    console = make_console(store, FakeClock(T0), trusted_proxies=["127.0.0.1"], login_attempts=2)
    with ConsoleServer(console) as srv, httpx.Client(base_url=srv.url(""), trust_env=False) as c:
        token = csrf_of(c.get("/ui/login").text)

        def attempt(client_ip: str, password: str) -> int:
            headers = {"x-forwarded-for": f"203.0.113.9, {client_ip}"}
            data = {"password": password, "csrf": token}
            return c.post("/ui/login", data=data, headers=headers).status_code

        assert [attempt("198.51.100.1", "wrong-wrong") for _ in range(3)] == [401, 401, 429]
        assert attempt("198.51.100.2", READ_PASSWORD) == 303
    store.close()


# -- headers and escaping ----------------------------------------------------------------------
def test_every_answer_carries_the_security_headers(env: Env) -> None:
    with env.login(READ_PASSWORD) as c:
        answers = [c.get(p) for p in PAGES]
        answers += [c.get("/ui/login"), c.get("/ui/static/console.css"), c.get("/ui/nothing")]
    with env.client() as anon:
        answers += [anon.get("/ui/feeds"), anon.post("/ui/dead/replay")]
    for r in answers:
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp, r.url
        assert "script-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "report-uri /ui/csp-report" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"


class Markup(HTMLParser):
    """Every tag and attribute of a page, to check that feed text made none."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


HOSTILE = [
    ("<script>window.pwned=1</script> troops", "javascript:alert(1)"),
    ('"><img src=x onerror=alert(1)> troops', "data:text/html,<script>alert(1)</script>"),
    ("troops \u202egnp.exe", " javascript:alert(2)"),
    ("troops " + "A" * 100_000, "https://news.example/" + "b" * 5000),
    ("<svg onload=alert(1)>troops</svg>", "java\tscript:alert(3)"),
    ("troops <a href='javascript:x'>x</a>", "//evil.example/x"),
]


def test_hostile_titles_and_links_are_escaped_on_every_page(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0, titles=HOSTILE)
    console = make_console(store, FakeClock(T0))
    with ConsoleServer(console) as srv, httpx.Client(base_url=srv.url(""), trust_env=False) as c:
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        for path in [*PAGES, "/ui/playground?q=troops&since=all"]:
            r = c.get(path, headers=headers)
            assert r.status_code == 200, path
            assert len(r.content) < 400_000, f"{path}: a long title made a long page"
            parsed = Markup()
            parsed.feed(r.text)
            assert "script" not in parsed.tags, path
            assert "img" not in parsed.tags, path
            for tag, name, value in parsed.attrs:
                assert not name.startswith("on"), (path, tag, name)
                if name in ("href", "src", "action"):
                    assert value.startswith(("/ui/", "https://", "http://")), (path, value)
                    assert not value.startswith("//")
            assert "javascript:alert" not in "".join(v for _, n, v in parsed.attrs if n == "href")
            assert "<script>window.pwned" not in r.text
        alerts = c.get("/ui/alerts", headers=headers).text
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in alerts
        assert "A" * 400 not in alerts
        assert "…" in alerts
        assert "\u202e" in alerts
        assert "<bdi>" in alerts
        playground = c.get("/ui/playground?q=troops&since=all", headers=headers).text
        assert "<mark>troops</mark>" in playground
    store.close()


def test_csp_reports_are_recorded(env: Env) -> None:
    with env.client() as c:
        report = {
            "csp-report": {
                "document-uri": "http://127.0.0.1/ui/feeds",
                "violated-directive": "script-src",
                "blocked-uri": "inline",
            }
        }
        r = c.post("/ui/csp-report", json=report,
                   headers={"content-type": "application/csp-report"})  # fmt: skip
        assert r.status_code == 204
        assert c.post("/ui/csp-report", content=b"not json").status_code == 400
        # JSON nested past the parser's recursion limit: not a report, not a 500
        deep = c.post("/ui/csp-report", content=b"[" * 20_000)
        assert deep.status_code == 400, deep.text
    assert list(env.srv.console.csp_reports) == [
        {
            "document-uri": "http://127.0.0.1/ui/feeds",
            "violated-directive": "script-src",
            "blocked-uri": "inline",
            "script-sample": "",
        }
    ]


def test_a_query_or_form_of_too_many_fields_is_400_not_500(env: Env) -> None:
    many = "&".join(f"f{n}=1" for n in range(60))
    with env.client() as c:
        form = c.get("/ui/login")
        asked = [
            c.get(f"/ui/login?{many}"),
            c.get(f"/ui/alerts?{many}", headers={"authorization": f"Bearer {READ_TOKEN}"}),
            c.post(
                "/ui/login",
                content=f"password={READ_PASSWORD}&csrf={csrf_of(form.text)}&{many}",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
        ]
    for r in asked:
        assert r.status_code == 400, (r.request.url, r.text)
        assert "more than 50 fields" in r.text
        assert r.headers["x-content-type-options"] == "nosniff"


# -- pages -------------------------------------------------------------------------------------
def test_feeds_page_marks_the_failing_feed(env: Env) -> None:
    with env.client(headers={"authorization": f"Bearer {READ_TOKEN}"}) as c:
        page = c.get("/ui/feeds").text
    assert 'id="failing-count" class="fail">1<' in page
    row = re.search(r'<tr class="failing" data-feed="broken">(.*?)</tr>', page, re.S)
    assert row, "the failing feed is not marked"
    assert "http_status" in row.group(1)
    assert "× 3" in row.group(1)
    assert "HTTP 500 from broken.example" in row.group(1)
    assert '<tr class="ok" data-feed="good">' in page


def test_rules_page_charts_alerts_per_day(env: Env) -> None:
    with env.client(headers={"authorization": f"Bearer {READ_TOKEN}"}) as c:
        rules = c.get("/ui/rules").text
        one = c.get("/ui/rules/troops").text
        missing = c.get("/ui/rules/nope")
    troops = re.search(r'<tr data-rule="troops">(.*?)</tr>', rules, re.S)
    assert troops
    assert '<td class="num">2</td>' in troops.group(1)
    # Two alerts: one today (minus an hour: 2026-03-01), one the day before.
    assert "<title>2026-03-01: 1</title>" in one
    assert "<title>2026-02-28: 1</title>" in one
    assert len(re.findall(r'<rect class="bar"', one)) == 30
    quiet = re.search(r'<tr data-rule="quiet">(.*?)</tr>', rules, re.S)
    assert quiet
    assert '<td class="num">0</td>' in quiet.group(1)
    assert missing.status_code == 404


def test_alerts_page_shows_explanations_deliveries_and_sightings(env: Env) -> None:
    with env.client(headers={"authorization": f"Bearer {READ_TOKEN}"}) as c:
        page = c.get("/ui/alerts").text
    assert "Government sends <mark>troops</mark> to the border" in page
    assert '<span class="badge dead">dead</span>' in page
    assert "HTTP 410: the hook is gone" in page
    assert '<span class="badge pending">pending</span>' in page
    assert "Story: 1 sighting(s)" in page


def test_alerts_page_shows_every_matched_clause_and_folds_the_exclusions(tmp_path: Path) -> None:
    """A long rule's explanation (the example rules list 19 clauses) is shown whole: what
    matched in the line, the exclusions that held folded under it, none cut off at ten."""
    long_clause = "(" + " OR ".join(f"word{n}" for n in range(90)) + ") NEAR/4 ukrain*"
    assert len(long_clause) > 900
    matched = [f"term{n}" for n in range(12)] + [long_clause]
    exclusions = [f"NOT held{n} ONEAR/2 back" for n in range(9)]
    store = SQLiteStore(tmp_path / "newsmon.db")
    store.migrate()
    seed(store, T0, clauses=[*matched, *exclusions])
    with (
        ConsoleServer(make_console(store, FakeClock(T0))) as srv,
        httpx.Client(base_url=srv.url(""), trust_env=False, timeout=10) as c,
    ):
        page = c.get("/ui/alerts", headers={"authorization": f"Bearer {READ_TOKEN}"}).text
    store.close()
    why = page[page.index('<div class="why">') :]
    line, folded = why.split('<details class="exclusions">', 1)
    for clause in matched:
        assert f"<code><bdi>{clause}</bdi></code>" in line
    assert "<summary>9 exclusion(s) checked, none tripped</summary>" in folded
    for clause in exclusions:
        assert f"<li><code><bdi>{clause}</bdi></code></li>" in folded
        assert clause not in line


def test_playground_runs_a_query_and_diffs_an_edited_rule(env: Env) -> None:
    with env.client(headers={"authorization": f"Bearer {READ_TOKEN}"}) as c:
        q = c.get("/ui/playground", params={"q": "troops AND border", "since": "all"}).text
        assert 'id="match-count">1<' in q
        assert "<mark>troops</mark>" in q
        assert "<mark>border</mark>" in q
        diff = c.get("/ui/playground", params={"q": "withdraw", "rule": "troops", "since": "all"})
        assert 'id="gained">0<' in diff.text
        assert 'id="lost">1<' in diff.text
        live = c.get("/ui/playground", params={"rule": "troops", "since": "all"}).text
        assert 'id="match-count">2<' in live
        bad = c.get("/ui/playground", params={"q": "troops AND (", "since": "all"})
        assert bad.status_code == 200
        assert 'id="playground-error"' in bad.text
        # a field inside a NEAR side was ignored by matching: refused, with where and instead
        nested = c.get("/ui/playground", params={"q": "(title:troops OR x) NEAR/2 border"})
        assert nested.status_code == 200
        assert 'id="playground-error"' in nested.text
        assert "a field cannot go inside NEAR, not even deeper in a group" in nested.text
        assert "title:(a NEAR/3 b)" in nested.text
        assert "(at character 2)" in nested.text
        assert 'id="match-count"' not in nested.text
        unknown = c.get("/ui/playground", params={"rule": "nope"}).text
        assert "no rule &#39;nope&#39;" in unknown or "no rule &#x27;nope&#x27;" in unknown


def test_the_console_is_not_there_unless_enabled(tmp_path: Path) -> None:
    import asyncio

    from monitor.metrics import Metrics
    from monitor.process.httpserver import ReadyState, serve

    async def main() -> int:
        async def ready() -> ReadyState:
            return ReadyState(True, "v", 1)

        srv = await serve("127.0.0.1:0", metrics=Metrics(), liveness=lambda: True, readiness=ready)
        async with srv, httpx.AsyncClient(trust_env=False) as c:
            return (await c.get(f"http://127.0.0.1:{srv.port}/ui/feeds")).status_code

    assert asyncio.run(main()) == 404


def test_a_session_lasts_its_ttl_of_8h_and_no_longer(env: Env) -> None:
    with env.login(READ_PASSWORD) as c:
        env.clock.advance(hours=7, minutes=59)
        assert c.get("/ui/feeds").status_code == 200
        env.clock.advance(minutes=2)
        assert c.get("/ui/feeds", headers={"accept": "text/html"}).status_code == 303


def test_no_page_ever_shows_a_credential(env: Env) -> None:
    from tests.console_support import CREDENTIALS

    with env.login(ADMIN_PASSWORD) as c:
        bodies = [c.get(p).text for p in [*PAGES, "/ui/login", "/ui/nothing"]]
        bodies.append(c.post("/ui/dead/replay", data={"id": "x"}).text)  # a 403 page
    with env.client() as anon:
        form = anon.get("/ui/login")
        bodies.append(form.text)
        bodies.append(anon.post("/ui/login", data={"password": "wrong-wrong",
                                                   "csrf": csrf_of(form.text)}).text)  # fmt: skip
    for credential in CREDENTIALS:
        for body in bodies:
            assert credential.value not in body


def test_head_answers_like_get_without_a_body(env: Env) -> None:
    with env.client(headers={"authorization": f"Bearer {READ_TOKEN}"}) as c:
        head = c.head("/ui/feeds")
    assert head.status_code == 200
    assert head.content == b""
    assert "default-src 'self'" in head.headers["content-security-policy"]


def test_a_login_nonce_that_is_not_ours_is_replaced(env: Env) -> None:
    with env.client() as c:
        for odd in ("\u00e9vil", "x" * 100, "a b", "a.b"):
            r = c.get("/ui/login", headers={b"cookie": f"newsmon_login={odd}".encode()})
            assert r.status_code == 200
            fresh = r.headers["set-cookie"].split(";")[0].removeprefix("newsmon_login=")
            assert fresh != odd
            assert re.fullmatch(r"[A-Za-z0-9_-]{24}", fresh)


def test_concurrent_wrong_logins_get_no_more_tries_than_the_limit(env: Env) -> None:
    """Guesses sent at once, before any has been answered, are counted as they arrive: a burst
    cannot slip a dozen guesses past a limit of five while the first hashes are computed."""

    async def burst() -> list[int]:
        base = env.srv.url("")
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as c:
            token = csrf_of((await c.get("/ui/login")).text)
            data = {"password": "guess-guess", "csrf": token}
            answers = await asyncio.gather(*(c.post("/ui/login", data=data) for _ in range(12)))
            return [r.status_code for r in answers]

    statuses = asyncio.run(burst())
    assert sorted(statuses) == [401] * 5 + [429] * 7


def test_a_listener_refusal_under_ui_carries_the_security_headers(env: Env) -> None:
    """A body over the listener's cap is refused before the console sees it; that answer, too,
    is one of the console's and carries its headers."""
    with env.client() as c:
        r = c.post("/ui/login", content=b"x" * 70_000)
    assert r.status_code == 413
    assert "script-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_clients_sending_their_bodies_slowly_hold_no_answering_slot(env: Env) -> None:
    """70 clients send a POST's head and one byte of its body, and stall (each until the
    listener's read timeout): more than the 64 answering slots. Pages, /metrics and a whole
    login are still answered."""
    head = (
        b"POST /ui/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\np"
    )
    slow = []
    try:
        for _ in range(70):
            sock = socket.create_connection(("127.0.0.1", env.srv.port), timeout=5)
            sock.sendall(head)
            slow.append(sock)
        time.sleep(0.3)  # every head read: each request is waiting for the rest of its body
        with env.client() as c:
            assert c.get("/ui/login").status_code == 200
            assert c.get("/metrics").status_code == 200
        with env.login(READ_PASSWORD) as c:
            assert c.get("/ui/feeds").status_code == 200
    finally:
        for sock in slow:
            sock.close()


class GatedStore(SQLiteStore):
    """A real store whose feed-health read waits at a gate: a console page that holds a thread
    for as long as a test wants (a slow disk, a busy database)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.waiting = 0
        self._count = threading.Lock()

    def feed_health(self, since: datetime) -> list[FeedHealth]:
        with self._count:
            self.waiting += 1
        self.gate.wait(20)
        return super().feed_health(since)


def test_console_pages_in_flight_leave_the_daemons_threads_free(tmp_path: Path) -> None:
    """The daemon's store calls run on the event loop's default thread pool; a console page
    waiting on the store must not take all of those threads, however many pages are asked for
    at once (the listener admits 64)."""
    store = GatedStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    console = make_console(store, FakeClock(T0))
    default_pool = min(32, (os.cpu_count() or 1) + 4)
    headers = {"authorization": f"Bearer {READ_TOKEN}"}
    with ConsoleServer(console) as srv, ThreadPoolExecutor(default_pool + 2) as pool:
        pages = [
            pool.submit(httpx.get, srv.url("/ui/feeds"), headers=headers, timeout=30)
            for _ in range(default_pool + 2)
        ]
        try:
            deadline = time.monotonic() + 10
            while store.waiting < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)  # the other requests reach the console meanwhile
            # What the daemon does for each claim, commit and heartbeat:
            daemon_call = asyncio.run_coroutine_threadsafe(
                asyncio.wait_for(asyncio.to_thread(lambda: "done"), 2), srv.loop
            )
            assert daemon_call.result(5) == "done"
        finally:
            store.gate.set()
        assert [p.result().status_code for p in pages] == [200] * (default_pool + 2)
    store.close()


def test_a_page_slow_to_render_leaves_the_event_loop_its_turn(tmp_path: Path) -> None:
    """Rendering is most of a page's CPU (the alerts page at ?n=2000: 250 ms, 3 MB). Done on
    the event loop, the daemon's polls and deliveries waited behind every page being rendered:
    eight readers of that page held them up to 2.5 s at a time. Here a page takes 1.5 s of CPU
    to render, and the loop must still run its other work every few milliseconds."""
    store = SQLiteStore(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    console = make_console(store, FakeClock(T0))
    render = console._render

    def slow_render(*args: Any) -> Any:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:  # CPU, holding the GIL as a large page does
            pass
        return render(*args)

    console._render = slow_render  # type: ignore[method-assign,assignment]
    headers = {"authorization": f"Bearer {READ_TOKEN}"}

    async def ticks(stop: threading.Event) -> float:
        """The longest the loop went without running this coroutine (asked every 20 ms)."""
        worst, last = 0.0, time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
        return worst

    with ConsoleServer(console) as srv:
        stop = threading.Event()
        ticker = asyncio.run_coroutine_threadsafe(ticks(stop), srv.loop)
        try:
            page = httpx.get(srv.url("/ui/feeds"), headers=headers, timeout=30, trust_env=False)
        finally:
            stop.set()
        assert page.status_code == 200
        assert "Broken feed" in page.text
        assert ticker.result(10) < 1.0  # on the loop: 1.5 s; wide, for a loaded CI machine
    store.close()


class GatedArchive(SQLiteStore):
    """A real store whose archive reads wait at a gate, and say which window they were asked."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.asked: list[datetime | None] = []

    def read_archive(
        self,
        after: int,
        limit: int,
        since: datetime | None = None,
        feeds: Sequence[str] | None = None,
    ) -> list[tuple[int, ArchivedItem]]:
        self.asked.append(since)
        self.gate.wait(20)
        return super().read_archive(after, limit, since, feeds)


def test_one_playground_run_at_a_time_over_30_days_unless_asked_and_the_rest_still_answers(
    tmp_path: Path,
) -> None:
    """A playground run costs seconds of CPU over a large archive: a second one while it runs
    gets 429 (so nobody can stack them), it reads the last 30 days unless asked for more, and
    the probes and the other pages answer meanwhile."""
    store = GatedArchive(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    console = make_console(store, FakeClock(T0))
    headers = {"authorization": f"Bearer {READ_TOKEN}"}
    with ConsoleServer(console) as srv, ThreadPoolExecutor(1) as pool:

        def get(path: str) -> httpx.Response:
            return httpx.get(srv.url(path), headers=headers, timeout=30, trust_env=False)

        first = pool.submit(get, "/ui/playground?q=troops")
        try:
            deadline = time.monotonic() + 10
            while not store.asked and time.monotonic() < deadline:
                time.sleep(0.02)
            assert store.asked == [T0 - timedelta(days=30)]
            second = get("/ui/playground?q=troops&since=all")
            assert second.status_code == 429
            assert "in progress" in second.text
            assert httpx.get(srv.url("/healthz"), timeout=2, trust_env=False).status_code == 200
            assert get("/ui/feeds").status_code == 200
        finally:
            store.gate.set()
        assert first.result().status_code == 200
        assert "<mark>troops</mark>" in get("/ui/playground?q=troops&since=all").text
    store.close()


class SlowArchive(SQLiteStore):
    """A real store whose archive reads take 0.6 s each (a large archive on a slow disk): a
    run reads twice here, so it lasts over the second from which a run leaves a rest."""

    def read_archive(
        self,
        after: int,
        limit: int,
        since: datetime | None = None,
        feeds: Sequence[str] | None = None,
    ) -> list[tuple[int, ArchivedItem]]:
        time.sleep(0.6)
        return super().read_archive(after, limit, since, feeds)


def test_playground_runs_back_to_back_rest_as_long_as_the_last_one_took(tmp_path: Path) -> None:
    """One run at a time is not enough on its own: runs started back to back would keep a core
    busy beside the daemon. After a run, the next waits as long as that run took (429 with
    Retry-After), by the console's clock; viewing the form is not limited."""
    store = SlowArchive(tmp_path / "n.db")
    store.migrate()
    seed(store, T0)
    clock = FakeClock(T0)
    console = make_console(store, clock)
    headers = {"authorization": f"Bearer {READ_TOKEN}"}
    with (
        ConsoleServer(console) as srv,
        httpx.Client(base_url=srv.url(""), headers=headers, timeout=30, trust_env=False) as c,
    ):
        assert c.get("/ui/playground", params={"q": "troops", "since": "all"}).status_code == 200
        again = c.get("/ui/playground", params={"q": "troops", "since": "all"})
        assert again.status_code == 429
        assert "rests" in again.text
        wait = int(again.headers["retry-after"])
        assert wait >= 1
        assert c.get("/ui/playground").status_code == 200
        clock.advance(seconds=wait)
        later = c.get("/ui/playground", params={"q": "troops", "since": "all"})
        assert later.status_code == 200
        assert "<mark>troops</mark>" in later.text
    store.close()
