"""The lean reference: fetch every feed and extract its items, nothing else — the floor to approach.

Does I/O (network to 127.0.0.1 only, one small JSON file). Standard library only: an asyncio
HTTP/1.1 client with keep-alive connections (``--concurrency`` of them, default 20) sending
conditional GETs (ETag / Last-Modified kept in ``--validators`` between runs: the only state), and
``xml.etree.ElementTree`` taking title, link, guid and description out of each RSS item or Atom
entry. No feed parser normalisation, no item identity or seen-state, no matching, no delivery.

    python benchmarks/lean.py --urls URLS.txt --validators validators.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

_ATOM = "{http://www.w3.org/2005/Atom}"


def extract_items(body: bytes) -> list[dict[str, str]]:
    """Title, link, id and summary of each item of an RSS 2.0 or Atom document (pure)."""
    root = ET.fromstring(body)
    items = []
    for node in root.iter("item"):
        items.append(
            {
                "title": node.findtext("title") or "",
                "link": node.findtext("link") or "",
                "id": node.findtext("guid") or "",
                "summary": node.findtext("description") or "",
            }
        )
    for node in root.iter(f"{_ATOM}entry"):
        link = node.find(f"{_ATOM}link")
        items.append(
            {
                "title": node.findtext(f"{_ATOM}title") or "",
                "link": link.get("href", "") if link is not None else "",
                "id": node.findtext(f"{_ATOM}id") or "",
                "summary": node.findtext(f"{_ATOM}summary") or "",
            }
        )
    return items


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str, validators: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: lean/1"]
    if "etag" in validators:
        lines.append(f"If-None-Match: {validators['etag']}")
    if "modified" in validators:
        lines.append(f"If-Modified-Since: {validators['modified']}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


async def _worker(
    queue: asyncio.Queue[str], state: dict[str, dict[str, str]], totals: dict[str, int]
) -> None:
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while not queue.empty():
        url = queue.get_nowait()
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "::1"):
            totals["refused"] += 1  # a benchmark talks to the local server only
            continue
        try:
            if conn is None:
                conn = await asyncio.open_connection(parts.hostname, parts.port or 80)
            status, headers, body = await _get(*conn, url, state.get(url, {}))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            totals["errors"] += 1
            conn = None
            continue
        if headers.get("connection", "").lower() == "close":
            conn[1].close()
            conn = None
        totals[str(status)] = totals.get(str(status), 0) + 1
        if status == 200:
            try:
                totals["items"] += len(extract_items(body))
            except ET.ParseError:
                totals["errors"] += 1
            kept = {"etag": headers.get("etag", ""), "modified": headers.get("last-modified", "")}
            state[url] = {k: v for k, v in kept.items() if v}
    if conn is not None:
        conn[1].close()


async def run(
    urls: list[str], state: dict[str, dict[str, str]], concurrency: int
) -> dict[str, int]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    totals = {"items": 0, "errors": 0, "refused": 0}
    await asyncio.gather(*(_worker(queue, state, totals) for _ in range(concurrency)))
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lean reference: fetch + extract items")
    parser.add_argument("--urls", type=Path, required=True)
    parser.add_argument("--validators", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args(argv)
    urls = [u.strip() for u in args.urls.read_text().splitlines() if u.strip()]
    state = json.loads(args.validators.read_text()) if args.validators.exists() else {}
    totals = asyncio.run(run(urls, state, args.concurrency))
    args.validators.write_text(json.dumps(state))
    print(json.dumps(totals))
    return 1 if totals["errors"] or totals["refused"] else 0


if __name__ == "__main__":
    sys.exit(main())
