"""Remove terminal control characters from text that came from outside (a feed, a receiver), and
confine its bidi controls to the field they came in (`confine_bidi`). Pure.

A feed title can carry ESC and OSC sequences (`\\x1b]0;...\\x07` retitles a terminal, `\\x1b[2J`
clears it, OSC 8 makes a hidden link), a NUL, or a C1 control (U+009B is a one-character CSI to
some terminals). Feed text is stored as it came, and cleaned where it leaves newsmon: the CLI's
tables and JSON, the console log renderer, and the alert documents sent to every channel.

C0 (U+0000-U+001F) except tab and newline, DEL (U+007F) and C1 (U+0080-U+009F) are removed;
everything else, including every printable character of every script, is kept. Removing ESC
leaves the rest of a sequence (`[2J`) as inert text.

`unstorable` finds what no store keeps (a NUL, a lone surrogate) in text a user gives, which is
refused where it is given rather than stripped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Final

__all__ = [
    "BIDI_CONTROLS",
    "bidi_steps",
    "closers",
    "confine_bidi",
    "has_bidi_controls",
    "map_strings",
    "printable_only",
    "strip_controls",
    "strip_controls_deep",
    "unstorable",
    "unstorable_char",
]

_KEPT: Final = frozenset({"\t", "\n"})
_REMOVE: Final[dict[int, None]] = {
    code: None for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(code) not in _KEPT
}


def printable_only(text: str) -> str:
    """`text` with every character that is not printable removed: controls, tabs and line
    breaks, bidi and other format characters. For a server's short reply quoted in a reason."""
    if text.isprintable():
        return text
    return "".join(c for c in text if c.isprintable())


def strip_controls(text: str) -> str:
    """`text` without C0 controls (but tab and newline), DEL and C1 controls."""
    if text.isprintable():  # the common case, and C-speed: no control character in it
        return text
    return text.translate(_REMOVE)


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with `change` applied to every string in it, through dicts (values, not keys),
    lists and tuples; other values as they are."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(map_strings(item, change) for item in value)
    return value


def strip_controls_deep(value: Any) -> Any:
    """`value` with `strip_controls` applied to every string in it (see `map_strings`)."""
    return map_strings(value, strip_controls)


# Bidirectional controls (Unicode Bidirectional Algorithm, UAX #9). An embedding (LRE, RLE), an
# override (LRO, RLO) or an isolate (LRI, RLI, FSI) left open by a feed's title runs on over
# whatever a renderer lays out after it in the same paragraph: an HTML message is one paragraph,
# so an unclosed RLO showed newsmon's own words and the other fields reversed. `confine_bidi`
# closes what a field opens, at its end, so feed text directs only itself. LRM, RLM, ALM and the
# letters of every script are not controls of this kind and are kept as they are.
LRE, RLE, PDF, LRO, RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
BIDI_CONTROLS: Final = frozenset({LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI})
MAX_DEPTH: Final = 125  # UAX #9 BD2: the deepest embedding level
_RTL_OPENERS: Final = frozenset({RLE, RLO, RLI})
_ISOLATES: Final = frozenset({LRI, RLI, FSI})
# Paragraph separators (bidi class B): the algorithm ends every embedding at one; a renderer
# that lays lines out as one paragraph (HTML) does not, so what is open is closed before it.
_PARAGRAPH: Final = frozenset("\n\r\x1c\x1d\x1e\x85\u2029")
_STRONG_RTL: Final = frozenset({"R", "AL"})


class Open:
    """One entry of the stack of open embeddings and isolates, with those under it. Immutable:
    each prefix of a text keeps the stack it leaves open (`bidi_steps`)."""

    __slots__ = ("below", "count", "isolate", "kept", "level")

    def __init__(self, isolate: bool, kept: bool, level: int, below: Open | None) -> None:
        self.isolate = isolate
        self.kept = kept  # within MAX_DEPTH: it stays in the text and its closer is written
        self.level = level
        self.below = below
        self.count: int = kept + (below.count if below is not None else 0)  # closers needed


def closers(top: Open | None, until: Open | None = None) -> str:
    """What closes the entries open at `top` (down to `until`, not included), innermost first."""
    out = []
    while top is not None and top is not until:
        if top.kept:
            out.append(PDI if top.isolate else PDF)
        top = top.below
    return "".join(out)


def has_bidi_controls(text: str) -> bool:
    return not text.isascii() and not BIDI_CONTROLS.isdisjoint(text)


def _fsi_directions(text: str) -> dict[int, bool]:
    """For each FSI (by index), whether it opens right-to-left: whether its first strong
    character before its matching PDI, nested isolates skipped, is R or AL (UAX #9 P2, P3)."""
    import unicodedata

    rtl: dict[int, bool] = {}
    pending: list[int] = []  # open isolate initiators: an FSI's index, -1 for any other
    for i, ch in enumerate(text):
        if ch in _ISOLATES:
            pending.append(i if ch == FSI else -1)
        elif ch == PDI:
            if pending:
                pending.pop()
        elif ch in _PARAGRAPH:
            pending.clear()
        elif pending and pending[-1] >= 0:
            kind = unicodedata.bidirectional(ch)
            if kind == "L" or kind in _STRONG_RTL:
                rtl[pending[-1]] = kind in _STRONG_RTL
                pending[-1] = -1  # decided
    return rtl


def bidi_steps(text: str) -> Iterator[tuple[str, Open | None]]:
    """For each character of `text`: what stands for it in the confined text, and the stack
    left open after it.

    A character stands for itself, or for nothing: a closer that closes nothing open, and an
    opener past MAX_DEPTH (the algorithm ignores it) with its closer. A paragraph separator is
    preceded by the closers of what is open. A PDI closes the embeddings opened inside its
    isolate (UAX #9 X6a); their PDFs are written before it, for a renderer without isolates.
    Pairing follows UAX #9 X1-X8 (levels counted from a left-to-right paragraph; pairing does
    not depend on them, so a kept opener is closed whatever level a renderer starts from)."""
    fsi = _fsi_directions(text) if FSI in text else {}
    top: Open | None = None
    for i, ch in enumerate(text):
        if ch in BIDI_CONTROLS:
            if ch == PDF:
                if top is None or top.isolate:
                    yield "", top  # no embedding of its isolate open: it closes nothing (X7)
                else:
                    out = PDF if top.kept else ""
                    top = top.below
                    yield out, top
            elif ch == PDI:
                entry = top
                while entry is not None and not entry.isolate:
                    entry = entry.below
                if entry is None:
                    yield "", top  # no isolate open: it closes nothing (X6a)
                else:
                    out = closers(top, entry.below)  # ends in this PDI when the isolate is kept
                    top = entry.below
                    yield out, top
            else:
                level = top.level if top is not None else 0
                rtl = ch in _RTL_OPENERS or fsi.get(i, False)
                level = (level + 1) | 1 if rtl else (level + 2) & ~1  # next odd, next even
                kept = (top is None or top.kept) and level <= MAX_DEPTH
                top = Open(ch in _ISOLATES, kept, level, top)
                yield (ch if kept else ""), top
        elif ch in _PARAGRAPH and top is not None:
            yield closers(top) + ch, None
            top = None
        else:
            yield ch, top


def confine_bidi(text: str) -> str:
    """`text` with every embedding, override and isolate it opens closed at its end (and
    before a paragraph separator), and each closer that closes nothing it opened removed: put
    beside other text, it cannot reorder that text. Balanced text is returned as it is."""
    if not has_bidi_controls(text):
        return text
    out: list[str] = []
    last: Open | None = None
    for piece, top in bidi_steps(text):
        out.append(piece)
        last = top
    out.append(closers(last))
    return "".join(out)


# PostgreSQL's text cannot hold a NUL, and no UTF-8 (so neither SQLite nor PostgreSQL) a lone
# surrogate, which a JSON or YAML escape makes ("\ud83d"): a write with one failed, unlocated
# (a surrogate: SQLite's UnicodeEncodeError, a traceback).
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def unstorable_char(value: str) -> str | None:
    """The first character of `value` that no store can keep, or None."""
    found = _UNSTORABLE.search(value)
    return None if found is None else found.group()


def unstorable(value: str) -> str | None:
    """The first character of `value` that no store can keep, named (`a NUL character (\\u0000)`,
    `U+D83D (half of a UTF-16 surrogate pair)`); None when there is none."""
    char = unstorable_char(value)
    if char is None:
        return None
    if char == "\x00":
        return "a NUL character (\\u0000)"
    return f"U+{ord(char):04X} (half of a UTF-16 surrogate pair)"
