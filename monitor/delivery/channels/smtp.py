"""Send one email over SMTP, through the address guard. Does I/O (blocking; run in a thread).

`smtp://HOST[:587]` connects and requires STARTTLS before anything is sent (a server that does
not offer it is refused: a password or an alert is never sent in clear text); `smtps://HOST[:465]`
is TLS from the first byte. `smtp://USER@HOST` logs in with the destination's secret as the
password. The host is resolved and every address checked by the same `AddressGuard` as webhooks
and feeds, and the socket connects to a checked address (the name is kept for the certificate
check), so a name cannot resolve to one address for the check and another for the connection.

The server's 250 after DATA is the confirmation; every other ending is a verdict: 4xx replies and
lost connections are retried, 5xx dead-lettered, a refused login disables the destination.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from monitor.delivery.retry import Outcome, Verdict
from monitor.errors import BlockedAddressError, FeedError
from monitor.net.guard import AddressGuard

PORTS = {"smtp": 587, "smtps": 465}


def _guarded_socket(
    guard: AddressGuard, host: str, port: int, timeout: float, source: Any
) -> socket.socket:
    addresses = guard.check_host(host, port)  # raises BlockedAddressError / FeedError
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout, source)
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


class GuardedSMTP(smtplib.SMTP):
    def __init__(self, guard: AddressGuard, host: str, port: int, timeout: float) -> None:
        self.guard = guard  # before connecting, which __init__ does
        super().__init__(host, port, local_hostname=socket.gethostname(), timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _guarded_socket(self.guard, host, port, timeout, self.source_address)


class GuardedSMTPSSL(smtplib.SMTP_SSL):
    def __init__(
        self, guard: AddressGuard, host: str, port: int, timeout: float, context: ssl.SSLContext
    ) -> None:
        self.guard = guard
        super().__init__(
            host, port, local_hostname=socket.gethostname(), timeout=timeout, context=context
        )

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = _guarded_socket(self.guard, host, port, timeout, self.source_address)
        return self.context.wrap_socket(sock, server_hostname=self._host)  # type: ignore[attr-defined]


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
) -> Verdict:
    """Send `mail`; the verdict says what happened. Never raises for SMTP or network trouble."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or PORTS[scheme]
    user = unquote(parts.username) if parts.username else None
    context = context or ssl.create_default_context()
    client: smtplib.SMTP | None = None
    try:
        if scheme == "smtps":
            client = GuardedSMTPSSL(guard, host, port, timeout, context)
        else:
            client = GuardedSMTP(guard, host, port, timeout)
            client.ehlo()
            if not client.has_extn("starttls"):
                return Verdict(Outcome.DEAD, "the SMTP server does not offer STARTTLS")
            client.starttls(context=context)
            client.ehlo()
        if user is not None:
            client.login(user, password or "")
        refused = client.send_message(mail)
        if refused:
            return Verdict(Outcome.DELIVERED, f"SMTP 250; {len(refused)} recipient(s) refused")
        return Verdict(Outcome.DELIVERED, "SMTP 250")
    except BlockedAddressError:
        return Verdict(
            Outcome.DEAD, "blocked address: the destination resolves to a refused address"
        )
    except FeedError:
        return Verdict(Outcome.RETRY, "cannot resolve the SMTP host")
    except smtplib.SMTPAuthenticationError as exc:
        return Verdict(Outcome.DISABLE, f"SMTP {exc.smtp_code} login refused")
    except smtplib.SMTPNotSupportedError:
        return Verdict(Outcome.DEAD, "the SMTP server does not offer what is needed (AUTH?)")
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        soft = any(400 <= code < 500 for code in codes)
        return Verdict(Outcome.RETRY if soft else Outcome.DEAD, "SMTP every recipient refused")
    except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, ...
        return _code_verdict(exc.smtp_code, type(exc).__name__)
    except ssl.SSLCertVerificationError:
        return Verdict(Outcome.DEAD, "the SMTP server's certificate does not verify")
    except (smtplib.SMTPException, OSError) as exc:  # lost connection, refused, timeout
        return Verdict(Outcome.RETRY, type(exc).__name__)
    finally:
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
