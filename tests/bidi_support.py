"""An independent reading of bidi pairing for tests: which embeddings, overrides and isolates
are open at a point of a rendered message, read as one paragraph (as HTML lays a message out)."""

from __future__ import annotations

OPENERS = {"\u202a": "E", "\u202b": "E", "\u202d": "E", "\u202e": "E"}
ISOLATES = {"\u2066": "I", "\u2067": "I", "\u2068": "I"}
PDF, PDI, RLO = "\u202c", "\u2069", "\u202e"
# A title that overrides the rest of its line right-to-left and opens an isolate it never closes.
SPOOF_TITLE = "Markets calm \u202eemosewa si ti \u2067 kept open"


def open_at(text: str, index: int) -> list[str]:
    """The stack ("E" embedding or override, "I" isolate) open just before `text[index]`
    (UAX #9 X1-X8 pairing; no depth limit, no paragraph separators)."""
    stack: list[str] = []
    for ch in text[:index]:
        if ch in OPENERS or ch in ISOLATES:
            stack.append("E" if ch in OPENERS else "I")
        elif ch == PDF and stack and stack[-1] == "E":
            stack.pop()
        elif ch == PDI and "I" in stack:
            while stack.pop() != "I":
                pass
    return stack


def assert_outside(text: str, marker: str) -> None:
    """Every `marker` in `text` (newsmon's own words after a feed field) is outside any
    embedding, override or isolate, and so is the end of `text`."""
    assert marker in text, (marker, text)
    at = text.find(marker)
    while at != -1:
        assert open_at(text, at) == [], (marker, text)
        at = text.find(marker, at + 1)
    assert open_at(text, len(text)) == []
