"""The listener's guard against DNS rebinding (monitor.net.hosts): a real server on 127.0.0.1
sent forged `Host` headers, as a page whose host name now points at 127.0.0.1 would send them."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import healthcheck
from monitor.clock import FakeClock
from monitor.errors import ConfigError
from monitor.metrics import Metrics
from monitor.process.httpapp import HOST_REFUSED
from monitor.process.httpserver import ReadyState, Server, serve
from monitor.store.sqlite import SQLiteStore
from tests.console_support import READ_PASSWORD, ConsoleServer, make_console, seed
from tests.daemon_support import DaemonProcess, write_config, write_rules
from tests.store_fixtures import T0

EVIL = "rebind.example"


@contextmanager
def listening(**options: Any) -> Iterator[Server]:
    """`serve()` on 127.0.0.1:0 in a thread of its own, so that blocking clients can talk to it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def ready() -> ReadyState:
        return ReadyState(True, "v", 1)

    async def start() -> Server:
        return await serve(
            "127.0.0.1:0", metrics=Metrics(), liveness=lambda: True, readiness=ready, **options
        )

    try:
        srv = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        try:
            yield srv
        finally:
            asyncio.run_coroutine_threadsafe(srv.close(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def ask(
    port: int, host: str | None, path: str = "/metrics", method: str = "GET", body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:`port` with `Host: host` (none when None), as HTTP/1.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        if method == "POST":
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if method == "POST" else None)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


# -- a real listener ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz", "/nowhere"])
def test_a_forged_host_is_refused_on_a_loopback_listener(path: str) -> None:
    with listening() as srv:
        status, headers, body = ask(srv.port, f"{EVIL}:{srv.port}", path)
        assert status == 403
        assert body == HOST_REFUSED
        assert b"http_allowed_hosts" in body
        assert EVIL.encode() not in body
        assert headers["content-type"] == "text/plain; charset=utf-8"
        for host in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", f"[::1]:{srv.port}"):
            status, _, body = ask(srv.port, host, path)
            assert status in (200, 404), (host, status)
            assert body != HOST_REFUSED
        # HTTP/1.0 without a Host: no browser sends that (HTTP/1.1 without one is h11's 400).
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            answer = sock.makefile("rb").read()
        assert answer.split(b" ", 2)[1] in (b"200", b"404")


def test_a_refused_post_is_not_read_and_the_listener_goes_on() -> None:
    seen: list[bytes] = []

    async def feedback(headers: dict[str, str], body: bytes) -> Any:
        from monitor.feedback.http import Answer

        seen.append(body)
        return Answer(200, {"ok": True})

    with listening(feedback=feedback) as srv:
        assert ask(srv.port, EVIL, "/feedback", "POST", b"x" * 5000)[0] == 403
        assert seen == []
        assert ask(srv.port, "127.0.0.1", "/feedback", "POST", b"{}")[0] == 200
        assert seen == [b"{}"]


def test_listed_names_are_answered_and_star_turns_the_check_off() -> None:
    with listening(allowed_hosts=["newsmon.example.org"]) as srv:
        assert ask(srv.port, "newsmon.example.org")[0] == 200
        assert ask(srv.port, "NEWSMON.example.org.:443")[0] == 200
        assert ask(srv.port, EVIL)[0] == 403
    with listening(allowed_hosts=["*"]) as srv:
        assert ask(srv.port, EVIL)[0] == 200


def test_a_bad_entry_given_to_serve_is_a_config_error() -> None:
    says = "http_allowed_hosts: 'a:1': write the name without a port"
    with pytest.raises(ConfigError, match=says), listening(allowed_hosts=["a:1"]):
        pass


def test_the_health_check_is_answered_while_names_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The image's HEALTHCHECK: NEWSMON_HTTP_ADDR=0.0.0.0:PORT, probed on 127.0.0.1:PORT.
    with listening(allowed_hosts=["newsmon.example.org"]) as srv:
        monkeypatch.setenv(healthcheck.ADDR_ENV, f"0.0.0.0:{srv.port}")
        assert healthcheck.check(None)[0] == healthcheck.HEALTHY
        assert healthcheck.check(f"127.0.0.1:{srv.port}")[0] == healthcheck.HEALTHY


def test_a_rebound_page_cannot_log_in_to_the_console(tmp_path: Path) -> None:
    """The attack itself: the page posts the login form (a password guess) under its own name.
    Refused before the console sees it: no session, and the console's headers on the refusal."""
    store = SQLiteStore(tmp_path / "newsmon.db")
    store.migrate()
    try:
        seed(store, T0)
        with ConsoleServer(make_console(store, FakeClock(T0))) as srv:
            form = f"password={READ_PASSWORD}".encode()
            status, headers, body = ask(srv.port, f"{EVIL}:{srv.port}", "/ui/login", "POST", form)
            assert (status, body) == (403, HOST_REFUSED)
            assert "set-cookie" not in headers
            assert headers["x-content-type-options"] == "nosniff"
            assert "script-src 'none'" in headers["content-security-policy"]
            assert ask(srv.port, EVIL, "/ui/feeds")[0] == 403
            # The same form under 127.0.0.1 reaches the console (which wants its CSRF token).
            status, _, body = ask(srv.port, f"127.0.0.1:{srv.port}", "/ui/login", "POST", form)
            assert status != 403 or body != HOST_REFUSED
            assert ask(srv.port, f"localhost:{srv.port}", "/ui/login")[0] == 200
    finally:
        store.close()


def test_the_daemon_takes_its_list_from_the_config(tmp_path: Path) -> None:
    """`newsmon run` with `http_allowed_hosts`: the listed name (a proxy passing on the original
    Host) is answered, another name is refused, and the start-up line says names are checked."""
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    config = write_config(
        tmp_path, feeds={}, destinations={}, rules=rules, http_allowed_hosts="[newsmon.example.org]"
    )
    with DaemonProcess(config, tmp_path) as daemon:
        daemon.wait_healthy()
        assert ask(daemon.port, "newsmon.example.org")[0] == 200
        assert ask(daemon.port, f"{EVIL}:{daemon.port}")[0] == 403
        [listening_line] = daemon.events("http_listening")
        assert listening_line["host_names"] == "checked"
        assert [e["host"] for e in daemon.events("http_host_refused")] == [f"{EVIL}:{daemon.port}"]
