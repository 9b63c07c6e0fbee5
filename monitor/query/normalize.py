"""Text normalisation: an item's fields analysed once for matching: each field's words, stems and
lazy lookups, and the terms of the whole item. Pure.

The tokenizer and the forms of a word are in `monitor.query.words`. Character offsets (`start`,
`end`) index the field's original text, so snippets can mark words.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from itertools import chain
from operator import itemgetter

from monitor.model import Hit, Item
from monitor.query.words import (
    _SEP,
    HEAD,
    Forms,
    Token,
    _fold_join,
    _fold_memo,
    _head_memo,
    _memo,
    _stem_memo,
    _words,
    exact_spans,
    fold_diacritics,
    forms,
    token_spans_part,
    tokenize,
)

__all__ = [
    "FIELDS",
    "HEAD",
    "SCOPES",
    "TEXT_FIELDS",
    "Document",
    "FieldText",
    "Forms",
    "Token",
    "analyze",
    "analyze_fields",
    "fold_diacritics",
    "forms",
    "item_texts",
    "tokenize",
]

TEXT_FIELDS = ("title", "summary", "content")
FIELDS = (*TEXT_FIELDS, "url", "author", "category", "feed")  # `feed` last: see analyze_fields
# Query scopes: every real field plus `text`, the three text fields together.
SCOPES = {**{f: (f,) for f in FIELDS}, "text": TEXT_FIELDS}

_SPANS_PART = 256  # tokens: the least part of a field's spans found at once (`spans_to`)
_SCAN_MAX = 400  # tokens: up to this a field is scanned per lookup, beyond it indexed once
_COLUMN_MEMOS: dict[str, dict[str, str]] = {"stem": _stem_memo, "fold": _fold_memo}
_NOWHERE: list[int] = []  # the positions of a word a field lacks (shared: never changed)
# The bits a field's kept spans may take (`FieldText.remember`): about what its words take
# themselves, and never less than enough for every clause of a large rule set on a short field.
# Unbounded, a hostile 20,000-word item asked by 1,800 distinct nested NEARs kept 150 MB.
_SPAN_BITS_PER_WORD = 1024
_SPAN_BITS_MIN = 1 << 22
_SPAN_ENTRY_BITS = 256  # a dict slot and an int's header, counted for each width and clause


class FieldText:
    """One field of a document: its text, its tokens' forms, and lazy lookups and spans."""

    __slots__ = (
        "_cols",
        "_fold_text",
        "_forms",
        "_kept",
        "_spans",
        "_tables",
        "_where",
        "span_sets",
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
        # The spans found so far (a prefix of the field's), where the next part resumes, and
        # how its tokens are found (`exact_spans`): one tuple, replaced whole (see Document).
        self._spans: tuple[list[tuple[int, int]], int, str] | None = None
        self._fold_text: str | None = None
        # The spans of each OR group or NEAR already found in this field, by the clause's
        # content (monitor.query.evaluate.span_key): the example rules name `$weapons` in a
        # dozen NEARs, each of which asked the set's members again. They go with the document,
        # and a long field keeps no more of them than its budget (`remember`).
        self.span_sets: dict[int, dict[int, int]] = {}
        self._kept = 0  # the bits they take, about (see _SPAN_BITS_PER_WORD)

    def remember(self, key: int, found: dict[int, int]) -> dict[int, int]:
        """Keep a clause's spans in this field under its content key, while they fit the
        field's budget (beyond it they are found again when asked); return them."""
        cost = _SPAN_ENTRY_BITS * (len(found) + 1)
        for x in found.values():
            cost += x.bit_length()
        kept = self._kept + cost
        if kept <= max(_SPAN_BITS_MIN, _SPAN_BITS_PER_WORD * len(self.words)):
            self._kept = kept
            self.span_sets[key] = found
        return found

    @property
    def forms(self) -> list[Forms]:
        """Each token's forms, in order."""
        if self._forms is None:
            self._forms = list(map(_memo.__getitem__, self.words))
        return self._forms

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Each token's character span in `text`."""
        return self.spans_to(len(self.words) - 1)

    def spans_to(self, position: int) -> list[tuple[int, int]]:
        """The character spans of the tokens up to `position` at least (the list may be longer;
        shared: read it, never change it). Found a part at a time, each part at least as long
        as those before: an explanation marks its first hits, and on a long field finding the
        span of every word cost more than the rest of the explanation."""
        got = self._spans
        if got is None:
            got = ([], 0, exact_spans(self.text))
        spans, at, exact = got
        if position < len(spans) or len(spans) == len(self.words):
            return spans
        want = max(position + 1 - len(spans), len(spans), _SPANS_PART)
        part, at = token_spans_part(self.text, self.words, len(spans), at, want, exact)
        spans = spans + part  # a new list: a reader of the old one sees it unchanged
        self._spans = (spans, at, exact)
        return spans

    def column(self, kind: str) -> list[str]:
        """One form (`stem`, `lower`, `raw` or `fold`) of every token, in order."""
        cols = self._cols
        if cols is None:
            cols = self._cols = {}
        col = cols.get(kind)
        if col is None:
            memo = _COLUMN_MEMOS.get(kind)
            if memo is not None:  # straight from that form's own memo, no Forms list
                col = cols[kind] = list(map(memo.__getitem__, self.words))
            else:
                col = cols[kind] = list(map(itemgetter(Forms._fields.index(kind)), self.forms))
        return col

    def where(self, kind: str, value: str) -> list[int]:
        """The positions of the tokens whose `kind` form is `value` (the list is shared: read
        it, never change it).

        The first lookup of a form files every token of the field by it, in one pass: an
        explanation looks up several words of the same field, and a scan per word (a test and a
        walk of the field each) cost more than the table once the field is asked twice."""
        tables = self._tables
        if tables is None:
            tables = self._tables = {}
        table = tables.get(kind)
        if table is None:
            table = self._table(kind)
        return table.get(value, _NOWHERE)

    def _table(self, kind: str) -> dict[str, list[int]]:
        tables = self._tables
        if tables is None:
            tables = self._tables = {}
        table = tables.get(kind)
        if table is None:
            col = self.column(kind)
            table = {k: [] for k in col}
            for pos, k in enumerate(col):
                table[k].append(pos)
            tables[kind] = table  # published whole: another thread never sees it half filled
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
            # Each NUL + prefix in the folded text starts a word with the prefix; the NULs
            # before it count the words before it (str.find and str.count: C-speed scans, where
            # a test of every word's fold took a Python loop over the field).
            text, needle = self.fold_text, _SEP + prefix
            got = []
            at = text.find(needle)
            pos = last = 0
            while at >= 0:
                pos += text.count(_SEP, last, at)
                got.append(pos)
                last = at
                at = text.find(needle, at + 1)
            where[key] = got
        return got


class Document:
    """An item analysed once for matching: every field's tokens, and the terms it contains.

    `stems` and `folds` are every distinct stem and diacritics-folded word of any field: the
    presearcher uses them to find candidate rules.

    Its lazy parts (and its fields': spans, position tables, the explained steps) are filled on
    first use without a lock, as a lazy `Match` explains itself. Each is built whole and then
    stored in one assignment, so a thread that reads one sees it complete or not at all (then
    builds its own, equal, copy; a field's spans, found a part at a time, are a longer prefix
    at each assignment). That matters for the `feed` fields, which
    are shared by a feed's items: the daemon matches and explains on its one CPU thread
    (`monitor.offload`), but the console's playground matches archived items of the same
    feeds on its own threads in the same process.
    """

    __slots__ = (
        "_fold_text",
        "_folds",
        "_heads",
        "_text_stems",
        "explained",
        "fields",
        "maybes",
        "stems",
    )

    def __init__(self, fields: dict[str, FieldText]) -> None:
        self.fields = fields
        self.stems: set[str] = set().union(*(ft.stems for ft in fields.values()))
        # What each OR group of words answered to "could it match here?", by the group's
        # content (monitor.query.evaluate.AnyOf): a rule's NEARs ask the same set again and
        # again, and so do the rules that name it.
        self.maybes: dict[int, bool] = {}
        # The hits of each explanation step already found in this document, by the step's key
        # (monitor.query.explain): every rule that matches the item and names the same word
        # reuses them. Made on the first explanation.
        self.explained: dict[str, dict[int, Hit]] | None = None
        self._text_stems: set[str] | None = None
        self._folds: set[str] | None = None
        self._heads: set[str] | None = None
        self._fold_text: str | None = None

    def _words(self) -> Iterator[str]:
        return chain.from_iterable(ft.words for ft in self.fields.values())

    @property
    def text_stems(self) -> set[str]:
        """Every stem of the text fields (title, summary, content)."""
        if self._text_stems is None:
            f = self.fields
            self._text_stems = f["title"].stems | f["summary"].stems | f["content"].stems
        return self._text_stems

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

    @property
    def heads_made(self) -> set[str] | None:
        """`heads` if something asked for them already (the presearcher of rules with many
        prefixes), else None: a cheap test where they are at hand, not a reason to make them."""
        return self._heads

    @property
    def fold_text(self) -> str:
        """Every folded word of every field, each after a NUL: a word of the document starts
        with p where NUL + p occurs."""
        if self._fold_text is None:
            self._fold_text = _fold_join(list(self._words()))
        return self._fold_text

    def has_prefix(self, prefix: str) -> bool:
        """Whether some word (diacritics folded) of any field starts with `prefix`."""
        return _SEP + prefix in self.fold_text


class _SharedField(FieldText):
    """A field shared by many documents (a feed's `feed` field, the empty field): it keeps no
    clause's spans (every rule of a large set asking it would grow it for as long as it is
    shared)."""

    __slots__ = ()

    def remember(self, key: int, found: dict[int, int]) -> dict[int, int]:
        return found


class _EmptyField(_SharedField):
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


# The `feed` field is the same for every item of a feed: analysed once, shared (a FieldText only
# caches what its text determines, so sharing it is safe). Bounded like the word memos.
_FEED_FIELDS: dict[str, FieldText] = {}
_FEED_FIELDS_MAX = 4096


def _feed_field(text: str) -> FieldText:
    got = _FEED_FIELDS.get(text)
    if got is None:
        if len(_FEED_FIELDS) >= _FEED_FIELDS_MAX:
            _FEED_FIELDS.clear()
        got = _FEED_FIELDS[text] = _SharedField(text)
    return got


def analyze_fields(texts: dict[str, str], only: Collection[str] = FIELDS) -> Document:
    """Analyse a mapping of field name to text (missing fields are empty). `only`: the fields
    some rule reads; the others are left empty (a URL is a fifth of an item's words, and rules
    seldom ask it)."""
    fields = {
        name: FieldText(t) if (t := texts.get(name)) and name in only else _EMPTY
        for name in FIELDS[:-1]
    }
    feed = texts.get("feed") if "feed" in only else None
    fields["feed"] = _feed_field(feed) if feed else _EMPTY
    return Document(fields)


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


def analyze(item: Item, only: Collection[str] = FIELDS) -> Document:
    """Analyse an item's fields once, for every rule that will be tried on it (`only`: the
    fields those rules read)."""
    return analyze_fields(item_texts(item), only)
