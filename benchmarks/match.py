"""Benchmark the rule matcher: items per second at 10, 1k, 10k and 100k generated rules.

    python benchmarks/match.py [--items 2000] [--rules 10,1000,10000,100000] [--seed 7]

The corpus and the rules are generated with a seeded RNG, so every run sees the same input:
- items of about 500 bytes (a title and a summary), words drawn with Zipf's law from a vocabulary
  of common English news words followed by 30,000 generated names and topic words, plus the words
  of the seed article (so the example-style rules find something);
- rules as people write them: word pairs, phrases, prefixes, exact forms, NEAR and ONEAR between
  words, phrases and sets, OR-groups, NOT exclusions, field scopes; 5 % of them share 20 sets.

Times are CPU seconds of this process (time.process_time), so that other work on a shared machine
disturbs them less than wall-clock time would. Memory is measured with tracemalloc up to 10k rules,
and as the growth of the peak RSS at 100k (tracemalloc would triple the compile time there).

Columns: the indexed matcher (RuleSet.match: presearcher, then candidates), the baseline that
evaluates every rule on every item (RuleSet.match_every_rule), their ratio, the memory the compiled
rules and index take (tracemalloc), and the candidates evaluated per item. The floor is merely
normalising (NFKC, case folding), tokenising and stemming the same items (memoised PyStemmer).
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import resource
import sys
import time
import tracemalloc
import unicodedata
from collections.abc import Callable
from pathlib import Path

import Stemmer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.model import Item, Rule
from monitor.query.normalize import analyze
from monitor.query.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent
_COMMON_WORDS = (
    "the of to and a in that is for on with as was by at from he it his said its an are be"
    " has have were which this but not after their they been will who more had new one up than"
    " also two would other about over into year people some government could when there last"
    " first may all what out against before percent state officials minister president country"
    " police week military war forces troops city report reported told border talks security"
    " support attack killed leaders plan deal election party month years court law economy"
    " market prices bank trade company million billion help water health school power oil gas"
    " energy crisis defence defense army navy weapons arms ukraine russia china korea nato"
    " europe american british french german japan india iran israel gaza syria sent dispatched"
    " deployed supply delegation visit meeting summit agreement sanctions aid missile drone"
    " strike fighting ceasefire peace protest protesters opposition parliament vote budget tax"
    " inflation growth jobs workers strike storm flood fire earthquake climate emissions"
    " record season team match league final coach players fans club win lost scored goal"
)
COMMON = _COMMON_WORDS.split()
_SYLLABLES_WORDS = (
    "ka ri to mo la ne vi sa ru de po li an ter gor vas mil ben dra chi zo ul fen hart"
)
SYLLABLES = _SYLLABLES_WORDS.split()


def vocabulary(rng: random.Random) -> list[str]:
    seed_words = re.findall(r"[A-Za-z]+", (ROOT / "seeds" / "article.txt").read_text())
    names: set[str] = set()
    while len(names) < 30_000:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    extra = sorted(names)
    rng.shuffle(extra)
    return list(dict.fromkeys(COMMON + seed_words + extra))


def make_items(rng: random.Random, vocab: list[str], n: int) -> list[Item]:
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]  # Zipf's law, s = 1
    items = []
    for i in range(n):
        title = " ".join(rng.choices(vocab, weights, k=9)).capitalize()
        words = rng.choices(vocab, weights, k=66)
        for j in range(10, len(words), 12):
            words[j] += rng.choice([".", ",", ""])
        summary = " ".join(words)
        items.append(Item(feed_id=f"feed{i % 50}", key=str(i), title=title, summary=summary))
    return items


def make_rules(
    rng: random.Random, vocab: list[str], n: int
) -> tuple[list[Rule], dict[str, list[str]]]:
    # People write rules about topics (names, places, subjects), not about "the": the generated
    # words stand for those; the common news words come in now and then.
    seed = set(re.findall(r"[A-Za-z]+", (ROOT / "seeds" / "article.txt").read_text()))
    topical = [w for w in vocab if w not in seed and w not in COMMON]

    def word() -> str:
        # Rules are about topics: names, places, subjects. Most of their words are drawn evenly
        # from the topical vocabulary; some favour its frequent end; some are common news words.
        r = rng.random()
        if r < 0.03:
            return rng.choice(COMMON[60:])
        if r < 0.2:
            return topical[int(len(topical) ** rng.random()) - 1]  # log-uniform rank
        return rng.choice(topical)

    sets = {
        f"s{k}": [word() for _ in range(rng.randint(3, 8))] + [f"{word()} {word()}"]
        for k in range(20)
    }
    shapes: list[Callable[[], str]] = [
        lambda: f"{word()} {word()}",
        lambda: f'"{word()} {word()}"',
        lambda: f"{word()} NEAR/5 {word()}",
        lambda: f'"{word()} {word()}" ONEAR/3 {word()}',
        lambda: f"({word()} OR {word()} OR {word()}) {word()}",
        lambda: f"{rng.choice(topical)} NOT {word()}",
        lambda: f"{word()[:5]}* {word()}",
        lambda: f"={word().capitalize()} {word()}",
        lambda: f"title:({rng.choice(topical)} OR {rng.choice(topical)})",
        lambda: f"${rng.choice(list(sets))} NEAR/6 {word()}",
    ]
    rules = []
    for i in range(n):
        shape = shapes[9] if rng.random() < 0.05 else rng.choice(shapes[:9])
        rules.append(Rule(f"r{i:06d}", f"rule {i}", shape()))
    return rules, sets


def floor(items: list[Item]) -> float:
    stemmer = Stemmer.Stemmer("english", 0)
    memo: dict[str, str] = {}
    word = re.compile(r"\w+")
    start = time.process_time()
    for item in items:
        for text in (item.title, item.summary, item.content):
            for w in word.findall(unicodedata.normalize("NFKC", text).casefold()):
                s = memo.get(w)
                if s is None:
                    s = memo[w] = stemmer.stemWord(w)
    return len(items) / (time.process_time() - start)


def rate(
    fn: Callable[[Item], object], items: list[Item], budget_s: float, repeat: int = 3
) -> float:
    """Items per second: the best of `repeat` passes (this machine is noisy), each time-boxed."""
    best = 0.0
    for _ in range(repeat):
        done, start = 0, time.process_time()
        for item in items:
            fn(item)
            done += 1
            if time.process_time() - start > budget_s / repeat:
                break
        best = max(best, done / (time.process_time() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--rules", default="10,1000,10000,100000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget", type=float, default=4.0, help="seconds per measurement at most")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    vocab = vocabulary(rng)
    items = make_items(rng, vocab, args.items)
    size = sum(len(i.title) + len(i.summary) + 1 for i in items) / len(items)
    for item in items:  # warm the stem memo, as a running daemon would have it
        analyze(item)
    print(f"{len(items)} items of {size:.0f} bytes on average; Python {sys.version.split()[0]}")
    f = max(floor(items) for _ in range(3))
    a = rate(analyze, items, args.budget)
    print(f"floor (NFKC + casefold + tokenise + stem): {f:,.0f} items/s")
    print(f"analyze() alone (tokens, positions, stems): {a:,.0f} items/s\n")
    print(
        "| rules | compile s | memory MB | bytes/rule | candidates/item | matches/item"
        " | indexed items/s | baseline items/s | speed-up | vs floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.rules.split(",")):
        rules, sets = make_rules(random.Random(args.seed + n), vocab, n)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.process_time()
        rs = RuleSet.from_rules(rules, sets)
        compile_s = time.process_time() - t0
        if n <= 10_000:  # exact, but tracemalloc makes compiling 3x slower: not at 100k
            tracemalloc.start()
            kept = RuleSet.from_rules(rules, sets)
            mem = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            del kept
        else:  # growth of the process's peak RSS (KiB on Linux), a close upper bound
            mem = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
        # A daemon keeps its rules for hours: freezing them keeps the cyclic GC from walking
        # every compiled rule again and again while items are matched (the daemon does the same).
        gc.collect()
        gc.freeze()
        sample = items[:200]
        cands = sum(len(rs._index.candidates(analyze(i))) for i in sample) / len(sample)
        found = sum(len(rs.match(i)) for i in sample) / len(sample)
        indexed = rate(rs.match, items, args.budget)
        baseline = rate(rs.match_every_rule, items, args.budget)
        print(
            f"| {n:,} | {compile_s:.1f} | {mem / 1e6:.1f} | {mem / n:,.0f} | {cands:,.1f} "
            f"| {found:.2f} "
            f"| {indexed:,.0f} | {baseline:,.0f} | {indexed / baseline:,.1f}x | {indexed / f:.2f} |"
        )
        del rs
        gc.unfreeze()


if __name__ == "__main__":
    main()
