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

import functools
import re
import unicodedata
from collections.abc import Sized
from typing import NamedTuple

import Stemmer


def _computed_mark_class() -> str:
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


# `_computed_mark_class()` for Unicode 14.0.0 (Python 3.11), written out: computing it scans 64K
# code points, about 12 ms of every start. tests/test_query_normalize.py checks the two agree.
_MARKS_UNICODE_14_0_0 = (
    r"\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1-\u05c2\u05c4-\u05c5\u05c7"
    r"\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7-\u06e8\u06ea-\u06ed"
    r"\u0711\u0730-\u074a\u07a6-\u07b0\u07eb-\u07f3\u07fd\u0816-\u0819\u081b-\u0823"
    r"\u0825-\u0827\u0829-\u082d\u0859-\u085b\u0898-\u089f\u08ca-\u08e1\u08e3-\u0903"
    r"\u093a-\u093c\u093e-\u094f\u0951-\u0957\u0962-\u0963\u0981-\u0983\u09bc\u09be-\u09c4"
    r"\u09c7-\u09c8\u09cb-\u09cd\u09d7\u09e2-\u09e3\u09fe\u0a01-\u0a03\u0a3c\u0a3e-\u0a42"
    r"\u0a47-\u0a48\u0a4b-\u0a4d\u0a51\u0a70-\u0a71\u0a75\u0a81-\u0a83\u0abc\u0abe-\u0ac5"
    r"\u0ac7-\u0ac9\u0acb-\u0acd\u0ae2-\u0ae3\u0afa-\u0aff\u0b01-\u0b03\u0b3c\u0b3e-\u0b44"
    r"\u0b47-\u0b48\u0b4b-\u0b4d\u0b55-\u0b57\u0b62-\u0b63\u0b82\u0bbe-\u0bc2\u0bc6-\u0bc8"
    r"\u0bca-\u0bcd\u0bd7\u0c00-\u0c04\u0c3c\u0c3e-\u0c44\u0c46-\u0c48\u0c4a-\u0c4d"
    r"\u0c55-\u0c56\u0c62-\u0c63\u0c81-\u0c83\u0cbc\u0cbe-\u0cc4\u0cc6-\u0cc8\u0cca-\u0ccd"
    r"\u0cd5-\u0cd6\u0ce2-\u0ce3\u0d00-\u0d03\u0d3b-\u0d3c\u0d3e-\u0d44\u0d46-\u0d48"
    r"\u0d4a-\u0d4d\u0d57\u0d62-\u0d63\u0d81-\u0d83\u0dca\u0dcf-\u0dd4\u0dd6\u0dd8-\u0ddf"
    r"\u0df2-\u0df3\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd"
    r"\u0f18-\u0f19\u0f35\u0f37\u0f39\u0f3e-\u0f3f\u0f71-\u0f84\u0f86-\u0f87\u0f8d-\u0f97"
    r"\u0f99-\u0fbc\u0fc6\u102b-\u103e\u1056-\u1059\u105e-\u1060\u1062-\u1064\u1067-\u106d"
    r"\u1071-\u1074\u1082-\u108d\u108f\u109a-\u109d\u135d-\u135f\u1712-\u1715\u1732-\u1734"
    r"\u1752-\u1753\u1772-\u1773\u17b4-\u17d3\u17dd\u180b-\u180d\u180f\u1885-\u1886\u18a9"
    r"\u1920-\u192b\u1930-\u193b\u1a17-\u1a1b\u1a55-\u1a5e\u1a60-\u1a7c\u1a7f\u1ab0-\u1ace"
    r"\u1b00-\u1b04\u1b34-\u1b44\u1b6b-\u1b73\u1b80-\u1b82\u1ba1-\u1bad\u1be6-\u1bf3"
    r"\u1c24-\u1c37\u1cd0-\u1cd2\u1cd4-\u1ce8\u1ced\u1cf4\u1cf7-\u1cf9\u1dc0-\u1dff"
    r"\u20d0-\u20f0\u2cef-\u2cf1\u2d7f\u2de0-\u2dff\u302a-\u302f\u3099-\u309a\ua66f-\ua672"
    r"\ua674-\ua67d\ua69e-\ua69f\ua6f0-\ua6f1\ua802\ua806\ua80b\ua823-\ua827\ua82c"
    r"\ua880-\ua881\ua8b4-\ua8c5\ua8e0-\ua8f1\ua8ff\ua926-\ua92d\ua947-\ua953\ua980-\ua983"
    r"\ua9b3-\ua9c0\ua9e5\uaa29-\uaa36\uaa43\uaa4c-\uaa4d\uaa7b-\uaa7d\uaab0\uaab2-\uaab4"
    r"\uaab7-\uaab8\uaabe-\uaabf\uaac1\uaaeb-\uaaef\uaaf5-\uaaf6\uabe3-\uabea\uabec-\uabed"
    r"\ufb1e\ufe00-\ufe0f\ufe20-\ufe2f"
)


def _mark_class() -> str:
    if unicodedata.unidata_version == "14.0.0":
        return _MARKS_UNICODE_14_0_0
    return _computed_mark_class()


_WORD = rf"[\w{_mark_class()}]+"  # \w takes "_" too: split off below, where it occurs
_APOSTROPHES = "'’ʼ"
# A number with thousands separators first, else a word; a possessive 's after it is left out.
# At most ten separators (10^33), taken possessively: a run of `,ddd` that is no number (one
# that ends in a fourth digit) was scanned again from each of its groups, as `\w+` took the
# digits before each comma, so 64 KB of `1,234,234,...,2345` cost 20 s, holding the GIL.
# (Fewer groups never succeed where more failed: `,ddd` follows them.) A longer run is cut
# into numbers of at most eleven groups.
_NUMBER = r"\d{1,3}(?:,\d{3}){1,10}+(?!\d|,\d)"
_TOKEN = rf"({_NUMBER}|{_WORD})(?:[{_APOSTROPHES}][sS]\b)?"


@functools.cache
def token_re() -> re.Pattern[str]:
    """The tokenizer for any text, compiled on first use: its mark class takes about 8 ms to
    compile, which a run that only meets ASCII text (or no text) need not pay."""
    return re.compile(_TOKEN)


_NEEDS_FIX = re.compile(r"\d,\d|_")  # texts where some token needs more than the regex
_THOUSANDS = re.compile(r"\d,\d")
# The same for ASCII text, where `\w` needs no Unicode tables and there are no marks: about 40%
# faster, and nearly all of English news (`_words` checks `str.isascii()`, a C-speed scan).
_ASCII_TOKEN_RE = re.compile(rf"({_NUMBER}|\w+)(?:'[sS]\b)?", re.ASCII)

HEAD = 3  # prefixes are indexed by their first HEAD characters (see index.Presearcher)
_stemmer = Stemmer.Stemmer("english", 0)  # cache off: the dict memo below is faster
_MEMO_MAX = 200_000  # bounds memory against hostile text full of distinct words
# Nor is a longer token kept: the bound above counts words, not their size, and a hostile feed's
# fields of distinct 10,000-letter words would fill it with gigabytes (none of 1.2 million tokens
# of real news is 32 characters long). Such a token's forms are computed each time it is asked.
_KEPT_MAX = 64


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


def _written(word: str) -> tuple[str, str]:
    """A token text as written (NFKC) and case-folded: one string where folding changes nothing
    (most words: the memos keep one, not two equal ones)."""
    raw = word if word.isascii() else unicodedata.normalize("NFKC", word)
    lower = raw.casefold()
    return raw, raw if lower == raw else lower


def _forms(word: str) -> Forms:
    raw, lower = _written(word)
    fold = fold_diacritics(lower)
    stem = _stemmer.stemWord(fold)
    if stem == fold:
        stem = fold
    return Forms(raw, lower, fold, stem)


def _fold(word: str) -> str:
    """A token text's diacritics-folded form alone: `_forms(word).fold`, without the stem.

    A word that folding leaves as it is (most news words) is returned itself, as `_forms` keeps
    it: the fold memo then holds no second copy of each word beside its key."""
    raw, lower = _written(word)
    fold = fold_diacritics(lower)
    return raw if fold == raw else fold


def _clear_when_full(memo: Sized) -> None:
    """Empty every memo when `memo` holds _MEMO_MAX words: each one is bounded, and what the
    others hold is found again as it is asked for."""
    if len(memo) >= _MEMO_MAX:
        _memo.clear()
        _stem_memo.clear()
        _fold_memo.clear()
        _head_memo.clear()
        _heads.clear()


# Each memo keeps only its own form of a word: a news word is asked for its stem (every field)
# and its head (the presearcher), rarely for all its forms (explanations, case-sensitive terms),
# so a Forms for every word was most of what a cold round's 21,000 words kept.


class _Memo(dict[str, Forms]):
    """Each token text's forms, computed on the first lookup (news repeats words endlessly).

    A dict whose misses compute: `map(_memo.__getitem__, words)` then runs at C speed for the
    words already seen, nearly all of them.
    """

    def __missing__(self, word: str) -> Forms:
        got = _forms(word)
        if len(word) <= _KEPT_MAX:
            _clear_when_full(self)
            self[word] = got
        return got


class _StemMemo(dict[str, str]):
    """Each token text's stem alone: what most fields are asked for."""

    def __missing__(self, word: str) -> str:
        got = _memo.get(word)
        stem = (got if got is not None else _forms(word)).stem
        if len(word) <= _KEPT_MAX:
            _clear_when_full(self)
            self[word] = stem
        return stem


class _FoldMemo(dict[str, str]):
    """Each token text's diacritics-folded form alone: what prefixes are tested against."""

    def __missing__(self, word: str) -> str:
        got = _memo.get(word)
        fold = got.fold if got is not None else _fold(word)
        if len(word) <= _KEPT_MAX:
            _clear_when_full(self)
            self[word] = fold
        return fold


class _HeadMemo(dict[str, str]):
    """Each token text's first HEAD folded characters: the presearcher's key for prefixes."""

    def __missing__(self, word: str) -> str:
        fold = _fold_memo.get(word)
        head = (fold if fold is not None else _fold(word))[:HEAD]
        if len(word) <= _KEPT_MAX:  # (`_heads` grows only with this memo: bounded by it)
            head = _heads.setdefault(head, head)  # one string per head: words share a few thousand
            _clear_when_full(self)
            self[word] = head
        return head


_memo = _Memo()
_stem_memo = _StemMemo()
_fold_memo = _FoldMemo()
_head_memo = _HeadMemo()
_heads: dict[str, str] = {}
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
    for m in token_re().finditer(text):
        word, start, end = m.group(1), m.start(1), m.end(1)
        if "," in word:
            out.append((word.replace(",", ""), start, end))
        elif "_" in word:
            for part in re.finditer("[^_]+", word):
                out.append((part.group(), start + part.start(), start + part.end()))
        else:
            out.append((word, start, end))
    return out


def token_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Each token's character span in `text`, given its tokens' texts (`_words(text)`): what
    `_spans` gives, found by `str.find` from the end of the token before.

    A token's text is the text as written unless a thousands separator or an underscore is in
    it (those texts take `_spans`); between two tokens lie only separators, and a possessive
    `'s` after a token, which the tokenizer drops: only a one-letter token `s` could be found
    inside it, and is then looked for after it. A C-speed search per token, where a regex
    pass made a match object per token (explanations ask every field they mark)."""
    if "_" in text or ("," in text and _THOUSANDS.search(text) is not None):
        return [(s, e) for _, s, e in _spans(text)]
    out: list[tuple[int, int]] = []
    find = text.find
    at = 0
    if "'" not in text and "’" not in text and "ʼ" not in text:  # none of _APOSTROPHES
        # No possessive to step over (four texts in five of real news): no test per token.
        append = out.append
        for w in words:
            start = find(w, at)
            at = start + len(w)
            append((start, at))
        return out
    for w in words:
        start = find(w, at)
        if start == at + 1 and out and (w == "s" or w == "S") and text[at] in _APOSTROPHES:
            start = find(w, at + 2)  # that one was the possessive of the token before
        at = start + len(w)
        out.append((start, at))
    return out


def token_spans_part(
    text: str, words: list[str], done: int, at: int, count: int, exact: str
) -> tuple[list[tuple[int, int]], int]:
    """`token_spans` a part at a time: the spans of tokens `done` onwards, at least `count` of
    them (all that are left if fewer), and where the next part resumes. `at` is what the part
    before returned (0 for the first); `exact` is `exact_spans(text)`. The parts together are
    `token_spans(text, words)`: an explanation needs the spans of its hits, not of every word
    of a long field."""
    out: list[tuple[int, int]] = []
    if exact == "regex":
        # `_spans` from the end of the last match it read: finditer resumes there itself.
        for m in token_re().finditer(text, at):
            word, start, end = m.group(1), m.start(1), m.end(1)
            if "_" in word:
                for part in re.finditer("[^_]+", word):
                    out.append((start + part.start(), start + part.end()))
            else:
                out.append((start, end))
            at = m.end()
            if len(out) >= count:
                break
        return out, at
    find = text.find
    search = token_re().search
    numbers = exact == "numbers"
    for w in words[done : done + count]:
        if numbers and len(w) > 3 and w.isdecimal():
            # Perhaps written with separators ("1,500" for 1500): the next token the regex
            # reads from here (the `s` of a possessive before it skipped) is this one. A regex
            # call for such a word only, where `_spans` made a match object for every word.
            got = search(text, at)
            if got is not None and got.group(1) in ("s", "S"):
                got = search(text, got.end())
            if got is not None and got.group(1).replace(",", "") == w:
                at = got.end(1)
                out.append((got.start(1), at))
                continue
        start = find(w, at)
        if (
            start == at + 1
            and (done or out)
            and (w == "s" or w == "S")
            and text[at] in _APOSTROPHES
        ):
            start = find(w, at + 2)  # that one was the possessive of the token before
        at = start + len(w)
        out.append((start, at))
    return out, at


def exact_spans(text: str) -> str:
    """How `token_spans_part` finds `text`'s spans: "regex" with an underscore (a token's text
    is then not as written), "numbers" with a thousands separator (a number's is not), else
    "" (each token is its text, searched for)."""
    if "_" in text:
        return "regex"
    return "numbers" if "," in text and _THOUSANDS.search(text) is not None else ""


# ASCII text without an apostrophe (no possessive to drop) and without a digit-comma-digit (no
# thousands separator to keep): a token is then a run of letters and digits, and translating every
# other character to a space and splitting finds the same tokens as the regex, about 3x faster.
# A bytes table: `bytes.translate` is a table lookup per byte, where `str.translate` with a dict
# looks each character up in the dict (and raises inside for each one it leaves alone).
_ASCII_SEPARATORS = bytes(c if c < 128 and chr(c).isalnum() else 0x20 for c in range(256))
# The non-ASCII characters that make most English news non-ASCII: punctuation, which the Unicode
# regex treats as separators (none is a letter, digit, mark or "_"), and the right single quote,
# an apostrophe to it as "'" is. With these replaced (each by a one-character ASCII stand-in, so
# every token keeps its text) a text is often ASCII, and the ASCII paths find the same tokens.
_ASCII_STAND_INS = (
    ("\u2019", "'"),  # ’
    *((c, " ") for c in "\u2014\u2013\u00ab\u00bb\u2018\u201c\u201d\u00a0\u200b\u2026"),
)


def _words(text: str) -> list[str]:
    """The tokens' texts alone, as `_spans` gives them (the fast path run on every item)."""
    if not text.isascii():
        plain = text
        for char, stand_in in _ASCII_STAND_INS:
            plain = plain.replace(char, stand_in)
        if not plain.isascii():
            return _joined_parts(token_re().findall(text))
        text = plain
    if "'" not in text and ("," not in text or _THOUSANDS.search(text) is None):
        return text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    return _joined_parts(_ASCII_TOKEN_RE.findall(text))


def _joined_parts(words: list[str]) -> list[str]:
    """The regex's tokens with thousands separators dropped and "_" split."""
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
