"""Email to several recipients through a real SMTP server on 127.0.0.1 (aiosmtpd), which refuses
some of them at RCPT TO: those refused for now (4xx) get the same message on the alert's retry,
across a restart, and no one gets it twice; those refused for good (5xx) are named, never tried
again."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.delivery.destinations import Destination
from monitor.net.guard import AddressGuard
from monitor.store.base import Store
from tests.delivery_support import T0, alert_row, deliverer, enqueue, open_sqlite
from tests.smtp_support import Inbox, client_context, make_cert, smtp_server

LOOPBACK = AddressGuard(allow=["127.0.0.0/8", "::1/128"])
DESK, EDITOR, TEAM = "desk@example.org", "editor@example.org", "team@example.org"
GREYLISTED = "450 4.2.0 Greylisted, try again later"
UNKNOWN = "550 5.1.1 <team@example.org>: Recipient address rejected: User unknown"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "newsmon.db"


def team_dest(port: int) -> Destination:
    return Destination.create(
        "mail",
        "email",
        f"smtp://localhost:{port}",
        sender="newsmon@example.org",
        recipients=[DESK, EDITOR, TEAM],
    )


def run_at(store: Store, port: int, cert: Path, when: datetime) -> None:
    """One delivery run at `when`, by a deliverer made for it (as a process started then)."""
    d = deliverer(store, {"mail": team_dest(port)}, FakeClock(when), deadline=10.0)
    d.guard = LOOPBACK
    d.smtp_context = client_context(cert)
    asyncio.run(d.run_once())


def copies(inbox: Inbox) -> Counter[tuple[str, str]]:
    """(recipient, Message-ID) -> how many copies the server took for that recipient."""
    got: Counter[tuple[str, str]] = Counter()
    for raw, recipients in zip(inbox.messages, inbox.recipients, strict=True):
        message_id = email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]
        got.update((r, str(message_id)) for r in recipients)
    return got


def test_recipients_refused_for_now_get_the_same_message_on_the_retry_and_none_twice(
    db: Path, cert: tuple[Path, Path]
) -> None:
    """Greylisting one address of a team list: the alert counted as delivered and that address
    never got it. Now it is retried for that address alone, and the run's next alert still goes
    out (the server works: the destination is not paused)."""
    inbox = Inbox(rcpt={EDITOR: [GREYLISTED, GREYLISTED]})  # each alert's first try
    store = open_sqlite(db)
    with smtp_server(*cert, inbox=inbox) as (_, port):
        ids = enqueue(store, T0, "mail", ["s1", "s2"])
        run_at(store, port, cert[0], T0)
        rows = [alert_row(store, i) for i in ids]
        assert [(r.status, r.owed_to) for r in rows] == [("pending", (EDITOR,))] * 2
        assert rows[0].last_error == (
            f"SMTP 250 for 2 of 3 recipients; 1 refused for now (retried): {EDITOR} ({GREYLISTED})"
        )
        assert rows[0].next_attempt_at is not None
        assert rows[0].next_attempt_at < T0 + timedelta(seconds=10)  # the schedule's first slot
        run_at(store, port, cert[0], T0 + timedelta(seconds=10))
        run_at(store, port, cert[0], T0 + timedelta(hours=2))  # nothing left to send
    assert [alert_row(store, i).status for i in ids] == ["delivered", "delivered"]
    assert inbox.recipients == [[DESK, TEAM], [DESK, TEAM], [EDITOR], [EDITOR]]
    ids_sent = {f"<{i}@newsmon.invalid>" for i in ids}
    assert copies(inbox) == {(r, m): 1 for r in (DESK, EDITOR, TEAM) for m in ids_sent}


def test_a_recipient_refused_for_good_is_named_and_never_sent_to_again(
    db: Path, cert: tuple[Path, Path]
) -> None:
    """A 5xx for one address was swallowed: delivered, with nothing anywhere saying that an
    address of the list is refused. Now the alert's last error names it and the reply."""
    inbox = Inbox(rcpt={TEAM: [UNKNOWN] * 3})
    store = open_sqlite(db)
    with smtp_server(*cert, inbox=inbox) as (_, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run_at(store, port, cert[0], T0)
        run_at(store, port, cert[0], T0 + timedelta(hours=2))
    row = alert_row(store, aid)
    assert (row.status, row.attempts) == ("delivered", 1)
    assert row.last_error == (
        f"SMTP 250 for 2 of 3 recipients; 1 refused for good: {TEAM} ({UNKNOWN})"
    )
    assert inbox.recipients == [[DESK, EDITOR]]
    assert len(inbox.rcpt[TEAM]) == 2  # asked once


def test_the_recipients_still_owed_outlive_a_restart(db: Path, cert: tuple[Path, Path]) -> None:
    """One address refused for now, one for good: a process started after the first try (a
    fresh store and deliverer on the same database) sends to the first alone."""
    inbox = Inbox(rcpt={EDITOR: ["452 4.2.2 Mailbox full"], TEAM: [UNKNOWN] * 3})
    with smtp_server(*cert, inbox=inbox) as (_, port):
        first = open_sqlite(db)
        [aid] = enqueue(first, T0, "mail", ["s1"])
        run_at(first, port, cert[0], T0)
        assert alert_row(first, aid).owed_to == (EDITOR,)
        first.close()
        restarted = open_sqlite(db)
        run_at(restarted, port, cert[0], T0 + timedelta(seconds=10))
    row = alert_row(restarted, aid)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert inbox.recipients == [[DESK], [EDITOR]]
    assert len(inbox.rcpt[TEAM]) == 2  # never asked again
    assert f"1 refused for good: {TEAM} (550 5.1.1" in (row.last_error or "")
    assert copies(inbox) == {(r, f"<{aid}@newsmon.invalid>"): 1 for r in (DESK, EDITOR)}


def test_an_address_refused_until_the_retries_run_out_is_owed_it_after_a_replay(
    db: Path, cert: tuple[Path, Path]
) -> None:
    """The dead letter keeps whom it is still owed to: a replay sends it to that address, not
    again to those that took it on the first try."""
    inbox = Inbox(rcpt={EDITOR: [GREYLISTED] * 8})
    store = open_sqlite(db)
    with smtp_server(*cert, inbox=inbox) as (_, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        now = T0
        while alert_row(store, aid).status == "pending":
            run_at(store, port, cert[0], now)
            row = alert_row(store, aid)
            now = (row.next_attempt_at or now) + timedelta(seconds=1)
            assert row.attempts <= 8
        assert (row.status, row.attempts, row.owed_to) == ("dead", 8, (EDITOR,))
        assert (row.last_error or "").endswith("; gave up after 8 attempts")
        assert store.replay([aid], now) == 1
        run_at(store, port, cert[0], now)
    assert alert_row(store, aid).status == "delivered"
    assert inbox.recipients == [[DESK, TEAM], [EDITOR]]


@pytest.mark.parametrize(
    ("answer", "status"), [(GREYLISTED, "pending"), ("550 5.7.1 Relaying denied", "dead")]
)
def test_every_recipient_refused_is_retried_for_now_or_dead_for_good(
    db: Path, cert: tuple[Path, Path], answer: str, status: str
) -> None:
    """Nobody took it: a retry (4xx) or a dead letter (5xx), as before, the reason naming them;
    the retry, or the replay of the dead letter, goes to all of them again."""
    inbox = Inbox(rcpt={r: [answer] for r in (DESK, EDITOR, TEAM)})
    store = open_sqlite(db)
    with smtp_server(*cert, inbox=inbox) as (_, port):
        [aid] = enqueue(store, T0, "mail", ["s1"])
        run_at(store, port, cert[0], T0)
        row = alert_row(store, aid)
        assert (row.status, row.owed_to) == (status, None)
        kind = "for now (retried)" if status == "pending" else "for good"
        named = ", ".join(f"{r} ({answer})" for r in (DESK, EDITOR, TEAM))
        assert row.last_error == f"SMTP every recipient refused; 3 refused {kind}: {named}"
        assert inbox.messages == []
        later = T0 + timedelta(seconds=10)
        if status == "dead":
            assert store.replay([aid], later) == 1
        run_at(store, port, cert[0], later)
    assert alert_row(store, aid).status == "delivered"
    assert inbox.recipients == [[DESK, EDITOR, TEAM]]


def test_a_digest_greylisted_for_one_recipient_goes_to_that_one_alone_on_its_retry(
    db: Path, cert: tuple[Path, Path]
) -> None:
    """A digest is sent in place of its first alert: the recipients still owed it are recorded
    on that alert, and the retry's digest (rebuilt from the outbox) goes to them alone, the
    same message, while its alerts wait with it."""
    from monitor.delivery.digest import Digest, digest_id

    hourly = Digest(every=timedelta(hours=1))
    inbox = Inbox(rcpt={EDITOR: [GREYLISTED]})
    store = open_sqlite(db)

    def run(when: datetime) -> None:
        dest = Destination.create(
            "mail",
            "email",
            f"smtp://localhost:{port}",
            sender="newsmon@example.org",
            recipients=[DESK, EDITOR, TEAM],
            digest=hourly,
        )
        d = deliverer(store, {"mail": dest}, FakeClock(when), deadline=10.0)
        d.guard = LOOPBACK
        d.smtp_context = client_context(cert[0])
        asyncio.run(d.run_once())

    with smtp_server(*cert, inbox=inbox) as (_, port):
        ids = enqueue(store, T0, "mail", ["s1", "s2", "s3"])
        run(T0 + timedelta(hours=1, seconds=10))  # the period is over: one digest
        assert [alert_row(store, i).status for i in ids] == ["pending"] * 3
        # recorded on the alert it was sent as, the rest waiting to go with it
        assert sorted((alert_row(store, i).owed_to or ()) for i in ids) == [(), (), (EDITOR,)]
        run(T0 + timedelta(hours=1, minutes=5))  # its retry
        run(T0 + timedelta(hours=3))  # nothing left to send
    assert [alert_row(store, i).status for i in ids] == ["delivered"] * 3
    assert inbox.recipients == [[DESK, TEAM], [EDITOR]]
    digest = f"<{digest_id('mail', T0)}@newsmon.invalid>"
    assert copies(inbox) == {(r, digest): 1 for r in (DESK, EDITOR, TEAM)}
