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
from collections.abc import Iterator
from itertools import chain
from operator import itemgetter
from typing import NamedTuple

import Stemmer

from monitor.model import Item

TEXT_FIELDS = ("title", "summary", "content")
FIELDS = (*TEXT_FIELDS, "url", "author", "category", "feed")
# Query scopes: every real field plus `text`, the three text fields together.
SCOPES = {**{f: (f,) for f in FIELDS}, "text": TEXT_FIELDS}


def _mark_class() -> str:
    """A regex character class body of every combining mark (Mn, Mc, Me) of the BMP.

    Python's `\\w` leaves marks out, which would split Devanagari or Thai words in two. (Marks
    beyond the BMP, of historic scripts, are left out: they make the regex twice as slow.)
    """
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_WORD = rf"[\w{_mark_class()}]+"  # \w takes "_" too: split off below, where it occurs
_APOSTROPHES = "'’ʼ"
# A number with thousands separators first, else a word; a possessive 's after it is left out.
_TOKEN_RE = re.compile(rf"(\d{{1,3}}(?:,\d{{3}})+(?!\d|,\d)|{_WORD})(?:[{_APOSTROPHES}][sS]\b)?")
_NEEDS_FIX = re.compile(r"\d,\d|_")  # texts where some token needs more than the regex

HEAD = 3  # prefixes are indexed by their first HEAD characters (see index.Presearcher)
_SCAN_MAX = 400  # tokens: up to this a field is scanned per lookup, beyond it indexed once
_stemmer = Stemmer.Stemmer("english", 0)  # cache off: the dict memo below is faster
_MEMO_MAX = 200_000  # bounds memory against hostile text full of distinct words


class Forms(NamedTuple):
    """The forms of one written word: as written (NFKC), case-folded, diacritics folded, stem."""

    raw: str
    lower: str
    fold: str
    stem: str


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


def _forms(word: str) -> Forms:
    raw = word if word.isascii() else unicodedata.normalize("NFKC", word)
    lower = raw.casefold()
    fold = fold_diacritics(lower)
    return Forms(raw, lower, fold, _stemmer.stemWord(fold))


class _Memo(dict[str, Forms]):
    """Each token text's forms, computed on the first lookup (news repeats words endlessly).

    A dict whose misses compute: `map(_memo.__getitem__, words)` then runs at C speed for the
    words already seen, nearly all of them.
    """

    def __missing__(self, word: str) -> Forms:
        got = _forms(word)
        if len(self) >= _MEMO_MAX:
            self.clear()
            _stem_memo.clear()
            _fold_memo.clear()
            _head_memo.clear()
        self[sys.intern(word)] = got
        return got


class _StemMemo(dict[str, str]):
    """Each token text's stem alone: what most fields are asked for."""

    def __missing__(self, word: str) -> str:
        stem = self[word] = _memo[word].stem
        return stem


class _FoldMemo(dict[str, str]):
    """Each token text's diacritics-folded form alone: what prefixes are tested against."""

    def __missing__(self, word: str) -> str:
        fold = self[word] = _memo[word].fold
        return fold


class _HeadMemo(dict[str, str]):
    """Each token text's first HEAD folded characters: the presearcher's key for prefixes."""

    def __missing__(self, word: str) -> str:
        head = self[word] = _memo[word].fold[:HEAD]
        return head


_memo = _Memo()
_stem_memo = _StemMemo()
_fold_memo = _FoldMemo()
_head_memo = _HeadMemo()
# Joins folded words for prefix tests by substring search: no token holds it (NFKC can put a
# space inside a token, never a NUL).
_SEP = "\0"


def _fold_join(words: list[str]) -> str:
    """The folded words, each after a NUL (empty without words)."""
    if not words:
        return ""
    joined = _SEP.join(words)
    if joined.isascii():  # an ASCII word's fold is its lower case: one call for all
        return _SEP + joined.lower()
    return _SEP + _SEP.join(map(_fold_memo.__getitem__, words))


def forms(word: str) -> Forms:
    """The forms of one token's text (memoised)."""
    return _memo[word]


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
    """Each token's text and character span (the exact path: explanations, tokenize)."""
    out = []
    for m in _TOKEN_RE.finditer(text):
        word, start, end = m.group(1), m.start(1), m.end(1)
        if "," in word:
            out.append((word.replace(",", ""), start, end))
        elif "_" in word:
            for part in re.finditer("[^_]+", word):
                out.append((part.group(), start + part.start(), start + part.end()))
        else:
            out.append((word, start, end))
    return out


def _words(text: str) -> list[str]:
    """The tokens' texts alone, as `_spans` gives them (the fast path run on every item)."""
    words: list[str] = _TOKEN_RE.findall(text)
    joined = "".join(words)  # commas and "_" inside tokens only: one C-speed scan each
    if "," not in joined and "_" not in joined:
        return words
    out: list[str] = []
    for w in words:
        if "," in w:
            out.append(w.replace(",", ""))
        elif "_" in w:
            out.extend(p for p in w.split("_") if p)
        else:
            out.append(w)
    return out


def tokenize(text: str) -> list[Token]:
    """Split a text into tokens (see the module docstring for the rules)."""
    return [Token(*forms(word), i, start, end) for i, (word, start, end) in enumerate(_spans(text))]


class FieldText:
    """One field of a document: its text, its tokens' forms, and lazy lookups and spans."""

    __slots__ = (
        "_cols",
        "_fold_text",
        "_forms",
        "_spans",
        "_tables",
        "_where",
        "stems",
        "text",
        "words",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.words: list[str] = _words(text) if text else []
        self.stems: set[str] = set(map(_stem_memo.__getitem__, self.words))
        # Made on first use: most fields of most items are only asked which stems they hold.
        self._forms: list[Forms] | None = None
        self._cols: dict[str, list[str]] | None = None
        self._where: dict[tuple[str, str], list[int]] | None = None
        self._tables: dict[str, dict[str, list[int]]] | None = None
        self._spans: list[tuple[int, int]] | None = None
        self._fold_text: str | None = None

    @property
    def forms(self) -> list[Forms]:
        """Each token's forms, in order."""
        if self._forms is None:
            self._forms = list(map(_memo.__getitem__, self.words))
        return self._forms

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Each token's character span in `text` (computed when an explanation needs it)."""
        if self._spans is None:
            if _NEEDS_FIX.search(self.text) is None:
                self._spans = [m.span(1) for m in _TOKEN_RE.finditer(self.text)]
            else:
                self._spans = [(s, e) for _, s, e in _spans(self.text)]
        return self._spans

    def column(self, kind: str) -> list[str]:
        """One form (`stem`, `lower`, `raw` or `fold`) of every token, in order."""
        cols = self._cols
        if cols is None:
            cols = self._cols = {}
        col = cols.get(kind)
        if col is None:
            col = cols[kind] = list(map(itemgetter(Forms._fields.index(kind)), self.forms))
        return col

    def where(self, kind: str, value: str) -> list[int]:
        """The positions of the tokens whose `kind` form is `value` (cached per document).

        Short fields (most news items) are scanned; long ones get a table built once.
        """
        key = (kind, value)
        where = self._where
        if where is None:
            where = self._where = {}
        got = where.get(key)
        if got is None:
            col = self.column(kind)
            if len(col) <= _SCAN_MAX:
                got = [i for i, k in enumerate(col) if k == value] if value in col else []
            else:
                got = self._table(kind).get(value, [])
            where[key] = got
        return got

    def _table(self, kind: str) -> dict[str, list[int]]:
        tables = self._tables
        if tables is None:
            tables = self._tables = {}
        table = tables.get(kind)
        if table is None:
            table = tables[kind] = {}
            for pos, k in enumerate(self.column(kind)):
                if k in table:
                    table[k].append(pos)
                else:
                    table[k] = [pos]
        return table

    def has(self, kind: str, value: str) -> bool:
        """Whether some token's `kind` form is `value`."""
        if kind == "stem":
            return value in self.stems
        col = self.column(kind)
        return value in col if len(col) <= _SCAN_MAX else value in self._table(kind)

    @property
    def fold_text(self) -> str:
        """Every folded word, each after a NUL: a word starts with p where NUL + p occurs."""
        if self._fold_text is None:
            self._fold_text = _fold_join(self.words)
        return self._fold_text

    def has_prefix(self, prefix: str) -> bool:
        """Whether some word (diacritics folded) of this field starts with `prefix`."""
        return _SEP + prefix in self.fold_text

    def prefixed(self, prefix: str) -> list[int]:
        """Positions of the words (diacritics folded) that start with `prefix`."""
        key = ("prefix", prefix)
        where = self._where
        if where is None:
            where = self._where = {}
        got = where.get(key)
        if got is None:
            if self.has_prefix(prefix):
                got = [i for i, w in enumerate(self.column("fold")) if w.startswith(prefix)]
            else:
                got = []
            where[key] = got
        return got


class Document:
    """An item analysed once for matching: every field's tokens, and the terms it contains.

    `stems` and `folds` are every distinct stem and diacritics-folded word of any field: the
    presearcher uses them to find candidate rules.
    """

    __slots__ = ("_fold_text", "_folds", "_heads", "fields", "stems")

    def __init__(self, fields: dict[str, FieldText]) -> None:
        self.fields = fields
        self.stems: set[str] = set().union(*(ft.stems for ft in fields.values()))
        self._folds: set[str] | None = None
        self._heads: set[str] | None = None
        self._fold_text: str | None = None

    def _words(self) -> Iterator[str]:
        return chain.from_iterable(ft.words for ft in self.fields.values())

    @property
    def folds(self) -> set[str]:
        if self._folds is None:
            self._folds = set(map(_fold_memo.__getitem__, self._words()))
        return self._folds

    @property
    def heads(self) -> set[str]:
        """The first HEAD characters of every folded word (all of a shorter word)."""
        if self._heads is None:
            self._heads = set(map(_head_memo.__getitem__, self._words()))
        return self._heads

    def has_prefix(self, prefix: str) -> bool:
        """Whether some word (diacritics folded) of any field starts with `prefix`."""
        if self._fold_text is None:
            self._fold_text = _fold_join(list(self._words()))
        return _SEP + prefix in self._fold_text


class _EmptyField(FieldText):
    """A field without text, one shared by every document: it holds nothing, caches nothing."""

    __slots__ = ()

    def where(self, kind: str, value: str) -> list[int]:
        return []

    def has(self, kind: str, value: str) -> bool:
        return False

    def has_prefix(self, prefix: str) -> bool:
        return False

    def prefixed(self, prefix: str) -> list[int]:
        return []


_EMPTY = _EmptyField("")


def analyze_fields(texts: dict[str, str]) -> Document:
    """Analyse a mapping of field name to text (missing fields are empty)."""
    return Document({name: FieldText(t) if (t := texts.get(name)) else _EMPTY for name in FIELDS})


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
