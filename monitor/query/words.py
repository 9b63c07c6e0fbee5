"""Words: the tokenizer and each token's forms (as written, case-folded, diacritics folded, stem),
memoised. Pure (the memos are bounded caches).

Tokenizer rules (DESIGN.md, binding):
- a token is a run of letters, digits and combining marks of any script; everything else separates;
- each token is NFKC-normalised and case-folded; a possessive `'s` (or `’s`) is dropped
  (Russia's -> russia);
- a hyphen (like any other punctuation) splits: anti-tank -> anti, tank (consecutive positions);
- thousands separators stay inside a number: 1,500 -> 1500;
- sentence ends do not break anything: positions simply continue.

Diacritics: words, prefixes and phrases match with diacritics folded (Kyïv ~ kyiv, cafe* ~ Café);
the exact form `=X` keeps them (and keeps case when X has a capital).

The memos are dicts whose misses compute: `map(_stem_memo.__getitem__, words)` runs at C speed
for the words already seen, nearly all of them in news.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import NamedTuple

import Stemmer


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
# The same for ASCII text, where `\w` needs no Unicode tables and there are no marks: about 40%
# faster, and nearly all of English news (`_words` checks `str.isascii()`, a C-speed scan).
_ASCII_TOKEN_RE = re.compile(r"(\d{1,3}(?:,\d{3})+(?!\d|,\d)|\w+)(?:'[sS]\b)?", re.ASCII)

HEAD = 3  # prefixes are indexed by their first HEAD characters (see index.Presearcher)
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
    words: list[str] = (_ASCII_TOKEN_RE if text.isascii() else _TOKEN_RE).findall(text)
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
