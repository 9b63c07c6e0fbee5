"""The pure-Python MinHash gives datasketch's affine32 values, so stored fingerprints stay valid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasketch  # a dev dependency: the reference these values must equal, not run time
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedup import minhash as mh


def _datasketch_minhash(words: Sequence[bytes] = ()) -> Any:
    ref = datasketch.MinHash(num_perm=mh.NUM_PERM, seed=mh.SEED, scheme="affine32")
    ref.update_batch(words)
    return ref


def _reference(words: list[bytes]) -> tuple[int, ...]:
    return tuple(int(v) for v in _datasketch_minhash(words).hashvalues)


def test_permutations_are_datasketchs() -> None:
    a, b = _datasketch_minhash().permutations
    assert tuple(int(x) for x in a) == mh._A
    assert tuple(int(x) for x in b) == mh._B


def test_no_words_is_the_empty_signature() -> None:
    assert mh.minhash([]) == mh.EMPTY == _reference([])


def test_a_known_signature() -> None:
    # Pinned (the values datasketch gives) so a change to hashing shows without it too.
    got = mh.minhash([b"troop", b"dispatch", b"ukrain"])
    assert got[:4] == (135804159, 429754695, 1105502633, 408056170)
    assert got[-2:] == (351081731, 823137174)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), max_size=60))
def test_same_values_as_datasketch(words: list[str]) -> None:
    encoded = [w.encode("utf-8") for w in words]
    assert mh.minhash(encoded) == _reference(encoded)


def test_order_and_repeats_do_not_matter() -> None:
    words = [b"nato", b"delegation", b"kyiv", b"visit"]
    assert mh.minhash(words) == mh.minhash([*reversed(words), b"kyiv", b"nato"])
