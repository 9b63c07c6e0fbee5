"""Deterministic benchmark feeds: N files of 50 news-sized items (about 50 KB each).

Two styles: ``plain`` RSS 2.0 (title, link, guid, pubDate, an escaped description), and
``publisher``, shaped like what news publishers serve: three feeds in four RSS 2.0 declaring
the atom, dc, content, media and a publisher's own namespace (``atom:link``, ``dc:creator``,
HTML in CDATA descriptions, ``media:content``/``credit``/``description``/``thumbnail``, a
channel image, categories with a domain), and one in four Atom 1.0 (authors, HTML summary and
content, categories, ``media:thumbnail``).

Writes files (I/O) but every byte is a pure function of (feed index, generation): the same call
always gives the same files, so runs on different days and machines compare. Feed ``i`` at
generation ``g`` carries items ``5g .. 5g+49`` of its own endless item stream, newest first;
``mutate`` moves exactly 10% of the feeds one generation on (five new items each) and sets each
file's mtime from its generation, so a server's ETag and Last-Modified change exactly when the bytes
do, even within one second.

Some titles and descriptions use words that the example rules watch for (weapons, Ukraine, NATO,
special forces, sanctions, ...), so a matcher has real work and some alerts to send.

    python benchmarks/feedgen.py DIR --feeds 200          # write DIR/feeds/f0000.xml ...
    python benchmarks/feedgen.py DIR --feeds 200 --style publisher
    python benchmarks/feedgen.py DIR --mutate             # move 10% of them on by one generation
"""

from __future__ import annotations

import argparse
import json
import os
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ITEMS_PER_FEED = 50
NEW_ITEMS_PER_MUTATION = 5
BASE_TIME = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
STATE_FILE = "feedgen-state.json"

# Words a news desk writes; the "hot" ones overlap the example rules and the seed article.
_HOT = [
    "weapons",
    "Ukraine",
    "NATO",
    "special forces",
    "North Korea",
    "Russia",
    "sanctions",
    "missile",
    "troops",
    "ceasefire",
    "anti-tank",
    "drone strike",
    "arms supplies",
    "Pyongyang",
]
_SUBJECTS = [
    "Ministers",
    "The central bank",
    "Regulators",
    "Officials",
    "Rescue teams",
    "Investors",
    "Farmers",
    "The opposition",
    "Health authorities",
    "Researchers",
    "City council",
    "Unions",
    "The court",
    "Lawmakers",
    "Shipping firms",
    "Energy companies",
    "Teachers",
    "Voters",
]
_VERBS = [
    "weigh",
    "reject",
    "announce",
    "delay",
    "back",
    "question",
    "approve",
    "warn over",
    "push for",
    "prepare",
    "debate",
    "unveil",
    "halt",
    "expand",
    "review",
    "criticise",
]
_OBJECTS = [
    "new budget plan",
    "rail strike talks",
    "flood defences",
    "interest rate rise",
    "tax reform",
    "vaccine rollout",
    "port expansion",
    "trade deal",
    "housing targets",
    "grain exports",
    "water shortages",
    "election timetable",
    "pension changes",
    "wind farm licences",
    "school funding",
    "border checks",
    "chip factory",
    "airport runway",
]
_PLACES = [
    "Berlin",
    "Nairobi",
    "Seoul",
    "Lima",
    "Jakarta",
    "Warsaw",
    "Ottawa",
    "Lagos",
    "Madrid",
    "Manila",
    "Cairo",
    "Oslo",
    "Hanoi",
    "Quito",
    "Dublin",
    "Santiago",
    "Accra",
    "Tbilisi",
]
# Sentences that the example rules (rules/*.yaml) match: about one item in twenty carries one.
_MATCHING = [
    "Officials said more air defence systems would be sent to Ukraine within weeks.",
    "A delegation of defence officials will visit NATO headquarters next week.",
    "Hundreds of troops were deployed to the border region overnight.",
]
_FILLER = [
    (
        "The decision follows weeks of negotiations between the parties, and analysts said the "
        "outcome would shape the coming year"
    ),
    (
        "Critics argued that the plan left important questions unanswered, while supporters "
        "pointed to early results"
    ),
    (
        "A spokesperson declined to comment on the details but said further announcements were "
        "expected later this week"
    ),
    (
        "Figures published on Monday showed a mixed picture across the region, with some areas "
        "reporting strong growth and others a sharp decline"
    ),
    "Local residents described the situation as uncertain",
    "The government has promised a full review before the end of the month.",
]


def _item(feed: int, seq: int, base: datetime) -> tuple[str, str, datetime]:
    """Title, description and publication time of item ``seq`` of feed ``feed`` (pure)."""
    rnd = random.Random(feed * 1_000_003 + seq)
    place = rnd.choice(_PLACES)
    if rnd.random() < 0.15:
        title = f"{rnd.choice(_SUBJECTS)} in {place} {rnd.choice(_VERBS)} {rnd.choice(_HOT)} plan"
    else:
        title = f"{rnd.choice(_SUBJECTS)} in {place} {rnd.choice(_VERBS)} {rnd.choice(_OBJECTS)}"
    sentences = [f"{title} on {['Monday', 'Tuesday', 'Friday'][seq % 3]}."]
    if rnd.random() < 0.05:
        sentences.append(rnd.choice(_MATCHING))
    while sum(len(s) for s in sentences) < 700:
        sentence = rnd.choice(_FILLER).rstrip(".") + "."
        if rnd.random() < 0.1:
            sentence = f"Talks also touched on {rnd.choice(_HOT)} and {rnd.choice(_OBJECTS)}."
        sentences.append(sentence)
    published = base + timedelta(minutes=17 * seq + feed % 60)
    return title, " ".join(sentences), published


_AUTHORS = ["Ana Silva", "Tom Byrne", "Mei Lin", "Kofi Mensah", "Olga Nowak", "Raj Patel"]
_SECTIONS = ["World", "Europe", "Asia", "Business", "Politics", "Science"]
_PUBLISHER_NS = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:desk="http://bench.example.org/namespaces/rss/2.0"'
)
STYLES = ("plain", "publisher")


def _newest(generation: int) -> int:
    return generation * NEW_ITEMS_PER_MUTATION + ITEMS_PER_FEED - 1


def render_feed(
    feed: int, generation: int, base: datetime = BASE_TIME, style: str = "plain"
) -> bytes:
    """The document of ``feed`` at ``generation``, items dated from ``base`` (pure)."""
    if style == "publisher":
        return (
            _atom(feed, generation, base) if feed % 4 == 3 else _publisher(feed, generation, base)
        )
    base_url = "https://bench.example.org"
    newest = _newest(generation)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>\n',
        f"<title>Bench desk {feed:04d}</title><link>{base_url}/desk/{feed:04d}/</link>\n",
        f"<description>Generated news feed {feed:04d} for newsmon benchmarks</description>\n",
        "<language>en</language>\n",
    ]
    for seq in range(newest, newest - ITEMS_PER_FEED, -1):
        title, text, published = _item(feed, seq, base)
        link = f"{base_url}/desk/{feed:04d}/story-{seq:06d}.html"
        parts.append(
            f"<item><title>{escape(title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">bench-{feed:04d}-{seq:06d}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>&lt;p&gt;{escape(escape(text))}&lt;/p&gt;</description></item>\n"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def _publisher(feed: int, generation: int, base: datetime) -> bytes:
    """RSS 2.0 as a news publisher serves it: namespaces, media, authors, HTML (pure)."""
    site = f"https://bench.example.org/desk/{feed:04d}"
    newest = _newest(generation)
    built = format_datetime(_item(feed, newest, base)[2])
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss {_PUBLISHER_NS} version="2.0">\n<channel>\n',
        f"<title><![CDATA[Bench News {feed:04d} - Home]]></title>\n",
        f"<description><![CDATA[Bench News {feed:04d} - Home]]></description>\n",
        f"<link>{site}/</link>\n",
        f'<atom:link href="{site}/rss.xml" rel="self" type="application/rss+xml"/>\n',
        f"<image><url>{site}/logo.png</url><title>Bench News {feed:04d}</title>"
        f"<link>{site}/</link></image>\n",
        "<generator>bench feed generator</generator>\n",
        f"<lastBuildDate>{built}</lastBuildDate>\n",
        "<copyright><![CDATA[Copyright: (C) Bench News]]></copyright>\n",
        "<language><![CDATA[en-gb]]></language><ttl>15</ttl>\n",
    ]
    for seq in range(newest, newest - ITEMS_PER_FEED, -1):
        title, text, published = _item(feed, seq, base)
        rnd = random.Random(seq * 7 + feed)
        link = f"{site}/story-{seq:06d}"
        image = f"https://img.bench.example.org/{feed:04d}/{seq:06d}.jpg"
        section = _SECTIONS[seq % len(_SECTIONS)]
        parts.append(
            f"<item>\n<title><![CDATA[{title}]]></title>\n"
            f"<description><![CDATA[<p>{escape(text)}</p>]]></description>\n"
            f'<link>{link}</link>\n<guid isPermaLink="true">{link}</guid>\n'
            f'<atom:link href="{link}" rel="standout"/>\n'
            f"<dc:creator>{rnd.choice(_AUTHORS)}</dc:creator>\n"
            f"<pubDate>{format_datetime(published)}</pubDate>\n"
            f'<category domain="{site}/{section.lower()}">{section}</category>\n'
            f"<desk:section>{section}</desk:section>\n"
            f'<media:content height="549" medium="image" url="{image}" width="976"/>\n'
            f"<media:credit>Bench Agency</media:credit>\n"
            f"<media:description>A picture for {escape(title)}.</media:description>\n"
            f'<media:thumbnail width="240" height="135" url="{image}"/>\n'
            "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


def _atom(feed: int, generation: int, base: datetime) -> bytes:
    """Atom 1.0 as blogs and video sites serve it (pure)."""
    site = f"https://bench.example.org/desk/{feed:04d}"
    newest = _newest(generation)
    updated = _item(feed, newest, base)[2].isoformat()
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:media="http://search.yahoo.com/mrss/">\n',
        f'<link rel="self" href="{site}/atom.xml"/>\n',
        f"<id>tag:bench.example.org,2026:{feed:04d}</id>\n",
        f'<title>Bench Desk {feed:04d}</title>\n<link rel="alternate" href="{site}/"/>\n',
        f"<updated>{updated}</updated>\n",
    ]
    for seq in range(newest, newest - ITEMS_PER_FEED, -1):
        title, text, published = _item(feed, seq, base)
        rnd = random.Random(seq * 7 + feed)
        link = f"{site}/story-{seq:06d}"
        html = escape(f"<p>{escape(text)}</p>")
        parts.append(
            f"<entry>\n<id>tag:bench.example.org,2026:{feed:04d}-{seq:06d}</id>\n"
            f"<title>{escape(title)}</title>\n"
            f'<link rel="alternate" href="{link}"/>\n'
            f"<author>\n<name>{rnd.choice(_AUTHORS)}</name>\n<uri>{site}/</uri>\n</author>\n"
            f"<published>{published.isoformat()}</published>\n"
            f"<updated>{published.isoformat()}</updated>\n"
            f'<category term="{_SECTIONS[seq % len(_SECTIONS)]}"/>\n'
            f'<summary type="html">{escape(f"<p>{escape(text[:300])}</p>")}</summary>\n'
            f'<content type="html">{html}</content>\n'
            f'<media:thumbnail url="https://img.bench.example.org/{feed:04d}/{seq:06d}.jpg"/>\n'
            "</entry>\n"
        )
    parts.append("</feed>\n")
    return "".join(parts).encode("utf-8")


def feed_path(root: Path, feed: int) -> Path:
    return root / "feeds" / f"f{feed:04d}.xml"


def _write(root: Path, feed: int, generation: int, base: datetime, style: str) -> None:
    path = feed_path(root, feed)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(render_feed(feed, generation, base, style))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    # mtime from the newest item: validators change exactly when the content does.
    stamp = (base + timedelta(minutes=17 * _newest(generation) + 61)).timestamp()
    os.utime(path, (stamp, stamp))


def recent_base(now: datetime) -> datetime:
    """A base three days before ``now``'s midnight: items recent enough for any retention window."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=3)


def generate(root: Path, n: int, base: datetime = BASE_TIME, style: str = "plain") -> list[Path]:
    """Write ``n`` feeds at generation 0 under ``root/feeds`` and return their paths."""
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    for feed in range(n):
        _write(root, feed, 0, base, style)
    state = {"generations": [0] * n, "mutations": 0, "base": base.isoformat(), "style": style}
    (root / STATE_FILE).write_text(json.dumps(state))
    return [feed_path(root, feed) for feed in range(n)]


def mutate(root: Path, fraction: float = 0.1) -> list[int]:
    """Move ``round(n * fraction)`` feeds on one generation; return their indices.

    The chosen feeds are spread evenly and shift with each call, so repeated mutations touch
    different feeds.
    """
    state = json.loads((root / STATE_FILE).read_text())
    generations: list[int] = state["generations"]
    n = len(generations)
    base = datetime.fromisoformat(state["base"])
    count = round(n * fraction)
    rnd = random.Random(4242 + state["mutations"])
    chosen = sorted(rnd.sample(range(n), count))
    for feed in chosen:
        generations[feed] += 1
        _write(root, feed, generations[feed], base, state.get("style", "plain"))
    state["mutations"] += 1
    (root / STATE_FILE).write_text(json.dumps(state))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--mutate", action="store_true", help="move 10%% of the feeds on")
    parser.add_argument("--recent", action="store_true", help="date items from 3 days ago")
    parser.add_argument("--style", choices=STYLES, default="plain")
    args = parser.parse_args(argv)
    if args.mutate:
        print(f"mutated {len(mutate(args.root))} feeds")
    else:
        base = recent_base(datetime.now(UTC)) if args.recent else BASE_TIME
        paths = generate(args.root, args.feeds, base, args.style)
        print(f"wrote {len(paths)} feeds under {args.root / 'feeds'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
