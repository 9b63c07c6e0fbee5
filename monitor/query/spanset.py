"""Sets of spans as bitsets: NEAR and ONEAR in time linear in a field's length. Pure.

A span is `(first, last)`, token positions, inclusive. A `Spans` is a dict from a width
`last - first` to an int whose bit `first` is set for each span of that width: every span of a
field, however many (a chain of NEARs over a text of one repeated word has millions), in at most
`width + 1` ints of `n` bits for a field of `n` words, combined with shifts, ANDs and ORs that
Python runs over machine words. Building every pair of spans instead took minutes and gigabytes
on a 5,000-word item.

Two spans are near, `a` then `b`, when `b` starts 1 to `distance + 1` positions after `a` ends
(at most `distance` other words between them; overlapping spans never pair); their union is the
span from `a`'s first to `b`'s last position.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, islice

Spans = dict[int, int]
Span = tuple[int, int]

_BITS = bytes.maketrans(b"01", b"\x00\x01")


def bits(positions: Sequence[int]) -> int:
    """An int with the bit of each position set (positions ascending or not)."""
    if len(positions) < 32:
        x = 0
        for p in positions:
            x |= 1 << p
        return x
    buf = bytearray((max(positions) >> 3) + 1)
    for p in positions:
        buf[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(buf, "little")


def ones(x: int) -> list[int]:
    """The positions of the set bits of `x`, ascending (one C-speed pass over its digits)."""
    if not x:
        return []
    digits = format(x, "b").encode().translate(_BITS)[::-1]
    return list(compress(range(len(digits)), digits))


def of(spans: Iterable[Span]) -> Spans:
    """The bitset form of a list of spans."""
    by_width: dict[int, list[int]] = {}
    for first, last in spans:
        by_width.setdefault(last - first, []).append(first)
    return {w: bits(starts) for w, starts in by_width.items()}


def union(sets: Iterable[Spans]) -> Spans:
    out: Spans = {}
    for s in sets:
        for w, x in s.items():
            out[w] = out.get(w, 0) | x
    return out


def starts(s: Spans) -> int:
    out = 0
    for x in s.values():
        out |= x
    return out


def ends(s: Spans) -> int:
    out = 0
    for w, x in s.items():
        out |= x << w
    return out


def _spread(x: int, distance: int, up: bool) -> int:
    """`x` shifted by each of 1 … distance + 1 positions (up or down), ORed: 2·log2 shifts."""
    y = x << 1 if up else x >> 1
    done, reach = 1, distance + 1
    while done < reach:
        step = min(done, reach - done)
        y |= y << step if up else y >> step
        done += step
    return y


def near_any(a: Spans, b: Spans, distance: int) -> bool:
    """Whether some span of `b` starts 1 to distance + 1 positions after a span of `a` ends."""
    if not a or not b:
        return False
    return _spread(ends(a), distance, True) & starts(b) != 0


def _window_ors(values: list[int], size: int) -> list[int]:
    """out[j] = OR of values[j - size + 1 .. j] (clipped), for j in 0 … len + size - 2.

    Blocks of `size`: a window is a suffix of one block and a prefix of the next, so every
    window costs one OR after two passes (a window OR cannot be undone, unlike a sum)."""
    padded = values + [0] * (size - 1)
    n = len(padded)
    prefix, suffix = padded[:], padded[:]
    for i in range(1, n):
        if i % size:
            prefix[i] |= prefix[i - 1]
    for i in range(n - 2, -1, -1):
        if (i + 1) % size:
            suffix[i] |= suffix[i + 1]
    out = []
    for j in range(n):
        lo = j - size + 1
        out.append(prefix[j] if lo <= 0 or lo % size == 0 else suffix[lo] | prefix[j])
    return out


def _dense(s: Spans) -> tuple[int, list[int]]:
    low = min(s)
    return low, [s.get(w, 0) for w in range(low, max(s) + 1)]


def then(a: Spans, b: Spans, distance: int) -> Spans:
    """The unions of every span of `a` with every span of `b` that follows it within `distance`.

    A span of `a` at `s`, width `wa`, and one of `b` starting `t` after `s` (so the gap is
    `t - wa`, 1 … distance + 1) give the span at `s` of width `t + wb`. Either `b`'s widths are
    iterated and `a`'s ORed over the window of widths that fit each `t`, or the other way round
    with `b`'s ends: `len(one) * (range of the other + distance)` bitset operations, the fewer.
    """
    if not a or not b:
        return {}
    out: Spans = {}
    size = distance + 1
    low_a, dense_a = _dense(a)
    low_b, dense_b = _dense(b)
    if len(b) * (len(dense_a) + distance) <= len(a) * (len(dense_b) + distance):
        windows = _window_ors(dense_a, size)  # windows[t - 1 - low_a]: widths t - size … t - 1
        for wb, xb in b.items():
            for j, w in enumerate(windows):
                if w:
                    t = j + 1 + low_a
                    got = w & (xb >> t)
                    if got:
                        out[t + wb] = out.get(t + wb, 0) | got
    else:
        # By ends: `u` is the gap plus `b`'s width; windows[u - 1 - low_b] holds the ends of
        # `b`'s spans whose width fits u, so a span of `a` at `s`, width `wa`, needs an end at
        # s + wa + u, and their union has width wa + u.
        ends_b = [x << (low_b + i) for i, x in enumerate(dense_b)]
        windows = _window_ors(ends_b, size)
        for wa, xa in a.items():
            for j, w in enumerate(windows):
                if w:
                    width = wa + j + 1 + low_b
                    got = xa & (w >> width)
                    if got:
                        out[width] = out.get(width, 0) | got
    return out


def then_cost(a: tuple[int, int], b: tuple[int, int], distance: int) -> int:
    """An upper bound of `then`'s bitset operations, from the two sides' least and greatest
    widths (known from the query alone)."""
    ra, rb = a[1] - a[0] + 1, b[1] - b[0] + 1
    return min(rb * (ra + distance), ra * (rb + distance))


def paired(a: Spans, b: Spans, distance: int, ordered: bool) -> tuple[Spans, Spans]:
    """The spans of `a` and of `b` that are part of some near pair (`a` first when ordered)."""
    if not a or not b:
        return {}, {}
    after_a = _spread(ends(a), distance, True)  # bit p: an `a` span ends 1 … d + 1 before p
    before_b = _spread(starts(b), distance, False)  # bit p: a `b` span starts 1 … d + 1 after p
    out_a = {w: x & (before_b >> w) for w, x in a.items()}
    out_b = {w: x & after_a for w, x in b.items()}
    if not ordered:
        after_b = _spread(ends(b), distance, True)
        before_a = _spread(starts(a), distance, False)
        out_a = {w: x | (a[w] & after_b) for w, x in out_a.items()}
        out_b = {w: x | (b[w] & (before_a >> w)) for w, x in out_b.items()}
    return {w: x for w, x in out_a.items() if x}, {w: x for w, x in out_b.items() if x}


def first(s: Spans, limit: int) -> list[Span]:
    """The first `limit` spans in (first, last) order."""
    runs = [[(p, p + w) for p in ones(x)[:limit]] for w, x in s.items()]
    return list(islice(heapq.merge(*runs), limit))


def covered(s: Spans) -> Callable[[int, int], bool]:
    """A test of whether positions first … last lie inside one of the spans of `s`.

    `cover[w]` has bit p set when some span holds p … p + w: a span of width d holds every run
    of width w starting in its first d - w + 1 positions, so, from the widest down,
    cover[w] = s[w] | cover[w + 1] | cover[w + 1] << 1 (two operations a width). Each width
    asked for is then written out once as a string of bits, for a test of one character.
    """
    if not s:
        return lambda first, last: False
    top = max(s)
    cover = [0] * (top + 2)
    for w in range(top, -1, -1):
        above = cover[w + 1]
        cover[w] = s.get(w, 0) | above | above << 1
    flags: dict[int, bytes] = {}

    def inside(first: int, last: int) -> bool:
        w = last - first
        if w > top:
            return False
        got = flags.get(w)
        if got is None:
            got = flags[w] = format(cover[w], "b").encode()[::-1]
        return first < len(got) and got[first] == 49  # "1"

    return inside
