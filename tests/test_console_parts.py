"""The console's parts on their own: the `ui:` config and its credentials, password and session
checks, the login limiter, feed text made safe, charts, and the store reads on both stores."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.config.ui import Credential, resolve_ui_credentials
from monitor.console.auth import Authority, LoginLimiter
from monitor.console.charts import day_bars, last_days
from monitor.console.playground import Trial, TrialError, compile_trial
from monitor.console.text import clip, mark_snippet, safe_href
from monitor.console.web import Request, cookies
from monitor.errors import ConfigError
from monitor.logs import REDACTED, clear_secrets, redact
from monitor.model import Item
from monitor.query.rulefiles import load_rules
from monitor.store.base import Store
from tests.console_support import make_console, seed, ui_config
from tests.store_fixtures import T0


# -- config ------------------------------------------------------------------------------------
def test_ui_is_off_by_default_and_read_from_the_file(tmp_path: Path) -> None:
    assert load_config(env={}).ui.enabled is False
    path = tmp_path / "newsmon.yaml"
    path.write_text("ui:\n  enabled: true\n  session_ttl: 2h\n  trusted_proxies: [10.0.0.0/8]\n")
    ui = load_config(path, env={}).ui
    assert ui.enabled
    assert ui.session_ttl == timedelta(hours=2)
    assert ui.trusted_proxies == ("10.0.0.0/8",)
    assert load_config(env={"NEWSMON_UI__ENABLED": "true"}).ui.enabled


def test_a_bad_ui_key_is_a_located_config_error(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text("ui:\n  enabled: true\n  trusted_proxies: [not-an-ip]\n  sesion_ttl: 1h\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert "ui.trusted_proxies[0]" in text
    assert "not an address or network: 'not-an-ip'" in text
    assert "ui.sesion_ttl" in text


def test_credentials_from_the_environment_and_files(tmp_path: Path) -> None:
    (tmp_path / "admin.txt").write_text("file-admin-password\n")
    ui = ui_config(admin_password_file="admin.txt")
    env = {"NEWSMON_UI_PASSWORD": "env-password-1", "NEWSMON_UI_TOKEN": "t" * 20}
    found = resolve_ui_credentials(ui, env=env, base_dir=tmp_path)
    assert [(c.role, c.kind, c.value) for c in found] == [
        ("read", "password", "env-password-1"),
        ("admin", "password", "file-admin-password"),
        ("read", "token", "t" * 20),
    ]
    assert "env-password" not in repr(found)


@pytest.mark.parametrize(
    ("env", "files", "message"),
    [
        ({}, {}, "no credential is set"),
        ({"NEWSMON_UI_PASSWORD": "short"}, {}, "at least 8 characters"),
        ({"NEWSMON_UI_TOKEN": "short-token"}, {}, "at least 16 characters"),
        (
            {"NEWSMON_UI_PASSWORD": "same-password", "NEWSMON_UI_ADMIN_PASSWORD": "same-password"},
            {},
            "the same value",
        ),
        ({"NEWSMON_UI_PASSWORD": "a-password"}, {"password_file": "p.txt"}, "not both"),
        ({}, {"password_file": "missing.txt"}, "cannot read"),
        ({}, {"password_file": "big.log"}, "big.log: larger than 64 KiB"),  # was read whole
    ],
)
def test_credential_mistakes_are_config_errors_without_values(
    tmp_path: Path, env: dict[str, str], files: dict[str, str], message: str
) -> None:
    (tmp_path / "p.txt").write_text("file-password")
    (tmp_path / "big.log").write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError) as caught:
        resolve_ui_credentials(ui_config(**files), env=env, base_dir=tmp_path)
    assert message in str(caught.value)
    for value in env.values():
        assert value not in str(caught.value)


def test_credentials_are_registered_for_redaction(store: Store) -> None:
    clear_secrets()
    try:
        secret = "a-password-to-hide"
        make_console(store, _clock(), credentials=[Credential("read", "password", secret, "x")])
        assert redact(f"login with {secret}") == f"login with {REDACTED}"
    finally:
        clear_secrets()


# -- auth --------------------------------------------------------------------------------------
def test_passwords_and_tokens_map_to_their_roles() -> None:
    auth = Authority(
        [
            Credential("read", "password", "read-password", "a"),
            Credential("admin", "password", "admin-password", "b"),
            Credential("admin", "token", "admin-token-0123456789", "c"),
        ],
        timedelta(hours=1),
    )
    assert auth.check_password("read-password") == "read"
    assert auth.check_password("admin-password") == "admin"
    assert auth.check_password("admin-password ") is None
    assert auth.check_password("") is None
    bearer = auth.check_bearer("Bearer admin-token-0123456789")
    assert bearer is not None
    assert bearer.admin
    assert auth.check_bearer("Bearer admin-token-012345678") is None
    assert auth.check_bearer("Token admin-token-0123456789") is None
    # Kept hashed: the values are nowhere in the object.
    assert "read-password" not in repr(vars(auth))


def test_sessions_are_signed_expire_and_can_be_revoked() -> None:
    auth = Authority([Credential("read", "password", "read-password", "a")], timedelta(hours=1))
    now = datetime(2026, 3, 1, tzinfo=UTC)
    session, cookie = auth.issue("read", now)
    assert auth.session(cookie, now) == session
    assert auth.session(cookie, now + timedelta(minutes=59)) == session
    assert auth.session(cookie, now + timedelta(minutes=61)) is None
    body, _, sig = cookie.partition(".")
    forged = body.replace(body[:4], "WyJh") + "." + sig  # ["a... : the role edited
    assert auth.session(forged, now) is None
    other = Authority([Credential("read", "password", "read-password", "a")], timedelta(hours=1))
    assert other.session(cookie, now) is None  # another process's key: a restart ends sessions
    auth.revoke(session, now)
    assert auth.session(cookie, now) is None
    assert auth.csrf_ok(session.sid, auth.csrf_token(session.sid))
    assert not auth.csrf_ok(session.sid, auth.csrf_token("another-session"))
    assert not auth.csrf_ok(session.sid, None)


def test_the_login_limiter_counts_failures_per_client_in_a_sliding_window() -> None:
    limiter = LoginLimiter(3, timedelta(minutes=10))
    t = datetime(2026, 3, 1, tzinfo=UTC)
    for k in range(3):
        assert limiter.retry_after("a", t + timedelta(minutes=k)) == 0
        limiter.failed("a", t + timedelta(minutes=k))
    assert limiter.retry_after("a", t + timedelta(minutes=3)) == pytest.approx(7 * 60)
    assert limiter.retry_after("b", t + timedelta(minutes=3)) == 0
    assert limiter.retry_after("a", t + timedelta(minutes=10, seconds=1)) == 0
    limiter.failed("a", t + timedelta(minutes=11))
    limiter.succeeded("a")
    assert limiter.retry_after("a", t + timedelta(minutes=11)) == 0


def test_many_clients_together_hit_the_overall_limit() -> None:
    limiter = LoginLimiter(2, timedelta(minutes=10))
    t = datetime(2026, 3, 1, tzinfo=UTC)
    for k in range(20):
        limiter.failed(f"10.0.0.{k}", t)
    assert limiter.retry_after("10.9.9.9", t) > 0


# -- text and charts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://news.example/a?b=1", True),
        ("http://news.example/", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox", False),
        ("//evil.example/x", False),
        ("/relative/path", False),
        ("https://", False),
        ("https://x.example/" + "a" * 3000, False),
        (None, False),
    ],
)
def test_only_http_links_are_links(url: str | None, kept: bool) -> None:
    assert (safe_href(url) == url) is kept
    assert bool(safe_href(url)) is kept


def test_clip_cuts_and_cleans() -> None:
    assert clip("a\x1b[2Jb") == "a[2Jb"
    assert clip("x" * 10, 4) == "xxxx…"
    assert clip(None) == ""


def test_marked_snippets_escape_everything_but_the_marks() -> None:
    out = str(mark_snippet("a <b>**troops**</b> & **x"))
    assert out == "a &lt;b&gt;<mark>troops</mark>&lt;/b&gt; &amp; **x"


def test_day_bars_scale_to_the_busiest_day_and_escape_the_label() -> None:
    days = last_days(date(2026, 3, 3), 3)
    assert days == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    svg = str(day_bars({date(2026, 3, 2): 4, date(2026, 3, 3): 2}, days, label="<rule>"))
    assert "&lt;rule&gt;" in svg
    assert "<rule>" not in svg
    assert "<title>2026-03-02: 4</title>" in svg
    heights = [float(h) for h in __import__("re").findall(r'height="([0-9.]+)"><title>', svg)]
    assert heights[0] == 0
    assert heights[1] == pytest.approx(2 * heights[2])


# -- store reads (both stores) -----------------------------------------------------------------
def test_console_reads_on_both_stores(store: Store) -> None:
    seed(store, T0)
    feeds = {f.id: f for f in store.feed_health(T0 - timedelta(days=7))}
    assert list(feeds) == ["broken", "good"]  # failing first
    assert feeds["broken"].status == "error"
    assert feeds["broken"].error_kind == "http_status"
    assert feeds["broken"].error_count == 3
    assert feeds["good"].items == 2
    assert feeds["good"].last_success_at is not None
    assert store.feed_health(T0 + timedelta(days=1))[1].items == 0
    days = sorted((d.rule, d.day, d.alerts) for d in store.rule_days(T0 - timedelta(days=30)))
    assert days == [("troops", date(2026, 2, 28), 1), ("troops", date(2026, 3, 1), 1)]
    assert store.rule_days(T0) == []
    seen = store.story_sightings(["story-0", "story-1", "nothing"])
    assert sorted(seen) == ["story-0", "story-1"]
    assert seen["story-0"][0].title == "Government sends troops to the border"


def _clock() -> FakeClock:
    return FakeClock(T0)


def test_the_console_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import console as bench

    args = ["--feeds", "4", "--rules", "5", "--items", "40", "--alerts", "8", "--runs", "2"]
    assert bench.main([*args, "--pg-url", ""]) == 0
    out = capsys.readouterr().out
    for page in ("/ui/feeds", "/ui/rules", "/ui/alerts", "/ui/dead", "playground: one word"):
        assert f"\n{page}" in out
    assert "p95 ms" in out


def test_alerts_per_rule_are_read_again_after_a_minute(store: Store) -> None:
    from monitor.console.pages import RuleDays
    from monitor.model import FeedUpdate, NewAlert, SeenItem
    from tests.console_support import document

    seed(store, T0)
    since = T0 - timedelta(days=30)
    rule_days = RuleDays(store)
    assert sum(d.alerts for d in rule_days(since, T0)) == 2
    # One more alert, committed as a poll does.
    claimed = store.claim_due_feeds(T0 + timedelta(hours=1), 10, timedelta(minutes=2), "t")
    assert "good" in {f.id for f in claimed}
    new = NewAlert("msg_" + "e" * 32, "hook", "story-new", "good", "k-new",
                   document("msg_" + "e" * 32, "hook", "More troops", None), T0)  # fmt: skip
    ok = FeedUpdate(status="ok", next_poll_at=T0 + timedelta(hours=2), fetched_at=T0)
    store.commit_poll("good", "t", T0, ok, [SeenItem("k-new", "story-new")], [new])
    assert sum(d.alerts for d in rule_days(since, T0 + timedelta(seconds=59))) == 2  # kept
    assert sum(d.alerts for d in rule_days(since, T0 + timedelta(seconds=61))) == 3  # read again
    assert sum(d.alerts for d in rule_days(since - timedelta(days=1), T0)) == 3  # another window


# -- the playground compiles with the live rules' word sets ---------------------------------------
def test_a_playground_query_and_an_edit_of_a_live_rule_may_name_the_rules_sets() -> None:
    """The example rules are written with `$sets`: trying an edit of one, or a query of one's
    own that names a set, compiles against the live sets (it was 'unknown set')."""
    live = load_rules(str(Path(__file__).resolve().parent.parent / "rules"))
    assert "troops" in live.sets
    soldiers = Item(feed_id="f", key="k", title="Soldiers sent to the border", content="")
    edited = live.rules["troop-dispatch"].query + " OR ($troops NEAR/3 border)"
    tried, old, rule = compile_trial(Trial(query=edited, rule_id="troop-dispatch"), live)
    assert rule is not None
    assert old is not None
    assert [m.rule.id for m in tried.match(soldiers)] == ["troop-dispatch"]
    own, _, _ = compile_trial(Trial(query="$troops NEAR/3 border"), live)
    assert len(own.match(soldiers)) == 1
    with pytest.raises(TrialError, match=r"\$nosuchset"):
        compile_trial(Trial(query="$nosuchset AND border"), live)


def test_a_playground_query_with_a_field_inside_near_is_refused_at_the_field() -> None:
    """The field in `(title:parade OR drill) NEAR/2 troops` was ignored: the query matched
    "parade troops" in the body. The playground says why, where, and what to write instead;
    the field around the NEAR is tried as asked."""
    live = load_rules(str(Path(__file__).resolve().parent.parent / "rules"))
    with pytest.raises(TrialError) as caught:
        compile_trial(Trial(query="(title:parade OR drill) NEAR/2 troops"), live)
    assert str(caught.value) == (
        "rule 'query': a field cannot go inside NEAR, not even deeper in a group: put it around "
        "the whole NEAR, e.g. title:(a NEAR/3 b); to scope one word of an OR, split it: "
        "title:(a NEAR/3 b) OR (c NEAR/3 b) (at character 2)"
    )
    tried, _, _ = compile_trial(Trial(query="title:(parade NEAR/2 troops)"), live)
    in_title = Item(feed_id="f", key="t", title="Parade troops", content="")
    in_body = Item(feed_id="f", key="b", title="News", content="parade troops")
    assert [len(tried.match(i)) for i in (in_title, in_body)] == [1, 0]


@pytest.mark.parametrize("clauses", [7, None, "troops", {"a": 1}, ["troops", 3, None, "NOT x"]])
def test_an_alert_document_with_odd_clauses_shows_what_it_can(clauses: object) -> None:
    """An alert document is read as it was stored (an older version's, a replayed one): a
    `clauses` that is not a list of strings shows no clause, never a failed page."""
    from monitor.console.pages import AlertView

    view = AlertView(
        "s", "f", "k", datetime(2026, 3, 1, tzinfo=UTC),
        {"matches": [{"rule": "r", "explanation": {"clauses": clauses}, "snippet": "x"}]},
    )  # fmt: skip
    (m,) = view.matches
    want = ["troops"] if isinstance(clauses, list) else []
    assert (m["matched"], m["exclusions"]) == (want, ["NOT x"] if want else [])


def test_cookies_are_read_pair_by_pair_first_of_a_name_first() -> None:
    header = 'newsmon_session=a.b; prefs=dark mode; s={"k": 1}; q="x y"; newsmon_session=c; =z; w'
    assert cookies(header) == {
        "newsmon_session": "a.b",
        "prefs": "dark mode",
        "s": '{"k": 1}',
        "q": "x y",
    }
    assert cookies("") == {}


def test_a_cookie_header_of_backslashes_is_read_in_linear_time() -> None:
    # http.cookies took 0.3 s for this one 8 KB header (a listener's whole header budget), on
    # the event loop the daemon and its probes share.
    request = Request("GET", "/ui/feeds", headers={"cookie": 'a="' + "\\" * 8000 + '"'})
    started = time.perf_counter()
    for _ in range(10):
        assert request.cookie("newsmon_session") is None
    assert time.perf_counter() - started < 0.5


def test_the_feeds_page_reads_the_window_not_every_seen_item(tmp_path: Path) -> None:
    # A feed's items per day come from the last 7 days; SQLite read every seen item of the
    # 90 days kept (along the primary key), so the page grew with `retention`.
    from monitor.store.sqlite import SQLiteStore
    from tests.store_fixtures import spec

    store = SQLiteStore(tmp_path / "newsmon.db")
    store.migrate()
    store.sync_feeds([spec("a"), spec("b")], T0)
    old = [(f, f"old-{i}", f"s-{f}-{i}", (T0 - timedelta(days=30)).timestamp()) for f in "ab"
           for i in range(5000)]  # fmt: skip
    new = [(f, f"new-{i}", f"n-{f}-{i}", T0.timestamp()) for f in "ab" for i in range(5)]
    store._conn.executemany(
        "INSERT INTO seen_items (feed_id, item_key, story_key, seen_at) VALUES (?, ?, ?, ?)",
        old + new,
    )
    store._conn.commit()
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store._conn.set_progress_handler(count, 100)
    try:
        feeds = store.feed_health(T0 - timedelta(days=7))
    finally:
        store._conn.set_progress_handler(None, 0)
        store.close()
    assert [(f.id, f.items) for f in feeds] == [("a", 5), ("b", 5)]
    # the 10,000 old rows cost some 500 steps of 100 instructions when they were read
    assert steps[0] < 50
