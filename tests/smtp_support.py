"""A real SMTP server on 127.0.0.1 for the email channel tests (aiosmtpd), with STARTTLS or TLS
from a self-signed certificate made by `openssl` (the tests skip when it is not installed)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

USER = "alerts"
PASSWORD = "pass word 1"  # a space: a password is one secret, never split


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the TLS tests")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the server received, and what it answers to DATA (a code and text)."""

    messages: list[bytes] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    answer: str = "250 OK"
    logins: list[str] = field(default_factory=list)
    # A reply that replaces the server's at one step: "EHLO" (the first), "EHLO-TLS" (the one
    # after STARTTLS) or "AUTH" (a failed login's reply), e.g. {"EHLO": "421 4.3.2 busy"};
    # "QUIT": "" is a server that never answers QUIT (for at most a minute).
    replies: dict[str, str] = field(default_factory=dict)
    # What RCPT TO for an address is answered, one reply per time it is asked (then 250), e.g.
    # {"b@example.org": ["450 4.2.0 greylisted"]}: refused once, taken on the next try.
    rcpt: dict[str, list[str]] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        answers = self.rcpt.get(address)
        if answers:
            return answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer.startswith("250"):
            self.messages.append(bytes(envelope.original_content or envelope.content))
            self.recipients.append(list(envelope.rcpt_tos))
        return self.answer

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        if "AUTH" in self.replies:
            return aiosmtpd_smtp.AuthResult(
                success=False, handled=False, message=self.replies["AUTH"]
            )
        ok = (
            isinstance(data, aiosmtpd_smtp.LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        if ok:
            self.logins.append(USER)
        return aiosmtpd_smtp.AuthResult(success=ok, handled=False)


class OAuthOnlyInbox(Inbox):
    """An inbox whose server offers XOAUTH2 alone (Microsoft 365 or Google with passwords off)."""

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        return None  # never reached: newsmon does not speak it


class EndlessChallengeInbox(Inbox):
    """An inbox whose server answers every LOGIN step with another challenge (a broken one)."""

    async def auth_LOGIN(self, server: Any, args: list[str]) -> Any:
        while True:
            if await server.challenge_auth("again") is aiosmtpd_smtp.MISSING:
                return None  # the client gave up


_Server: Any = aiosmtpd_smtp.SMTP
_ServerController: Any = aiosmtpd_controller.Controller


class _Replying(_Server):  # type: ignore[misc]
    """aiosmtpd's server, answering EHLO as its inbox's `replies` say."""

    inbox: Inbox

    async def smtp_EHLO(self, hostname: str) -> None:
        step = "EHLO" if self._tls_protocol is None else "EHLO-TLS"
        if step in self.inbox.replies:
            await self.push(self.inbox.replies[step])
            return
        await super().smtp_EHLO(hostname)

    async def smtp_QUIT(self, arg: str) -> None:
        if self.inbox.replies.get("QUIT") == "":
            await asyncio.sleep(60)  # cancelled when the test's server stops
            return
        await super().smtp_QUIT(arg)


class _Controller(_ServerController):  # type: ignore[misc]
    def factory(self) -> _Replying:
        server = _Replying(self.handler, **self.SMTP_kwargs)
        server.inbox = self.handler
        return server


@contextmanager
def smtp_server(
    cert: Path, key: Path, *, mode: str = "starttls", inbox: Inbox | None = None
) -> Iterator[tuple[Inbox, int]]:
    """Serve on 127.0.0.1: mode `starttls` (required), `tls` (implicit) or `plain` (no TLS)."""
    inbox = inbox or Inbox()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    port = free_port()
    kwargs: dict[str, Any] = {"authenticator": inbox.authenticate}
    if isinstance(inbox, OAuthOnlyInbox):  # its own auth_XOAUTH2, and no other mechanism
        kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]
    if isinstance(inbox, EndlessChallengeInbox):  # its own LOGIN, which smtplib then picks
        kwargs["auth_exclude_mechanism"] = ["PLAIN"]
    if mode == "starttls":
        kwargs |= {"tls_context": server_ctx, "require_starttls": True}
    elif mode == "tls":
        kwargs |= {"ssl_context": server_ctx, "auth_require_tls": False}  # TLS, unseen by aiosmtpd
    else:
        kwargs |= {"auth_require_tls": False}
    controller = _Controller(
        inbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@dataclass
class Script:
    """What a hand-written SMTP server sends, for servers no real one imitates: `lines` after
    connecting, `every` seconds apart, for at most `for_s` seconds (the test stays bounded
    whatever the client does), then `last` and it hangs up."""

    lines: bytes
    every: float
    for_s: float
    last: bytes = b""
    sent: int = 0  # bytes the client took


@contextmanager
def scripted_server(script: Script) -> Iterator[int]:
    """Serve `script` to one connection on 127.0.0.1; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10.0)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(1.0)
            ends = time.monotonic() + script.for_s
            try:
                while time.monotonic() < ends and not stop.is_set():
                    conn.sendall(script.lines)
                    script.sent += len(script.lines)
                    if script.every and stop.wait(script.every):
                        return
                conn.sendall(script.last)
            except OSError:  # the client hung up: what these scripts are for
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
