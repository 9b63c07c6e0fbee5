"""`newsmon rules tune --rule ID`: propose a rule's similarity threshold from the feedback labels
and the archive, list the labelled items that would flip, add archived items as examples; print
the change to the rules file, or write it with `--write`. Does I/O (rules, store, the file).

The decisions are monitor.query.tune's (thresholds) and monitor.query.ruleedit's (the text).
"""

from __future__ import annotations

import argparse
import difflib
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from monitor.cli.common import (
    add_config_args,
    feed_tags,
    load_config_from_args,
    no_such_rules,
    store_exists,
)
from monitor.controls import strip_controls
from monitor.errors import NewsmonError, RuleErrors
from monitor.feedback.labels import in_force, parse_target
from monitor.model import Item, Rule
from monitor.query import tune
from monitor.query.embed import item_text
from monitor.query.ruleedit import edit_rule
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet

FLIPS_SHOWN = 20  # labelled items that flip listed without --all

EPILOG = f"""\
examples:
  newsmon rules tune --rule troop-dispatch                  propose the threshold of best F1
  newsmon rules tune --rule troop-dispatch --precision 0.9  the threshold for 90 % precision
  newsmon rules tune --rule troop-dispatch --like wire/18 --unlike wire/7
  newsmon rules tune --rule troop-dispatch --write          write the proposed change

It reads the labels of `newsmon feedback` in force for the rule (an item's label for the rule,
else its label for any rule, which is no miss when the rule does not fire, as in `rules
backtest --labels`) and the archived items they name, and measures the rule at every
threshold (in hundredths) that changes what it fires on. It proposes the threshold of the best
F1 (of equal ones, the highest), or with --precision P the threshold of the highest recall whose
precision is at least P, lists the labelled items that threshold would flip (the
{FLIPS_SHOWN} nearest it; --all every one), and prints the change to the rules file as a diff.
--like/--unlike FEED/ITEM_KEY add archived items as examples (their title and lede, with a
comment naming the item; one already an example is not added again, one that is an example
of the other kind is refused), before the threshold is measured.
Nothing is written without --write; with it, the edited folder is loaded again before the file
is replaced, and a change that would not load is not written.
exit codes: 0 a change was proposed (or written), 1 nothing to change, 2 an error
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "tune",
        help="propose a rule's similarity threshold from labels; add labelled examples",
        description="Propose a rule's similarity threshold from the feedback labels.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(parser)
    parser.add_argument("--rule", metavar="ID", required=True, help="the rule to tune")
    parser.add_argument(
        "--precision",
        metavar="P",
        type=float,
        help="propose the threshold of the best recall with at least this precision (0 to 1)",
    )
    parser.add_argument(
        "--like", metavar="FEED/ITEM_KEY", action="append", default=[], help="add as example"
    )
    parser.add_argument(
        "--unlike",
        metavar="FEED/ITEM_KEY",
        action="append",
        default=[],
        help="add as counter-example",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"list every labelled item that flips (default: the {FLIPS_SHOWN} nearest it)",
    )
    parser.add_argument("--write", action="store_true", help="write the change to the file")
    parser.set_defaults(func=cmd_tune)


@dataclass
class Found:
    """The archived items tuning needs: the labelled ones and those to add as examples."""

    items: dict[tuple[str, str], Item]
    tags: dict[str, tuple[str, ...]]


def _refs(texts: Sequence[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for text in texts:
        target = parse_target(text)
        if target is None or target.alert_id is not None:
            raise NewsmonError(
                f"{flag} {text!r}: name an archived item as FEED/ITEM_KEY"
                " (as `newsmon stories list` and `newsmon feedback export` show it)"
            )
        out.append((target.feed_id, target.item_key))
    return out


def _read(store: object, wanted: set[tuple[str, str]], tags: dict[str, tuple[str, ...]]) -> Found:
    from monitor.cli.backtest import Scan, archive_batches

    items: dict[tuple[str, str], Item] = {}
    for batch in archive_batches(store, Scan(), None, None):  # type: ignore[arg-type]
        for a in batch:
            if (a.feed_id, a.key) in wanted:
                items[a.feed_id, a.key] = a.to_item()
    return Found(items, tags)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _row(name: str, o: tune.Outcome, out: TextIO) -> None:
    out.write(
        f"  {name:<22} {o.threshold:>9.2f} {_fmt(o.precision):>9} {_fmt(o.recall):>6}"
        f" {o.f1:>5.2f} {o.tp + o.fp:>6}\n"
    )


def cmd_tune(args: argparse.Namespace) -> int:
    from monitor.store import open_store

    if args.precision is not None and not 0 < args.precision <= 1:
        raise NewsmonError("--precision must be more than 0 and at most 1 (0.9 is 90 %)")
    config = load_config_from_args(args)
    folder = args.rules or config.rules
    ruleset = load_rules(folder, named_by=config.rules_named_by(args.rules))
    rule = ruleset.rules.get(args.rule)
    if rule is None:
        raise no_such_rules([args.rule], list(ruleset.rules), folder)
    if rule.mode == "query":
        raise NewsmonError(
            f"rule {rule.id!r} has no examples to tune (mode: query): give it `like:` examples"
            " and a mode (docs/rules.md, Examples)"
        )
    like_refs, unlike_refs = _refs(args.like, "--like"), _refs(args.unlike, "--unlike")
    if not store_exists(config):
        raise NewsmonError("no database yet: tuning needs labelled, archived items")
    store = open_store(config.database_url, timeout=config.database_timeout)
    try:
        labels = in_force(store.list_labels())
        # (relevant, labelled for this rule): its label for the rule, else for any rule
        verdicts = {(f, k): (lab.relevant, False) for (f, k, r), lab in labels.items() if r == ""}
        verdicts.update(
            {(f, k): (lab.relevant, True) for (f, k, r), lab in labels.items() if r == rule.id}
        )
        wanted = set(verdicts) | set(like_refs) | set(unlike_refs)
        found = _read(store, wanted, feed_tags(config, store))
    finally:
        store.close()
    missing = [f"{f}/{k}" for f, k in [*like_refs, *unlike_refs] if (f, k) not in found.items]
    if missing:
        raise NewsmonError(
            f"not in the archive: {', '.join(missing)} (`rules backtest --json` names archived"
            " items as item.feed and item.item_key; `archive import` loads a feed file)"
        )
    _refuse_both_ways(like_refs, unlike_refs, found, rule.like, rule.unlike)
    like = _new_examples(like_refs, found, rule.like, "--like", sys.stdout)
    unlike = _new_examples(unlike_refs, found, rule.unlike, "--unlike", sys.stdout)
    ruleset = ruleset.select([rule.id])  # a disabled rule is tuned too
    if like or unlike:
        ruleset = ruleset.with_examples(rule.id, [t for t, _ in like], [t for t, _ in unlike])
    points = _points(ruleset, rule, verdicts, found)
    titles = {ref: item.title for ref, item in found.items.items()}
    return _report(args, rule, points, titles, like, unlike, sys.stdout)


def _refuse_both_ways(
    like_refs: Sequence[tuple[str, str]],
    unlike_refs: Sequence[tuple[str, str]],
    found: Found,
    like: Sequence[str],
    unlike: Sequence[str],
) -> None:
    """A text that would be both a `like` and an `unlike` example of the rule: its similarity
    to each is 1, so it could never be similar, and the rule would say so nowhere. Refused,
    naming where the text already is, before anything is written."""

    def flat(text: str) -> str:
        return " ".join(text.split())

    def text_of(ref: tuple[str, str]) -> str:
        return flat(item_text(found.items[ref]))

    held = {"like": {flat(t) for t in like}, "unlike": {flat(t) for t in unlike}}
    given = {
        "like": {text_of(r): r for r in like_refs},
        "unlike": {text_of(r): r for r in unlike_refs},
    }
    clashes: list[str] = []
    for kind, other in (("like", "unlike"), ("unlike", "like")):
        for text, (feed, key) in given[kind].items():
            if kind == "like" and text in given["unlike"]:
                f2, k2 = given["unlike"][text]
                same = (f2, k2) == (feed, key)
                clashes.append(
                    f"{feed}/{key} is given as both --like and --unlike"
                    if same
                    else f"--like {feed}/{key} and --unlike {f2}/{k2} have the same text"
                )
            elif text in held[other]:
                clashes.append(
                    f"--{kind} {feed}/{key}: its text is already one of the rule's {other}:"
                    f" examples (remove it there first)"
                )
    if clashes:
        raise NewsmonError(
            "; ".join(clashes) + ": a text that is both a like and an unlike example is never"
            " similar; nothing was changed"
        )


def _new_examples(
    refs: Sequence[tuple[str, str]],
    found: Found,
    held: Sequence[str],
    flag: str,
    out: TextIO,
) -> list[tuple[str, str]]:
    """(text, item) of each item to add as an example, less those already among the rule's
    (`held`) or named twice, each of which is noted on `out`. Texts compare as the rules file
    keeps them: white space collapsed (monitor.query.ruleedit)."""
    held_flat = {" ".join(t.split()) for t in held}
    kind = flag.removeprefix("--")
    kept: dict[str, tuple[str, str]] = {}  # by the text as kept
    for ref in refs:
        text, name = item_text(found.items[ref]), f"{ref[0]}/{ref[1]}"
        flat = " ".join(text.split())
        if flat in held_flat:
            out.write(
                f"{flag} {name}: already one of the rule's {kind}: examples: not added again\n"
            )
        elif flat in kept:
            first = kept[flat][1]
            why = "named more than once" if first == name else f"the same text as {first}"
            out.write(f"{flag} {name}: {why}: added once\n")
        else:
            kept[flat] = (text, name)
    return list(kept.values())


def _points(
    ruleset: RuleSet, rule: Rule, verdicts: dict[tuple[str, str], tuple[bool, bool]], found: Found
) -> list[tune.Point]:
    points = []
    for ref, (relevant, for_rule) in sorted(verdicts.items()):
        item = found.items.get(ref)
        if item is None:
            continue
        tags = found.tags.get(item.feed_id, ())
        scores = ruleset.similarity(item)[rule.id]
        holds = ruleset.query_holds(item, rule.id, tags)
        points.append(tune.Point(ref, relevant, holds, scores.like, scores.unlike, for_rule))
    return points


def _report(
    args: argparse.Namespace,
    rule: Rule,
    points: list[tune.Point],
    titles: dict[tuple[str, str], str],
    like: list[tuple[str, str]],
    unlike: list[tuple[str, str]],
    out: TextIO,
) -> int:
    relevant = sum(p.relevant for p in points)
    anyrule = sum(p.relevant and not p.for_rule for p in points)
    # as backtest --labels: relevant for any rule is no miss of a rule that does not fire
    note = f" ({anyrule} for any rule: no miss when it does not fire)" if anyrule else ""
    out.write(
        f"tune {rule.id} (mode: {rule.mode}): {len(points)} labelled items in the archive,"
        f" {relevant} relevant{note}\n"
    )
    if not points:
        out.write("  no labelled archived items: `newsmon feedback ITEM --relevant` adds labels\n")
        if not (like or unlike):
            return 1
        # The way an archived item becomes an example (docs/design-notes.md): it was dropped
        # here, unsaid, until some item was labelled. Nothing to measure: the threshold stays.
        out.write("  the examples are added; the threshold stays (nothing to measure it on)\n")
        return _propose(args, rule, None, like, unlike, out)
    if not relevant:
        # F1 is 0 at every threshold: the tie-break alone picks the proposal (the highest).
        out.write(
            "  no item is labelled relevant for this rule (or for any rule), so F1 cannot favour"
            " any threshold: the proposal rests on no relevant example; label a few relevant"
            f" items (`newsmon feedback FEED/ITEM_KEY --relevant --rule {rule.id}`) or add one"
            " with --like FEED/ITEM_KEY\n"
        )
    out.write(
        f"  {'':<22} {'threshold':>9} {'precision':>9} {'recall':>6} {'F1':>5} {'fires':>6}\n"
    )
    now = tune.outcome(points, rule.mode, rule.threshold)
    _row("now", now, out)
    best = tune.best_f1(points, rule.mode)
    _row("best F1", best, out)
    proposed = best
    if args.precision is not None:
        reached = tune.for_precision(points, rule.mode, args.precision)
        if reached is None:
            out.write(f"  no threshold reaches precision {args.precision:.2f} on these labels\n")
            return 1
        _row(f"precision ≥ {args.precision:.2f}", reached, out)
        proposed = reached
    if proposed.threshold >= 1.0 and rule.threshold < 1.0:
        # At 1 only an example's own text is similar: the examples no longer do anything.
        alone = "its query alone" if rule.mode == "widen" else "almost nothing"
        out.write(
            "  at 1.00 only an example's own text is similar, so the rule fires on "
            f"{alone}: on these labels its examples gain nothing\n"
        )
    flipped = tune.flips(points, rule.mode, rule.threshold, proposed.threshold)
    # the nearest the threshold first: the closest calls, the labels most worth a second look
    flipped.sort(key=lambda pf: (abs(pf[0].like - proposed.threshold), pf[0].key))
    if flipped:
        out.write(f"labelled items that flip at {proposed.threshold:.2f}:\n")
    shown = flipped if args.all else flipped[:FLIPS_SHOWN]
    for p, fires in shown:
        verdict = "relevant" if p.relevant else "irrelevant"
        change = "+ fires" if fires else "- stops"
        title = strip_controls(titles.get(p.key, ""))
        out.write(f"  {change}  {verdict:<10} {p.like:.2f}  {p.key[0]}/{p.key[1]}  {title}\n")
    if len(flipped) > len(shown):
        out.write(f"  ... and {len(flipped) - len(shown):,} more (--all to list every one)\n")
    threshold = proposed.threshold if proposed.threshold != rule.threshold else None
    return _propose(args, rule, threshold, like, unlike, out)


def _propose(
    args: argparse.Namespace,
    rule: Rule,
    threshold: float | None,
    like: list[tuple[str, str]],
    unlike: list[tuple[str, str]],
    out: TextIO,
) -> int:
    """Show the rule's edit as a diff, and write it with --write; 1 when there is none."""
    old = Path(rule.file).read_text(encoding="utf-8")
    changed = threshold or like or unlike
    new = edit_rule(old, rule.id, threshold, like, unlike, rule.file) if changed else old
    if new == old:
        out.write("nothing to change: the rule's threshold is already the proposed one\n")
        return 1
    diff = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), rule.file, rule.file
    )
    out.write("".join(strip_controls(line) for line in diff))
    if not args.write:
        out.write("(not written: --write writes this change)\n")
        return 0
    _write(Path(rule.file), new, args.rules or load_config_from_args(args).rules)
    out.write(f"written to {rule.file}\n")
    return 0


def _write(path: Path, new: str, folder: str) -> None:
    """Load the folder with the edited text first (a running daemon reloads a rules file as
    soon as it changes, so one that would not load must never be on disk, even for a moment),
    then replace the file whole, by a rename."""
    try:
        load_rules(folder, texts={path: new})
    except RuleErrors as exc:
        raise NewsmonError(f"the change would not load, so it was not written:\n{exc}") from exc
    target = path.resolve()  # a link (to a file kept in a repository, say) stays a link
    spare = target.with_name(f".{target.name}.tune")
    try:
        # read with universal newlines: a file of CRLF lines is written back so, not as LF
        crlf = b"\r\n" in target.read_bytes()
        spare.write_text(new, encoding="utf-8", newline="\r\n" if crlf else "\n")
        os.chmod(spare, stat.S_IMODE(target.stat().st_mode))  # as the file was, not the umask's
        os.replace(spare, target)
    except OSError as exc:  # a read-only folder: the spare file was named, not the rules file
        spare.unlink(missing_ok=True)
        raise NewsmonError(
            f"{path}: cannot write the change ({exc.strerror or exc}); the file is as it was"
        ) from exc
