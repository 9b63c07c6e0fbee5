"""SQL and decisions for the processes that share one store. Pure.

- **Holders.** Each daemon keeps a row in `holders` alive with a heartbeat (`alive_until`, a few
  seconds ahead). A feed, alert or leader lease whose owner's row has expired is free at once:
  a dead process's work is taken over within seconds instead of after its lease (2 minutes by
  default). The lease on the row stays as it was: it still bounds work that a live process
  abandoned, and the fencing (a commit or mark checks the lease owner) still refuses a holder
  that was taken over.
- **Shared rate buckets.** One token bucket per destination in `rate_buckets`, taken from by every
  process in one statement; a pause (Retry-After) moves its refill start into the future.
- **Leader leases.** A job that one process at a time should do takes a row in `leader_leases`.

Times in these tables are epoch seconds in both dialects, so the bucket's refill is the same SQL.
Statements are written with `:name` parameters; `render` makes them a dialect's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.store.common import utc

# A holder renews its row every HEARTBEAT_S; the row lasts HOLDER_TTL_S, four renewals, so a
# live process that misses three in a row (a stall, a slow store) is not taken over.
HEARTBEAT_S = 2.5
HOLDER_TTL_S = 10.0
HOLDER_KEEP_S = 86400.0  # an ended holder's row is pruned a day later

_DIALECT = {
    "sqlite": {"least": "min", "greatest": "max", "floor": "CAST({} AS INTEGER)"},
    "postgres": {"least": "LEAST", "greatest": "GREATEST", "floor": "floor({})"},
}
_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")


def render(template: str, dialect: str) -> str:
    """The statement for `dialect`: its min/max/floor and its parameter style."""
    words = _DIALECT[dialect]
    text = template.replace("{least}", words["least"]).replace("{greatest}", words["greatest"])
    while "{floor(" in text:  # {floor(EXPR)} -> the dialect's floor of EXPR
        start = text.index("{floor(")
        depth, i = 0, start + len("{floor(")
        while True:
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        inner = text[start + len("{floor(") : i]
        text = text[:start] + words["floor"].format(inner) + text[i + 2 :]  # skip ")}"
    if dialect == "postgres":
        return _PARAM.sub(r"%(\1)s", text)
    return text


def epoch(when: datetime) -> float:
    return utc(when).timestamp()


# -- holders --------------------------------------------------------------------------------------
BEAT_HOLDER = """INSERT INTO holders (owner, host, pid, started_at, alive_until)
    VALUES (:owner, :host, :pid, :now, :until)
    ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until"""

# Ends a holder (a clean exit, or a dead predecessor found on this host): its leases are free now.
END_HOLDER = """UPDATE holders SET alive_until = :now WHERE owner = :owner AND alive_until > :now"""

LIVE_ON_HOST = """SELECT owner, pid FROM holders WHERE host = :host AND alive_until > :now"""

PRUNE_HOLDERS = """DELETE FROM holders WHERE alive_until < :cutoff"""

# Appended to a claim's lease test: a lease whose holder stopped beating is free (`?`: now).
DEAD_HOLDER = "lease_owner IN (SELECT owner FROM holders WHERE alive_until <= ?)"

# -- shared rate buckets --------------------------------------------------------------------------
_REFILL = (
    "{least}(:burst, rate_buckets.tokens + {greatest}(0, :now - rate_buckets.updated_at) * :rate)"
)
# Grants up to :want whole tokens in one statement (every SET sees the row as it was). A new
# bucket starts full.
TAKE_TOKENS = f"""INSERT INTO rate_buckets (destination, tokens, updated_at, granted)
    VALUES (:destination, :burst - {{least}}(:want, {{floor(:burst)}}), :now,
            {{least}}(:want, {{floor(:burst)}}))
    ON CONFLICT (destination) DO UPDATE SET
        granted = {{least}}(:want, {{floor({_REFILL})}}),
        tokens = {_REFILL} - {{least}}(:want, {{floor({_REFILL})}}),
        updated_at = {{greatest}}(rate_buckets.updated_at, :now)
    RETURNING granted, tokens, updated_at"""  # noqa: S608 (constants)

# Retry-After from any process: empty the bucket and refill only from `until` on.
PAUSE_BUCKET = """INSERT INTO rate_buckets (destination, tokens, updated_at, granted)
    VALUES (:destination, 0, :until, 0)
    ON CONFLICT (destination) DO UPDATE SET tokens = 0,
        updated_at = {greatest}(rate_buckets.updated_at, :until)"""

# -- leader leases --------------------------------------------------------------------------------
LEAD = """INSERT INTO leader_leases (job, owner, lease_until) VALUES (:job, :owner, :until)
    ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
    WHERE leader_leases.owner = excluded.owner OR leader_leases.lease_until <= :now
       OR leader_leases.owner IN (SELECT owner FROM holders WHERE alive_until <= :now)
    RETURNING owner"""


def token_wait(granted: int, want: int, tokens: float, updated_at: float, now: float,
               rate: float) -> float:  # fmt: skip
    """Seconds until the shared bucket has a whole token again (0.0 when all were granted)."""
    if granted >= want:
        return 0.0
    return max(0.0, updated_at - now) + max(0.0, (1.0 - tokens) / rate)


def dead_predecessors(
    holders: Sequence[tuple[str, int]],
    me: str,
    my_pid: int,
    pid_alive: Callable[[int], bool],
) -> list[str]:
    """The holders (owner, pid) registered on this host whose process is gone: the pid runs
    nothing, or it is our own pid under another owner (a container restarted as PID 1)."""
    dead = []
    for owner, pid in holders:
        if owner == me:
            continue
        if pid == my_pid or not pid_alive(pid):
            dead.append(owner)
    return dead


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
