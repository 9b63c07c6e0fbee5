"""Print matches: one JSON object a line, or a table for people. Does I/O (writes to a stream).

`newsmon rules test` and `newsmon check` print the same formats. Feed text reaches a terminal
here, so every cell and JSON string goes through `strip_controls` (no ESC, OSC or NUL from a
feed moves the cursor, retitles the terminal or hides a link). In tables, each field also has the
bidi controls it opens closed at its end (`confine_bidi`), and so has each line of a cell: a
terminal that lays out bidi text does so line by line, and a cell's lines share theirs with the
cells beside it, so an RLO in a title would reverse the rest of its row. JSON is data: as it came.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from monitor.controls import (
    Open,
    bidi_steps,
    closers,
    confine_bidi,
    has_bidi_controls,
    strip_controls,
    strip_controls_deep,
)
from monitor.model import Explanation, Item, Match, Rule
from monitor.plural import counted
from monitor.query.explain import HeldBack

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.measure import Measurement
    from rich.segment import Segment
    from rich.table import Table


def _item_json(item: Item) -> dict[str, Any]:
    # `feed` and `item_key` name the item to `newsmon feedback` and `rules tune --like` as
    # FEED/ITEM_KEY: for an item only in the archive, nothing else shows its key.
    return {
        "title": item.title,
        "url": item.url or item.link,
        "feed": item.feed_id,
        "item_key": item.key,
        "published": item.published.isoformat() if item.published else None,
    }


def match_json(item: Item, match: Match) -> dict[str, Any]:
    """`{"rule", "item": {"title", "url", "feed", "item_key", "published"}, "explanation",
    "snippet"}`."""
    return {
        "rule": match.rule.id,
        "item": _item_json(item),
        "explanation": match.explanation.to_json(),
        "snippet": match.snippet,
    }


HeldRow = tuple[Item, Rule, HeldBack]


def held_back_json(item: Item, rule: Rule, held: HeldBack) -> dict[str, Any]:
    """`{"kind": "held_back", "rule", "item", "held_back": {"by": [{"clause", "tripped"}],
    "positive"}}`: the exclusions that vetoed the rule (each `NOT` clause as written, and the
    clauses and words of the item that made it true) and what the positive part matched
    (`tripped` and `positive` are shaped like a match's `explanation`)."""
    return {
        "kind": "held_back",
        "rule": rule.id,
        "item": _item_json(item),
        "held_back": held_json(held),
    }


def held_json(held: HeldBack) -> dict[str, Any]:
    """`{"by": [{"clause", "tripped"}], "positive"}` (see `held_back_json`)."""
    return {
        "by": [{"clause": v.clause, "tripped": v.tripped.to_json()} for v in held.vetoes],
        "positive": held.positive.to_json(),
    }


STAMP_WIDTH = len("2026-01-31 23:59 UTC")


def stamp(when: datetime | None, missing: str = "-") -> str:
    """A time as every table prints it (check, feeds, stories, deliveries): UTC, to the minute,
    with its zone, so that times from different lists can be compared at a glance."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else missing


def columns(rows: list[list[str]], header: list[str]) -> list[str]:
    """Plain text columns as wide as their widest cell (never cut: ids must copy whole); the
    last column is left ragged."""
    table = [[confine_bidi(strip_controls(cell)) for cell in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    out = []
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  ".join([*cells, row[-1]]).rstrip())
    return out


def print_json_lines(
    items_and_matches: Iterable[tuple[Item, Match]],
    stream: TextIO,
    held: Iterable[HeldRow] = (),
) -> int:
    """One JSON object a line per (item, match), then one per held-back (item, rule) (see
    `held_back_json`); returns how many matches were printed."""
    count = 0
    for item, match in items_and_matches:
        line = json.dumps(strip_controls_deep(match_json(item, match)), ensure_ascii=False)
        stream.write(line + "\n")
        count += 1
    for item, rule, why in held:
        obj = held_back_json(item, rule, why)
        stream.write(json.dumps(strip_controls_deep(obj), ensure_ascii=False) + "\n")
    return count


def why_lines(match: Match) -> list[str]:
    """The table's "why": the clauses that made the rule match, then how many exclusions (its
    `NOT` clauses, true because their words are absent) held, then the words found. The
    exclusions are counted, not printed: a rule written for real news has many, and printed
    whole they buried the clause that matched (`--json` keeps every clause)."""
    return _why(match.explanation)


def _why(why: Explanation, clip: int | None = None) -> list[str]:
    clauses = why.clauses
    kept = [c for c in clauses if not c.startswith("NOT ")]
    lines = kept or list(clauses)  # a rule of exclusions alone: show them
    held = len(clauses) - len(lines)
    if clip is not None:
        lines = [clipped(c, clip) for c in lines]
    if held:
        lines.append(f"(+{counted(held, 'exclusion')} held)")
    if why.hits:
        lines.append("words: " + words(why))
    return lines


def words(why: Explanation) -> str:
    """The words found, each once: `troops (title), sent (summary)`."""
    seen = dict.fromkeys(f"{confine_bidi(h.word)} ({h.field})" for h in why.hits)
    return ", ".join(seen)


CLAUSE_MAX = 160


def clipped(clause: str, limit: int = CLAUSE_MAX) -> str:
    """A clause on one line (a rule file folds its query over several) and, past `limit`
    characters, cut at a space with `…` (`--json` keeps it whole)."""
    flat = " ".join(clause.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit - 1] + " …"


def held_lines(held: HeldBack) -> tuple[list[str], list[str]]:
    """The held-back table's two cells: each exclusion that vetoed (its clause, then the
    item's words that tripped it), and what the positive part matched (as `why_lines`)."""
    by: list[str] = []
    for v in held.vetoes:
        by.append(clipped(v.clause))
        if v.tripped.hits:
            by.append("words: " + words(v.tripped))
    return by, _why(held.positive, CLAUSE_MAX)


def _marked(snippet: str) -> str:
    """The snippet with `**word**` shown in bold (feed text is escaped, never read as markup).
    Each piece is escaped on its own, before our tags are put around it: escaping the whole
    and then splitting left a piece ending in `\\` in front of a `[bold]`."""
    parts = confine_bidi(strip_controls(snippet)).split("**")
    last = len(parts) - 1
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"[bold]{_before_tag(part)}[/bold]")
        else:
            out.append(_before_tag(part) if i < last else _escape(part))
    return "".join(out)


def _escape(text: str) -> str:
    """Feed text for a table cell: no control sequence, no markup."""
    from rich.markup import escape as escape_markup

    return escape_markup(confine_bidi(strip_controls(text)))


def _before_tag(text: str) -> str:
    """`_escape(text)` for a place one of our tags follows. rich reads a run of backslashes in
    front of a tag as escapes (an odd run makes the tag text) and its `escape` leaves a run of
    two or more at the end as it is: `x\\\\\\` before `[bold]` showed the tag as text, and the
    `[/bold]` after it closed nothing (MarkupError, a traceback). Doubled, the run prints as
    written and the tag stays a tag."""
    text = confine_bidi(strip_controls(text))
    stem = text.rstrip("\\")
    return _escape(stem) + "\\" * (2 * (len(text) - len(stem)))


class _Lines:
    """A table cell (rich markup) drawn with the bidi controls of each of its lines closed at
    the line's end: a bidi terminal reads each line as a paragraph, and a cell shares its lines
    with the cells beside it. A field that wraps opens on one line and closes on another."""

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        lines = console.render_lines(self.markup, options, pad=False)
        for index, line in enumerate(lines):
            if index:
                yield Segment.line()
            yield from _confined_line(line)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        from rich.measure import Measurement

        return Measurement.get(console, options, self.markup)


def _confined_line(line: list[Segment]) -> list[Segment]:
    """`line` with `confine_bidi` applied to its text as a whole, each segment keeping its style."""
    if not any(has_bidi_controls(segment.text) for segment in line):
        return line
    from rich.segment import Segment

    steps = list(bidi_steps("".join(segment.text for segment in line)))
    out, at = [], 0
    last: Open | None = None
    for segment in line:
        pieces = steps[at : at + len(segment.text)]
        at += len(segment.text)
        if pieces:
            last = pieces[-1][1]
        out.append(Segment("".join(p for p, _ in pieces), segment.style, segment.control))
    out.append(Segment(closers(last)))
    return out


def _table(*columns: str) -> Table:
    from rich.table import Table

    table = Table(show_lines=True)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def _console(stream: TextIO) -> Console:
    """The console a table of feed text prints on. emoji=False: rich would turn `:fire:` in a
    feed's title into an emoji (markup is escaped, emoji codes are not); feed text prints as
    written. It also spares the emoji table. rich costs about 30 ms to import: only a run that
    draws a table pays for it."""
    from rich.console import Console

    class TableConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 here, grep's "nothing matched"; `main` ends a closed pipe with 141
            self.quiet = True
            raise BrokenPipeError

    width = max(100, Console(file=stream).width)
    return TableConsole(file=stream, soft_wrap=False, width=width, emoji=False)


def print_matches(
    items_and_matches: Iterable[tuple[Item, Match]],
    stream: TextIO,
    *,
    feed_names: Mapping[str, str] | None = None,
    remark: Callable[[Item], str | None] | None = None,
) -> int:
    """A table: rule, severity, item title and feed, the words that matched, the snippet.

    `feed_names` maps feed ids to the feed's own title (shown instead of the id, which may be
    derived from a file name); `remark` adds a line under an item (what the daemon would do)."""
    rows = list(items_and_matches)
    if not rows:
        return 0
    console = _console(stream)
    table = _table("rule", "item", "why", "snippet")
    for item, match in rows:
        when = stamp(item.published, "")
        feed = (feed_names or {}).get(item.feed_id) or item.feed_id
        head = f"[bold]{_before_tag(item.title or '(untitled)')}[/bold]\n{_escape(feed)} {when}"
        if item.url or item.link:
            head += f"\n{_escape(item.url or item.link or '')}"
        note = remark(item) if remark is not None else None
        if note:
            head += f"\n[italic]{_before_tag(note)}[/italic]"
        why = "\n".join(_escape(line) for line in why_lines(match))
        rule = f"{_escape(match.rule.id)}\n{match.rule.severity}"
        # on a terminal the matched words are bold; elsewhere their ** marks stay visible
        text = _marked(match.snippet) if console.is_terminal else _escape(match.snippet)
        table.add_row(*map(_Lines, (rule, head, why, text)))
    console.print(table)
    return len(rows)


def print_held_back(
    rows: Iterable[HeldRow],
    stream: TextIO,
    *,
    feed_names: Mapping[str, str] | None = None,
) -> int:
    """The rules an exclusion held back from an item, under a heading: rule, item, the
    exclusions that vetoed (with the words that tripped them), what the positive part matched.
    Feed text is escaped as in `print_matches`."""
    rows = list(rows)
    if not rows:
        return 0
    console = _console(stream)
    n = len(rows)
    stream.write(
        f"\nheld back by an exclusion ({n}): the rule's positive part matched, a NOT clause "
        "vetoed it\n"
    )
    stream.flush()
    table = _table("rule", "item", "held back by", "positive part matched")
    for item, rule, held in rows:
        feed = (feed_names or {}).get(item.feed_id) or item.feed_id
        head = f"[bold]{_before_tag(item.title or '(untitled)')}[/bold]\n{_escape(feed)}"
        when = stamp(item.published, "")
        if when:
            head += f" {when}"
        if item.url or item.link:
            head += f"\n{_escape(item.url or item.link or '')}"
        by, positive = held_lines(held)
        cells = (
            f"{_escape(rule.id)}\n{rule.severity}",
            head,
            "\n".join(_escape(line) for line in by),
            "\n".join(_escape(line) for line in positive),
        )
        table.add_row(*map(_Lines, cells))
    console.print(table)
    return n
