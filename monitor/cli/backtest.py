"""`newsmon rules backtest`: the rules over the archived items, as the daemon would have run them.
Does I/O (reads the rules, streams the archive from the store, writes the report).

The archive is read in batches of `BATCH` rows (one batch in memory at a time) and each item is
matched by `monitor.pipeline.backtest` with the same rule set and index the daemon uses. `--json`
prints the objects `rules test --json` prints, one a line, as they are found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TextIO

from monitor.cli.common import (
    STDERR,
    add_config_args,
    feed_tags,
    ids_shown,
    load_config_from_args,
    no_such_rules,
    store_exists,
)
from monitor.cli.render import clipped, held_json, match_json, print_matches, words
from monitor.controls import strip_controls, strip_controls_deep
from monitor.durations import format_duration, parse_duration
from monitor.errors import NewsmonError, close_match, did_you_mean
from monitor.feedback.labels import in_force
from monitor.feedback.score import ItemRef, RuleScore, score_rules
from monitor.model import ArchivedItem, Item, Label, Rule
from monitor.pipeline.archive import BODY_BYTES, TITLE_BYTES, cut_short
from monitor.pipeline.backtest import (
    Found,
    RuleTally,
    bucketed,
    buckets,
    diff_matches,
    matches,
    sparkline,
    tally,
)
from monitor.plural import counted
from monitor.query.explain import HeldBack
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet
from monitor.store.roles import Archive

BATCH = 2000
TEXT_LIMIT = 5  # matches shown per rule on a terminal unless --limit says otherwise
CHART_WIDTH = 60  # columns: a longer span is charted in buckets of several days
PROGRESS_MIN = 20_000  # items: a shorter run needs no progress line
RATE_MIN = 1000  # items: a shorter run's rate says nothing

EPILOG = """\
examples:
  newsmon rules backtest                          every rule over the whole archive
  newsmon rules backtest --rule troop-dispatch --since 30d --limit 20
  newsmon rules backtest --query 'troops NEAR/5 (send OR deploy*)' --feed reuters-world
  newsmon rules backtest --diff rules-edited/     what the edited folder gains and loses
  newsmon rules backtest --json | jq -r .item.title
  newsmon archive import snapshots/               load feed files you have, then backtest
  newsmon rules backtest --labels                 precision, recall and misses per rule

Per rule: matches, the alerts it would have sent (one per story, as the daemon dedups), a chart
of matches per day of first sight (several days a column past 60 days), and its newest --limit
matches with why they matched. --diff NEW_DIR runs the rules of --rules (the config's folder
by default) and of NEW_DIR over the same items and shows, per rule id, the items NEW_DIR gains
and loses.
--json prints the objects of `rules test --json`, one a line (with --diff each also has
"change": "gained" or "lost").
--labels adds, per rule, precision and recall against the labels of `newsmon feedback` (the
newest per item and rule), and lists its misses: items labelled relevant for it that it did not
match (with --json: one object a rule, instead of the matches).
The archive fills as newsmon polls (archive_retention, default the retention) or from
`newsmon archive import`.
exit codes: 0 something matched (with --diff: something changed), 1 nothing, 2 an error
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "backtest",
        help="run the rules over the archived items: matches, alerts, per day, edits",
        description="Run the rules over the items newsmon archived, as the daemon would have.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(parser)
    parser.add_argument("--rule", metavar="ID", action="append", help="only this rule (repeatable)")
    parser.add_argument(
        "--query", metavar="QUERY", help="an ad hoc query instead of the rules (rule id `query`)"
    )
    parser.add_argument(
        "--since",
        metavar="DURATION",
        help="only items first seen this long ago or later, e.g. 30d (default: the whole archive)",
    )
    parser.add_argument(
        "--feed", metavar="ID", action="append", help="only items of this feed (repeatable)"
    )
    parser.add_argument(
        "--diff", metavar="NEW_DIR", help="show what the rules in NEW_DIR gain and lose"
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        type=int,
        help=f"matches shown per rule (default {TEXT_LIMIT}; with --json all)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object a match and line")
    parser.add_argument(
        "--labels",
        action="store_true",
        help="precision and recall per rule against the feedback labels, and each rule's misses",
    )
    parser.set_defaults(func=cmd_backtest)


@dataclass
class Scan:
    """What was read: items, their first-seen span, and the time spent reading."""

    items: int = 0
    first: date | None = None
    last: date | None = None
    reading_s: float = 0.0
    cut: int = 0  # items the archive may have cut short (monitor.pipeline.archive.cut_short)


def archive_batches(
    store: Archive,
    scan: Scan,
    since: datetime | None,
    feeds: Sequence[str] | None,
    progress: TextIO | None = None,
    total: int = 0,
    batch_size: int = BATCH,
) -> Iterator[list[ArchivedItem]]:
    """The archived items in batches, counting them into `scan`."""
    after = 0
    while True:
        started = time.perf_counter()
        rows = store.read_archive(after, batch_size, since=since, feeds=feeds)
        scan.reading_s += time.perf_counter() - started
        if not rows:
            break
        after = rows[-1][0]
        batch = [a for _, a in rows]
        scan.items += len(batch)
        scan.cut += sum(map(cut_short, batch))
        days = [a.first_seen.date() for a in batch]
        lo, hi = min(days), max(days)
        scan.first = lo if scan.first is None else min(scan.first, lo)
        scan.last = hi if scan.last is None else max(scan.last, hi)
        if progress is not None:
            progress.write(f"\rbacktest: {scan.items:,} of about {counted(total, 'item')}")
            progress.flush()
        yield batch
    if progress is not None:
        progress.write("\r\033[K")
        progress.flush()


class UnknownFeed(NewsmonError):
    """`--feed` naming a feed the archive holds no item of: the backtest read nothing and said
    only "0 items". `missing`: those ids as given; `known`: the archive's feeds."""

    def __init__(self, missing: Sequence[str], known: Sequence[str]) -> None:
        self.missing = list(missing)
        self.known = list(known)
        hint = did_you_mean(missing, known)
        shown = ids_shown(self.known)
        feeds = ("feed " if len(missing) == 1 else "feeds ") + ", ".join(map(repr, missing))
        super().__init__(
            f"--feed: the archive holds no item of {feeds}{hint} (it holds items of "
            f"{counted(len(known), 'feed')}: {shown})"
        )


def _check_feeds(store: Archive, feeds: Sequence[str] | None) -> None:
    """Raise UnknownFeed when a --feed names a feed with no archived item (a typo, or a feed's
    title for its id)."""
    if not feeds:
        return
    known = store.archived_feeds()
    held = set(known)
    missing = [f for f in dict.fromkeys(feeds) if f not in held]
    if missing:
        raise UnknownFeed(missing, known)


def _rules(args: argparse.Namespace, folder: str, named_by: str) -> tuple[RuleSet, set[str]]:
    """The rules to run, and the ids of every rule of the folder (none for --query)."""
    if args.query is not None:
        query = RuleSet.from_rules([Rule(id="query", name="ad hoc query", query=args.query)])
        return query, set()
    ruleset = load_rules(folder, named_by=named_by)
    ids = set(ruleset.rules)
    if args.rule:
        missing = [r for r in args.rule if r not in ruleset.rules]
        if missing:
            raise no_such_rules(missing, list(ruleset.rules), folder)
        ruleset = ruleset.select(args.rule)
    return ruleset, ids


def cmd_backtest(args: argparse.Namespace) -> int:
    from monitor.store import open_store

    config = load_config_from_args(args)
    if args.query is not None and (args.rule or args.diff):
        raise NewsmonError("--query is a rule of its own: use it without --rule and --diff")
    if args.labels and args.diff:
        raise NewsmonError("--labels measures one rules folder: use it without --diff")
    if args.limit is not None and args.limit < 0:
        raise NewsmonError("--limit must be 0 or more")
    folder = args.rules or config.rules
    ruleset, folder_ids = _rules(args, folder, config.rules_named_by(args.rules))
    other = _rules(args, args.diff, "given by --diff")[0] if args.diff else None
    since = None
    if args.since:
        try:
            since = datetime.now(UTC) - parse_duration(args.since)
        except ValueError as exc:
            raise NewsmonError(f"--since: {exc}") from exc
        except OverflowError:  # before the year 1: every item is that recent
            since = None
    if not store_exists(config):
        return _empty(config.database_url, args)
    store = open_store(config.database_url, timeout=config.database_timeout)
    try:
        total = store.count_archive()
        if total == 0:
            return _empty(config.database_url, args)
        _check_feeds(store, args.feed)
        tags = feed_tags(config, store)
        scan = Scan()
        progress, reading = None, total
        if STDERR.isatty():
            # what this run reads: --since and --feed can leave a small part of the archive
            if since is not None or args.feed:
                reading = store.count_archive(since=since, feeds=args.feed)
            progress = STDERR if reading >= PROGRESS_MIN else None
        batches = archive_batches(store, scan, since, args.feed, progress, reading)
        measured = Measured(in_force(store.list_labels()), ruleset, tags) if args.labels else None
        if measured is not None:
            batches = measured.scanning(batches)
        started = time.perf_counter()
        found = (
            diff_matches(batches, ruleset, other, tags)
            if other is not None
            else matches(batches, ruleset.match, tags)
        )
        if measured is not None:
            found = measured.matching(found)
        limit = args.limit if args.limit is not None else (None if args.json else TEXT_LIMIT)
        ids = sorted(set(ruleset.rules) | (set(other.rules) if other is not None else set()))
        enabled = [i for i in ids if _enabled(ruleset, i) or (other and _enabled(other, i))]
        if args.json and measured is not None:
            count = sum(1 for _ in found)
            for line in measured.json_lines(enabled):
                sys.stdout.write(line + "\n")
            _note_cut(scan, sys.stderr, "note: ")
            measured.note_unknown(folder_ids, folder, sys.stderr, "note: ")
            return 0 if count else 1
        if args.json:
            printed = _print_json(found, limit, sys.stdout)
            _note_cut(scan, sys.stderr, "note: ")
            return 0 if printed else 1
        tallies = tally(found, enabled, limit)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    disabled = [i for i in ids if i not in enabled]  # not run (`--rule ID` runs one)
    _report(tallies, scan, args, folder, seconds, sys.stdout, total, disabled)
    if measured is not None:
        measured.report(enabled, sys.stdout)
        measured.note_unknown(folder_ids, folder, sys.stdout, "  ")
    return 0 if any(t.matches for t in tallies) else 1


class Measured:
    """Precision and recall per rule against the labels in force (`monitor.feedback.score`):
    notes which items the backtest read and which each rule matched as they stream past."""

    def __init__(
        self,
        labels: Mapping[tuple[str, str, str], Label],
        ruleset: RuleSet | None = None,
        feed_tags: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.labels = labels
        # Only labelled items are kept (a score reads no other); the rest of a rule's matches
        # are counted, so memory follows the labels, not the archive.
        self.scope: set[ItemRef] = set()
        self.matched: dict[str, set[ItemRef]] = {}
        self.unlabelled: Counter[str] = Counter()
        self.titles = {(f, k): x.title for (f, k, _), x in labels.items() if x.title}
        self._labelled = {(f, k) for (f, k, _) in labels}
        # The rules each item is labelled relevant for: a miss among them may have been held
        # back by an exclusion, worked out as the item streams past (labelled items only).
        self._wanted: dict[ItemRef, set[str]] = {}
        for (f, k, rule), label in labels.items():
            if rule and label.relevant:
                self._wanted.setdefault((f, k), set()).add(rule)
        self._ruleset = ruleset
        self._tags = feed_tags or {}
        self.held: dict[tuple[ItemRef, str], HeldBack] = {}

    def scanning(self, batches: Iterator[list[ArchivedItem]]) -> Iterator[list[ArchivedItem]]:
        for batch in batches:
            for a in batch:
                ref = (a.feed_id, a.key)
                if ref not in self._labelled:
                    continue
                self.scope.add(ref)
                if a.title:
                    self.titles[ref] = a.title
                wanted = self._wanted.get(ref)
                if wanted and self._ruleset is not None:
                    # Whether the rule fired is known later; a rule that matched is not held
                    # back (its exclusions held), and only misses are shown.
                    tags = self._tags.get(a.feed_id, ())
                    for rule, why in self._ruleset.held_back(a.to_item(), (), tags, wanted):
                        self.held[(ref, rule.id)] = why
            yield batch

    def matching(self, found: Iterator[Found]) -> Iterator[Found]:
        for f in found:
            ref = (f.item.feed_id, f.item.key)
            if ref in self._labelled:
                self.matched.setdefault(f.match.rule.id, set()).add(ref)
            else:
                self.unlabelled[f.match.rule.id] += 1
            yield f

    def scores(self, rule_ids: Sequence[str]) -> list[RuleScore]:
        scores = score_rules(rule_ids, self.matched, self.labels, self.scope)
        return [replace(s, unlabelled=s.unlabelled + self.unlabelled[s.rule]) for s in scores]

    def json_lines(self, rule_ids: Sequence[str]) -> Iterator[str]:
        for s in self.scores(rule_ids):
            obj = {
                "rule": s.rule,
                "precision": s.precision,
                "recall": s.recall,
                "true_positives": len(s.true_positives),
                "false_positives": [self._ref_json(r) for r in s.false_positives],
                "misses": [self._miss_json(r, s.rule) for r in s.misses],
                "unlabelled_matches": s.unlabelled,
                "labelled_outside": s.outside,
            }
            yield json.dumps(strip_controls_deep(obj), ensure_ascii=False)

    def _ref_json(self, ref: ItemRef) -> dict[str, str]:
        return {"feed": ref[0], "item_key": ref[1], "title": self.titles.get(ref, "")}

    def _miss_json(self, ref: ItemRef, rule: str) -> dict[str, Any]:
        """A miss; one an exclusion held back adds `held_back`, shaped as in `rules test`."""
        out: dict[str, Any] = dict(self._ref_json(ref))
        why = self.held.get((ref, rule))
        if why is not None:
            out["held_back"] = held_json(why)
        return out

    def report(self, rule_ids: Sequence[str], out: TextIO) -> None:
        out.write(
            f"\nagainst {counted(len(self.labels), 'label')} in force (`newsmon feedback`):\n"
        )
        if not self.labels:
            out.write("  no labels yet: `newsmon feedback ALERT_OR_ITEM --relevant` adds them\n")
            return
        for s in self.scores(rule_ids):
            tp, fp, fn = len(s.true_positives), len(s.false_positives), len(s.misses)
            out.write(
                f"  {s.rule}: precision {_pct(s.precision)} ({tp} of {tp + fp} labelled "
                f"matches), recall {_pct(s.recall)} ({tp} of {tp + fn} labelled relevant); "
                f"{counted(s.unlabelled, 'match', 'matches')} unlabelled\n"
            )
            for ref in s.misses:
                out.write(
                    f"    missed {ref[0]}/{ref[1]}  {strip_controls(self.titles.get(ref, ''))}\n"
                )
                why = self.held.get((ref, s.rule))
                if why is not None:
                    for veto in why.vetoes:
                        line = f"held back by {clipped(veto.clause)}"
                        if veto.tripped.hits:
                            line += f" (words: {words(veto.tripped)})"
                        out.write(f"      {strip_controls(line)}\n")
            for ref in s.false_positives:
                out.write(
                    f"    unwanted {ref[0]}/{ref[1]}  {strip_controls(self.titles.get(ref, ''))}\n"
                )
            if s.outside:
                out.write(
                    f"    ({s.outside:,} labelled relevant outside these items: "
                    "--since, --feed or not archived)\n"
                )

    def note_unknown(self, known: Collection[str], folder: str, out: TextIO, lead: str) -> None:
        """Name the rules labels in force are for that the folder does not have (a rule renamed
        since, or removed): no score reads them, which the report would not show otherwise."""
        if not known:  # --query: its one rule is no rule of the folder
            return
        counts = Counter(r for (_, _, r) in self.labels if r and r not in known)
        if not counts:
            return
        shown = []
        for rule, n in sorted(counts.items()):
            close = close_match(rule, known)
            shown.append(f"{rule!r} ({n}{f', did you mean {close!r}?' if close else ''})")
        more = f" and {len(shown) - 10:,} more" if len(shown) > 10 else ""
        labels = counted(counts.total(), "label in force is", "labels in force are")
        out.write(
            f"{lead}{labels} for rules not in {folder}, which no score reads:"
            f" {', '.join(shown[:10])}{more} (a renamed rule's labels keep its old id)\n"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _enabled(ruleset: RuleSet, rule_id: str) -> bool:
    rule = ruleset.rules.get(rule_id)
    return rule is not None and rule.enabled


def _empty(url: str, args: argparse.Namespace) -> int:
    print(
        "newsmon: the archive is empty: newsmon archives every new item it polls (for "
        "archive_retention, by default the retention), or load feed files you have with "
        "`newsmon archive import FILE_OR_DIR`",
        file=sys.stderr,
    )
    return 1


def _print_json(found: Iterator[Found], limit: int | None, stream: TextIO) -> int:
    printed: dict[tuple[str, str | None], int] = {}
    count = 0
    for f in found:
        key = (f.match.rule.id, f.change)
        if limit is not None and printed.get(key, 0) >= limit:
            continue
        printed[key] = printed.get(key, 0) + 1
        obj = match_json(f.item, f.match)
        if f.change is not None:
            obj["change"] = f.change
        stream.write(json.dumps(strip_controls_deep(obj), ensure_ascii=False) + "\n")
        count += 1
    return count


def _report(
    tallies: list[RuleTally],
    scan: Scan,
    args: argparse.Namespace,
    folder: str,
    seconds: float,
    out: TextIO,
    total: int = 0,
    disabled: Sequence[str] = (),
) -> None:
    where = "the query" if args.query is not None else folder
    what = f"{args.diff} against {folder}" if args.diff else where
    filters = []
    if args.since:
        filters.append(f"since {format_duration(parse_duration(args.since))} ago")
    if args.feed:
        filters.append("feeds " + ", ".join(args.feed))
    more = f" ({'; '.join(filters)})" if filters else ""
    if scan.first is not None:
        span = f"first seen {scan.first} .. {scan.last}"
        items = counted(scan.items, "archived item")
        out.write(f"backtest of {what}: {items}{more}, {span}\n")
        _note_cut(scan, out, "  ")
    else:  # --since or --feed left nothing of what the archive holds
        held = f" of the {total:,} the archive holds" if total else ""
        out.write(f"backtest of {what}: no archived items{more}{held}\n")
    quiet = [t.rule_id for t in tallies if not t.matches]
    for t in tallies:
        if not t.matches:
            continue
        if args.diff:
            gained, lost = t.changes["gained"], t.changes["lost"]
            out.write(f"\n{t.rule_id}: {gained:,} gained, {lost:,} lost\n")
        else:
            out.write(
                f"\n{t.rule_id}: {counted(t.matches, 'match', 'matches')}, "
                f"{counted(t.alerts, 'alert')} (one a story)\n"
            )
        if scan.first is not None and scan.last is not None:
            out.write(_chart(t, scan.first, scan.last) + "\n")
        changes = {id(f.item): f.change for f in t.shown}
        print_matches(
            [(f.item, f.match) for f in t.shown],
            out,
            remark=changes_of(changes) if args.diff else None,
        )
        hidden = t.matches - len(t.shown)
        if hidden > 0:
            out.write(f"  ... {hidden:,} more (--limit N shows more, --json all)\n")
    if quiet:
        label = "unchanged" if args.diff else "no match"
        out.write(f"\n{label}: {', '.join(quiet)}\n")
    if disabled:
        out.write(f"\ndisabled, not run (`--rule ID` runs one): {', '.join(disabled)}\n")
    if scan.items >= RATE_MIN and seconds > 0:
        rate = f"{scan.items / seconds:,.0f} items/s"
        share = f"{scan.reading_s / seconds:.0%}"
        out.write(f"\n{scan.items:,} items in {seconds:.1f} s ({rate}, {share} of it reading)\n")


def _note_cut(scan: Scan, out: TextIO, lead: str) -> None:
    """Say how many items the archive kept only the start of: a backtest can differ there from
    what the daemon matched on the whole item."""
    if scan.cut:
        out.write(
            f"{lead}{counted(scan.cut, 'item was', 'items were')} archived cut to "
            f"{BODY_BYTES // 1024} KB of text ({TITLE_BYTES // 1024} KB of title): words past "
            "that, which the daemon matched, are not matched here\n"
        )


def changes_of(changes: Mapping[int, str | None]) -> Callable[[Item], str | None]:
    """The remark under an item of a diff's table: whether the new rules gain or lose it."""
    return lambda item: changes.get(id(item))


def _chart(t: RuleTally, first: date, last: date) -> str:
    size, starts = buckets(first, last, CHART_WIDTH)
    line = sparkline(bucketed(t.per_day, size, starts), starts)
    unit = "per day" if size == 1 else f"per {size} days"
    busiest = max(t.per_day.items(), key=lambda kv: (kv[1], kv[0]))
    return f"  {unit}: {first} |{line}| {last}   busiest day {busiest[0]}: {busiest[1]}"
