"""Remove terminal control characters from text that came from outside (a feed, a receiver). Pure.

A feed title can carry ESC and OSC sequences (`\\x1b]0;...\\x07` retitles a terminal, `\\x1b[2J`
clears it, OSC 8 makes a hidden link), a NUL, or a C1 control (U+009B is a one-character CSI to
some terminals). Feed text is stored as it came, and cleaned where it leaves newsmon: the CLI's
tables and JSON, the console log renderer, and the alert documents sent to webhooks and Slack.

C0 (U+0000-U+001F) except tab and newline, DEL (U+007F) and C1 (U+0080-U+009F) are removed;
everything else, including every printable character of every script, is kept. Removing ESC
leaves the rest of a sequence (`[2J`) as inert text.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["strip_controls", "strip_controls_deep"]

_KEPT: Final = frozenset({"\t", "\n"})
_REMOVE: Final[dict[int, None]] = {
    code: None for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(code) not in _KEPT
}


def strip_controls(text: str) -> str:
    """`text` without C0 controls (but tab and newline), DEL and C1 controls."""
    if text.isprintable():  # the common case, and C-speed: no control character in it
        return text
    return text.translate(_REMOVE)


def strip_controls_deep(value: Any) -> Any:
    """`value` with `strip_controls` applied to every string in it, through dicts (values, not
    keys), lists and tuples; other values as they are."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {key: strip_controls_deep(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(strip_controls_deep(item) for item in value)
    return value
