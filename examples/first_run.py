"""newsmon's first run: the whole path, from a feed to a signed alert, on this machine.

    .venv/bin/python examples/first_run.py

It serves the seed article (`seeds/article.rss`) on 127.0.0.1, starts a webhook receiver on
127.0.0.1, and runs `newsmon check --deliver` (one daemon cycle: poll, match, alert, deliver)
with the example rules and a SQLite store in a temporary folder. The receiver checks the alert's
signature and prints what it got; a second cycle shows that nothing is sent twice. Nothing leaves
the machine and nothing is left behind. Exit code 0 when exactly one signed alert arrived.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "article.rss"

# The seed article is dated 22 October 2024. With the defaults (`retention: 90d`, and a feed's
# first poll a silent baseline) the daemon skips it and says so ("skipped 1 too_old"); this run's
# config keeps items for a century and lets the first poll alert, so the whole path shows.
CONFIG = """\
database_url: {db}
rules: {rules}
allow_networks: [127.0.0.1/32]   # the feed and the receiver are local; by default only public
log_level: warning
retention: 36500d
feeds:
  - id: seed-wire
    url: {feed}
    backfill: 36500d
destinations:
  - name: local-hook
    type: webhook
    url: {hook}
    secret_env: NEWSMON_FIRST_RUN_SECRET
"""


class _Feed(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        if self.headers.get("If-None-Match") == '"seed-1"':  # the second cycle asks so
            self.send_response(304)
            self.send_header("ETag", '"seed-1"')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", '"seed-1"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _cycle(config: Path, env: dict[str, str]) -> int:
    print(f"\n$ newsmon check --deliver --config {config.name}", flush=True)
    command = [sys.executable, "-m", "monitor", "check", "--deliver", "--config", str(config)]
    # The command is ours (this Python, this package): no user input reaches it.
    done = subprocess.run(command, env=env, cwd=config.parent, timeout=120, check=False)  # noqa: S603
    return done.returncode


def main() -> int:
    from monitor.delivery.signing import verify

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    _Feed.body = SEED.read_bytes()
    _Hook.received = []
    with _serve(_Feed) as feed, _serve(_Hook) as hook, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "newsmon.yaml"
        config.write_text(
            CONFIG.format(
                db=Path(tmp) / "newsmon.db",
                rules=ROOT / "rules",
                feed=f"{feed}/seed.rss",
                hook=f"{hook}/hook",
            )
        )
        print(f"feed:     {feed}/seed.rss  (seeds/article.rss)")
        print(f"receiver: {hook}/hook  (a signed webhook, Standard Webhooks)")
        print(f"config:   {config}  (rules: rules/, store: SQLite in the same folder)")
        print(
            "note:     the seed article is from 2024-10-22; this config keeps items for a century"
            " and lets a feed's first poll alert, so it is sent. With the defaults (retention 90d,"
            " a silent first poll) it would be skipped, and the summary would say `skipped 1"
            " too_old`."
        )
        env = {
            **os.environ,
            "NEWSMON_FIRST_RUN_SECRET": secret,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",  # the table and the summary line in the order they happen
        }
        env.pop("NEWSMON_CONFIG", None)
        _cycle(config, env)
        got = list(_Hook.received)
        print(f"\nthe receiver got {len(got)} alert(s):")
        verified = 0
        for headers, body in got:
            ok = verify(secret, headers, body)
            verified += ok
            doc = json.loads(body)
            rules = ", ".join(r["id"] for r in doc.get("rules", []))
            print(
                f"  webhook-id {headers.get('webhook-id')}: signature {'verified' if ok else 'BAD'}"
            )
            print(f"  item:  {doc['item']['title']}")
            print(f"  rules: {rules}")
        _cycle(config, env)
        again = len(_Hook.received) - len(got)
        print(f"\nthe second cycle sent {again} more: each story alerts once per destination.")
    print(
        "\nnext: `newsmon init` writes a newsmon.yaml and a rules/ folder to start your own; "
        "`newsmon run` is the daemon (docs/cli.md)."
    )
    return 0 if verified == 1 and len(got) == 1 and again == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
