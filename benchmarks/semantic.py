"""What the semantic stage costs: embedding per item, the matcher with 10 rules with examples among
10,000 without, a cold poll of 200 feeds with 10 such rules or none, and the model's memory.

    python benchmarks/semantic.py [embed] [match] [memory] [poll]   # default: all four
    python benchmarks/semantic.py poll --feeds 200 --repeat 3

Needs the semantic extra (`pip install -e '.[dev]'` has it).
- embed: CPU ms per item embedded alone (as the matcher does it, title and lede), on the RUWA
  corpus's real headlines when ../shared has them, else on generated items;
- match: items per second of RuleSet.match over 2,000 generated items (benchmarks/match.py's
  items and rules) with 10,000 rules, then with 10 `widen` rules with examples added (every item
  is then embedded, the dearest mode), CPU time, best of three passes;
- memory: peak RSS of a process that loads the example rules, without and with examples;
- poll: `newsmon check --deliver` on a cold store, N generated feeds served by nginx on
  127.0.0.1 (benchmarks/peers.py's bed), rules = the three example rules plus 10 more, these
  10 with examples (`widen`: every item embedded) or without; CPU seconds of the process,
  median of --repeat runs, alternating.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from monitor.model import Item, Rule
from monitor.query.embed import item_text, load_embedder
from monitor.query.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent
SEMANTIC = ROOT / "examples" / "rules-semantic"
CORPUS = ROOT.parent / "shared" / "corpora" / "news" / "ruwa-2022" / "items.jsonl"


def _examples() -> list[tuple[list[str], list[str]]]:
    """The like/unlike lists of the semantic example rules, to build more rules from."""
    from monitor.query.rulefiles import load_rules

    rules = load_rules(SEMANTIC).rules.values()
    return [(list(r.like), list(r.unlike)) for r in rules]


def semantic_rules(n: int, queries: list[str]) -> list[Rule]:
    out = []
    examples = _examples()
    for i in range(n):
        like, unlike = examples[i % len(examples)]
        out.append(
            Rule(
                f"sem{i:02d}",
                f"semantic {i}",
                queries[i % len(queries)],
                mode="widen",
                threshold=0.6,
                like=tuple(like[i % 3 :]),
                unlike=tuple(unlike),
            )
        )
    return out


def bench_embed(n: int) -> None:
    model = load_embedder()
    if CORPUS.is_file():
        with CORPUS.open(encoding="utf-8") as f:
            rows = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
        items = [Item("ruwa", r["url"], r["title"], r["description"]) for r in rows]
        source = f"{len(items)} RUWA titles with their subheadings, where they have one"
    else:
        import match

        rng = random.Random(7)
        items = match.make_items(rng, match.vocabulary(rng), n)
        source = f"{len(items)} generated items (the RUWA corpus is not in ../shared)"
    texts = [item_text(i) for i in items]
    rows = []
    for how in ("one item a call, first pass (the tokenizer reads every new word)",
                "one item a call, again (words remembered)"):  # fmt: skip
        start = time.process_time()
        for t in texts:
            model.embed([t])
        rows.append((how, (time.process_time() - start) / len(texts) * 1000))
    start = time.process_time()
    model.embed(texts)
    rows.append(
        ("all in one call (a poll's batch)", (time.process_time() - start) / len(texts) * 1000)
    )
    chars = statistics.mean(len(t) for t in texts)
    print(f"\n## embedding ({source}, {chars:.0f} characters on average)\n")
    print("| how | CPU ms an item |\n|---|---|")
    for how, ms in rows:
        print(f"| {how} | {ms:.3f} |")


def bench_match(n_items: int, n_rules: int) -> None:
    import match

    rng = random.Random(7)
    vocab = match.vocabulary(rng)
    items = match.make_items(rng, vocab, n_items)
    rules, sets = match.make_rules(rng, vocab, n_rules)
    queries = ["troops NEAR/5 sent", "weapons ukraine", "nato delegation", "military aid"]
    model = load_embedder()
    plain = RuleSet.from_rules(rules, sets)
    mixed = RuleSet.from_rules(rules + semantic_rules(10, queries), sets, embedder=model)
    print(f"\n## the matcher: {n_items:,} generated items, {n_rules:,} rules\n")
    print("| rules | items/s | matches an item |\n|---|---|---|")
    for name, rs in ((f"{n_rules:,}", plain), (f"{n_rules:,} + 10 widen with examples", mixed)):
        rate = match.rate(rs.match, items, budget_s=15.0)
        per = sum(len(rs.match(i)) for i in items[:300]) / 300
        print(f"| {name} | {rate:,.0f} | {per:.2f} |")
    # as a poll matches: its items scored in one batch first (a feed of 50 items)
    best = 0.0
    for _ in range(3):
        start = time.process_time()
        for k in range(0, len(items), 50):
            batch = items[k : k + 50]
            mixed.prepare(batch)
            for i in batch:
                mixed.match(i)
        best = max(best, len(items) / (time.process_time() - start))
    print(f"| {n_rules:,} + 10 widen, a batch of 50 scored first (a poll) | {best:,.0f} | |")


# VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at its parent's high-water mark.
_PEAK = """
import sys
from monitor.query.rulefiles import load_rules
rs = load_rules(sys.argv[1])
status = open("/proc/self/status").read()
print(status.split("VmHWM:")[1].split()[0], status.split("VmRSS:")[1].split()[0])
"""


def bench_memory() -> None:
    print("\n## memory: a process that loads the rules\n")
    print("| rules | peak RSS MB | RSS after MB |\n|---|---|---|")
    for name, folder in (("rules/ (no examples)", ROOT / "rules"), ("with examples", SEMANTIC)):
        peaks, after = [], []
        for _ in range(3):
            out = subprocess.run(
                [sys.executable, "-c", _PEAK, str(folder)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            peak, now = out.stdout.split()[-2:]
            peaks.append(int(peak) / 1024)
            after.append(int(now) / 1024)
        print(f"| {name} | {statistics.median(peaks):.1f} | {statistics.median(after):.1f} |")


def _rules_folder(root: Path, examples: bool) -> Path:
    """The example rules (words alone) and 10 more rules, with examples or without."""
    folder = root / ("with-examples" if examples else "words")
    folder.mkdir(parents=True)
    for f in (ROOT / "rules").glob("*.yaml"):
        (folder / f.name).write_text(f.read_text())
    queries = ["troops NEAR/5 sent", "weapons ukraine", "nato delegation", "military aid"]
    lines = ["rules:"]
    for r in semantic_rules(10, queries):
        lines += [f"  - id: {r.id}", f"    name: {r.name}", f"    query: {json.dumps(r.query)}"]
        if examples:
            lines += [f"    mode: {r.mode}", f"    threshold: {r.threshold}", "    like:"]
            lines += [f"      - {json.dumps(t)}" for t in r.like]
            lines += ["    unlike:"] + [f"      - {json.dumps(t)}" for t in r.unlike]
    (folder / "more.yaml").write_text("\n".join(lines) + "\n")
    return folder


def bench_poll(feeds: int, repeat: int) -> None:
    import bed
    import peers
    import tools

    work = Path(tempfile.mkdtemp(prefix="newsmon-semantic-"))
    folders = {False: _rules_folder(work / "r", False), True: _rules_folder(work / "r", True)}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    wall: dict[bool, list[float]] = {False: [], True: []}
    rss: dict[bool, list[float]] = {False: [], True: []}
    alerts: dict[bool, int] = {}
    with bed.webhook_receiver() as hook, bed.generated_feeds(work, feeds) as (_server, urls):
        for run in range(repeat):
            for examples in (False, True) if run % 2 == 0 else (True, False):
                state = work / "state" / f"{examples}-{run}"
                tool = bed.newsmon_tool(state, urls, hook + "hook")
                config = state / "newsmon.yaml"
                text = config.read_text().splitlines()
                text = [
                    f"rules: {folders[examples]}" if x.startswith("rules:") else x for x in text
                ]
                config.write_text("\n".join(text) + "\n")
                argv, env = tool.command()
                before = peers._receiver_count(hook)
                w, c, r, rc = peers.run_measured(argv, env, tools.REPO, 600, work / "log")
                assert rc in (0, 1), (rc, (work / "log").read_text()[-2000:])
                alerts[examples] = peers._receiver_count(hook) - before
                cpu[examples].append(c)
                wall[examples].append(w)
                rss[examples].append(r)
    print(f"\n## cold `check --deliver`, {feeds} generated feeds, median of {repeat}\n")
    print("| rules | CPU s | wall s | peak RSS MB | alerts |\n|---|---|---|---|---|")
    names = ((False, "3 example + 10 rules, words alone"), (True, "the same, 10 with examples"))
    for examples, name in names:
        print(
            f"| {name} | {statistics.median(cpu[examples]):.2f} |"
            f" {statistics.median(wall[examples]):.2f} | {statistics.median(rss[examples]):.0f} |"
            f" {alerts[examples]} |"
        )
    extra = statistics.median(cpu[True]) / statistics.median(cpu[False]) - 1
    print(f"\nCPU with examples: {extra:+.0%}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", nargs="*", help="embed, match, memory, poll (default: all)")
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--rules", type=int, default=10_000)
    p.add_argument("--feeds", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    parts = ["embed", "match", "memory", "poll"]
    what = args.what or parts
    if set(what) - set(parts):
        p.error(f"choose among {', '.join(parts)}")
    if "embed" in what:
        bench_embed(args.items)
    if "match" in what:
        bench_match(args.items, args.rules)
    if "memory" in what:
        bench_memory()
    if "poll" in what:
        bench_poll(args.feeds, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
