"""One deliverer pass for a digest destination, as its own process (the SIGKILL test).

python -m tests.digest_worker DB_PATH RECEIVER_URL [MAX_BODY DEADLINE]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from monitor.clock import SystemClock
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import MAX_BODY, Digest
from tests.delivery_support import deliverer, open_sqlite

LEASE = timedelta(seconds=3)  # short, so the test waits little for the killed lease to lapse


def main() -> None:
    store = open_sqlite(Path(sys.argv[1]))
    max_body = int(sys.argv[3]) if len(sys.argv) > 3 else MAX_BODY
    digest = Digest(every=timedelta(hours=1), max_body=max_body)
    dest = Destination.create("ops", "webhook", sys.argv[2], rate=1e6, burst=1e6, digest=digest)
    deadline = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    d = deliverer(store, {"ops": dest}, SystemClock(), deadline=deadline, lease=LEASE)
    d.batch = 500
    stats = asyncio.run(d.run_once())
    print(f"delivered={stats.delivered}", flush=True)


if __name__ == "__main__":
    main()
