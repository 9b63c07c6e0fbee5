"""Email through a real SMTP server on 127.0.0.1 (aiosmtpd): STARTTLS and TLS, a text and an
HTML part, login, the server's refusals, and the address guard on the SMTP host."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.delivery.channels.smtp import NO_LOGIN_METHOD, QUIT_WAIT_S, REPLY_MAX
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest, digest_id
from monitor.model import OutboxRow
from monitor.net.guard import AddressGuard
from monitor.store.base import Store
from tests.bidi_support import RLO, SPOOF_TITLE, assert_outside, open_at
from tests.delivery_support import T0, deliverer, enqueue, open_sqlite
from tests.hostile_titles import HOSTILE
from tests.smtp_support import (
    PASSWORD,
    USER,
    EndlessChallengeInbox,
    Inbox,
    OAuthOnlyInbox,
    Script,
    client_context,
    make_cert,
    scripted_server,
    smtp_server,
)

LOOPBACK = AddressGuard(allow=["127.0.0.0/8", "::1/128"])


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_sqlite(tmp_path / "newsmon.db")


def mail_dest(url: str, *, token: str | None = None) -> Destination:
    return Destination.create(
        "mail",
        "email",
        url,
        sender="newsmon@example.org",
        recipients=["desk@example.org", "editor@example.org"],
        token=token,
    )


def run(store: Store, dest: Destination, cert: Path, guard: AddressGuard = LOOPBACK) -> None:
    d = deliverer(store, {"mail": dest}, FakeClock(T0), deadline=10.0)
    d.guard = guard
    d.smtp_context = client_context(cert)
    asyncio.run(d.run_once())


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_starttls_multipart_message_received(store: Store, cert: tuple[Path, Path]) -> None:
    with smtp_server(*cert) as (inbox, port):
        [aid] = enqueue(store, T0, "mail", ["s1"], {"s1": HOSTILE["markup"]})
        run(store, mail_dest(f"smtp://localhost:{port}"), cert[0])
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "delivered", row.last_error
    [raw] = inbox.messages
    assert inbox.recipients == [["desk@example.org", "editor@example.org"]]
    message = parse(raw)
    assert message["Message-ID"] == f"<{aid}@newsmon.invalid>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    page = html.get_content()
    assert "<script>alert(1)</script>" in plain  # plain text shows the title as it is
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in page.split("&lt;a href=")[0]  # only escaped, never a link
    assert '<a href="https://example.com/s1">' in page
    assert "Troops (high)" in plain


def test_hostile_subject_stays_one_header(store: Store, cert: tuple[Path, Path]) -> None:
    titles = {"h": HOSTILE["header"], "l": HOSTILE["long"], "e": HOSTILE["encoded"]}
    with smtp_server(*cert) as (inbox, port):
        enqueue(store, T0, "mail", ["h", "l", "e"], titles)
        run(store, mail_dest(f"smtp://localhost:{port}"), cert[0])
    assert len(inbox.messages) == 3
    for raw in inbox.messages:
        message = parse(raw)
        assert message["Bcc"] is None
        assert message["X-Evil"] is None
        assert len(str(message["Subject"])) <= 200
        assert "\n" not in str(message["Subject"])
    subjects = {str(parse(raw)["Subject"]).replace("\u2060", "") for raw in inbox.messages}
    assert HOSTILE["encoded"] in subjects  # shown as the feed wrote it, not decoded
    assert all(r == ["desk@example.org", "editor@example.org"] for r in inbox.recipients)


def test_implicit_tls_with_login(store: Store, cert: tuple[Path, Path]) -> None:
    with smtp_server(*cert, mode="tls") as (inbox, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtps://{USER}@localhost:{port}", token=PASSWORD), cert[0])
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "delivered", row.last_error
    assert inbox.logins == [USER]
    assert len(inbox.messages) == 1


def test_refused_login_disables_the_destination(store: Store, cert: tuple[Path, Path]) -> None:
    with smtp_server(*cert) as (inbox, port):
        ids = enqueue(store, T0, "mail", ["s1", "s2"])
        run(store, mail_dest(f"smtp://{USER}@localhost:{port}", token="wrong"), cert[0])
    assert inbox.messages == []
    assert "mail" in store.disabled_destinations()
    rows = [store.get_alert(i) for i in ids]
    assert all(r is not None and r.status == "dead" for r in rows)


def test_no_starttls_is_refused_not_sent_in_clear(store: Store, cert: tuple[Path, Path]) -> None:
    with smtp_server(*cert, mode="plain") as (inbox, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtp://localhost:{port}"), cert[0])
    assert inbox.messages == []
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "dead"
    assert "STARTTLS" in (row.last_error or "")


def test_untrusted_certificate_is_not_sent_to(
    store: Store, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    other = make_cert(tmp_path)  # the client trusts this one, the server has another
    with smtp_server(*cert) as (inbox, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtp://localhost:{port}"), other[0])
    assert inbox.messages == []
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "dead"
    assert "certificate" in (row.last_error or "")


@pytest.mark.parametrize(("answer", "status"), [("451 try later", "pending"), ("554 no", "dead")])
def test_server_refusal_retried_or_dead(
    store: Store, cert: tuple[Path, Path], answer: str, status: str
) -> None:
    with smtp_server(*cert, inbox=Inbox(answer=answer)) as (_, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtp://localhost:{port}"), cert[0])
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == status
    assert (row.last_error or "").startswith(f"SMTP {answer[:3]}")
    if status == "pending":
        assert row.next_attempt_at is not None
        assert row.next_attempt_at > T0 + timedelta(seconds=4)


@pytest.mark.parametrize(
    ("step", "reply", "status", "reason"),
    [
        ("EHLO", "421 4.3.2 too busy", "pending", "SMTP 421 EHLO refused"),
        ("EHLO-TLS", "421 4.3.2 too busy", "pending", "SMTP 421 EHLO refused"),
        ("EHLO", "554 5.7.1 go away", "dead", "SMTP 554 EHLO refused"),
    ],
)
def test_a_refused_ehlo_is_judged_by_its_code(
    store: Store, cert: tuple[Path, Path], step: str, reply: str, status: str, reason: str
) -> None:
    """smtplib returns a refused EHLO instead of raising: a busy server's 421 was read as "does
    not offer STARTTLS" (or, after STARTTLS, as no AUTH) and dead-lettered the alert."""
    inbox = Inbox(replies={step: reply})
    with smtp_server(*cert, inbox=inbox) as (_, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtp://{USER}@localhost:{port}", token=PASSWORD), cert[0])
    assert inbox.messages == []
    row = store.get_alert(aid)
    assert row is not None
    assert (row.status, row.last_error) == (status, reason)
    assert store.disabled_destinations() == {}


def test_a_login_failing_for_now_is_retried_not_disabled(
    store: Store, cert: tuple[Path, Path]
) -> None:
    """454 (a temporary authentication failure: the server's password backend is down) is no
    refused password: it disabled the destination and dead-lettered everything queued for it."""
    inbox = Inbox(replies={"AUTH": "454 4.7.0 Temporary authentication failure"})
    with smtp_server(*cert, inbox=inbox) as (_, port):
        ids = enqueue(store, T0, "mail", ["s1", "s2"])
        run(store, mail_dest(f"smtp://{USER}@localhost:{port}", token=PASSWORD), cert[0])
    assert store.disabled_destinations() == {}
    rows = [store.get_alert(i) for i in ids]
    assert [r.status if r else None for r in rows] == ["pending", "pending"]
    assert rows[0] is not None
    assert rows[0].last_error == "SMTP 454 login failed for now"
    assert rows[0].next_attempt_at is not None
    assert rows[0].next_attempt_at > T0 + timedelta(seconds=4)


def _one_login(store: Store, cert: tuple[Path, Path], inbox: Inbox) -> OutboxRow:
    """One alert sent with a login to a server with `inbox`, which must receive no message;
    the alert's row after the attempt."""
    with smtp_server(*cert, inbox=inbox) as (_, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtp://{USER}@localhost:{port}", token=PASSWORD), cert[0])
    assert inbox.messages == []
    row = store.get_alert(aid)
    assert row is not None
    return row


def test_a_server_offering_no_login_newsmon_speaks_is_a_dead_letter_that_says_so(
    store: Store, cert: tuple[Path, Path]
) -> None:
    """smtplib raises its bare SMTPException for "no suitable authentication method", as for a
    lost connection: the alert was retried for a day as "SMTPException", then dead-lettered."""
    row = _one_login(store, cert, OAuthOnlyInbox())
    assert (row.status, row.last_error) == ("dead", NO_LOGIN_METHOD)


def test_a_server_that_never_answers_quit_holds_no_send_for_its_deadline(
    store: Store, cert: tuple[Path, Path]
) -> None:
    """The message is confirmed (250) before QUIT: waiting for QUIT's reply until the deadline
    made every email to such a server take the whole deadline, one after another."""
    inbox = Inbox(replies={"QUIT": ""})
    with smtp_server(*cert, inbox=inbox) as (_, port):
        ids = enqueue(store, T0, "mail", ["s1", "s2"])
        started = time.monotonic()
        run(store, mail_dest(f"smtp://localhost:{port}"), cert[0])  # a 10 s deadline
        took = time.monotonic() - started
    rows = [store.get_alert(i) for i in ids]
    assert [r.status if r else None for r in rows] == ["delivered", "delivered"]
    assert len(inbox.messages) == 2
    assert took < 2 * (QUIT_WAIT_S + 2.0)  # was 20 s: 10 s for each


def test_a_server_whose_login_never_ends_is_retried_not_called_loginless(
    store: Store, cert: tuple[Path, Path]
) -> None:
    """smtplib gives up on a sixth AUTH challenge with its bare SMTPException, the class of "no
    suitable authentication method": such a server was dead-lettered as one offering no login
    newsmon speaks, though it offers LOGIN."""
    row = _one_login(store, cert, EndlessChallengeInbox())
    assert row.status == "pending"
    assert row.last_error != NO_LOGIN_METHOD


def test_private_smtp_host_refused_by_the_guard(store: Store, cert: tuple[Path, Path]) -> None:
    with smtp_server(*cert) as (inbox, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run(store, mail_dest(f"smtp://127.0.0.1:{port}"), cert[0], guard=AddressGuard())
    assert inbox.messages == []
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "dead"
    assert "blocked address" in (row.last_error or "")


def test_a_digest_is_one_email(store: Store, cert: tuple[Path, Path]) -> None:
    with smtp_server(*cert) as (inbox, port):
        enqueue(store, T0, "mail", ["s1", "s2", "s3"], {"s2": HOSTILE["markup"]})
        dest = Destination.create(
            "mail",
            "email",
            f"smtp://localhost:{port}",
            sender="newsmon@example.org",
            recipients=["desk@example.org"],
            digest=Digest(every=timedelta(hours=1)),
        )
        clock = FakeClock(T0 + timedelta(hours=1, seconds=10))
        d = deliverer(store, {"mail": dest}, clock, deadline=10.0)
        d.guard = LOOPBACK
        d.smtp_context = client_context(cert[0])
        asyncio.run(d.run_once())
        asyncio.run(d.run_once())
    [raw] = inbox.messages
    message = parse(raw)
    assert message["Message-ID"] == f"<{digest_id('mail', T0)}@newsmon.invalid>"
    assert str(message["Subject"]) == "Digest: 3 alerts, 2026-03-01 12:00–13:00 UTC"
    html = message.get_body(("html",))
    assert html is not None
    assert "Troops (3):" in html.get_content()
    assert "<script>" not in html.get_content()
    assert {r.status for r in store.list_alerts(limit=10)} == {"delivered"}


def test_a_server_that_drips_reply_lines_is_cut_off_at_the_deadline(store: Store) -> None:
    """smtplib's timeout is per read: a `220-` line every 0.3 s would hold the sending thread
    (and a one-shot run, which waits for it) for as long as the server likes."""
    script = Script(b"220-still here\r\n", every=0.3, for_s=12.0, last=b"220 ok\r\n")
    with scripted_server(script) as port:
        [aid] = enqueue(store, T0, "mail", ["s1"])
        d = deliverer(store, {"mail": mail_dest(f"smtp://localhost:{port}")}, FakeClock(T0))
        d.guard = LOOPBACK
        started = time.monotonic()
        asyncio.run(d.run_once())  # returns once the sending thread has ended too
        took = time.monotonic() - started
    assert took < d.deadline + 2.0
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "pending"
    assert row.last_error == f"no reply within {d.deadline:g}s"


def test_a_server_that_floods_reply_lines_is_cut_off(store: Store) -> None:
    """smtplib keeps every line of a reply: a server sending `220-` lines without end would fill
    memory. The reply is cut at REPLY_MAX bytes, and the exchange retried."""
    lines = (b"220-" + b"x" * 1000 + b"\r\n") * 64
    script = Script(lines, every=0.0, for_s=3.0, last=b"554 no\r\n")
    with scripted_server(script) as port:
        [aid] = enqueue(store, T0, "mail", ["s1"])
        d = deliverer(store, {"mail": mail_dest(f"smtp://localhost:{port}")}, FakeClock(T0))
        d.guard = LOOPBACK
        asyncio.run(d.run_once())
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "pending"
    assert row.last_error == f"SMTP reply longer than {REPLY_MAX} bytes"
    assert script.sent < 16 * 1024 * 1024  # the client hung up; it did not read for 3 s


def test_an_override_in_a_title_does_not_reach_the_rest_of_the_email(
    store: Store, cert: tuple[Path, Path]
) -> None:
    """An RLO left open by a title reversed the rest of the HTML part (one paragraph after
    another, but a mail client lays some out as one) and of the subject line's context. Each
    field is closed where it ends, in the subject and both parts; the title keeps its override."""
    with smtp_server(*cert) as (inbox, port):
        [aid] = enqueue(store, T0, "mail", ["s1"], {"s1": SPOOF_TITLE})
        run(store, mail_dest(f"smtp://localhost:{port}"), cert[0])
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "delivered", row.last_error
    [raw] = inbox.messages
    message = parse(raw)
    subject = str(message["Subject"])
    assert RLO in subject
    assert open_at(subject, len(subject)) == []
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    for body in (text.get_content(), html.get_content()):
        assert RLO in body
        assert_outside(body.replace("\n", " "), "Rules")  # read as one paragraph
