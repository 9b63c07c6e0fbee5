"""Replay: three snapshots of three feeds, served in order from 127.0.0.1 through the real
one-shot cycle (`newsmon check --deliver`) into a local webhook receiver.

Feeds:
- heise: a real heise online snapshot (60 distinct stories, tests/data/dedup/heise.rdf); the
  first snapshot has 50 of its items, the second all 60 in reverse order with churned tracking
  links (new item keys for all 60), the third churns the links again.
- wire: written stories A (North Korea sends troops to Russia), B (Japan quake), C (ECB cut);
  then D (South Korea sends troops to Poland: most words shared with A, a different story); then
  A edited (same GUID, new title: quiet by default) and E (Russia sends troops to North Korea:
  A's words with the roles reversed, a different story).
- agg: an aggregator (Google News style): A and B reworded by other outlets behind redirect links
  that change on every poll, then also C reworded.

Distinct stories labelled by hand: the 60 heise stories + A, B, C, D, E = 65 alerts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from email.utils import formatdate
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from monitor.cli.main import main
from monitor.cli.stories import cmd_list
from tests.feedserver import feed_server
from tests.receiver import Receiver

DATA = Path(__file__).parent / "data" / "dedup"
DATE = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
PUB = formatdate(time.time() - 3600, usegmt=True)

A = (
    "North Korea sends troops to Russia, Seoul says",
    "North Korea has sent about 10,000 troops to Russia to train for deployment, South Korea's "
    "intelligence service said on Friday.",
)
A_EDITED = ("North Korea sends troops to Russia, Seoul's spy agency says", A[1])
A2 = (
    "North Korea has sent troops to Russia, South Korean spy agency says - Reuters",
    "About 10,000 North Korean troops have been sent to Russia for training, South Korea's "
    "National Intelligence Service said on Friday.",
)
B = (
    "Magnitude 7.1 earthquake strikes southern Japan, tsunami advisory issued",
    "A magnitude 7.1 earthquake struck off the coast of Kyushu in southern Japan on Thursday, and "
    "the Japan Meteorological Agency issued a tsunami advisory.",
)
B2 = (
    "Strong 7.1 earthquake hits southern Japan; tsunami advisory issued - AP News",
    "A strong magnitude 7.1 earthquake hit southern Japan's Kyushu island on Thursday, prompting "
    "the Japan Meteorological Agency to issue a tsunami advisory.",
)
C = (
    "ECB cuts interest rates for the third time this year",
    "The European Central Bank cut its deposit rate by a quarter point to 3.25% on Thursday, its "
    "third cut this year, as inflation in the euro zone eased.",
)
C2 = (
    "European Central Bank cuts rates again as euro zone inflation eases - Financial Times",
    "The ECB lowered its deposit rate by a quarter point to 3.25% on Thursday, the third cut "
    "this year, saying inflation in the euro zone was easing.",
)
D = (
    "South Korea sends troops to Poland, Warsaw says",
    "South Korea has sent about 10,000 troops to Poland to train for deployment, Poland's defence "
    "ministry said on Friday.",
)
E = ("Russia sends troops to North Korea, Seoul says",
     "Russia has sent about 10,000 troops to North Korea to train for deployment, South Korea's "
     "intelligence service said on Friday.")  # fmt: skip


def heise(count: int, poll: int, *, reverse: bool = False) -> bytes:
    """The real heise snapshot: its first `count` items, each with a dc:date; from poll 2 on
    every link carries a new tracking parameter (as redirect and tracking links churn)."""
    text = (DATA / "heise.rdf").read_text(encoding="utf-8")
    head, _, rest = text.partition("<item>")
    items = ["<item>" + part for part in rest.split("<item>")]
    items[-1], tail = items[-1].split("</rdf:RDF>")[0], "</rdf:RDF>"
    items = [i.replace("</item>", f"<dc:date>{DATE}</dc:date></item>") for i in items[:count]]
    if poll > 1:
        items = [i.replace("?wt_mc=rss.ho.beitrag.rdf", f"?wt_mc=rss.ho.beitrag.rdf&amp;p={poll}")
                 for i in items]  # fmt: skip
    if reverse:
        items.reverse()
    head = head.replace("<rdf:RDF ", '<rdf:RDF xmlns:dc="http://purl.org/dc/elements/1.1/" ')
    return (head + "".join(items) + tail).encode("utf-8")


def rss(entries: list[tuple[str, str, tuple[str, str]]], title: str) -> bytes:
    """RSS 2.0 from (guid, link, (title, description)) entries."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{escape(g)}</guid><link>{escape(link)}</link>"
        f"<title>{escape(t)}</title><description>{escape(d)}</description>"
        f"<pubDate>{PUB}</pubDate></item>"
        for g, link, (t, d) in entries
    )
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>{title}</title><link>https://example.org/</link>{body}</channel></rss>"
            ).encode()  # fmt: skip


def wire(*stories: tuple[str, tuple[str, str]]) -> bytes:
    return rss([(g, f"https://wire.example/{g}", s) for g, s in stories], "Wire")


def agg(poll: int, *stories: tuple[str, str]) -> bytes:
    # Google News style: a redirect link and GUID that are new on every poll.
    entries = [(f"CBMi{poll}x{n}", f"https://news.google.com/rss/articles/CBMi{poll}x{n}?oc=5", s)
               for n, s in enumerate(stories)]  # fmt: skip
    return rss(entries, "Aggregator")


SNAPSHOTS = [
    (heise(50, 1), wire(("a", A), ("b", B), ("c", C)), agg(1)),
    (heise(60, 2, reverse=True), wire(("a", A), ("b", B), ("c", C), ("d", D)), agg(2, A2, B2)),
    (heise(60, 3), wire(("a", A_EDITED), ("b", B), ("c", C), ("d", D), ("e", E)),
     agg(3, B2, A2, C2)),
]  # fmt: skip
EXPECTED_NEW = [50 + 3, 10 + 1, 1]  # alerts per snapshot: the distinct stories it adds


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_env")
def test_replay_alerts_once_per_hand_labelled_story(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "all.yaml").write_text(
        "rules:\n  - id: everything\n    name: Every item of the test feeds\n"
        "    query: 'feed:(heise OR wire OR agg)'\n"
    )
    with feed_server() as server, Receiver() as rx:
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\n"
            f"rules: {rules}\n"
            "allow_networks: ['127.0.0.1/32']\n"
            "log_level: error\n"
            "feeds:\n"
            + "".join(f"  - {{id: {f}, url: '{server.url('/' + f)}', backfill: 30d}}\n"
                      for f in ("heise", "wire", "agg"))
            + f"destinations:\n  - {{name: hook, type: webhook, url: '{rx.url}'}}\n"
        )  # fmt: skip
        delivered = [0]
        for snapshot, expected in zip(SNAPSHOTS, EXPECTED_NEW, strict=True):
            for path, body in zip(("/heise", "/wire", "/agg"), snapshot, strict=True):
                server.put(path, body)
            main(["check", "--deliver", "--config", str(config)])
            got = len(rx.requests) - delivered[-1]
            delivered.append(len(rx.requests))
            titles = [json.loads(r.body)["item"]["title"] for r in rx.requests[delivered[-2] :]]
            assert got == expected, titles
        ids = [r.headers["webhook-id"] for r in rx.requests]
        assert len(ids) == len(set(ids)) == 65
        every_title = {json.loads(r.body)["item"]["title"] for r in rx.requests}
        assert {A[0], B[0], C[0], D[0], E[0]} <= every_title

        # The later sightings are further sources of the first story; churn adds none.
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cmd_list(argparse.Namespace(config=str(config), story=None, json=True,
                                               limit=200)) == 0  # fmt: skip
        by_title = {d["title"]: d for d in map(json.loads, out.getvalue().splitlines())}
        assert len(by_title) == 65
        assert by_title[A[0]]["sources"] == 2  # wire, then agg (A2, re-issued twice)
        assert by_title[C[0]]["sources"] == 2
        assert by_title[D[0]]["sources"] == 1
        assert all(by_title[t]["sources"] == 1 for t in by_title if t not in (A[0], B[0], C[0]))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            story = by_title[B[0]]["story"]
            assert cmd_list(argparse.Namespace(config=str(config), story=story, json=True,
                                               limit=50)) == 0  # fmt: skip
        sightings = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [(s["feed"], s["title"]) for s in sightings] == [("wire", B[0]), ("agg", B2[0])]


@pytest.mark.usefixtures("clean_env")
def test_a_feed_that_links_every_item_to_one_page_alerts_every_story(tmp_path: Path) -> None:
    # A press office's feed: each item its own GUID, every link the section page. Keyed by that
    # link, its stories were one story: only its first item alerted, in that poll and for the
    # story window after it.
    page = "https://press.example/news/"
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "all.yaml").write_text(
        "rules:\n  - id: everything\n    name: Every item\n    query: 'feed:press'\n"
    )
    with feed_server() as server, Receiver() as rx:
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\n"
            f"rules: {rules}\n"
            "allow_networks: ['127.0.0.1/32']\n"
            "log_level: error\n"
            f"feeds:\n  - {{id: press, url: '{server.url('/press')}', backfill: 30d}}\n"
            f"destinations:\n  - {{name: hook, type: webhook, url: '{rx.url}'}}\n"
        )
        server.put("/press", rss([("p1", page, A), ("p2", page, B)], "Press"))
        main(["check", "--deliver", "--config", str(config)])
        assert len(rx.requests) == 2
        server.put("/press", rss([("p1", page, A), ("p2", page, B), ("p3", page, C)], "Press"))
        main(["check", "--deliver", "--config", str(config)])
        titles = [json.loads(r.body)["item"]["title"] for r in rx.requests]
        assert titles == [A[0], B[0], C[0]]
