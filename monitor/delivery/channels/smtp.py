"""Send one email over SMTP, through the address guard. Does I/O (blocking; run in a thread).

`smtp://HOST[:587]` connects and requires STARTTLS before anything is sent (a server that does
not offer it is refused: a password or an alert is never sent in clear text); `smtps://HOST[:465]`
is TLS from the first byte. `smtp://USER@HOST` logs in with the destination's secret as the
password. The host is resolved and every address checked by the same `AddressGuard` as webhooks
and feeds, and the socket connects to a checked address (the name is kept for the certificate
check), so a name cannot resolve to one address for the check and another for the connection.

The server's 250 after DATA is the confirmation; every other ending is a verdict: 4xx replies and
lost connections are retried, 5xx dead-lettered, a refused login (5xx) disables the destination.

Recipients are judged one by one (RCPT TO): once the server took the message for some, those
it refused with 4xx (greylisting, a full mailbox) are still owed it and the alert is retried for
them alone (the verdict's `owed`, which the deliverer records in the outbox), those refused with
5xx never get it, and the reason names both. When it refused every recipient, a 4xx among them
is a retry, 5xx alone a dead letter.

One deadline covers the whole exchange, not each read: smtplib's timeout is per socket
operation, so a server that sends a reply line every few seconds (`220-` continuation lines)
would hold the sending thread for ever, and one that floods continuation lines would fill memory
(smtplib keeps every line of a reply). Every read and write is given what is left of the
deadline, and a reply longer than REPLY_MAX bytes ends the exchange.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from monitor.controls import printable_only
from monitor.delivery.retry import BLOCKED_DESTINATION, Outcome, Verdict
from monitor.errors import BlockedAddressError, FeedError
from monitor.net.guard import AddressGuard
from monitor.plural import counted

if TYPE_CHECKING:
    from typing_extensions import Buffer

PORTS = {"smtp": 587, "smtps": 465}
REPLY_MAX = 64 * 1024  # one reply's bytes; an EHLO reply is a few hundred
REFUSAL_TEXT_MAX = 80  # of a server's reason for refusing a recipient, in the outbox and log
REFUSALS_NAMED = 5  # recipients named per kind of refusal; the rest counted
QUIT_WAIT_S = 2.0  # for the reply to QUIT, once the message is sent (or refused)
LOGIN_METHODS = {"CRAM-MD5", "PLAIN", "LOGIN"}  # what smtplib's login() speaks
NO_LOGIN_METHOD = (
    "the SMTP server offers no login method newsmon speaks (PLAIN, LOGIN or CRAM-MD5;"
    " not OAuth2 alone)"
)


class _DeadlinePassed(TimeoutError):
    """The exchange's deadline passed (smtplib wraps it as a lost connection)."""


class _ReplyTooLong(OSError):
    """The server's reply grew past REPLY_MAX (smtplib wraps it as a lost connection)."""


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlinePassed("the SMTP exchange's deadline passed")
    return left


class _BoundedReplies:
    """The reply stream of one socket: each readline gets what is left of the deadline, and a
    reply (all its lines) stops at REPLY_MAX bytes."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.deadline = deadline
        self.taken = 0

    def readline(self, limit: int = -1) -> bytes:
        self.sock.settimeout(_left(self.deadline))
        line = self.file.readline(limit)
        self.taken += len(line)
        if self.taken > REPLY_MAX:
            raise _ReplyTooLong(f"an SMTP reply longer than {REPLY_MAX} bytes")
        return line

    def close(self) -> None:
        self.file.close()


def _guarded_socket(
    guard: AddressGuard, host: str, port: int, deadline: float, source: Any
) -> socket.socket:
    addresses = guard.check_host(host, port)  # raises BlockedAddressError / FeedError
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), _left(deadline), source)
        except _DeadlinePassed:
            raise
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


class _Bounded(smtplib.SMTP):
    """Reads and writes within one deadline (`time.monotonic()` seconds), replies bounded."""

    deadline: float

    def getreply(self) -> tuple[int, bytes]:
        if not isinstance(self.file, _BoundedReplies):
            if self.sock is None:
                raise smtplib.SMTPServerDisconnected("not connected")
            self.file = _BoundedReplies(self.sock, self.deadline)
        self.file.taken = 0
        return super().getreply()

    def send(self, s: Buffer | str) -> None:
        if self.sock is not None:
            self.sock.settimeout(_left(self.deadline))  # sendall's timeout is for the whole call
        super().send(s)


class GuardedSMTP(_Bounded):
    def __init__(self, guard: AddressGuard, host: str, port: int, deadline: float) -> None:
        self.guard = guard  # before connecting, which __init__ does
        self.deadline = deadline
        timeout = _left(deadline)
        super().__init__(host, port, local_hostname=socket.gethostname(), timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _guarded_socket(self.guard, host, port, self.deadline, self.source_address)


class GuardedSMTPSSL(_Bounded, smtplib.SMTP_SSL):
    def __init__(
        self, guard: AddressGuard, host: str, port: int, deadline: float, context: ssl.SSLContext
    ) -> None:
        self.guard = guard
        self.deadline = deadline
        timeout = _left(deadline)
        smtplib.SMTP_SSL.__init__(
            self, host, port, local_hostname=socket.gethostname(), timeout=timeout, context=context
        )

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = _guarded_socket(self.guard, host, port, self.deadline, self.source_address)
        sock.settimeout(_left(self.deadline))  # the TLS handshake
        return self.context.wrap_socket(sock, server_hostname=self._host)  # type: ignore[attr-defined]


def _ehlo_refused(client: smtplib.SMTP) -> Verdict | None:
    """The verdict when the server does not answer EHLO with 250 (None when it does)."""
    code, _ = client.ehlo()
    return None if code == 250 else _code_verdict(code, "EHLO refused")


def _code_verdict(code: int, what: str) -> Verdict:
    if 400 <= code < 500:
        return Verdict(Outcome.RETRY, f"SMTP {code} {what}")
    return Verdict(Outcome.DEAD, f"SMTP {code} {what}")


def send(
    url: str,
    password: str | None,
    mail: EmailMessage,
    *,
    guard: AddressGuard,
    timeout: float,
    context: ssl.SSLContext | None = None,
    to: Sequence[str],
) -> Verdict:
    """Send `mail` to the envelope recipients `to` within `timeout` seconds in all; the verdict
    says what happened, and who is still owed it when some took it. Never raises for SMTP or
    network trouble."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or PORTS[scheme]
    user = unquote(parts.username) if parts.username else None
    context = context or ssl.create_default_context()
    client: smtplib.SMTP | None = None
    try:
        if scheme == "smtps":
            client = GuardedSMTPSSL(guard, host, port, deadline, context)
        else:
            client = GuardedSMTP(guard, host, port, deadline)
            # smtplib returns a refused EHLO instead of raising: a busy server's 421 read as
            # "no STARTTLS" (or, after it, "no AUTH") dead-lettered an alert worth retrying.
            ehlo = _ehlo_refused(client)
            if ehlo is not None:
                return ehlo
            if not client.has_extn("starttls"):
                return Verdict(Outcome.DEAD, "the SMTP server does not offer STARTTLS")
            client.starttls(context=context)
            ehlo = _ehlo_refused(client)
            if ehlo is not None:
                return ehlo
        if user is not None:
            # smtplib's "no suitable authentication method" is its bare SMTPException, as is a
            # server's endless AUTH challenge: asked first, the first is a dead letter that
            # says why (it was retried for a day as "SMTPException"), the second a retry.
            client.ehlo_or_helo_if_needed()
            offered = set(client.esmtp_features.get("auth", "").upper().split())
            if client.has_extn("auth") and not offered & LOGIN_METHODS:
                return Verdict(Outcome.DEAD, NO_LOGIN_METHOD)
            client.login(user, password or "")
        return _taken(to, client.send_message(mail, to_addrs=list(to)))
    except BlockedAddressError:
        return Verdict(Outcome.DEAD, BLOCKED_DESTINATION)
    except FeedError:
        return Verdict(Outcome.RETRY, "cannot resolve the SMTP host")
    except smtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.smtp_code < 500:  # 454 "temporary authentication failure", a 421
            return Verdict(Outcome.RETRY, f"SMTP {exc.smtp_code} login failed for now")
        return Verdict(Outcome.DISABLE, f"SMTP {exc.smtp_code} login refused")
    except smtplib.SMTPNotSupportedError:
        return Verdict(Outcome.DEAD, "the SMTP server does not offer what is needed (AUTH?)")
    except smtplib.SMTPRecipientsRefused as exc:
        return _none_taken(to, exc.recipients)
    except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, ...
        return _code_verdict(exc.smtp_code, type(exc).__name__)
    except ssl.SSLCertVerificationError:
        return Verdict(Outcome.DEAD, "the SMTP server's certificate does not verify")
    except (smtplib.SMTPException, OSError) as exc:  # lost connection, refused, timeout
        return Verdict(Outcome.RETRY, _lost(exc, timeout))
    finally:
        if client is not None:
            _goodbye(client)


def _taken(to: Sequence[str], refused: Mapping[str, tuple[int, bytes]]) -> Verdict:
    """The verdict once the server took the message (250 after DATA) for every one of `to` but
    `refused`: retried for those refused for now, delivered when none was."""
    if not refused:
        return Verdict(Outcome.DELIVERED, "SMTP 250")
    soft, hard = _split(refused)
    reason = f"SMTP 250 for {len(to) - len(refused)} of {counted(len(to), 'recipient')}"
    reason += _refusals(soft, hard)
    owed = tuple(address for address in to if address in soft)
    return Verdict(Outcome.RETRY if owed else Outcome.DELIVERED, reason, owed=owed, taken=True)


def _none_taken(to: Sequence[str], refused: Mapping[str, tuple[int, bytes]]) -> Verdict:
    """Every recipient refused (or the server gave up at RCPT TO, `421`): retried when one was
    refused for now, for all but those refused for good; else a dead letter, for whom it was."""
    soft, hard = _split(refused)
    reason = "SMTP every recipient refused" + _refusals(soft, hard)
    if not soft:
        return Verdict(Outcome.DEAD, reason)  # a replay goes to them again: owed as it was
    owed = tuple(address for address in to if address not in hard)
    return Verdict(Outcome.RETRY, reason, owed=owed if hard else None)


def _split(
    refused: Mapping[str, tuple[int, bytes]],
) -> tuple[dict[str, tuple[int, bytes]], dict[str, tuple[int, bytes]]]:
    """(refused for now, refused for good): 5xx is for good; any other code (4xx, or one no
    server should send) is worth another try."""
    hard = {a: reply for a, reply in refused.items() if 500 <= reply[0] < 600}
    soft = {a: reply for a, reply in refused.items() if a not in hard}
    return soft, hard


def _refusals(soft: Mapping[str, tuple[int, bytes]], hard: Mapping[str, tuple[int, bytes]]) -> str:
    """`; N refused for now (retried): ADDRESS (CODE TEXT), ...; N refused for good: ...`, at
    most REFUSALS_NAMED named of each, the server's text cut to REFUSAL_TEXT_MAX."""
    out = ""
    for kind, group in (("for now (retried)", soft), ("for good", hard)):
        if not group:
            continue
        named = [f"{a} ({code} {_text(text)}".rstrip() + ")" for a, (code, text) in group.items()]
        more = len(named) - REFUSALS_NAMED
        shown = ", ".join(named[:REFUSALS_NAMED]) + (f" and {more} more" if more > 0 else "")
        out += f"; {len(group)} refused {kind}: {shown}"
    return out


def _text(reply: bytes) -> str:
    """A server's reply text on one line, printable, at most REFUSAL_TEXT_MAX characters."""
    words = reply.decode("ascii", "replace").split()
    text = printable_only(" ".join(words))
    return text if len(text) <= REFUSAL_TEXT_MAX else text[: REFUSAL_TEXT_MAX - 1] + "…"


def _goodbye(client: smtplib.SMTP) -> None:
    """QUIT, waiting QUIT_WAIT_S at most for its reply: the verdict is made already, and a
    server that never answered QUIT held every send for the rest of its deadline (30 s an
    email, one destination's alerts sent one after another)."""
    if isinstance(client, _Bounded):
        client.deadline = min(client.deadline, time.monotonic() + QUIT_WAIT_S)
        if isinstance(client.file, _BoundedReplies):
            client.file.deadline = client.deadline
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _lost(exc: BaseException, timeout: float) -> str:
    """Why the exchange ended early: smtplib reports our own stops as a lost connection."""
    cause = exc if isinstance(exc, TimeoutError | _ReplyTooLong) else exc.__context__
    if isinstance(cause, TimeoutError):  # each read waits only what is left of the deadline
        return f"no reply within {timeout:g}s"
    if isinstance(cause, _ReplyTooLong):
        return f"SMTP reply longer than {REPLY_MAX} bytes"
    return type(exc).__name__
