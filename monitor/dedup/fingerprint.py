"""The fingerprint of a story: MinHash of its words, LSH band keys, and the names it mentions. Pure.

What is fingerprinted: the title (without an aggregator's " - Outlet" tail) and the first
`SUMMARY_WORDS` words of the summary (or of the content when there is no summary). The shingles
are word 1-grams: the Snowball stems of the words that are not function words. Rewording across
outlets keeps most content words but few word pairs, so 1-grams find more of the same story;
word order, which 1-grams lose, is checked by the guard (monitor.dedup.guard) instead.

MinHash: `NUM_PERM` = 96 permutations, fixed `SEED`, datasketch's affine32 scheme computed in
pure Python (monitor.dedup.minhash, without numpy). LSH:
`BANDS` = 32 bands of `ROWS` = 3 full 32-bit values; two stories become candidates when any band
agrees, with probability 1-(1-J^3)^32: 0.87 at J = 0.4, 0.986 at 0.5, 0.9996 at 0.6, and 1 for
re-published identical text (which GUID churn produces). Unrelated news (J near 0.02) collides in
a band with probability about 2.6e-4 per stored story. Each band key is a 12-character string
(the band number in hex, then 10 hex digits of a BLAKE2b digest of the band's values), so a store
can index it as text.

The kept signature is the low 16 bits of each of the 96 values (b-bit MinHash, Li & Koenig
2010): two different minima agree by chance with probability 2^-16, which leaves the Jaccard
estimate as good as the full values (standard error sqrt(J(1-J)/96), 0.05 near J = 0.5) at half
the bytes. The names (for the guard) are kept as 32-bit CRCs of their roots
(monitor.dedup.text), so a stored fingerprint carries no text: about 200 + 4 * (names +
mentions) bytes, 300-450 bytes a story.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field

from monitor.dedup.minhash import EMPTY, NUM_PERM, SEED, minhash
from monitor.dedup.text import BREAK, COORDINATORS, entity_root, is_name, is_stopword, is_title_case
from monitor.dedup.text import stem as stem_word
from monitor.dedup.text import words as tokenize
from monitor.errors import NewsmonError
from monitor.model import Item

__all__ = ["NUM_PERM", "SEED", "StoryFingerprint", "fingerprint", "similarity"]

BANDS = 32
ROWS = 3
SUMMARY_WORDS = 40
FORMAT_VERSION = 2  # 2 adds title_terms; version 1 is still read (without them)
_LOW16 = 0xFFFF

# Aggregators append the outlet: "North Korea sends troops - Reuters", "... | AP News": up to
# five words, one space apart. Written so that a word cannot be split among the repeats, nor a
# space run entered midway: `(?:[^\s|-]+\s?){1,5}$` tried every split of a long word into five
# (a title of " - ", 200 letters and " |" took 146 s, holding the GIL: the daemon stood still).
_OUTLET_TAIL = re.compile(
    r"(?<!\s)\s++[|\u2013\u2014-]\s++[^\s|\u2013\u2014-]++(?:\s[^\s|\u2013\u2014-]++){0,4}\s?$"
)

_EMPTY16 = tuple(v & _LOW16 for v in EMPTY)


class FingerprintError(NewsmonError):
    """A stored fingerprint that cannot be read (wrong version or truncated)."""


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class TitleGroup:
    """A run of names in the title ("North Korea"), as the CRC of its roots; `coordinated` when
    only "and"/"or"/"with"/"vs" stand between it and the group before it."""

    root: int
    coordinated: bool


@dataclass(frozen=True)
class StoryFingerprint:
    """An item's story as compared: a MinHash of its title and lede, its title's names and terms."""

    signature: tuple[int, ...]  # NUM_PERM values: the low 16 bits of each MinHash value
    size: int  # distinct shingles (0: nothing to match on)
    title_names: frozenset[int]  # CRCs of the roots of the names and numbers in the title
    title_groups: tuple[TitleGroup, ...]  # in title order; empty for a Title Case headline
    mentions: frozenset[int]  # CRCs of the roots of every word of title and lede

    # The LSH band keys, from the full 32-bit values: known for a fingerprint just computed,
    # empty for one read back from the store (the store keeps its bands in their own table).
    bands: tuple[str, ...] = field(default=(), compare=False)
    # CRCs of the stems of the title's content words that are not names: what the headline says
    # happened. Empty when unknown (a fingerprint stored in format 1).
    title_terms: frozenset[int] = frozenset()

    def to_bytes(self) -> bytes:
        """A compact, text-free encoding for the store (see `from_bytes`)."""
        groups = [(g.root, int(g.coordinated)) for g in self.title_groups]
        head = struct.pack(
            "<BHHBBH",
            FORMAT_VERSION,
            len(self.signature),
            self.size,
            len(self.title_names),
            len(groups),
            len(self.mentions),
        )
        body = struct.pack(f"<{len(self.signature)}H", *self.signature)
        body += struct.pack(f"<{len(self.title_names)}I", *sorted(self.title_names))
        body += b"".join(struct.pack("<IB", r, c) for r, c in groups)
        body += struct.pack(f"<{len(self.mentions)}I", *sorted(self.mentions))
        body += struct.pack(f"<B{len(self.title_terms)}I", len(self.title_terms),
                            *sorted(self.title_terms))  # fmt: skip
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> StoryFingerprint:
        try:
            version, n_hash, size, n_names, n_groups, n_mentions = struct.unpack_from(
                "<BHHBBH", data
            )
            if version not in (1, FORMAT_VERSION) or n_hash != NUM_PERM:
                raise FingerprintError(f"unknown fingerprint format {version}/{n_hash}")
            off = struct.calcsize("<BHHBBH")
            signature = struct.unpack_from(f"<{n_hash}H", data, off)
            off += 2 * n_hash
            names = struct.unpack_from(f"<{n_names}I", data, off)
            off += 4 * n_names
            groups = []
            for _ in range(n_groups):
                root, coordinated = struct.unpack_from("<IB", data, off)
                groups.append(TitleGroup(root, bool(coordinated)))
                off += 5
            mentions = struct.unpack_from(f"<{n_mentions}I", data, off)
            off += 4 * n_mentions
            terms: tuple[int, ...] = ()
            if version >= 2:
                (n_terms,) = struct.unpack_from("<B", data, off)
                terms = struct.unpack_from(f"<{n_terms}I", data, off + 1)
        except struct.error as e:
            raise FingerprintError(f"truncated fingerprint: {e}") from e
        return cls(
            tuple(signature),
            size,
            frozenset(names),
            tuple(groups),
            frozenset(mentions),
            title_terms=frozenset(terms),
        )


def strip_outlet(title: str) -> str:
    """The title without an aggregator's trailing " - Outlet" (up to five words)."""
    stripped = _OUTLET_TAIL.sub("", title.strip())
    return stripped if len(stripped.split()) >= 3 else title.strip()


def lede_text(item: Item) -> str:
    return item.summary or item.content


def fingerprint(item: Item) -> StoryFingerprint:
    """The fingerprint of an item's title and lede."""
    return fingerprint_text(item.title, lede_text(item))


def fingerprint_text(title: str, lede: str) -> StoryFingerprint:
    title_marked = tokenize(strip_outlet(title), limit=60, breaks=True)
    lede_marked = tokenize(lede, limit=SUMMARY_WORDS, breaks=True)
    title_words = [w for w in title_marked if w != BREAK]
    lede_words = [w for w in lede_marked if w != BREAK]
    shingles = {stem_word(w) for w in (*title_words, *lede_words) if not is_stopword(w)}
    signature: tuple[int, ...] = _EMPTY16
    bands: tuple[str, ...] = ()
    if shingles:
        values = minhash(s.encode("utf-8") for s in shingles)
        signature = tuple(v & _LOW16 for v in values)
        bands = _bands(values)
    flags = name_flags(title_words, lede_words)
    names = {entity_root(w) for w, f in zip(title_words, flags, strict=True) if f}
    title_flags = _marked_flags(title_marked, flags)
    names.update(initials(title_marked, title_flags))
    lede_flags = [i > 0 and w != BREAK and is_name(w) for i, w in enumerate(lede_marked)]
    mentions = {entity_root(w) for w in (*title_words, *lede_words)}
    mentions.update(names, initials(lede_marked, lede_flags))
    pairs = zip(title_words, flags, strict=True)
    terms = {stem_word(w) for w, f in pairs if not f and not is_stopword(w)}
    return StoryFingerprint(
        signature,
        len(shingles),
        frozenset(_crc(n) for n in names),
        _groups(title_marked, title_flags),
        frozenset(_crc(m) for m in mentions),
        bands,
        frozenset(_crc(t) for t in sorted(terms)[:255]),
    )


def _bands(values: tuple[int, ...]) -> tuple[str, ...]:
    keys = []
    for b in range(BANDS):
        part = struct.pack(f"<{ROWS}I", *values[b * ROWS : (b + 1) * ROWS])
        keys.append(f"{b:02x}{hashlib.blake2b(part, digest_size=5).hexdigest()}")
    return tuple(keys)


def _marked_flags(marked: list[str], flags: list[bool]) -> list[bool]:
    """`flags` (one per word) spread over a token list that also holds BREAK marks."""
    it = iter(flags)
    return [False if w == BREAK else next(it) for w in marked]


def initials(tokens: list[str], flags: list[bool]) -> set[str]:
    """The acronyms of runs of two or more capitalised words ("European Central Bank" -> "ecb"),
    so that an outlet writing "ECB" names the same thing."""
    found: set[str] = set()
    run: list[str] = []
    for w, flag in zip([*tokens, "."], [*flags, False], strict=True):
        if flag and not w[0].isdigit():
            run.append(w)
            continue
        if len(run) >= 2:
            found.add("".join(x[0] for x in run).casefold())
        run = []
    return found


def name_flags(title_words: list[str], lede_words: list[str]) -> list[bool]:
    """Which title words are names: capitalised non-function words and numbers. A capital that
    may only mark the start of the headline (its first word, or any word of a Title Case
    headline) counts unless the lede writes that word in lower case and never capitalised
    ("Wildfire near Athens ..." / "A wildfire ..."); acronyms and numbers always count."""
    lower: set[str] = set()
    upper: set[str] = set()
    for i, w in enumerate(lede_words):
        if w[0].islower():
            lower.add(entity_root(w))
        elif i > 0 and w[0].isupper():
            upper.add(entity_root(w))
    title_case = is_title_case(title_words)
    flags = []
    for i, w in enumerate(title_words):
        flag = is_name(w)
        acronym_or_number = w[0].isdigit() or (len(w) > 1 and w.isupper())
        if flag and not acronym_or_number and (i == 0 or title_case):
            root = entity_root(w)
            flag = not (root in lower and root not in upper)
        flags.append(flag)
    return flags


def _groups(title_words: list[str], flags: list[bool]) -> tuple[TitleGroup, ...]:
    """Runs of names in the title, each with whether a coordinator joins it to the previous run.
    Numbers are not actors: they end a run without joining one."""
    groups: list[TitleGroup] = []
    run: list[str] = []
    between: list[str] = []
    for w, flag in zip(title_words, flags, strict=True):
        if flag and not w[0].isdigit():
            run.append(entity_root(w))
            continue
        if run:
            groups.append(_group(run, groups, between))
            run, between = [], []
        if not w[0].isdigit():
            between.append(w.casefold())
    if run:
        groups.append(_group(run, groups, between))
    return tuple(groups)


def _group(run: list[str], before: list[TitleGroup], between: list[str]) -> TitleGroup:
    coordinated = bool(before) and bool(between) and all(w in COORDINATORS for w in between)
    return TitleGroup(_crc(" ".join(run)), coordinated)


def similarity(a: StoryFingerprint, b: StoryFingerprint) -> float:
    """The MinHash estimate of the Jaccard similarity of the two shingle sets (0 if either is
    empty)."""
    if a.size == 0 or b.size == 0:
        return 0.0
    return sum(1 for x, y in zip(a.signature, b.signature, strict=True) if x == y) / NUM_PERM
