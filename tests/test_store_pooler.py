"""PostgreSQL reached through a pooler in transaction mode (`?pool_mode=transaction`): the URL's
own parameter, and replicas taking turns on the pooler's server connections. The store contract
and coordination suites run behind the same PgBouncer too (their `make_store` fixtures)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.store.dburl import split_pool_mode
from tests.store_fixtures import T0, alert, ok_update, seen, spec, store_factory

LEASE = timedelta(minutes=2)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", ("postgresql://u@h/db", False)),
        ("postgresql://u@h/db?pool_mode=transaction", ("postgresql://u@h/db", True)),
        ("postgresql://u@h/db?pool_mode=session", ("postgresql://u@h/db", False)),
        (
            "postgresql://u:p@h:6543/db?sslmode=require&pool_mode=transaction&application_name=n",
            ("postgresql://u:p@h:6543/db?sslmode=require&application_name=n", True),
        ),
        ("postgresql://u@h/db?pool%5Fmode=transaction", ("postgresql://u@h/db", True)),
        # A `?` in a password that is not percent-encoded is no query (libpq reads it so too).
        ("postgresql://u:p?q@h/db", ("postgresql://u:p?q@h/db", False)),
        ("postgresql://u:p?q@h/db?pool_mode=transaction", ("postgresql://u:p?q@h/db", True)),
        # A value holding a `/` or an `@` is in the query still: the parameter is taken off.
        (
            "postgresql://u@h/db?sslrootcert=/etc/ssl/ca.pem&pool_mode=transaction",
            ("postgresql://u@h/db?sslrootcert=/etc/ssl/ca.pem", True),
        ),
        (
            "postgresql://u@h/db?pool_mode=transaction&application_name=ops@x",
            ("postgresql://u@h/db?application_name=ops@x", True),
        ),
    ],
)
def test_pool_mode_is_taken_off_the_url_libpq_reads(url: str, expected: tuple[str, bool]) -> None:
    assert split_pool_mode(url) == expected


def test_an_unknown_pool_mode_says_what_to_write_and_hides_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        split_pool_mode("postgresql://bob:s3cret@h/db?pool_mode=txn")
    message = str(caught.value)
    assert "pool_mode='txn' is not known" in message
    assert "pool_mode=transaction" in message
    assert "s3cret" not in message
    assert "bob:***@h" in message


def test_replicas_behind_a_transaction_pooler_take_turns_on_its_server_connections(
    tmp_path: Path,
) -> None:
    """Two replicas run the same statements again and again through a PgBouncer that hands
    each transaction to any of its server connections. A statement the driver prepared on one
    of them (psycopg does after five runs) is unknown on another, or already there for the
    other replica: "prepared statement "_pg3_0" already exists"."""
    with store_factory("pgbouncer", tmp_path) as make:
        a, b = make(), make()
        a.sync_feeds([spec(f"f{i}") for i in range(8)], T0)
        alerts = 0
        for round_ in range(12):
            now = T0 + timedelta(minutes=round_)
            for store, owner in ((a, "a"), (b, "b")):
                for feed in store.claim_due_feeds(now, 2, LEASE, owner):
                    story = f"s-{owner}-{feed.id}-{round_}"
                    news = [alert(story, "hook", story, feed.id)]
                    written = store.commit_poll(
                        feed.id, owner, now, ok_update(now, 0), [seen(story)], news
                    )
                    assert written == 1
                    alerts += 1
        assert alerts == 12 * 2 * 2  # each replica claimed two feeds a round
        assert a.outbox_stats(now)[0] == b.outbox_stats(now)[0] == alerts
