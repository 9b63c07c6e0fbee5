"""The false-merge guard: two texts that share many words but differ in who did what. Pure.

Near-duplicate text is not enough to call two items one story: "North Korea sends troops to
Russia" and "South Korea sends troops to Poland" share most of their words. A false merge hides a
story from everyone who watches it, a missed merge only sends one extra alert, so the guard errs
towards "apart". It compares the names (capitalised words that are not function words, and
numbers) of the two titles, as roots (Russia ~ Russian, see monitor.dedup.text):

1. absent names: each title names something that the other item (title and lede) never
   mentions -> apart. One-sided extra detail ("Fire at Lyon factory kills 12" vs "Fire at
   factory kills 12") is allowed.
2. different title names: each title names something the other TITLE lacks (even if the other's
   lede mentions it: "South Korea sends troops to Poland, after North Korea sent troops to Russia")
   and the titles share no more names than they differ by -> apart. Two outlets naming one or two
   different sources ("..., Seoul says" / "..., South Korean spy agency says") beside three shared
   names still merge.
3. different events: the titles' content words that are not names ("what happened") share
   less than `MIN_SHARED_EVENT_WORDS` of the shorter set ("Ministers in Tbilisi back rail strike
   talks" / "Ministers in Tbilisi warn over housing targets": none; "City council in Manila warn
   over airport runway" / "City council in Manila review rail strike talks": 1 of 4) -> apart,
   however much of the lede the two share: templated or boilerplate ledes made different
   stories look alike. Reworded headlines of one story keep a third or more of those words in
   the labelled pairs (troops; cuts, rates; wildfire, evacuations, suburbs); when they do not,
   the cost is one extra alert.
4. reversed roles: two name groups that both titles contain appear in opposite order ("Russia
   sends troops to North Korea" vs "North Korea sends troops to Russia") -> apart, unless they
   are only listed ("Russia and North Korea sign pact"). Title Case headlines skip this check
   (their capitals do not mark names).
"""

from __future__ import annotations

from monitor.dedup.fingerprint import StoryFingerprint, TitleGroup

# Share of the shorter title's event words the other title must have for a merge. Labelled
# same-story pairs: 0.33 and up; templated different stories from the poll benchmark: 0-0.25.
MIN_SHARED_EVENT_WORDS = 0.3


def conflict(a: StoryFingerprint, b: StoryFingerprint) -> str:
    """Why `a` and `b` must stay apart ("" when nothing speaks against a merge)."""
    if (a.title_names - b.mentions) and (b.title_names - a.mentions):
        return "absent-names"
    only_a = a.title_names - b.title_names
    only_b = b.title_names - a.title_names
    if only_a and only_b and len(a.title_names & b.title_names) <= len(only_a) + len(only_b):
        return "different-names"
    if a.title_terms and b.title_terms:
        shared = len(a.title_terms & b.title_terms)
        if shared < MIN_SHARED_EVENT_WORDS * min(len(a.title_terms), len(b.title_terms)):
            return "different-events"
    if _reversed(a.title_groups, b.title_groups) or _reversed(b.title_groups, a.title_groups):
        return "reversed-roles"
    return ""


def _reversed(a: tuple[TitleGroup, ...], b: tuple[TitleGroup, ...]) -> bool:
    """True when two groups in `a` (not a coordinated pair) come in the opposite order in `b`.
    A group that a title names twice has no one place ("Ukraine war: Russia says it will hold
    talks with Ukraine"): it orders nothing, or a title would be reversed against itself."""
    once = _once(a) & _once(b)
    pos_b = {g.root: i for i, g in enumerate(b) if g.root in once}
    shared = [(i, g) for i, g in enumerate(a) if g.root in once]
    for x, (i, gi) in enumerate(shared):
        for j, gj in shared[x + 1 :]:
            bi, bj = pos_b[gi.root], pos_b[gj.root]
            if bi <= bj:
                continue
            if _coordinated(a, i, j) or _coordinated(b, bj, bi):
                continue
            return True
    return False


def _coordinated(groups: tuple[TitleGroup, ...], i: int, j: int) -> bool:
    """Groups i < j form a list: each group from i+1 to j is joined to its predecessor by a
    coordinator only."""
    return all(groups[k].coordinated for k in range(i + 1, j + 1))


def _once(groups: tuple[TitleGroup, ...]) -> set[int]:
    """The roots of the groups that occur once."""
    seen: set[int] = set()
    twice: set[int] = set()
    for g in groups:
        (twice if g.root in seen else seen).add(g.root)
    return seen - twice
