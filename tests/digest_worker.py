"""One deliverer pass for a digest destination, or a storm's (`fold`: one alert of a rule per
window, the rest folded), as its own process (the SIGKILL tests).

python -m tests.digest_worker DB_PATH RECEIVER_URL [MAX_BODY DEADLINE [digest|fold]]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from monitor.clock import SystemClock
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest
from monitor.delivery.parts import MAX_BODY
from monitor.delivery.storm import Storm
from tests.delivery_support import deliverer, open_sqlite

LEASE = timedelta(seconds=3)  # short, so the test waits little for the killed lease to lapse


def main() -> None:
    store = open_sqlite(Path(sys.argv[1]))
    max_body = int(sys.argv[3]) if len(sys.argv) > 3 else MAX_BODY
    storm, digest = None, None
    if len(sys.argv) > 5 and sys.argv[5] == "fold":
        storm = Storm(max=1, within=timedelta(minutes=10), max_body=max_body)
    else:
        digest = Digest(every=timedelta(hours=1), max_body=max_body)
    dest = Destination.create(
        "ops", "webhook", sys.argv[2], rate=1e6, burst=1e6, storm=storm, digest=digest
    )
    deadline = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    d = deliverer(store, {"ops": dest}, SystemClock(), deadline=deadline, lease=LEASE)
    d.batch = 500
    stats = asyncio.run(d.run_once())
    print(f"delivered={stats.delivered}", flush=True)


if __name__ == "__main__":
    main()
