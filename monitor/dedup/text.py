"""Words of a headline and lede for story matching: tokens, stems, entity roots. Pure.

This is not the rule matcher's tokenizer (monitor.query): story matching needs the original case
(to tell names from common words) and a coarser notion of "the same name" (Russia ~ Russian).

- `words(text)`: tokens in order with their original spelling; letters and digits of any script;
  a possessive `'s` is dropped; dotted acronyms are joined (U.S. -> US); thousands separators stay
  inside a number (10,000 -> 10000); a spelled-out number up to ninety is written in digits
  ("Ten civilians killed" -> 10), so that it is a number to the guard, as "10" would be.
- `stem(word)`: Snowball English (PyStemmer, memoised) of the case-folded word.
- `entity_root(word)`: a name reduced so that a country and its demonym meet (Russia/Russian,
  Ukraine/Ukrainian, China/Chinese, Japan/Japanese) while near neighbours stay apart
  (Austria/Australia, Iran/Iraq; Niger/Nigeria and India/Indiana by an explicit list).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}")
_TOKEN = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[^\W\d_]+(?:['’][^\W\d_]+)*|[,;:.!?()\"“”]"
)
_CHARS_PER_WORD = 40
BREAK = ","  # stands for any punctuation mark when `words(..., breaks=True)`
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)

# Spelled-out numbers, as digits. Templated reports differ only in them ("Russians killed eight
# civilians over past day" / "Ten civilians killed ... over past day"): as words, one outlet's
# "Ten" at the head of a headline was no name and "eight" was a plain word, so the guard let
# two days' figures merge (a lost alert). Larger units ("hundred", "million") mostly follow
# digits ("1.5 million") and stay words.
_UNIT_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = {w: str(n) for n, w in enumerate(_UNIT_WORDS.split())} | {
    w: str(10 * n) for n, w in enumerate(_TENS_WORDS.split(), 2)
}
_TENS = frozenset({"20", "30", "40", "50", "60", "70", "80", "90"})

# Function words: they carry no story, and a capitalised one ("The") is no name.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those through
    to too under until up very was we were what when where which while who whom why will with
    would you your yours amid via says said say new after over latest live update updates
    breaking report reports watch video photos""".split()  # noqa: SIM905 - reads as a word list
)

# Between two names, these words make them a list ("Russia and North Korea"), not actor and
# target, so their order carries no meaning.
COORDINATORS = frozenset({"and", "or", "&", "vs", "versus", "with", "v", ","})

_STRIP_VOWELS = "aeiouy"
# Demonym and plural endings, longest first; a root keeps at least 4 letters.
_SUFFIXES = ("ians", "ian", "eans", "ean", "ans", "an", "es", "ns", "s", "i")
_MIN_ROOT = 4
# Names that the suffix rules would wrongly join with a neighbour.
_ROOT_EXCEPTIONS = {
    "niger": "niger#",
    "nigerien": "niger#",
    "nigeriens": "niger#",
    "indiana": "indiana#",
    "indianan": "indiana#",
    "indianans": "indiana#",
}

_stemmer = Stemmer.Stemmer("english", 0)  # its own cache is slower than our memo


def normalise(text: str) -> str:
    """NFKC, with dotted acronyms joined (U.S. -> US, U.N. -> UN)."""
    text = unicodedata.normalize("NFKC", text)
    return _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)


def words(text: str, limit: int | None = None, *, breaks: bool = False) -> list[str]:
    """The tokens of `text` in order, original spelling, at most `limit` words; with `breaks`,
    each punctuation mark also gives a `BREAK` token (names do not run across it)."""
    if limit is not None:
        text = text[: _CHARS_PER_WORD * limit]  # a whole article is not normalised for 40 words
    found: list[str] = []
    count = 0
    tens = False  # the last word was a spelled-out multiple of ten ("twenty")
    for m in _TOKEN.finditer(normalise(text)):
        token = m.group(0)
        if not token[0].isalnum():
            if breaks and found and found[-1] != BREAK:
                found.append(BREAK)
            tens = False
            continue
        spelled = ""
        if token[0].isdigit():
            token = token.replace(",", "")
        elif len(token) <= 9 and token.casefold() in _NUMBER_WORDS:
            token = spelled = _NUMBER_WORDS[token.casefold()]
            if tens and len(spelled) == 1 and spelled != "0":
                found[-1] = found[-1][0] + spelled  # "twenty-two" is 22, not 20 and 2
                tens = False
                continue
        else:
            token = _POSSESSIVE.sub("", token).replace("'", "").replace("’", "")
        tens = spelled in _TENS
        if token:
            found.append(token)
            count += 1
            if limit is not None and count >= limit:
                break
    return found


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    folded = word.casefold()
    return folded if folded[0].isdigit() else str(_stemmer.stemWord(folded))


def is_stopword(word: str) -> bool:
    return word.casefold() in STOPWORDS


def is_name(word: str) -> bool:
    """A capitalised word or a number that is not a function word: a candidate actor, place or
    quantity."""
    if word[0].isdigit():
        return True
    return word[0].isupper() and not is_stopword(word)


@lru_cache(maxsize=65536)
def entity_root(word: str) -> str:
    """A case-folded name with demonym/plural endings removed (see the module docstring)."""
    w = word.casefold()
    if w in _ROOT_EXCEPTIONS:
        return _ROOT_EXCEPTIONS[w]
    if w[0].isdigit():
        return w
    while True:
        before = w
        while len(w) > _MIN_ROOT and w[-1] in _STRIP_VOWELS:
            w = w[:-1]
        for suffix in _SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= _MIN_ROOT:
                w = w[: -len(suffix)]
                break
        if w == before:
            return w


def is_title_case(tokens: list[str]) -> bool:
    """True when most non-function words of a headline are capitalised ("Troops Sent To Russia"):
    then capitals do not mark names, and word order is all we would have to go on."""
    content = [t for t in tokens if not t[0].isdigit() and not is_stopword(t)]
    if len(content) < 3:
        return False
    upper = sum(1 for t in content if t[0].isupper())
    return upper >= 0.8 * len(content)
