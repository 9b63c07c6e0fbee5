"""One deliverer pass for a digest destination, as its own process (the SIGKILL test).

python -m tests.digest_worker DB_PATH RECEIVER_URL
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from monitor.clock import SystemClock
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest
from tests.delivery_support import deliverer, open_sqlite

LEASE = timedelta(seconds=3)  # short, so the test waits little for the killed lease to lapse


def main() -> None:
    store = open_sqlite(Path(sys.argv[1]))
    digest = Digest(every=timedelta(hours=1))
    dest = Destination.create("ops", "webhook", sys.argv[2], rate=1e6, burst=1e6, digest=digest)
    d = deliverer(store, {"ops": dest}, SystemClock(), deadline=2.0, lease=LEASE)
    d.batch = 500
    stats = asyncio.run(d.run_once())
    print(f"delivered={stats.delivered}", flush=True)


if __name__ == "__main__":
    main()
