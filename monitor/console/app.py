"""The console's routes under `/ui/`: who may see what, and which page answers. Does I/O (store
reads in worker threads); the listener (monitor.process.httpapp) hands each `/ui` request here
with its body already read, bounded.

    GET  /ui/login, POST /ui/login, POST /ui/logout
    GET  /ui/feeds, /ui/rules, /ui/rules/ID, /ui/alerts, /ui/dead, /ui/playground
    POST /ui/dead/replay, /ui/destinations/enable, /ui/alerts/label     (admin)
    POST /ui/csp-report                                                 (the browser's reports)
    GET  /ui/static/console.css

Every page needs a session cookie or a bearer token: without, a browser is sent to the login
page (303) and anything else gets 401. An action needs the admin role (403 otherwise) and, with
a session cookie, the session's CSRF token in the form (403 without); a bearer token is not sent
by a browser on its own, so a request carrying one needs none. A POST the browser says a page
of another site or port made (`Sec-Fetch-Site`) is refused (403) before any of that, login
too, and so is any other request such a page made but a link followed (an image, a fetch, a
frame). Every answer carries the security headers of monitor.console.web.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import math
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import quote

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from monitor.clock import Clock
from monitor.config.ui import UIConfig
from monitor.console import pages
from monitor.console.auth import Authority, LoginLimiter, Session
from monitor.console.playground import Trial, TrialError
from monitor.console.playground import run as run_trial
from monitor.console.text import ago, clip, mark_hits, mark_snippet, safe_href, stamp
from monitor.console.web import (
    BASE,
    CSP_REPORT_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    BadRequest,
    Reply,
    Request,
    client_of,
    cookie_header,
    is_https,
)
from monitor.errors import StoreError
from monitor.plural import counted
from monitor.query.ruleset import RuleSet

__all__ = ["Console"]

log = structlog.get_logger(__name__)
HERE: Final = Path(__file__).resolve().parent
NAV: Final = (
    ("feeds", "Feeds"),
    ("rules", "Rules"),
    ("alerts", "Alerts"),
    ("dead", "Dead letters"),
    ("playground", "Playground"),
)
STATIC: Final = {"console.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
CSP_REPORTS_KEPT: Final = 100
PLAYGROUND_DEADLINE_S: Final = 60.0
PLAYGROUND_REST_FROM_S: Final = 1.0  # a shorter run leaves no rest: it costs the daemon little
LOGIN_NONCE_AGE: Final = 3600
SINCE_CHOICES: Final = {"7": 7, "30": 30, "90": 90, "all": 0}
# Store reads, password hashes and the playground run on threads of the console's own: on the
# loop's default pool (where the daemon's claims, commits and heartbeats run) a few slow pages
# at once took every thread and held the daemon up.
THREADS: Final = 2
P = ParamSpec("P")
R = TypeVar("R")


def environment() -> Environment:
    """The templates, autoescaped, with the filters that make feed text safe to show."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        clip=clip, safe_href=safe_href, stamp=stamp, mark_snippet=mark_snippet, mark_hits=mark_hits
    )
    return env


class Console:
    """The console. `rules` gives the live rule set (it changes on reload); `on_replay` is
    called after a replay or a re-enabled destination, to wake the deliverer."""

    def __init__(
        self,
        *,
        store: pages.ConsoleStore,
        rules: Callable[[], RuleSet],
        ui: UIConfig,
        authority: Authority,
        clock: Clock,
        on_replay: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.ui = ui
        self.authority = authority
        self.clock = clock
        self.on_replay = on_replay
        self.limiter = LoginLimiter(ui.login_attempts, ui.login_window)
        self.rule_days = pages.RuleDays(store)
        self.env = environment()
        self.csp_reports: deque[dict[str, str]] = deque(maxlen=CSP_REPORTS_KEPT)
        self._csp_logged = 0.0
        self._limited_logged = 0.0  # when console_login_limited was last logged
        self._limited_unlogged = 0  # logins refused by the limit since
        self._playground = threading.Lock()
        self._playground_rests_until = 0.0  # epoch seconds of self.clock
        self._threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="newsmon-ui")
        self._static = {
            name: ((HERE / "static" / name).read_bytes(), ctype) for name, ctype in STATIC.items()
        }

    async def _off(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """`func(...)` on one of the console's threads (see THREADS)."""
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    # -- entry ---------------------------------------------------------------------------------
    async def __call__(self, request: Request) -> Reply:
        try:
            reply = await self._route(request)
        except StoreError as e:
            log.warning("console_store_failed", error=str(e)[:200])
            reply = self._error(503, "The store did not answer. Try again in a moment.")
        except BadRequest as e:
            reply = Reply.text(400, str(e))
        return reply.secured()

    async def _route(self, req: Request) -> Reply:
        path, method = req.path, req.method
        if path in (BASE, f"{BASE}/"):
            return Reply.redirect(f"{BASE}/feeds")
        if path.startswith(f"{BASE}/static/"):
            found = self._static.get(path.removeprefix(f"{BASE}/static/"))
            if found is None or method not in ("GET", "HEAD"):
                return Reply.text(404, "not found")
            return Reply(200, *found)
        if path == CSP_REPORT_PATH:
            return self._csp_report(req) if method == "POST" else Reply.text(405, "POST only")
        if req.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            # A request another page made the browser send (Fetch metadata). "same-site" takes
            # in every other port of this host, whose pages get our SameSite=Strict cookies sent
            # and may have set cookies of ours (cookies ignore ports): with a login nonce it
            # chose and the CSRF token it fetched for it, such a page logged the browser in.
            if method == "POST":
                return Reply.text(403, "refused: a form sent from another site or another port")
            # Only a link followed opens a page: an <img> of such a page ran a playground query
            # over the whole archive, unseen, as the signed-in user.
            mode, dest = req.headers.get("sec-fetch-mode"), req.headers.get("sec-fetch-dest")
            if mode not in (None, "navigate") or dest not in (None, "document"):
                return Reply.text(403, "refused: a request another site's page made")
        if path == f"{BASE}/login":
            return await self._login(req)
        session = self._session(req)
        if path == f"{BASE}/logout" and method == "POST":
            return self._logout(req, session)
        page = path.removeprefix(f"{BASE}/")
        if method in ("GET", "HEAD"):
            if session is None:
                return self._unauthenticated(req)
            return await self._page(req, session, page)
        if method != "POST":
            return Reply.text(405, "method not allowed", allow="GET, HEAD, POST")
        if session is None:
            return Reply.text(401, "log in first", www_authenticate='Bearer realm="newsmon"')
        return await self._action(req, session, page)

    def _session(self, req: Request) -> Session | None:
        bearer = self.authority.check_bearer(req.headers.get("authorization"))
        if bearer is not None:
            return bearer
        return self.authority.session(req.cookie(SESSION_COOKIE), self.clock.now())

    def _unauthenticated(self, req: Request) -> Reply:
        if "text/html" in req.headers.get("accept", ""):
            target = req.path + (f"?{req.query}" if req.query else "")
            return Reply.redirect(f"{BASE}/login?next={quote(target, safe='')}")
        return Reply.text(401, "log in first", www_authenticate='Bearer realm="newsmon"')

    def _secure(self, req: Request) -> bool:
        if self.ui.secure_cookie != "auto":
            return self.ui.secure_cookie == "always"
        return is_https(req, self.ui.trusted_proxies)

    # -- login ---------------------------------------------------------------------------------
    async def _login(self, req: Request) -> Reply:
        now = self.clock.now()
        if req.method in ("GET", "HEAD"):
            if self._session(req) is not None:
                return Reply.redirect(f"{BASE}/feeds")
            return self._login_form(req, next_=req.params().get("next", ""))
        if req.method != "POST":
            return Reply.text(405, "method not allowed", allow="GET, HEAD, POST")
        client = client_of(req, self.ui.trusted_proxies)
        wait = self.limiter.retry_after(client, now)
        if wait > 0:
            self._log_limited(client, now)
            reply = self._login_form(
                req, status=429, error="Too many failed logins: wait a while and try again."
            )
            reply.headers["retry-after"] = str(int(wait) + 1)
            return reply
        form = req.form()
        nonce = req.cookie(LOGIN_COOKIE) or ""
        if not self.authority.csrf_ok(f"login:{nonce}", form.get("csrf")):
            return self._login_form(req, status=403, error="The form expired: log in again.")
        # Counted as failed before the hash is computed (and forgiven if it succeeds): requests
        # sent at once all pass the check above before any hash ends, so counting afterwards let
        # a burst of guesses through whatever the limit.
        self.limiter.failed(client, now)
        role = await self._off(self.authority.check_password, form.get("password", ""))
        if role is None:
            log.warning("console_login_failed", client=client)
            return self._login_form(req, status=401, error="Wrong password.")
        # The password says the role: failures before a read-only login may have been guesses
        # at the admin password, so only a login as the highest role forgives them (forgiving
        # every login let a read-only user guess the admin password four at a time, unlimited).
        top = "admin" if "admin" in self.authority.password_roles else "read"
        self.limiter.succeeded(client, now, forgive=role == top)
        _, cookie = self.authority.issue(role, now)
        log.info("console_login", role=role, client=client)
        age = int(self.ui.session_ttl.total_seconds())
        target = _local_path(form.get("next", "")) or f"{BASE}/feeds"
        return Reply.redirect(
            target,
            set_cookie=cookie_header(SESSION_COOKIE, cookie, max_age=age, secure=self._secure(req)),
        )

    def _log_limited(self, client: str, now: datetime) -> None:
        """A login refused by the limit, logged at most once a second with how many were
        refused since: whoever reaches the port could send a thousand a second, each a warning
        line (no form token is needed to be refused)."""
        self._limited_unlogged += 1
        if now.timestamp() - self._limited_logged >= 1.0:
            log.warning("console_login_limited", client=client, refused=self._limited_unlogged)
            self._limited_logged = now.timestamp()
            self._limited_unlogged = 0

    def _login_form(
        self, req: Request, *, status: int = 200, error: str = "", next_: str = ""
    ) -> Reply:
        nonce = req.cookie(LOGIN_COOKIE) or ""
        plain = nonce.replace("-", "").replace("_", "")
        if not nonce or len(nonce) > 64 or not (plain.isascii() and plain.isalnum()):
            nonce = secrets.token_urlsafe(18)
        body = self.env.get_template("login.html").render(
            title="Log in",
            session=None,
            nav=(),
            current="",
            csrf=self.authority.csrf_token(f"login:{nonce}"),
            error=error,
            next=_local_path(next_ or req.form().get("next", "")),
            has_passwords=self.authority.has_passwords,
        )
        cookie = cookie_header(
            LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_AGE, secure=self._secure(req)
        )
        return Reply(status, body.encode(), headers={"set-cookie": cookie})

    def _logout(self, req: Request, session: Session | None) -> Reply:
        if session is not None and session.sid:
            if not self.authority.csrf_ok(session.sid, req.form().get("csrf")):
                return self._error(403, "The form expired or did not come from this console.")
            self.authority.revoke(session, self.clock.now())
        gone = cookie_header(SESSION_COOKIE, "", max_age=0, secure=self._secure(req))
        return Reply.redirect(f"{BASE}/login", set_cookie=gone)

    # -- pages ---------------------------------------------------------------------------------
    async def _page(self, req: Request, session: Session, page: str) -> Reply:
        now = self.clock.now()
        store = self.store
        if page == "feeds":
            ctx = await self._off(pages.feeds_page, store, now)
            return await self._rendered("feeds.html", session, "feeds", "Feeds", ctx)
        if page == "rules":
            ctx = await self._off(pages.rules_page, self.rule_days, self.rules(), now)
            return await self._rendered("rules.html", session, "rules", "Rules", ctx)
        if page.startswith("rules/"):
            rule_id = page.removeprefix("rules/")
            ctx = await self._off(pages.rule_page, self.rule_days, self.rules(), rule_id, now)
            if ctx["row"] is None:
                return self._error(404, "No such rule.", session)
            return await self._rendered("rule.html", session, "rules", f"Rule {rule_id}", ctx)
        if page == "alerts":
            limit = pages.shown(req.params(), pages.RECENT_ALERTS)
            ctx = await self._off(pages.alerts_page, store, limit)
            ctx["done"] = _done(req.params())
            return await self._rendered("alerts.html", session, "alerts", "Alerts", ctx)
        if page == "dead":
            limit = pages.shown(req.params(), pages.DEAD_SHOWN)
            ctx = await self._off(pages.dead_page, store, limit)
            ctx["done"] = _done(req.params())
            return await self._rendered("dead.html", session, "dead", "Dead letters", ctx)
        if page == "playground":
            return await self._playground_page(req, session, now)
        return self._error(404, "No such page.", session)

    async def _playground_page(self, req: Request, session: Session, now: datetime) -> Reply:
        params = req.params()
        live = self.rules()
        query = params.get("q", "")[:4000]
        rule_id = params.get("rule", "")[:200]
        since_key = params.get("since", "30") if params.get("since") in SINCE_CHOICES else "30"
        ctx: dict[str, Any] = {
            "query": query,
            "rule_id": rule_id,
            "since": since_key,
            "since_choices": list(SINCE_CHOICES),
            "rules": sorted(live.rules.values(), key=lambda r: r.id),
            "outcome": None,
            "error": "",
            "chart": "",
        }
        if "q" in params or rule_id:
            days = SINCE_CHOICES[since_key]
            trial = Trial(query, rule_id, now - timedelta(days=days) if days else None)
            rest = self._playground_rests_until - now.timestamp()
            if rest > 0 or not self._playground.acquire(blocking=False):
                ctx["error"] = (
                    f"The playground rests as long as its last run took: try again in"
                    f" {math.ceil(rest)} s."
                    if rest > 0
                    else "Another playground run is in progress; try again in a moment."
                )
                reply = await self._rendered(
                    "playground.html", session, "playground", "Playground", ctx
                )
                reply.status = 429
                reply.headers["retry-after"] = str(max(1, math.ceil(rest)))
                return reply
            try:
                outcome = await self._off(self._run_trial, trial, live)
            except TrialError as e:
                ctx["error"] = str(e)
            else:
                ctx["outcome"] = outcome
                ctx["chart"] = _outcome_chart(outcome)
                # Runs back to back would keep a core busy for as long as someone clicks: after
                # a long one the next may start once as much time has passed as it took.
                if outcome.seconds >= PLAYGROUND_REST_FROM_S:
                    self._playground_rests_until = self.clock.now().timestamp() + outcome.seconds
            finally:
                self._playground.release()
        return await self._rendered("playground.html", session, "playground", "Playground", ctx)

    def _run_trial(self, trial: Trial, live: RuleSet) -> Any:
        tags = {f.id: f.tags for f in self.store.list_feeds()}
        return run_trial(
            self.store,
            trial,
            live,
            tags,
            max_items=self.ui.playground_items,
            deadline_s=PLAYGROUND_DEADLINE_S,
        )

    async def _rendered(
        self, template: str, session: Session, current: str, title: str, ctx: Mapping[str, Any]
    ) -> Reply:
        """The page rendered on one of the console's threads: rendering is most of a page's
        CPU (a feeds page of 1,000 rows, 150 ms; the alerts page at ?n=2000, 250 ms), and on the
        event loop eight readers of that page held the daemon's polls and deliveries up to 2.5 s
        at a time. In a thread the loop still gets its turn at every GIL switch."""
        return await self._off(self._render, template, session, current, title, ctx)

    def _render(
        self, template: str, session: Session, current: str, title: str, ctx: Mapping[str, Any]
    ) -> Reply:
        now = self.clock.now()
        body = self.env.get_template(template).render(
            title=title,
            session=session,
            nav=NAV,
            current=current,
            csrf=self.authority.csrf_token(session.sid) if session.sid else "",
            now=now,
            ago=lambda when: ago(when, now),
            **ctx,
        )
        return Reply(200, body.encode())

    def _error(self, status: int, message: str, session: Session | None = None) -> Reply:
        body = self.env.get_template("error.html").render(
            title="Error",
            session=session,
            nav=NAV if session else (),
            current="",
            csrf=self.authority.csrf_token(session.sid) if session and session.sid else "",
            message=message,
            status=status,
        )
        return Reply(status, body.encode())

    # -- actions -------------------------------------------------------------------------------
    async def _action(self, req: Request, session: Session, page: str) -> Reply:
        form = req.form()
        if session.sid and not self.authority.csrf_ok(session.sid, form.get("csrf")):
            return self._error(403, "The form expired or did not come from this console.", session)
        if page not in ("dead/replay", "destinations/enable", "alerts/label"):
            return self._error(404, "No such action.", session)
        if not session.admin:
            return self._error(403, "This needs the admin role.", session)
        now = self.clock.now()
        if page == "dead/replay":
            ids = None if form.get("all") == "1" else [form.get("id", "")[:100]]
            n = await self._off(self.store.replay, ids, now)
            log.info("console_replay", alerts=n, role=session.role)
            if n:
                self.on_replay()
            return Reply.redirect(f"{BASE}/dead?replayed={n}")
        if page == "destinations/enable":
            name = form.get("name", "")[:200]
            # A second click, or a page another admin acted on: say that nothing changed.
            if name not in await self._off(self.store.disabled_destinations):
                return Reply.redirect(f"{BASE}/dead?enabled=0")
            await self._off(self.store.enable_destination, name)
            log.info("console_destination_enabled", destination=name)
            self.on_replay()
            return Reply.redirect(f"{BASE}/dead?enabled=1")
        from monitor.feedback.record import BadLabel, UnknownTarget, record_label

        relevant = form.get("relevant") == "1"
        try:
            labels = await self._off(
                record_label, self.store, form.get("alert", "")[:100], relevant=relevant,
                rule=None, note="", who="console", now=now,
            )  # fmt: skip
        except (BadLabel, UnknownTarget) as e:
            return self._error(400, str(e), session)
        return Reply.redirect(f"{BASE}/alerts?labelled={len(labels)}")

    # -- CSP reports ---------------------------------------------------------------------------
    def _csp_report(self, req: Request) -> Reply:
        """Record a violation the browser reports (kept: the last 100; logged: one a second)."""
        try:
            data = json.loads(req.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
            return Reply.text(400, "not JSON")
        report = data.get("csp-report", data) if isinstance(data, dict) else {}
        if not isinstance(report, dict):
            return Reply.text(400, "not a report")
        kept = {
            k: clip(report.get(k, ""), 300)
            for k in ("document-uri", "violated-directive", "blocked-uri", "script-sample")
        }
        self.csp_reports.append(kept)
        stamp_now = self.clock.now().timestamp()
        if stamp_now - self._csp_logged >= 1.0:
            self._csp_logged = stamp_now
            fields = {k.replace("-", "_"): v for k, v in kept.items()}
            log.warning("console_csp_violation", **fields)
        return Reply(204)


def _local_path(target: str) -> str:
    """`target` if it is a path of the console (no other host, no scheme), else ""."""
    if not target.startswith(f"{BASE}/") or "//" in target or "\\" in target:
        return ""
    return target if all(c.isprintable() and not c.isspace() for c in target) else ""


def _done(params: Mapping[str, str]) -> str:
    """The note after an action, from its count in the query (never the query's text)."""
    if params.get("enabled") == "0":
        return "That destination was not disabled: nothing changed."
    for key, text, noun in (("replayed", "Replayed {n}.", "dead letter"),
                            ("labelled", "Recorded {n}.", "label"),
                            ("enabled", "Destination re-enabled: its dead letters stay dead"
                                        " until replayed.", "")):  # fmt: skip
        value = params.get(key, "")
        if value.isdigit() and len(value) < 9:
            return text.format(n=counted(int(value), noun))
    return ""


def _outcome_chart(outcome: Any) -> Any:
    from monitor.console.charts import day_bars
    from monitor.pipeline.backtest import bucketed, buckets

    if outcome.result is None or outcome.first is None or outcome.last is None:
        return ""
    size, starts = buckets(outcome.first, outcome.last, 90)
    unit = "day" if size == 1 else f"{size} days"
    return day_bars(
        bucketed(outcome.result.per_day, size, starts),
        starts,
        label=f"matches per {unit}",
        width=720,
        height=140,
    )
