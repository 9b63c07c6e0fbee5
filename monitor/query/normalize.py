"""Text normalisation: tokens with positions and stems, computed once per item. Pure.

Tokenizer rules (DESIGN.md, binding):
- a token is a run of letters, digits and combining marks of any script; everything else separates;
- each token is NFKC-normalised and case-folded; a possessive `'s` (or `’s`) is dropped
  (Russia's -> russia);
- a hyphen (like any other punctuation) splits: anti-tank -> anti, tank (consecutive positions);
- thousands separators stay inside a number: 1,500 -> 1500;
- sentence ends do not break anything: positions simply continue.

Diacritics: words, prefixes and phrases match with diacritics folded (Kyïv ~ kyiv, cafe* ~ Café);
the exact form `=X` keeps them (and keeps case when X has a capital).

Character offsets (`start`, `end`) index the field's original text, so snippets can mark words.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

import Stemmer

from monitor.model import Item

TEXT_FIELDS = ("title", "summary", "content")
FIELDS = (*TEXT_FIELDS, "url", "author", "category", "feed")
# Query scopes: every real field plus `text`, the three text fields together.
SCOPES = {**{f: (f,) for f in FIELDS}, "text": TEXT_FIELDS}


def _mark_class() -> str:
    """A regex character class body of every combining mark (Mn, Mc, Me).

    Python's `\\w` leaves marks out, which would split Devanagari or Thai words in two.
    """
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x20000):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    ranges.append((0xE0100, 0xE01EF))  # variation selectors supplement
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


_W = rf"[^\W_]|[{_mark_class()}]"
_TOKEN_RE = re.compile(
    rf"(?P<num>\d{{1,3}}(?:,\d{{3}})+(?!\d|,\d))|(?P<word>(?:{_W})+)(?P<poss>['’ʼ][sS](?!{_W}))?"
)

_stemmer = Stemmer.Stemmer("english", 0)  # cache off: the dict memo below is faster
_MEMO_MAX = 200_000  # bounds memory against hostile text full of distinct words


class Forms(NamedTuple):
    """The forms of one written word: as written (NFKC), case-folded, diacritics folded, stem."""

    raw: str
    lower: str
    fold: str
    stem: str


_memo: dict[str, Forms] = {}


_ACCENTS = re.compile("[\u0300-\u036f]")


def fold_diacritics(text: str) -> str:
    """Remove accents after canonical decomposition (é -> e, ї -> і).

    Only the generic combining diacritics (U+0300-U+036F) go: the marks that other scripts need to
    spell words (a Devanagari virama, Arabic vowel signs) are kept.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed))


def forms(word: str) -> Forms:
    """The forms of one token's text (memoised: news repeats words endlessly)."""
    got = _memo.get(word)
    if got is not None:
        return got
    raw = word if word.isascii() else unicodedata.normalize("NFKC", word)
    lower = raw.casefold()
    fold = fold_diacritics(lower)
    got = Forms(raw, lower, fold, _stemmer.stemWord(fold))
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[sys.intern(word)] = got
    return got


class Token(NamedTuple):
    """One token of a text: its forms, its position (0-based) and its character span."""

    raw: str
    lower: str
    fold: str
    stem: str
    position: int
    start: int
    end: int


def _spans(text: str) -> list[tuple[str, int, int]]:
    out = []
    for m in _TOKEN_RE.finditer(text):
        num = m.group("num")
        if num is not None:
            out.append((num.replace(",", ""), m.start(), m.end()))
        else:
            out.append((m.group("word"), m.start("word"), m.end("word")))
    return out


def tokenize(text: str) -> list[Token]:
    """Split a text into tokens (see the module docstring for the rules)."""
    return [Token(*forms(word), i, start, end) for i, (word, start, end) in enumerate(_spans(text))]


@dataclass(slots=True)
class FieldText:
    """One field of a document: its text, its tokens' forms and spans, and lazy lookups."""

    text: str
    forms: list[Forms]
    spans: list[tuple[int, int]]
    _by: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def positions(self, kind: str) -> dict[str, list[int]]:
        """Map from a form (`stem`, `lower`, `raw` or `fold`) to the positions where it occurs."""
        table = self._by.get(kind)
        if table is None:
            table = {}
            index = Forms._fields.index(kind)
            for pos, f in enumerate(self.forms):
                key = f[index]
                got = table.get(key)
                if got is None:
                    table[key] = [pos]
                else:
                    got.append(pos)
            self._by[kind] = table
        return table


def _field(text: str) -> FieldText:
    spans = _spans(text)
    return FieldText(text, [forms(w) for w, _, _ in spans], [(s, e) for _, s, e in spans])


@dataclass(slots=True)
class Document:
    """An item analysed once for matching: every field's tokens, plus the terms it contains.

    `stems` and `folds` are every distinct stem and diacritics-folded word of any field: the
    presearcher uses them to find candidate rules.
    """

    fields: dict[str, FieldText]
    stems: set[str]
    folds: set[str]


def analyze_fields(texts: dict[str, str]) -> Document:
    """Analyse a mapping of field name to text (missing fields are empty)."""
    fields = {name: _field(texts.get(name, "")) for name in FIELDS}
    stems: set[str] = set()
    folds: set[str] = set()
    for ft in fields.values():
        for f in ft.forms:
            stems.add(f.stem)
            folds.add(f.fold)
    return Document(fields, stems, folds)


def item_texts(item: Item) -> dict[str, str]:
    """The text of each field of an item (`feed` is its feed title and feed id)."""
    return {
        "title": item.title,
        "summary": item.summary,
        "content": item.content,
        "url": item.url or item.link or "",
        "author": item.author,
        "category": " ; ".join(item.categories),
        "feed": f"{item.feed_title} {item.feed_id}".strip(),
    }


def analyze(item: Item) -> Document:
    """Analyse an item's fields once, for every rule that will be tried on it."""
    return analyze_fields(item_texts(item))
