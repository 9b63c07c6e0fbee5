"""Story dedup quality on real news: how often it folds two events into one story (a false merge:
the second is never alerted) and how often it misses a re-issue of one story (an extra alert).

    python benchmarks/dedup_quality.py [--corpora ../shared/corpora] [--window-hours 72]
    python benchmarks/dedup_quality.py --unlabelled      # list the pairs that need a label

Real text stays in ../shared/corpora (its licences do not fit this repository); the labels,
`benchmarks/dedup_labels.csv`, hold only item URLs and a verdict. Corpora:

- `ruwa`: news/ruwa-2022/items.jsonl, 15,393 headlines (some with a subheading) about the
  Russia-Ukraine war, Feb-Nov 2022, eight outlets; each outlet is a feed, each item a poll of its
  feed, in date order. Dates are days: the items of a day are spread over it in file order.
- `archive`: feeds/news-archive-2021, 627 snapshots of 15 publishers' feeds; each snapshot is a
  poll of its feed at its commit time, through the project's parser and item keys.

The replay makes the pipeline's story decision in memory (monitor.pipeline.decide): items whose
key the feed has seen are skipped; each new item is fingerprinted and looked up among the stored
wordings that share a band and whose story was seen within the window (`assign_stories`); one
that matches none founds a story under `identity.story_key`, and repeats a story when that key
was seen within the window. One wording per story and feed is kept, as in the store.

Every merge is a pair (item, the item that founded its story), labelled `same` (one event, told
again or by another outlet) or `different` (a careful reader would want both alerts). Precision =
same / labelled merges. Missed re-issues: pairs that dedup kept apart, found by a looser
net (titles sharing at least half of their content-word stems, within the window), labelled the
same way; recall = same merges / (same merges + items with a labelled `same` pair left apart).
Pairs the net does not catch are not counted: recall is an upper bound.

Synthetic re-issues (`reissue` rows) take 300 real items and re-publish each a minute later:
`tracking` in an aggregator feed under a new GUID and the link with tracking parameters;
`reworded` by the same outlet under a new link with its title changed as outlets do (its outlet
tail replaced or added, a figure spelled out or in digits, Title Case). Recall = share merged
with the original.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint, strip_outlet  # noqa: E402
from monitor.dedup.resolve import StoryCandidate, assign_stories  # noqa: E402
from monitor.dedup.text import is_stopword, stem, words  # noqa: E402
from monitor.feeds.canonical import canonical_url  # noqa: E402
from monitor.feeds.identity import shared_links, story_key  # noqa: E402
from monitor.model import Item  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
LABELS = Path(__file__).resolve().parent / "dedup_labels.csv"
NET_JACCARD = 0.5  # the net for missed re-issues: title content-word stems shared
NET_SAMPLE = 100  # net pairs labelled per corpus


@dataclass
class Wording:
    story: str
    feed: str
    fp: StoryFingerprint
    first_seen: datetime


@dataclass
class Replay:
    """The pipeline's story decision, in memory (see the module docstring)."""

    window: timedelta
    wordings: dict[tuple[str, str], Wording] = field(default_factory=dict)
    by_band: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    last_seen: dict[str, datetime] = field(default_factory=dict)
    seen_keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    founder: dict[str, str] = field(default_factory=dict)  # story key -> founding item's id

    def poll(self, feed: str, items: Sequence[tuple[str, Item]], now: datetime) -> list[Decision]:
        """Decide one poll of `feed`; `items` are (id for labels, item) pairs."""
        seen = self.seen_keys[feed]
        new: list[tuple[str, Item]] = []
        for ident, item in items:
            if item.key not in seen:
                seen.add(item.key)
                new.append((ident, item))
        if not new:
            return []
        fps = [fingerprint(item) for _, item in new]
        shared = shared_links(item for _, item in items)
        since = now - self.window
        found = {w for fp in fps for band in fp.bands for w in self.by_band.get(band, ())}
        candidates = [
            StoryCandidate(w.story, w.feed, w.fp, w.fp.bands, w.first_seen)
            for w in (self.wordings[k] for k in sorted(found))
            if self.last_seen[w.story] >= since
        ]
        stories = assign_stories(
            [(item, story_key(item, shared)) for _, item in new],
            candidates,
            fingerprints=fps,
            now=now,
        )
        out: list[Decision] = []
        for (ident, item), story in zip(new, stories, strict=True):
            key = story.story_key
            known = key in self.last_seen and self.last_seen[key] >= since
            merged = story.stored or not story.new_story or known
            if not merged:
                self.founder[key] = ident
            if not story.churn and (key, feed) not in self.wordings:
                wording = Wording(key, feed, story.fingerprint, now)
                self.wordings[key, feed] = wording
                for band in story.fingerprint.bands:
                    self.by_band[band].add((key, feed))
            self.last_seen[key] = now
            out.append(Decision(ident, item, now, key, merged, self.founder.get(key, ident)))
        return out


@dataclass(frozen=True)
class Decision:
    ident: str
    item: Item
    at: datetime
    story: str
    merged: bool
    founder: str


# --- corpora -------------------------------------------------------------------------------


def ruwa_polls(path: Path) -> Iterator[tuple[str, list[tuple[str, Item]], datetime]]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    days: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        days[row["date"]].append(row)
    for day in sorted(days, key=lambda d: (d[6:], d[:5])):
        month, dom, year = (int(x) for x in day.split("/"))
        start = datetime(year, month, dom, tzinfo=UTC)
        for n, row in enumerate(days[day]):
            at = start + timedelta(seconds=86400 * n / len(days[day]))
            url = row["url"]
            item = Item(
                feed_id=row["site"],
                key="u:" + url,
                title=row["title"],
                summary=row["description"],
                link=url,
                url=canonical_url(url),
                published=at,
            )
            yield row["site"], [(url, item)], at


def archive_polls(folder: Path) -> Iterator[tuple[str, list[tuple[str, Item]], datetime]]:
    from monitor.errors import NewsmonError
    from monitor.feeds.parse import parse_feed

    with (folder / "index.csv").open(encoding="utf-8") as f:
        snapshots = sorted(
            csv.DictReader(f), key=lambda r: datetime.fromisoformat(r["commit_date"])
        )
    for snap in snapshots:
        at = datetime.fromisoformat(snap["commit_date"]).astimezone(UTC)
        try:
            items = parse_feed((folder / snap["file"]).read_bytes(), feed_id=snap["feed"]).items
        except NewsmonError:
            continue
        yield snap["feed"], [(i.url or i.key, i) for i in items], at


# --- labels and scores ---------------------------------------------------------------------


def read_labels(path: Path) -> dict[tuple[str, str, str], str]:
    labels: dict[tuple[str, str, str], str] = {}
    if path.exists():
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(line for line in f if not line.startswith("#")):
                labels[row["corpus"], row["item"], row["story"]] = row["label"]
    return labels


def _stems(title: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words(title) if not is_stopword(w))


def net_pairs(
    decisions: Sequence[Decision], window: timedelta
) -> Iterator[tuple[Decision, Decision]]:
    """(later, earlier) pairs dedup kept in different stories whose titles share at least
    `NET_JACCARD` of their content-word stems, within the window."""
    recent: list[tuple[Decision, frozenset[str]]] = []
    for d in decisions:
        stems = _stems(d.item.title)
        recent = [(e, s) for e, s in recent if d.at - e.at <= window]
        for e, s in recent:
            shared = len(s & stems) / len(s | stems) if s and stems else 0.0
            if e.story != d.story and shared >= NET_JACCARD:
                yield d, e
        recent.append((d, stems))


@dataclass
class Score:
    corpus: str
    items: int = 0
    merges: int = 0
    same: int = 0
    different: int = 0
    unlabelled: int = 0
    net: int = 0  # pairs the net holds (dedup kept them apart)
    net_labelled: int = 0  # of its sample
    net_same: int = 0
    net_unlabelled: int = 0
    todo: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    @property
    def missed(self) -> float:
        """Same-story pairs the net holds, estimated from its labelled sample."""
        return self.net * self.net_same / self.net_labelled if self.net_labelled else 0.0


def score(
    corpus: str,
    decisions: list[Decision],
    labels: dict[tuple[str, str, str], str],
    window: timedelta,
) -> Score:
    s = Score(corpus, items=len(decisions))
    by_id = {d.ident: d for d in decisions}
    for d in decisions:
        if not d.merged:
            continue
        s.merges += 1
        label = labels.get((corpus, d.ident, d.founder))
        if label == "same":
            s.same += 1
        elif label == "different":
            s.different += 1
        else:
            s.unlabelled += 1
            f = by_id.get(d.founder)
            s.todo.append(("merge", d.ident, d.founder, d.item.title, f.item.title if f else ""))
    pairs = sorted(
        net_pairs(decisions, window),
        key=lambda p: hashlib.blake2b(f"{p[0].ident} {p[1].ident}".encode()).digest(),
    )
    s.net = len(pairs)
    for later, earlier in pairs[:NET_SAMPLE]:  # a fixed sample: its labels stand for the net
        label = labels.get((corpus, later.ident, earlier.ident))
        if label is None:
            s.net_unlabelled += 1
            s.todo.append(
                ("apart", later.ident, earlier.ident, later.item.title, earlier.item.title)
            )
        else:
            s.net_labelled += 1
            s.net_same += label == "same"
    return s


# --- synthetic re-issues -------------------------------------------------------------------

_DIGITS = {
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
}
_SPELLED = {v: k for k, v in _DIGITS.items()}


def reword(title: str, n: int) -> str:
    """A same-outlet rewording of a headline: an outlet tail (in place of the one it has), a
    figure in digits or in words (not inside a time or date: "09:10"), or Title Case (which one:
    n mod 3)."""
    tailed = strip_outlet(title) + " - Newswire"
    if n % 3 == 0:
        return tailed
    if n % 3 == 1:
        figure = r"(?<![\d:.])\b(\d|10)\b(?![:.]\d)"
        swapped = re.sub(figure, lambda m: _DIGITS[m.group(1)], title, count=1)
        if swapped == title:
            swapped = re.sub(
                r"\b(one|two|three|four|five|six|seven|eight|nine|ten)\b",
                lambda m: _SPELLED[m.group(1).lower()],
                title,
                count=1,
                flags=re.I,
            )
        return swapped if swapped != title else tailed
    return " ".join(w[:1].upper() + w[1:] for w in title.split())


def reissues(decisions: Sequence[Decision], window: timedelta) -> dict[str, tuple[int, int]]:
    """Kind -> (re-issues merged with their original, re-issues)."""
    rng = random.Random(20261208)
    sample = rng.sample([d for d in decisions if d.item.title], min(300, len(decisions)))
    out: dict[str, tuple[int, int]] = {}
    for kind in ("tracking", "reworded"):
        merged = 0
        for n, d in enumerate(sample):
            replay = Replay(window)
            replay.poll(d.item.feed_id, [(d.ident, d.item)], d.at)
            link = (d.item.link or "https://example.org/a") + "?utm_source=rss&utm_medium=feed"
            if kind == "tracking":
                again = Item(
                    feed_id="aggregator",
                    key=f"g:{n}",
                    title=d.item.title,
                    summary=d.item.summary,
                    link=link,
                    url=canonical_url(link),
                )
                feed = "aggregator"
            else:
                other = f"https://example.org/{n}/reissued"
                again = Item(
                    feed_id=d.item.feed_id,
                    key=f"g:{n}",
                    title=reword(d.item.title, n),
                    summary=d.item.summary,
                    link=other,
                    url=other,
                )
                feed = d.item.feed_id
            (result,) = replay.poll(feed, [("again", again)], d.at + timedelta(minutes=1))
            merged += result.merged and result.founder == d.ident
        out[kind] = (merged, len(sample))
    return out


# --- main ----------------------------------------------------------------------------------


def replay(
    polls: Iterable[tuple[str, list[tuple[str, Item]], datetime]], window: timedelta
) -> list[Decision]:
    r = Replay(window)
    decisions: list[Decision] = []
    for feed, items, at in polls:
        decisions.extend(r.poll(feed, items, at))
    return decisions


def _pct(num: float, den: float) -> str:
    return f"{100 * num / den:.1f} %" if den else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=CORPORA)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--window-hours", type=float, default=72)
    ap.add_argument("--only", choices=("ruwa", "archive"), default=None)
    ap.add_argument(
        "--unlabelled",
        action="store_true",
        help="print the pairs without a label (tab-separated, with their titles)",
    )
    args = ap.parse_args(argv)
    window = timedelta(hours=args.window_hours)
    sources = {
        "ruwa": (args.corpora / "news" / "ruwa-2022" / "items.jsonl", ruwa_polls),
        "archive": (args.corpora / "feeds" / "news-archive-2021", archive_polls),
    }
    labels = read_labels(args.labels)
    print(
        "| corpus | items | merges | labelled same | labelled different (lost alerts) | "
        "precision | net pairs (labelled) | missed re-issues (est.) | recall (est.) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    extra: list[str] = []
    for name, (path, polls) in sources.items():
        if args.only and name != args.only:
            continue
        if not path.exists():
            print(f"| {name} | skipped: {path} not found | | | | | | | |")
            continue
        decisions = replay(polls(path), window)
        s = score(name, decisions, labels, window)
        labelled = s.same + s.different
        print(
            f"| {name} | {s.items:,} | {s.merges} | {s.same} | {s.different} | "
            f"{_pct(s.same, labelled)} | {s.net} ({s.net_labelled}) | {s.missed:.0f} | "
            f"{_pct(s.same, s.same + s.missed)} |"
        )
        if s.unlabelled or s.net_unlabelled:
            extra.append(
                f"{name}: {s.unlabelled} merges and {s.net_unlabelled} net pairs "
                "unlabelled (--unlabelled lists them)"
            )
        if args.unlabelled:
            for kind, item, story, t1, t2 in s.todo:
                extra.append(f"{name}\t{kind}\t{item}\t{story}\t{t1[:120]}\t{t2[:120]}")
        if name == "ruwa":
            for kind, (merged, total) in reissues(decisions, window).items():
                extra.append(f"re-issue {kind}: {merged}/{total} merged ({_pct(merged, total)})")
    print()
    print("\n".join(extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
