"""Benchmark the matcher at scale on real newswire: 3,000 real items against 10 and 10,000 rules.

    python benchmarks/scale.py [--items 3000] [--rules 10,10000] [--runs 5] [--passes 3]
                               [--seed 17] [--corpus PATH] [--profile compile|match]
                               [--stages REPS]

The items are real reporting: the RUWA set of 2022 war news (titles with their subheadings, from
Ukrinform, Censor.net, Reuters, RT, Al Jazeera, BBC, MSNBC and others; see the corpora manifest).
Its licence (CC BY-NC-SA) keeps its text out of this repository: it is read from `--corpus`, by
default ../shared/corpora/news/ruwa-2022/items.jsonl next to the repository, and the benchmark
stops with a message when it is not there. An item is a feed item of its site's feed (the title
as title, the subheading as summary); each site's feed carries tags (`wire`, `ukrainian`,
`broadcast`, `russian`) that rules can watch.

The rules are built, with a seeded RNG, from the items' own topical words (words that are not
stop words and whose stem at most 1 % of the items hold): each rule is written from one item, which
it matches, the way a reader who saw that story would write it, in the shapes people use: word
pairs, phrases, NEAR and ONEAR, OR-groups, prefixes, exact forms, NOT exclusions, title scopes,
named sets; one rule in five watches only its item's feed or one of that feed's tags. At 10,000
rules an item matches several of them.

Per run: compiling the 10,000 rules (`RuleSet.from_rules`, ms a rule), a full reload of them from
a rules folder in block YAML (`load_rules`: YAML, validation and compiling; total and ms a rule),
and matching every item against 10 and against 10,000 rules with every match's explanation and
snippet read (`RuleSet.match`, the item's analysis included; the best of `--passes` passes, the
two rule sets taking turns), and the ratio of the two matching times: how much more an item costs
when a thousand times more rules watch it. Times are CPU seconds of this process
(time.process_time). Every run's row is printed, then the median and every run's ratio.

`--stages REPS` prints instead where an item's matching time goes at each rule count, stage upon
stage (analysis, candidates, evaluating and making the matches, explanations and snippets).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.model import Item, Rule
from monitor.query import compiler
from monitor.query.normalize import analyze, forms, tokenize
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "news" / "ruwa-2022" / "items.jsonl"

# Each site is a feed; its tags are what rules scoped by tag watch.
TAGS = {
    "reuters": ("wire",),
    "tass": ("wire", "russian"),
    "ukrinform": ("ukrainian",),
    "censor": ("ukrainian",),
    "bbc": ("broadcast",),
    "msnbc": ("broadcast",),
    "aljazeera": ("broadcast",),
    "news-front": ("russian",),
}
_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our out over own same says said
    she should so some such than that the their them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would
    you your new news one two three first last year years day days week per cent percent may
    amid via since get got make made like says told"""
_STOP = frozenset(_STOP_WORDS.split())
MAX_SHARE = 0.01  # a word held by more items than this is no topic of its own
MAX_SET = 12  # words of a named set at most


def site_feed(site: str) -> str:
    """The feed id of a site: `www.msnbc.com` -> `msnbc`, `en.news-front.info` -> `news-front`."""
    parts = [p for p in site.split(".") if p not in ("www", "en")]
    return parts[0]


def read_items(path: Path, n: int, seed: int) -> list[Item]:
    """`n` items drawn with a seeded RNG from the corpus (every item when it holds fewer)."""
    if not path.is_file():
        raise SystemExit(
            f"no RUWA corpus at {path}: this benchmark reads real news from the shared corpora "
            "next to the repository (its licence keeps the text out of it); pass --corpus PATH"
        )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(seed)
    rng.shuffle(rows)
    items = []
    for row in rows[:n]:
        feed = site_feed(row["site"])
        items.append(
            Item(
                feed_id=feed,
                key=row["url"],
                title=row["title"],
                summary=row.get("description") or "",
                url=row["url"],
                feed_title=row["site"],
            )
        )
    return items


_OPERATORS = ("AND", "OR", "NOT", "NEAR", "ONEAR")


@dataclass(frozen=True)
class Words:
    """Each item's words as written, per field (title, subheading), and the corpus's topical
    and common words (a word is topical when few items hold its stem)."""

    per_item: list[tuple[list[str], list[str]]]
    stems: dict[str, str]  # each word (as written) to its stem
    topical_stems: frozenset[str]
    topical: list[str]  # one lower-case word for each topical stem, sorted
    common: list[str]  # frequent words (not stop words): rules use them beside a topical one

    def topical_in(self, i: int) -> list[tuple[int, int, str]]:
        """(field, position, word) of the first word of each topical stem of item `i`."""
        seen: set[str] = set()
        out = []
        for f, ws in enumerate(self.per_item[i]):
            for p, w in enumerate(ws):
                stem = self.stems[w]
                if stem in self.topical_stems and stem not in seen and _wordy(w):
                    seen.add(stem)
                    out.append((f, p, w))
        return out


def _wordy(w: str) -> bool:
    return len(w) >= 3 and not w.isdigit() and w.lower() not in _STOP and _safe(w)


def words_of(items: Sequence[Item]) -> Words:
    per_item = [
        ([t.raw for t in tokenize(it.title)], [t.raw for t in tokenize(it.summary)]) for it in items
    ]
    stems = {w: forms(w).stem for title, summary in per_item for w in title + summary}
    df: Counter[str] = Counter()
    for title, summary in per_item:
        df.update({stems[w] for w in title + summary})
    limit = MAX_SHARE * len(items)
    topical_stems = frozenset(s for s, c in df.items() if c <= limit)
    by_stem: dict[str, str] = {}
    for w in sorted(stems, key=str.lower):
        if _wordy(w):
            by_stem.setdefault(stems[w], w.lower())
    topical = sorted(w for s, w in by_stem.items() if s in topical_stems)
    common = sorted(w for s, w in by_stem.items() if s not in topical_stems)
    return Words(per_item, stems, topical_stems, topical, common)


def _safe(w: str) -> bool:
    """A word that the query language reads as a word (not an operator)."""
    return w.upper() not in _OPERATORS and not w.startswith(("NEAR", "ONEAR"))


def make_rules(
    items: Sequence[Item], words: Words, n: int, seed: int
) -> tuple[list[Rule], dict[str, list[str]]]:
    """`n` rules, each written from one item's words (so it matches that item), and 20 sets."""
    rng = random.Random(seed)
    topical, common = words.topical, words.common

    def other() -> str:
        return rng.choice(common) if rng.random() < 0.15 else rng.choice(topical)

    sets = {f"s{k}": [rng.choice(topical) for _ in range(rng.randint(4, 9))] for k in range(20)}
    rules: list[Rule] = []
    while len(rules) < n:
        i = rng.randrange(len(items))
        item, own = items[i], words.topical_in(i)
        if len(own) < 2:
            continue
        (fa, pa, a), (fb, pb, b) = sorted(rng.sample(own, 2))
        field = words.per_item[i][fa]
        near = fa == fb  # positional shapes need both words in one field
        shape = rng.randrange(11)
        if shape == 1:  # a phrase of the item, two or three words from a topical one
            k = rng.choice((2, 3))
            phrase = field[pa : pa + k]
            ok = len(phrase) >= 2 and all(map(_safe, phrase))
            query = '"' + " ".join(phrase) + '"' if ok else f"{a} {b}"
        elif shape == 2 and near:
            query = f"{a} NEAR/{pb - pa - 1 + rng.randint(0, 3)} {b}"
        elif shape == 3 and near and pb - pa >= 2 and _safe(field[pa + 1]):
            two = " ".join(field[pa : pa + 2])
            query = f'"{two}" ONEAR/{pb - pa - 2 + rng.randint(0, 3)} {b}'
        elif shape == 4:
            query = f"({other()} OR {a} OR {other()}) {b}"
        elif shape == 5:
            mine = {w.lower() for f in words.per_item[i] for w in f}
            z = rng.choice(topical)
            while z in mine:
                z = rng.choice(topical)
            query = f"{a} {b} NOT {z}"
        elif shape == 6 and len(a) >= 6:
            query = f"{a[: rng.randint(5, len(a) - 1)].lower()}* {b}"
        elif shape == 7 and a[:1].isupper():
            query = f"={a} {b}"
        elif shape == 8 and fa == 0:
            query = f"title:({a} OR {other()}) {b}"
        elif shape == 9:
            name = rng.choice(list(sets))
            if a.lower() not in sets[name] and len(sets[name]) < MAX_SET:
                sets[name].append(a.lower())  # so that the set holds a word of this item
            if a.lower() not in sets[name]:
                query = f"{a} {b}"
            elif near and pb - pa <= 7:
                query = f"${name} NEAR/6 {b}"
            else:
                query = f"${name} {b}"
        elif shape == 10:
            query = f"{a} ({b} OR {other()} OR {other()})"
        else:
            query = f"{a} {b}"
        feeds: tuple[str, ...] = ()
        if rng.random() < 0.2:
            feeds = (item.feed_id,) if rng.random() < 0.5 else (rng.choice(TAGS[item.feed_id]),)
        k = len(rules)
        rules.append(Rule(f"r{k:05d}", f"rule {k}", query, feeds=feeds))
    return rules, sets


def write_rules(folder: Path, rules: Sequence[Rule], sets: dict[str, list[str]]) -> None:
    """The rules as a rules folder in block YAML, as people write it: 1,000 rules a file."""
    (folder / "sets.yaml").write_text(yaml.safe_dump({"sets": sets}), encoding="utf-8")
    for start in range(0, len(rules), 1000):
        body = {
            "rules": [
                {"id": r.id, "name": r.name, "query": r.query}
                | ({"feeds": list(r.feeds)} if r.feeds else {})
                for r in rules[start : start + 1000]
            ]
        }
        text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1000)
        (folder / f"rules{start // 1000:03d}.yaml").write_text(text, encoding="utf-8")


def cpu(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.process_time()
    got = fn()
    return time.process_time() - start, got


def match_all(rs: RuleSet, items: Sequence[Item]) -> tuple[int, int]:
    """Match every item, reading each match's explanation and snippet; (matches, hits)."""
    found = hits = 0
    for item in items:
        for m in rs.match(item, TAGS[item.feed_id]):
            found += 1
            hits += len(m.explanation.hits) + (len(m.snippet) > 0)
    return found, hits


def timed_match(rulesets: Sequence[RuleSet], items: Sequence[Item], passes: int) -> list[float]:
    """Each rule set's best time over `passes` passes, the sets taking turns (on a shared machine
    a burst of other work then hits one pass, not one rule set)."""
    best = [float("inf")] * len(rulesets)
    # A daemon keeps its rules for hours and freezes them out of the cyclic GC's walks (so does
    # the service after each reload): the same here, so the time is the matcher's own.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(passes):
            for k, rs in enumerate(rulesets):
                took, _ = cpu(partial(match_all, rs, items))
                best[k] = min(best[k], took)
    finally:
        gc.unfreeze()
    return best


def stages(
    items: Sequence[Item],
    small: tuple[list[Rule], dict[str, list[str]]],
    big: tuple[list[Rule], dict[str, list[str]]],
    reps: int,
) -> None:
    """Where an item's time goes at each rule count, stage upon stage: its analysis, the
    presearcher's candidates, matching (evaluating them, making the matches), and reading every
    match's explanation and snippet. Each stage runs on chunks of 150 items in turn, `reps`
    times; each chunk's least CPU time is kept (a burst of other work on a shared machine then
    spoils one chunk's try, not the total)."""
    chunk = 150
    starts = range(0, len(items), chunk)

    def stage_fns(rs: RuleSet) -> dict[str, Callable[[Sequence[Item]], object]]:
        def analysed(part: Sequence[Item]) -> object:
            return [analyze(i, rs._fields) for i in part]

        def candidates(part: Sequence[Item]) -> object:
            return [rs._index.candidates(analyze(i, rs._fields)) for i in part]

        def matched(part: Sequence[Item]) -> object:
            return [rs.match(i, TAGS[i.feed_id]) for i in part]

        return {
            "analysis": analysed,
            "+ candidates": candidates,
            "+ evaluating, matches": matched,
            "+ explanations, snippets": partial(match_all, rs),
        }

    rows = []
    for n, (rules, sets) in ((len(small[0]), small), (len(big[0]), big)):
        fns = stage_fns(RuleSet.from_rules(rules, sets))
        for fn in fns.values():
            fn(items)  # warm: plans made, memos filled
        best = {(name, c): float("inf") for name in fns for c in starts}
        gc.collect()
        gc.freeze()
        try:
            for _ in range(reps):
                for c in starts:
                    part = items[c : c + chunk]
                    for name, fn in fns.items():
                        took, _ = cpu(partial(fn, part))
                        best[name, c] = min(best[name, c], took)
        finally:
            gc.unfreeze()
        rows.append((n, [sum(best[name, c] for c in starts) * 1e6 / len(items) for name in fns]))
    names = list(stage_fns(RuleSet.from_rules(*small)))
    print("| rules | " + " | ".join(f"{name} (µs an item)" for name in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for n, row in rows:
        print(f"| {n:,} | " + " | ".join(f"{x:.0f}" for x in row) + " |")
    print(f"\ngrowth of the whole (explanations included): {rows[1][1][-1] / rows[0][1][-1]:.2f}x")


def profile(what: str, items: list[Item], big: tuple[list[Rule], dict[str, list[str]]]) -> None:
    prof = cProfile.Profile()
    if what == "compile":
        prof.runcall(RuleSet.from_rules, *big)
    else:
        rs = RuleSet.from_rules(*big)
        prof.runcall(match_all, rs, items)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--rules", default="10,10000", help="the small and the large rule count")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--passes", type=int, default=3, help="matching passes a run (best kept)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--profile", choices=("compile", "match"), help="cProfile one, then stop")
    ap.add_argument(
        "--stages",
        type=int,
        metavar="REPS",
        help="time each stage of matching (chunks of 150 items, best of REPS), then stop",
    )
    args = ap.parse_args()
    small_n, big_n = (int(x) for x in args.rules.split(","))
    items = read_items(args.corpus, args.items, args.seed)
    words = words_of(items)
    small = make_rules(items, words, small_n, args.seed + 1)
    big = make_rules(items, words, big_n, args.seed + 2)
    for item in items:  # warm the word memos, as a running daemon has them
        analyze(item)
    if args.profile:
        profile(args.profile, items, big)
        return
    if args.stages:
        stages(items, small, big, args.stages)
        return
    size = sum(len(i.title) + len(i.summary) + 1 for i in items) / len(items)
    with_summary = sum(1 for i in items if i.summary) / len(items)
    whole = RuleSet.from_rules(*big)
    found = sum(len(whole.match(i, TAGS[i.feed_id])) for i in items)
    del whole
    print(
        f"{len(items):,} real items (RUWA 2022: title + subheading, {with_summary:.0%} have one; "
        f"{size:.0f} bytes on average); rules from {len(words.topical):,} topical words, "
        f"{found / len(items):.1f} matches an item at {big_n:,} rules; "
        f"Python {sys.version.split()[0]}\n"
    )
    print(
        f"| run | compile ms/rule | reload s ({big_n:,}) | reload ms/rule | match s ({small_n}) "
        f"| match s ({big_n:,}) | growth |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_rules(folder, *big)
        for run in range(1, args.runs + 1):
            gc.collect()
            # From cold: the compiler's memo of compiled words (where there is one) emptied, as
            # at a start; a reload in a running daemon finds it warm and is a little faster.
            getattr(compiler, "_PIECES", {}).clear()
            compile_s, _ = cpu(lambda: RuleSet.from_rules(*big))
            getattr(compiler, "_PIECES", {}).clear()
            reload_s, reloaded = cpu(lambda: load_rules(folder))
            assert isinstance(reloaded, RuleSet)
            assert len(reloaded) == big_n
            del reloaded
            rulesets = [RuleSet.from_rules(*small), RuleSet.from_rules(*big)]
            t_small, t_big = timed_match(rulesets, items, args.passes)
            del rulesets
            row = (compile_s * 1e3 / big_n, reload_s, reload_s * 1e3 / big_n, t_small, t_big)
            rows.append(row)
            print(
                f"| {run} | {row[0]:.3f} | {row[1]:.2f} | {row[2]:.3f} | {row[3]:.3f} "
                f"| {row[4]:.3f} | {t_big / t_small:.2f}x |"
            )
    ratios = [r[4] / r[3] for r in rows]
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(
        f"| median | {med[0]:.3f} | {med[1]:.2f} | {med[2]:.3f} | {med[3]:.3f} | {med[4]:.3f} "
        f"| {statistics.median(ratios):.2f}x |"
    )
    print(
        f"\ngrowth in every run: {', '.join(f'{x:.2f}x' for x in ratios)}; "
        f"compile {min(r[0] for r in rows):.3f}-{max(r[0] for r in rows):.3f} ms a rule, "
        f"reload {min(r[2] for r in rows):.3f}-{max(r[2] for r in rows):.3f} ms a rule"
    )


if __name__ == "__main__":
    main()
