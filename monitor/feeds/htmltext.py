"""Turn feed HTML into plain text for matching and display. Pure.

A small linear-time tokenizer (not `html.parser`: on Python 3.11.7 it takes 18 s for 400 KB of
`</</</...`, see CVE-2025-6069): tags are `<name ...>` without a `<` inside, comments run to
`-->` (or to the end), script/style and similar elements are dropped with their content, block
elements become line breaks, character references are unescaped once, and runs of whitespace
collapse to one space (one line per block, blank lines dropped). Output never contains markup:
a `<` that would start a tag in the text is turned into `‹` (see `defang`).
"""

from __future__ import annotations

import html
import re

MAX_INPUT = 1024 * 1024  # characters of HTML looked at per field
MAX_OUTPUT = 200_000  # characters of text kept per field

_SKIP = frozenset({"script", "style", "template", "noscript", "head", "title", "svg", "math"})
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th",
        "tr", "ul", "caption", "tbody", "thead", "tfoot", "body", "html",
    }
)  # fmt: skip
# `[^<>]*` cannot run past the next "<", so a failed match costs at most the gap to it: linear,
# with possessive quantifiers (a name is also `[^<>]`: backtracking between the two made `<a`
# and 20,000 letters without a `>` cost 1 s, quadratic in the letters).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)[^<>]*+>|<[!?/][^<>]*+>")
_MARKUP_HINT = re.compile(r"<[A-Za-z/!?]|&[#A-Za-z]")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def collapse(text: str) -> str:
    """Collapse whitespace: one space within a line, no blank lines, no outer whitespace."""
    # str.split() splits on exactly what the regex \s matches (checked over all of Unicode), so
    # " ".join(line.split()) is the old `[^\S\n]+` -> " " plus strip(), at a fifth of the cost.
    if text.isprintable():  # no line break: one line (see identity.one_line)
        if "  " not in text and text[:1] != " " and text[-1:] != " ":
            return text[:MAX_OUTPUT]
        return " ".join(text.split())[:MAX_OUTPUT]
    if "\n" not in text and "\r" not in text:
        return " ".join(text.split())[:MAX_OUTPUT]
    # map and filter, not generators: no Python frame per line
    lines = map(" ".join, map(str.split, text.replace("\r", "\n").split("\n")))
    return "\n".join(filter(None, lines))[:MAX_OUTPUT]


def defang(text: str) -> str:
    """Make tag-like text inert: `<` before a letter, `/`, `!` or `?` becomes `‹` (U+2039).

    Escaped markup in a feed (`&lt;script&gt;`) is text once unescaped, but it must not become
    live markup wherever the text is shown, so no output of this module contains a tag.
    """
    return _TAG_START.sub("‹", text) if "<" in text else text


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment. Never raises; linear in the input; markup-free output."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        # No markup and nothing for defang to change (collapse adds no "<"); two memchr scans
        # instead of the hint's regex, which tries every position (most summaries).
        return collapse(markup)
    if not _MARKUP_HINT.search(markup):
        return defang(collapse(markup))
    markup = markup[:MAX_INPUT]
    lowered = ""  # markup.lower(), made at the first script or style (most markup has none)
    parts: list[str] = []
    size = 0
    pos = 0
    n = len(markup)
    while pos < n and size < MAX_OUTPUT:
        lt = markup.find("<", pos)
        if lt < 0:
            parts.append(markup[pos:])
            break
        if lt > pos:
            parts.append(markup[pos:lt])
            size += lt - pos
        if markup.startswith("<!--", lt):
            end = markup.find("-->", lt + 4)
            pos = n if end < 0 else end + 3
            continue
        tag = _TAG.match(markup, lt)
        if tag is None:
            parts.append("<")  # a stray "<" is text ("a < b")
            pos = lt + 1
            continue
        pos = tag.end()
        name = (tag.group(2) or "").lower()
        if name in _SKIP and not tag.group(1):
            lowered = lowered or markup.lower()
            close = lowered.find("</" + name, pos)
            pos = n if close < 0 else close
        elif name in _BLOCK:
            parts.append("\n")
    return defang(collapse(html.unescape("".join(parts))))


def text_field(value: str, content_type: str | None) -> str:
    """A feed field as text: HTML is converted, plain text only has its whitespace collapsed."""
    if content_type and "html" not in content_type:
        return defang(collapse(value))
    return html_to_text(value)
