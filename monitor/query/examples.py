"""The rules of a rule's examples (`like`, `unlike`, `threshold`, `mode`): what combinations make
sense, said once for the rules files (located at their key) and for rules built in code. Pure.
"""

from __future__ import annotations

import re
from typing import get_args

from monitor.model import Mode, Rule

MODES: tuple[str, ...] = get_args(Mode)
MODE_HELP = (
    "query (the query alone), widen (query OR similar), narrow (query AND similar),"
    " similar (the examples alone)"
)
DEFAULT_THRESHOLD = Rule.__dataclass_fields__["threshold"].default
MAX_EXAMPLES = 1_000  # per rule, `like` and `unlike` together: each is a row of the matrix


# One word of printable ASCII with a `/` (a link, an archived item's FEED/ITEM_KEY as `rules
# tune --like` takes it), or an alert id: never the text of an item. A rule given one compared
# every item with those characters, in silence.
_REFERENCE = re.compile(r"[!-~]*/[!-~]*|msg_[0-9a-f]{32}")


def reference_problem(text: str) -> str | None:
    """Why an example's text looks like a reference to an item rather than its text, or None."""
    if not _REFERENCE.fullmatch(text.strip()):
        return None
    return (
        f"example {text.strip()!r} is a link or the name of an item (FEED/ITEM_KEY, msg_...), "
        "not its text: rules load without the archive, so paste the item's title and first "
        "lines, or let `newsmon rules tune --rule ID --like FEED/ITEM_KEY --write` copy them in"
        " (to compare items with these very characters, put a space in them)"
    )


def threshold_problem(value: object) -> str | None:
    """Why `value` is not a usable threshold, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"threshold must be a number more than 0 and at most 1 (a similarity), not {value!r}"
    if not 0 < value <= 1:
        return f"threshold must be more than 0 and at most 1 (a similarity), not {value:g}"
    return None


def example_problems(rule: Rule) -> list[tuple[str, str]]:
    """(field, message) for each way the rule's examples and mode do not fit together."""
    out: list[tuple[str, str]] = []
    mode, query = rule.mode, rule.query.strip()
    if mode not in MODES:
        return [("mode", f"mode must be one of: {MODE_HELP}; not {mode!r}")]
    if rule.unlike and not rule.like:
        out.append(("unlike", "`unlike:` counter-examples need `like:` examples beside them"))
    if mode != "query" and not rule.like:
        out.append(
            ("mode", f"mode: {mode} compares items with `like:` examples: add some, or remove mode")
        )
    if rule.like and mode == "query":
        out.append(
            (
                "like",
                "say how the examples combine with the query: mode: widen (query OR similar),"
                " narrow (query AND similar) or similar (the examples alone)",
            )
        )
    if mode in ("widen", "narrow") and not query:
        out.append(
            (
                "mode",
                f"mode: {mode} combines a query with the examples, and this rule has no query:"
                " write one, or use mode: similar",
            )
        )
    if mode == "similar" and query:
        out.append(
            (
                "mode",
                "mode: similar uses the examples alone, so the query would be ignored: remove"
                " it, or use mode: narrow (query AND similar)",
            )
        )
    if any(not t.strip() for t in (*rule.like, *rule.unlike)):
        out.append(("like", "an example is empty: give its text, or `file: PATH`"))
    if len(rule.like) + len(rule.unlike) > MAX_EXAMPLES:
        out.append(("like", f"at most {MAX_EXAMPLES:,} examples a rule (like and unlike)"))
    if (problem := threshold_problem(rule.threshold)) is not None:
        out.append(("threshold", problem))
    return out
