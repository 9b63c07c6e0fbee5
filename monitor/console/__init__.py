"""The console in the browser under `/ui/` (docs/console.md): feed health, alerts per rule, recent
alerts, dead letters with replay, and a rule playground over the archive.

    auth        passwords, tokens, signed sessions, the login rate limit
    web         the request and reply, security headers, cookies, client address
    app         the routes: who may see what, which page answers
    pages       what each page shows, read from the store
    playground  a query or an edited rule as a backtest over the archive
    charts      counts per day as inline SVG
    text        feed text made fit for a page (cut, cleaned, linked only when safe)
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.clock import Clock
from monitor.config.ui import Credential, UIConfig
from monitor.console.app import Console
from monitor.console.auth import Authority
from monitor.console.pages import ConsoleStore
from monitor.logs import register_secrets
from monitor.query.ruleset import RuleSet

__all__ = ["Console", "build_console"]


def build_console(
    ui: UIConfig,
    credentials: list[Credential],
    *,
    store: ConsoleStore,
    rules: Callable[[], RuleSet],
    clock: Clock,
    on_replay: Callable[[], None] = lambda: None,
) -> Console:
    """The console with these credentials (hashed here; each also registered for redaction
    from the logs)."""
    register_secrets(c.value for c in credentials)
    authority = Authority(credentials, ui.session_ttl)
    return Console(
        store=store, rules=rules, ui=ui, authority=authority, clock=clock, on_replay=on_replay
    )
