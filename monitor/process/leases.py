"""The deliverer's store, watched: which alert leases this process holds right now. Does I/O
(through the store it wraps).

Shutdown: after a signal `claim_due_alerts` claims nothing; at the end `release_all` gives back
every lease still held (an alert whose post was cancelled), so a restart (or another replica)
delivers it at once instead of after the lease expires. A cancelled post may have reached the
receiver: it is sent again with the same `webhook-id` (at-least-once).

After a failed run: a deliverer run that a StoreError ended leaves the rows it claimed but did not
settle leased to this process; `release_held` gives them back once the store answers again, so
they are delivered at once instead of after the lease (2 minutes by default). An alert whose post
was answered but whose record failed (the store stopped answering meanwhile) is recorded first:
given back, or left for its lease to run out, it would be posted again.

It is the deliverer's `DeliveryStore` (the outbox and destinations roles), each method written
out: those that settle an alert forget its lease, the others pass straight to the store.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.delivery.deliverer import DeliveryStore
from monitor.errors import StoreError
from monitor.model import OutboxRow


class AlertLeases(DeliveryStore):
    def __init__(self, store: DeliveryStore, owner: str) -> None:
        self._store = store
        self._owner = owner
        self._held: set[str] = set()
        # Posted, the record failed: alert id -> when it was delivered; and grouped messages'
        # settlements (their alert ids, when, the note).
        self._unrecorded: dict[str, datetime] = {}
        self._unsettled: list[tuple[tuple[str, ...], datetime, str]] = []
        self._lock = threading.Lock()
        self.closed = False

    # -- the outbox: claims and settlements, watched ---------------------------------------
    def claim_due_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        destinations: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        if self.closed:
            return []
        rows = self._store.claim_due_alerts(now, limit, lease, owner, destinations)
        with self._lock:
            self._held.update(row.id for row in rows)
        return rows

    def _done(self, alert_id: str) -> None:
        with self._lock:
            self._held.discard(alert_id)

    def mark_delivered(self, alert_id: str, owner: str, now: datetime) -> bool:
        self._done(alert_id)
        try:
            return self._store.mark_delivered(alert_id, owner, now)
        except StoreError:
            with self._lock:
                self._unrecorded[alert_id] = now
            raise

    def schedule_retry(
        self, alert_id: str, owner: str, now: datetime, next_attempt_at: datetime, error: str
    ) -> bool:
        self._done(alert_id)
        return self._store.schedule_retry(alert_id, owner, now, next_attempt_at, error)

    def dead_letter(self, alert_id: str, owner: str | None, now: datetime, error: str) -> bool:
        self._done(alert_id)
        return self._store.dead_letter(alert_id, owner, now, error)

    def release_alert(self, alert_id: str, owner: str) -> None:
        self._done(alert_id)
        self._store.release_alert(alert_id, owner)

    def postpone_alert(self, alert_id: str, owner: str, until: datetime, note: str) -> bool:
        self._done(alert_id)
        return self._store.postpone_alert(alert_id, owner, until, note)

    def owe_recipients(self, alert_id: str, owner: str, owed: Sequence[str], note: str) -> bool:
        return self._store.owe_recipients(alert_id, owner, owed, note)  # the lease goes on

    def settle_grouped(self, alert_ids: Sequence[str], now: datetime, note: str) -> int:
        for alert_id in alert_ids:
            self._done(alert_id)
        try:
            return self._store.settle_grouped(alert_ids, now, note)
        except StoreError:
            with self._lock:
                self._unsettled.append((tuple(alert_ids), now, note))
            raise

    # -- the outbox: reads, records and the shared rate, as they are -----------------------
    def group_alerts(self, alert_ids: Sequence[str], note: str) -> bool:
        return self._store.group_alerts(alert_ids, note)

    def window_alerts(self, destination: str, start: datetime, end: datetime) -> list[OutboxRow]:
        return self._store.window_alerts(destination, start, end)

    def take_tokens(
        self, destination: str, now: datetime, rate: float, burst: float, want: int
    ) -> tuple[int, float]:
        return self._store.take_tokens(destination, now, rate, burst, want)

    # -- destinations, as they are ---------------------------------------------------------
    def disable_destination(self, name: str, reason: str, now: datetime) -> int:
        return self._store.disable_destination(name, reason, now)

    def disabled_destinations(self) -> dict[str, str]:
        return self._store.disabled_destinations()

    def enable_destination(self, name: str) -> None:
        self._store.enable_destination(name)

    def pause_destination(self, destination: str, until: datetime) -> None:
        self._store.pause_destination(destination, until)

    # -- shutdown --------------------------------------------------------------------------
    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def release_held(self) -> int:
        """Record the posts whose record failed, then give back every alert lease still held,
        between runs (after a run that failed); how many were given back. A StoreError on the
        way keeps the rest, for the next attempt."""
        self.record_delivered()
        with self._lock:
            held = sorted(self._held)
        for alert_id in held:
            self._store.release_alert(alert_id, self._owner)
            self._done(alert_id)
        return len(held)

    def record_delivered(self) -> None:
        """Record what was posted but not recorded. `mark_delivered` records only an alert still
        pending and leased to us: one the server recorded after all, or another replica took
        over after its lease, is left as it is."""
        with self._lock:
            unrecorded = sorted(self._unrecorded.items())
            unsettled = list(self._unsettled)
        for alert_id, when in unrecorded:
            self._store.mark_delivered(alert_id, self._owner, when)
            with self._lock:
                self._unrecorded.pop(alert_id, None)
        for ids, when, note in unsettled:
            self._store.settle_grouped(ids, when, note)  # settling again changes nothing
            with self._lock:
                self._unsettled.remove((ids, when, note))

    def release_all(self) -> int:
        """At the end: claim nothing more, and give back every alert lease still held; how many."""
        self.closed = True
        return self.release_held()
