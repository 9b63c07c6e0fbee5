"""The deliverer: claims due outbox rows and sends them. Does I/O (HTTP and the store).

One `run_once`:

    for each configured destination that is not disabled, concurrently:
        tokens = its rate bucket's whole tokens now            (0 -> skip, say when to come back)
        rows   = store.claim_due_alerts(now, min(tokens, batch), lease, owner, [destination])
        granted = store.take_tokens(destination, ..., len(rows))   (the bucket every process
                         shares; release the rows beyond; after a refusal take first, then claim)
        for each row, in order:
            (a digest or storm fold: the post sent in its place; its alerts recorded with it
             before its first attempt, store.group_alerts, and a retry sends exactly those)
            POST it (Slack Block Kit or signed webhook JSON) within a total deadline,
            never following a redirect, reading at most 64 KB of the reply
            (a channel, delivery/channels: its own request, or an email over SMTP through the
            same guard, and its own reading of the reply, confirmed or not; an email goes to
            the recipients still owed it, store.owe_recipients recording them after it)
            classify the reply, then do what `monitor.delivery.decide` decides:
                delivered -> store.mark_delivered (a fold or digest message: store.settle_grouped,
                             the alerts it carried and the one sent in their place at once)
                retry     -> store.schedule_retry at the next schedule slot (Retry-After a floor),
                             or store.dead_letter after the last slot; pause this destination
                             (Retry-After, else min(delay, 60 s)) and release the rest of its rows;
                             a 429 pauses the shared bucket too (store.pause_destination)
                dead      -> store.dead_letter
                disable   -> store.dead_letter + store.disable_destination, and a loud
                             `destination_disabled` error in the log
            a record the store refuses (another process took the lease over) ends the run for
            this destination, its other rows released: they were most likely taken over too

Destinations run concurrently and each has its own claim, so a slow or failing destination never
delays another. The lease is longer than everything one destination may do in a run: the first
row is started while the time spent plus one deadline fits in the lease, each next one while it
fits in 80 % of it.

A webhook's 2xx is delivered as soon as its status line arrives; the body is not awaited, so a
receiver that trickles or never ends its body cannot turn a delivered alert into a retry (and a
duplicate). A channel that confirms in its body (an id, `"ok": true`) is read within the deadline:
unconfirmed is not delivered. Secrets (destination URLs, signing keys, channel tokens) are never
logged or stored: errors are reduced to a status, an exception class name or an error code.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

import httpx
import structlog

from monitor.clock import Clock, wall_now
from monitor.delivery.channels import CHANNEL_TYPES, http_channel
from monitor.delivery.destinations import Destination
from monitor.delivery.ratelimit import TokenBucket
from monitor.errors import BlockedAddressError
from monitor.model import OutboxRow
from monitor.net.failures import delivery_failure
from monitor.net.guard import AddressGuard
from monitor.net.retry_after import parse_retry_after
from monitor.offload import on_daemon_thread
from monitor.store.roles import Destinations, Outbox

MAX_REPLY_BYTES = 64 * 1024
DEFAULT_DEADLINE_S = 30.0
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_BATCH = 50
SMTP_GRACE_S = 5.0


class DeliveryStore(Outbox, Destinations, Protocol):
    """What a deliverer uses of the store: the outbox and the destinations' state."""


# What sends, judges and decides an attempt (webhook, retry, decide) is imported with the first
# row sent: a round with nothing due (every feed unchanged, nothing matched) never loads it.
if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.delivery.decide import Attempt, Decision
    from monitor.delivery.digest import Digest  # digest, parts, storm: loaded by those that fold
    from monitor.delivery.parts import Part
    from monitor.delivery.retry import Verdict
    from monitor.delivery.storm import Storm
    from monitor.metrics import Metrics  # prometheus_client: imported by the daemon only

ClientFactory = Callable[[], httpx.AsyncClient]
MetricOutcome = Literal["delivered", "retried", "dead"]
log = structlog.get_logger("monitor.delivery")


@dataclass
class DeliveryStats:
    """What one delivery run did, and how soon a paused destination may send again."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    disabled: list[str] = field(default_factory=list)
    next_in: float | None = None  # seconds until a rate-limited destination may send again

    def wait(self, seconds: float) -> None:
        self.next_in = seconds if self.next_in is None else min(self.next_in, seconds)


@dataclass(frozen=True, slots=True)
class Fold:
    """Alerts folded into one message (a storm's or a digest's), sent in their place."""

    message: OutboxRow  # the "N more for rule X" message, with the fold's own id
    members: list[str]  # the alerts it carries
    note: str  # their last_error once it is confirmed: "folded into fold_…", "in digest dig_…"


def _blocked(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):  # the guard's error may arrive wrapped by httpx
        if seen is None:
            return False
        if isinstance(seen, BlockedAddressError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def configured_destinations(config: Config) -> dict[str, Destination]:
    """The config's destinations as they are sent to: every URL and secret read now (from the
    environment or files) and checked; raises ConfigError naming what is missing or unusable,
    never a value. The deliverer's start (`newsmon run`, `check --deliver`) and `rules check`
    (through `monitor.process.bootstrap.startup_secret_problems`) ask this one check."""
    return {d.name: Destination.from_resolved(d) for d in config.resolve_destinations()}


class Deliverer:
    def __init__(
        self,
        store: DeliveryStore,
        destinations: Mapping[str, Destination],
        client_factory: ClientFactory,
        clock: Clock,
        rng: random.Random,
        owner: str,
        deadline: float = DEFAULT_DEADLINE_S,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = DEFAULT_BATCH,
        guard: AddressGuard | None = None,
        smtp_context: ssl.SSLContext | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if lease.total_seconds() <= deadline:
            raise ValueError("the delivery lease must be longer than the delivery deadline")
        self.store = store
        self.destinations = dict(destinations)
        self.client_factory = client_factory
        self.clock = clock
        self.rng = rng
        self.owner = owner
        self.deadline = deadline
        self.lease = lease
        self.batch = batch
        # Email connects by itself (not through the HTTP client): the same guard checks it.
        self.guard = guard if guard is not None else AddressGuard()
        self.smtp_context = smtp_context  # None: the system's trusted certificates
        self._buckets: dict[str, TokenBucket] = {}
        self._contended: dict[str, bool] = {}  # the shared bucket refused us: take first
        # One client for the deliverer's life (building one costs ~75 ms: an SSL context),
        # remade if run_once is called from another event loop (one-shot CLI runs).
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.metrics = metrics  # the daemon's /metrics counters; None: a one-shot command's
        # The process's heartbeat (monitor.process.lifeline.Lifeline.life): a value that changes
        # when its holder row may have expired, None while it may be expired now. A process
        # without one (a command that only delivers) holds its leases for their length.
        self.life: Callable[[], int | None] = lambda: 0

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (call at shutdown, from the loop that ran the deliveries)."""
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    def _client_for_this_loop(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._loop is not loop:
            self._client = self.client_factory()
            self._loop = loop
        return self._client

    @classmethod
    def from_config(
        cls,
        config: Config,
        store: DeliveryStore,
        *,
        clock: Clock,
        owner: str,
        rng: random.Random | None = None,
        client_factory: ClientFactory | None = None,
        metrics: Metrics | None = None,
    ) -> Deliverer:
        """The deliverer a config describes: its destinations (URLs and secrets read now; a
        missing one raises ConfigError), deadline, lease and batch, and a client that goes
        through the address guard (`allow_networks`)."""
        destinations = configured_destinations(config)
        deadline = config.delivery_deadline.total_seconds()
        if client_factory is None:
            guard = AddressGuard(allow=config.allow_networks)
            connect = min(config.connect_timeout.total_seconds(), deadline)

            def client_factory() -> httpx.AsyncClient:
                # Imported with the first client: a run that delivers nothing never needs
                # httpcore, the pool under it (feed polls connect through monitor.net.connect).
                from monitor.net.client import make_client

                return make_client(guard, connect_timeout=connect, read_timeout=deadline)

        return cls(
            store=store,
            destinations=destinations,
            client_factory=client_factory,
            clock=clock,
            rng=rng or random.Random(),
            owner=owner,
            deadline=deadline,
            lease=config.delivery_lease,
            batch=config.delivery_batch,
            guard=AddressGuard(allow=config.allow_networks),
            metrics=metrics,
        )

    def secret_values(self) -> list[str]:
        """Every destination URL and signing secret, for redaction elsewhere (metrics, logs)."""
        values: list[str] = []
        for dest in self.destinations.values():
            values.append(dest.url.get_secret_value())
            values.extend(dest.signing_secrets())
            if dest.token is not None:
                values.append(dest.token.get_secret_value())
        return values

    def bucket(self, destination: Destination) -> TokenBucket:
        if destination.name not in self._buckets:
            self._buckets[destination.name] = destination.bucket(self.clock)
        return self._buckets[destination.name]

    async def run_once(self, now: datetime | None = None) -> DeliveryStats:
        """Deliver what is due now; returns what happened."""
        now = now or self.clock.now()
        stats = DeliveryStats()
        # Every store call of a run (these, the claims, and each alert's record) goes to a
        # thread: one waiting on the store (another process holding SQLite's write lock, up to
        # its 10 s busy timeout; a database that stopped answering) must not hold the event
        # loop, where the daemon's signals, /healthz and polls run.
        disabled = await asyncio.to_thread(self.store.disabled_destinations)
        if self.metrics is not None:
            # As the store has it, not as this process saw it happen: one disabled before a
            # restart (or by `check --deliver`, another replica) had no series, and one enabled
            # again (`deliveries enable`, the console) stayed at 1.
            for name in self.destinations:
                self.metrics.destination_disabled(name, name in disabled)
        active = [d for name, d in self.destinations.items() if name not in disabled]
        if not active:
            return stats
        results = await asyncio.gather(
            *(self._run_destination(d, now, stats) for d in active), return_exceptions=True
        )
        # Every destination has finished its run; a failure of one (the store went away) is
        # raised only now, so it cannot cut another's deliveries short.
        for dest, result in zip(active, results, strict=True):
            if isinstance(result, BaseException):
                log.error("delivery_run_failed", destination=dest.name, error=type(result).__name__)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return stats

    async def _run_destination(
        self, dest: Destination, now: datetime, stats: DeliveryStats
    ) -> None:
        bucket = self.bucket(dest)
        tokens = bucket.available()
        if tokens < 1:
            # A destination paused after a failure says nothing about when to come back: its
            # alerts keep their retry times (a cron run must not wait out the pause and retry).
            if not bucket.failing():
                stats.wait(bucket.time_until_available())
            return
        limit = min(tokens, self.batch)
        # A run that starts while our row may have expired (None) still claims and sends: a
        # cron run's polls may hold its loop past a beat, and it must not end with its alerts
        # unsent. A beat that renews the row then changes the value, and ends the run.
        life = self.life()
        rows = await asyncio.to_thread(self._claim_within_shared_rate, dest, now, limit, stats)
        lease_s = self.lease.total_seconds()
        started = time.monotonic()
        posted = False
        # The alerts that messages confirmed in this run carried: the rest of the run skips
        # them. Not the messages' ids: an alert committed late into a period, claimed in the
        # run that confirms its digest, was skipped as carried and held to its lease's end.
        carried: set[str] = set()
        windows: dict[datetime, list[OutboxRow]] = {}  # storm windows read in this run
        for index, row in enumerate(rows):
            fold: Fold | None = None
            if dest.digest is not None or dest.storm is not None:
                plan = await asyncio.to_thread(self._group_plan, dest, row, now, carried, windows)
                if plan is None:  # held to the end of its window, or already carried
                    continue
                fold = plan if isinstance(plan, Fold) else None
            # The run's first post may take the whole lease (it is longer than one deadline:
            # the config says so), the next ones 80 % of it. With 80 % for every post, a lease
            # under 1.25 deadlines (35 s beside the default 30 s) started none: each run gave
            # back every alert it had claimed, and nothing was ever sent.
            budget = lease_s * 0.8 if posted else lease_s
            fits = time.monotonic() - started + self.deadline <= budget
            if self.life() != life:
                # Our heartbeat lapsed since the claim (a stall past its TTL): another process
                # may have taken these rows over and sent them. What is still ours goes back.
                await asyncio.to_thread(self._release, rows[index:], stats)
                log.warning("delivery_heartbeat_lapsed", destination=dest.name)
                return
            if not fits or not bucket.try_acquire():
                await asyncio.to_thread(self._release, rows[index:], stats)
                stats.wait(bucket.time_until_available())
                return
            # The client is made for the first row sent: a run with nothing due makes none.
            client = self._client_for_this_loop()
            posted = True
            decision, kept = await self._deliver(client, dest, row, stats, fold)
            from monitor.delivery.decide import Members, Rest  # loaded by `_deliver`

            if fold is not None and decision.members is Members.SETTLE:
                carried.update(fold.members)
                windows.clear()  # its members are settled now: the next part is cut anew
            elif fold is not None and decision.members is Members.DEAD and kept:
                # (Not kept: another process took the message's alert over and may be sending
                # the same message now; its members are its to settle.)
                # Why first (a list cuts the line), and a digest called a digest: its alerts
                # read "the fold dig_… failed for good (see msg_…)", the reason only there.
                kind = "digest" if fold.message.id.startswith("dig_") else "fold"
                reason = (
                    f"{decision.reason}: the {kind} {fold.message.id} failed for good"
                    f" (sent as {row.id})"
                )
                for member in fold.members:
                    await asyncio.to_thread(
                        self.store.dead_letter, member, None, self.clock.now(), reason
                    )
            if decision.rest is Rest.STOP:
                return
            if not kept:
                # Its lease was taken over (this process stalled past its heartbeat, or its
                # lease): so were the rows claimed with it, most likely, and another process is
                # sending them. Sending on, a replica resumed after a 15 s stop posted its whole
                # batch a second time. What is still ours is given back (fenced by the owner).
                await asyncio.to_thread(self._release, rows[index + 1 :], stats)
                return
            if decision.rest is Rest.RELEASE:
                await asyncio.to_thread(self._release, rows[index + 1 :], stats)
                if not bucket.failing():  # a 429: a rate limit, worth waiting for
                    stats.wait(bucket.time_until_available())
                return

    def _claim_within_shared_rate(
        self, dest: Destination, now: datetime, limit: int, stats: DeliveryStats
    ) -> list[OutboxRow]:
        """Claim up to `limit` rows that the destination's shared bucket (every process on this
        store: replicas, a cron `check --deliver`) has tokens for.

        Uncontended, claim first and take tokens for what was claimed (an idle outbox costs one
        claim, no take). Once the bucket refused us, other processes are sending too: take first
        and claim only what was granted, so a refusal costs one statement instead of a claim, a
        take and the releases, until a claim finds fewer rows than granted (the backlog is gone;
        those few tokens go unused, which errs on the slow side)."""
        bucket = self.bucket(dest)
        take = self.store.take_tokens
        if self._contended.get(dest.name):
            granted, wait = take(dest.name, now, bucket.rate, bucket.burst, limit)
            if granted < limit:
                stats.wait(wait)
            if not granted:
                return []
            rows = self.store.claim_due_alerts(now, granted, self.lease, self.owner, [dest.name])
            if len(rows) < granted:
                self._contended[dest.name] = False
            elif granted == limit:  # there may be more: come back when the next token is there
                stats.wait(1.0 / bucket.rate)
            return rows
        rows = self.store.claim_due_alerts(now, limit, self.lease, self.owner, [dest.name])
        if len(rows) == limit:  # there may be more: come back when the next token is there
            stats.wait(1.0 / bucket.rate)
        if not rows:
            return rows
        granted, wait = take(dest.name, now, bucket.rate, bucket.burst, len(rows))
        if granted < len(rows):
            self._contended[dest.name] = True
            self._release(rows[granted:], stats)
            stats.wait(wait)
        return rows[:granted]

    def _release(self, rows: list[OutboxRow], stats: DeliveryStats) -> None:
        for row in rows:
            self.store.release_alert(row.id, self.owner)
            stats.released += 1

    def _group_plan(
        self,
        dest: Destination,
        row: OutboxRow,
        now: datetime,
        carried: set[str],
        windows: dict[datetime, list[OutboxRow]],
    ) -> Fold | bool | None:
        if dest.digest is not None:
            return self._digest_plan(dest, dest.digest, row, now, carried, windows)
        assert dest.storm is not None
        return self._fold_plan(dest, dest.storm, row, now, carried, windows)

    def _digest_plan(
        self,
        dest: Destination,
        digest: Digest,
        row: OutboxRow,
        now: datetime,
        carried: set[str],
        windows: dict[datetime, list[OutboxRow]],
    ) -> Fold | bool | None:
        """True to send `row` as itself (late for its digest), a Fold to send the digest in its
        place, None when it is held to the end of its period or was carried already."""
        from monitor.delivery.digest import digest_id, digest_parts
        from monitor.delivery.storm import GRACE

        if row.id in carried:
            return None
        start, end = digest.period(row.created_at)
        ident = digest_id(dest.name, start)
        if now < end + GRACE:
            note = f"in a digest: held until the period ends ({ident})"
            self.store.postpone_alert(row.id, self.owner, end + GRACE, note)
            return None
        if start not in windows:
            windows[start] = self.store.window_alerts(dest.name, start, end)
        period_rows = windows[start]
        if _carried_elsewhere(row, period_rows):
            return None
        max_body = digest.max_body if dest.type == "webhook" else None

        def cut(rows: list[OutboxRow], sent: int, recorded: str | None) -> list[Part]:
            return digest_parts(
                dest.name, digest, start, end, rows, sent=sent, max_body=max_body, recorded=recorded
            )

        return self._message_plan(row, period_rows, now, "in a digest", ident, cut, windows)

    def _message_plan(
        self,
        row: OutboxRow,
        group: list[OutboxRow],
        now: datetime,
        how: str,
        ident: str,
        cut: Callable[[list[OutboxRow], int, str | None], list[Part]],
        windows: dict[datetime, list[OutboxRow]],
    ) -> Fold | bool | None:
        """A digest's or fold's message for `row`, whose alerts are `group`: True to send `row`
        alone, a Fold to send in its place, None when it is put off. `cut` makes the parts of
        the alerts still to send, given how many parts went and the note of a recorded post."""
        from monitor.delivery.parts import parts_sent

        sent, done = parts_sent(ident, [r.last_error for r in group if r.status == "delivered"])
        if done:
            return True  # the message went out before this alert was committed: send it alone
        pending = [r for r in group if r.status == "pending"]
        if _spent(ident, pending, group):
            return True  # its post failed for good, its id perhaps kept: send it alone
        found = self._message_rows(row, pending, now, how, ident)
        if found is None:
            return None
        # The alerts still to send, cut to the webhook's max_body: the first part carries `row`
        # (first in the same order); after a crash the parts recorded are not cut again. A post
        # recorded but not confirmed goes again as it was.
        rows, recorded = found
        parts = cut(rows, sent, recorded)
        return self._recorded_first_part(row, parts, now, how, ident, recorded, windows)

    def _message_rows(
        self, row: OutboxRow, pending: list[OutboxRow], now: datetime, how: str, ident: str
    ) -> tuple[list[OutboxRow], str | None] | None:
        """The pending alerts of digest or fold `ident` that the post sent in place of `row`
        is made of, with the note they were recorded with when that post went before without
        being confirmed (None: a post not attempted yet, cut from them); None when `row` is
        put off. An alert not in a recorded post (committed late into the period) waits for
        it: the post goes again as it was, and the alert after it (alone once the digest or
        fold is complete, or in its next part)."""
        from monitor.delivery.storm import GRACE

        recorded = [r for r in pending if r.grouped_in is not None]
        if not recorded:
            return (pending, None) if self._goes_first(row, pending, now, how, ident) else None
        note = recorded[0].grouped_in
        group = [r for r in recorded if r.grouped_in == note]
        if row.id not in {r.id for r in group}:
            first = group[0]
            until = max(now + GRACE, first.next_attempt_at or now)
            self.store.postpone_alert(
                row.id, self.owner, until, f"{how}: after {first.id}'s post ({ident})"
            )
            return None
        return (group, note) if self._goes_first(row, group, now, how, ident) else None

    def _recorded_first_part(
        self,
        row: OutboxRow,
        parts: list[Part],
        now: datetime,
        how: str,
        ident: str,
        recorded: str | None,
        windows: dict[datetime, list[OutboxRow]],
    ) -> Fold | None:
        """`_first_part`, its alerts recorded as carried by it before its first post (that is
        when it is not `recorded` already). Another process that recorded some of them in its
        own post first wins: `row` is put off, and the window read again."""
        from monitor.delivery.storm import GRACE

        fold = self._first_part(row, parts, now, how, ident)
        if fold is None or recorded is not None:
            return fold
        if self.store.group_alerts(fold.members, fold.note):
            return fold
        windows.clear()
        self.store.postpone_alert(row.id, self.owner, now + GRACE, f"{how}: later ({ident})")
        return None

    def _first_part(
        self, row: OutboxRow, parts: list[Part], now: datetime, how: str, ident: str
    ) -> Fold | None:
        """The first of a digest's or fold's `parts` still to send, as a Fold sent in place of
        `row`; None (`row` put off) if `row` is not among its alerts."""
        from monitor.delivery.storm import GRACE

        first = parts[0]
        if row.id not in first.members:  # not first by the cut's order: never send it unsent
            self.store.postpone_alert(row.id, self.owner, now + GRACE, f"{how}: later ({ident})")
            return None
        part = first.document["id"]
        message = replace(row, id=part, document=first.document, story_key=part, item_key=part)
        return Fold(message, first.members, first.note)

    def _fold_plan(
        self,
        dest: Destination,
        storm: Storm,
        row: OutboxRow,
        now: datetime,
        carried: set[str],
        windows: dict[datetime, list[OutboxRow]],
    ) -> Fold | bool | None:
        """For a destination with storm folding: True to send `row` as itself, a Fold to send
        the fold message in its place, None when it is held or was carried already."""
        from monitor.delivery.parts import rule_of
        from monitor.delivery.storm import GRACE, fold_id, fold_parts, folded, members

        if row.id in carried:
            return None
        start, end = storm.window(row.created_at)
        if start not in windows:
            windows[start] = self.store.window_alerts(dest.name, start, end)
        window_rows = windows[start]
        if not folded(row, window_rows, storm):
            return True
        rule = rule_of(row.document)
        ident = fold_id(dest.name, rule, start)
        if now < end + GRACE:  # the window is still open: more may fold into it
            note = f"folded: held until the storm window ends ({ident})"
            self.store.postpone_alert(row.id, self.owner, end + GRACE, note)
            return None
        group = members(rule, window_rows, storm)
        if _carried_elsewhere(row, group):
            return None
        max_body = storm.max_body if dest.type == "webhook" else None

        def cut(rows: list[OutboxRow], sent: int, recorded: str | None) -> list[Part]:
            return fold_parts(
                dest.name, rule, start, end, rows, sent=sent, max_body=max_body, recorded=recorded
            )

        return self._message_plan(row, group, now, "folded", ident, cut, windows)

    def _goes_first(
        self, row: OutboxRow, group: list[OutboxRow], now: datetime, how: str, ident: str
    ) -> bool:
        """Whether `row` is the first pending alert of the message that carries `group` (in
        outbox order), the one it is sent in place of. Other processes (replicas, a cron run)
        may hold other members at the same time: only the holder of the first sends it, the
        others put theirs off until that one's next attempt (at least GRACE), when it will have
        been carried or its holder gone."""
        from monitor.delivery.storm import GRACE

        first = next((r for r in group if r.status == "pending"), None)
        if first is None or first.id == row.id:
            return True
        until = max(now + GRACE, first.next_attempt_at or now)
        note = f"{how}: goes with {first.id} ({ident})"
        self.store.postpone_alert(row.id, self.owner, until, note)
        return False

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        dest: Destination,
        row: OutboxRow,
        stats: DeliveryStats,
        fold: Fold | None = None,
    ) -> tuple[Decision, bool]:
        """Attempt `row`, or the fold or digest message sent in its place, and carry out on
        `row` what `decide` says; and whether the record found the lease still ours (False:
        another process took the alert over meanwhile, and the record was refused)."""
        from monitor.delivery.decide import Record, decide

        attempt = await self.attempt(client, dest, fold.message if fold is not None else row)
        now = self.clock.now()
        bucket = self.bucket(dest)
        decision = decide(attempt, row.attempts, now, bucket.rate, self.rng, streak=bucket.streak)
        fields = {
            "alert_id": row.id,
            "feed": row.feed_id,
            "rules": _rule_ids(row.document),
            "destination": dest.name,
            "attempt": row.attempts + 1,
            "reason": attempt.verdict.reason,
        }
        kept = True  # a fold's settlement and a disabled destination's move are not fenced
        owed = attempt.verdict.owed
        if owed is not None:
            # Before the outcome's record: a crash in between leaves the next attempt going to
            # these alone, never again to a recipient that took it.
            await asyncio.to_thread(
                self.store.owe_recipients, row.id, self.owner, owed, decision.reason
            )
        if decision.pause is None:
            bucket.answered()
        else:
            pause = decision.pause
            bucket.pause(pause.seconds, failing=pause.failing)
            if pause.shared_until is not None:
                await asyncio.to_thread(self.store.pause_destination, dest.name, pause.shared_until)
        if decision.record is Record.DELIVERED and fold is not None:
            # `row` and the alerts its message carried (`row` among them), in one transaction,
            # with the note naming that message: `row` marked delivered without it (a crash or a
            # store error in between) left a digest part that, cut again without its sender,
            # went out under another id, its other alerts a second time.
            await asyncio.to_thread(self.store.settle_grouped, fold.members, now, fold.note)
            stats.delivered += 1
            self._count(dest.name, "delivered")
            log.info("alert_delivered", **fields)
        elif decision.record is Record.DELIVERED:
            kept = await asyncio.to_thread(self.store.mark_delivered, row.id, self.owner, now)
            stats.delivered += 1
            self._count(dest.name, "delivered")
            log.info("alert_delivered", **fields)
        elif decision.retry is not None:
            retry = decision.retry
            kept = await asyncio.to_thread(
                self.store.schedule_retry, row.id, self.owner, now, retry.at, decision.reason
            )
            stats.retried += 1
            self._count(dest.name, "retried")
            log.warning("alert_retry", retry_in_s=round(retry.in_s, 1), **fields)
        elif not decision.disable:
            kept = await asyncio.to_thread(
                self.store.dead_letter, row.id, self.owner, now, decision.reason
            )
            stats.dead += 1
            self._count(dest.name, "dead")
            log.error("alert_dead", **(fields | {"reason": decision.reason}))
        else:
            await asyncio.to_thread(
                self.store.dead_letter, row.id, self.owner, now, decision.reason
            )
            moved = await asyncio.to_thread(
                self.store.disable_destination, dest.name, decision.reason, now
            )
            stats.dead += 1 + moved
            stats.disabled.append(dest.name)
            self._count(dest.name, "dead")
            if self.metrics is not None:
                self.metrics.destination_disabled(dest.name)
            log.error(
                "destination_disabled",
                dead_lettered=moved + 1,
                hint="fix the destination, then `newsmon deliveries replay --all-dead`",
                **fields,
            )
        if not kept:
            log.warning("delivery_lease_lost", **fields)
        return decision, kept

    def _count(self, destination: str, outcome: MetricOutcome) -> None:
        if self.metrics is not None:
            self.metrics.delivery_result(destination, outcome)

    async def attempt(
        self, client: httpx.AsyncClient, dest: Destination, row: OutboxRow
    ) -> Attempt:
        """One POST of `row` to `dest`, classified. Never raises for network trouble, nor for a
        reply or document it cannot read: an alert whose attempt raised stayed claimed, was sent
        again after every lease without an attempt counted, and held back the destination's
        queue behind it. Such an attempt is a retry, named, on the schedule (a day, then dead)."""
        from monitor.delivery.retry import Outcome, Verdict

        try:
            return await self._attempt(client, dest, row)
        except Exception as exc:  # noqa: BLE001 - a defect of ours; the class name, never text
            from monitor.delivery.decide import Attempt

            name = type(exc).__name__  # never its text: it may carry a URL with its token
            log.error("delivery_attempt_failed", destination=dest.name, error=name)  # noqa: TRY400
            return Attempt(Verdict(Outcome.RETRY, f"attempt failed: {name}"))

    async def _attempt(
        self, client: httpx.AsyncClient, dest: Destination, row: OutboxRow
    ) -> Attempt:
        from monitor.delivery import webhook
        from monitor.delivery.decide import Attempt
        from monitor.delivery.retry import RETRY_AFTER_CAP_S, Outcome, Verdict, classify

        if dest.type in CHANNEL_TYPES:
            return await self._attempt_channel(client, dest, row)
        timestamp = int(wall_now(self.clock).timestamp())  # fresh on every attempt
        try:
            request = webhook.prepare(dest, row.document, row.id, timestamp)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A document this version cannot render (hand-edited, or from a future version):
            # retrying cannot help, and it must not stop the other alerts.
            return Attempt(Verdict(Outcome.DEAD, f"cannot render the alert ({type(exc).__name__})"))
        status: int | None = None
        retry_after: float | None = None
        encoding: str | None = None
        body = bytearray()
        try:
            async with (
                asyncio.timeout(self.deadline),
                _send(
                    client, "POST", dest.url.get_secret_value(), request.body, request.headers
                ) as response,
            ):
                status = response.status_code
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), self.clock.now(), cap=RETRY_AFTER_CAP_S
                )
                encoding = response.headers.get("content-encoding")
                if not 200 <= status < 300:  # a 2xx needs no body; errors explain in theirs
                    await _read_bounded(response, body)
        except TimeoutError:
            if status is None:
                return Attempt(Verdict(Outcome.RETRY, f"no reply within {self.deadline:g}s"))
        except Exception as exc:  # noqa: BLE001 - httpx, guard, h11: a class name, never text
            if status is None:
                return Attempt(_failure(exc))
        text = _decoded(encoding, bytes(body)).decode("utf-8", "replace")
        return Attempt(classify(status, text, dest.type), status, retry_after)

    async def _attempt_channel(
        self, client: httpx.AsyncClient, dest: Destination, row: OutboxRow
    ) -> Attempt:
        """One attempt through a channel (email, discord, ...): same outcomes as a webhook's."""
        # Imported by the first alert to a channel: a run that sends to webhooks never loads them.
        from monitor.delivery.channels.message import from_document
        from monitor.delivery.channels.template import apply as apply_template
        from monitor.delivery.decide import Attempt
        from monitor.delivery.retry import RETRY_AFTER_CAP_S, Outcome, Verdict

        try:
            message = from_document(row.document)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return Attempt(Verdict(Outcome.DEAD, f"cannot render the alert ({type(exc).__name__})"))
        if dest.template is not None:
            message = apply_template(message, *dest.template)
        if dest.type == "email":
            # Imported by the first email sent (smtplib, email.generator): not by every start.
            from monitor.delivery.channels import smtp
            from monitor.delivery.channels.mail import build as build_mail

            to = _owed(dest.recipients, row.owed_to)
            if not to:  # each took it or refused it for good (the record after it was lost)
                return Attempt(Verdict(Outcome.DELIVERED, "SMTP: no recipient is still owed it"))
            # The same message to whom it is still owed: To names every recipient, as before.
            mail = build_mail(
                message, sender=dest.sender, recipients=dest.recipients, date=wall_now(self.clock)
            )
            password = dest.token.get_secret_value() if dest.token else None
            try:
                # The send keeps its own deadline (smtplib cannot be cancelled from here); this
                # one is a backstop, later so the send's own verdict (a 250 at the last moment)
                # is the one recorded.
                async with asyncio.timeout(self.deadline + SMTP_GRACE_S):
                    verdict = await on_daemon_thread(
                        smtp.send,
                        dest.url.get_secret_value(),
                        password,
                        mail,
                        guard=self.guard,
                        timeout=self.deadline,
                        context=self.smtp_context,
                        to=to,
                    )
            except TimeoutError:
                verdict = Verdict(Outcome.RETRY, f"no reply within {self.deadline:g}s")
            return Attempt(verdict)
        channel = http_channel(dest.type)
        request = channel.request(dest, message)
        status: int | None = None
        header: str | None = None
        encoding: str | None = None
        body = bytearray()
        try:
            async with (
                asyncio.timeout(self.deadline),
                _send(
                    client, request.method, request.url, request.body, request.headers
                ) as response,
            ):
                status = response.status_code
                header = response.headers.get("retry-after")
                encoding = response.headers.get("content-encoding")
                # A channel confirms in its body (an id, `"ok": true`): read it, bounded.
                await _read_bounded(response, body)
        except TimeoutError:
            if status is None:
                return Attempt(Verdict(Outcome.RETRY, f"no reply within {self.deadline:g}s"))
            cut_off = True
        except Exception as exc:  # noqa: BLE001 - httpx, guard, h11: a class name, never text
            if status is None:
                return Attempt(_failure(exc))
            cut_off = True
        else:
            cut_off = False
        retry_after = parse_retry_after(header, self.clock.now(), cap=RETRY_AFTER_CAP_S)
        verdict, wait = channel.judge(status, _decoded(encoding, bytes(body)), retry_after)
        if cut_off and verdict.outcome is not Outcome.DELIVERED:
            # What arrived did not confirm it (and a refusal cut short is not trusted either).
            # What did (a Teams 202, whose body says nothing more) stays delivered: sent again,
            # the card was posted twice.
            return Attempt(Verdict(Outcome.RETRY, f"HTTP {status}: reply cut off: not confirmed"))
        return Attempt(verdict, status, wait)


def _owed(recipients: tuple[str, ...], owed: tuple[str, ...] | None) -> tuple[str, ...]:
    """Whom an email alert goes to: the destination's recipients, or those of them still owed
    it after an attempt some took (one taken off the config since is owed it no more)."""
    if owed is None:
        return recipients
    return tuple(address for address in owed if address in recipients)


def _spent(ident: str, pending: list[OutboxRow], rows: list[OutboxRow]) -> bool:
    """Whether digest or fold `ident` went in one post that failed for good, and no post of it
    is waiting for a retry (an alert recorded with one still pending: that post goes first)."""
    from monitor.delivery.parts import whole_refused

    return not any(r.grouped_in for r in pending) and whole_refused(ident, rows)


def _carried_elsewhere(row: OutboxRow, group: list[OutboxRow]) -> bool:
    """`row` was claimed pending but is settled now: another process's digest or fold carried it
    meanwhile (it cleared our lease), so sending anything for it would be a second copy."""
    now_row = next((r for r in group if r.id == row.id), None)
    return now_row is not None and now_row.status != "pending"


def _send(
    client: httpx.AsyncClient, method: str, url: str, body: bytes, headers: Mapping[str, str]
) -> AbstractAsyncContextManager[httpx.Response]:
    """One request of an attempt, webhook or channel: no redirect followed, and the reply asked
    for uncompressed (`identity`), as `_read_bounded` reads it raw; `_decoded` decodes one that
    comes compressed anyway."""
    return client.stream(
        method,
        url,
        content=body,
        headers={"accept-encoding": "identity", **headers},
        follow_redirects=False,
    )


async def _read_bounded(response: httpx.Response, body: bytearray) -> None:
    """Append the reply's bytes to `body`, at most MAX_REPLY_BYTES in all, then stop reading."""
    async for chunk in response.aiter_raw():
        body += chunk[: MAX_REPLY_BYTES - len(body)]
        if len(body) >= MAX_REPLY_BYTES:
            break


def _decoded(encoding: str | None, raw: bytes) -> bytes:
    """The reply as the service wrote it. Replies are asked for uncompressed (`identity`); one
    compressed anyway (gzip, deflate, br) is decoded here, at most MAX_REPLY_BYTES, as a feed is.
    Read raw, a compressed confirmation was never one: the alert was sent again until dead."""
    if not encoding or encoding.strip().lower() == "identity":
        return raw
    from itertools import chain

    from monitor.net.decode import DecodeError, make_decoder

    out = bytearray()
    try:
        decoder = make_decoder(encoding)
        for piece in chain(decoder.decode(raw), decoder.finish()):
            out += piece[: MAX_REPLY_BYTES - len(out)]
            if len(out) >= MAX_REPLY_BYTES:
                break
    except DecodeError:
        return b""  # not what it says it is: a reply that confirms nothing
    return bytes(out)


def _rule_ids(document: Mapping[str, object]) -> list[str]:
    """The ids of the rules an alert names, for its log lines (a hand-edited document: none)."""
    rules = document.get("rules")
    if not isinstance(rules, list):
        return []
    return [str(r["id"]) for r in rules if isinstance(r, dict) and "id" in r]


def _failure(exc: BaseException) -> Verdict:
    from monitor.delivery.retry import BLOCKED_DESTINATION, Outcome, Verdict

    if _blocked(exc):
        return Verdict(Outcome.DEAD, BLOCKED_DESTINATION)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return Verdict(Outcome.DEAD, f"unusable URL ({type(exc).__name__})")
    known = delivery_failure(exc)  # a fixed text ("connection refused"), never the URL
    return Verdict(Outcome.RETRY, f"{type(exc).__name__}: {known}" if known else type(exc).__name__)
