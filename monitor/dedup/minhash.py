"""MinHash in pure Python, value for value the same as datasketch's ``affine32`` scheme. Pure.

Why not datasketch itself: it brings numpy and scipy, about 55 MB of memory and 0.6 s of CPU
to import, into a process that fingerprints a few hundred items a poll round; here one
fingerprint of 40 words costs about 0.2 ms. The stored fingerprints stay valid: the same
permutations (datasketch's, drawn from ``numpy.random.RandomState(SEED)`` and written out
below) give the same values, which tests/test_minhash.py checks against datasketch itself.

The scheme: each word is hashed with the first 4 bytes of SHA-1 (little-endian), mixed with the
MurmurHash3 32-bit finalizer, then sent through ``NUM_PERM`` affine maps ``a*h + b mod 2^32``
(``a`` odd, so each is a bijection); a signature keeps the minimum of each map over the words.

Speed: the 96 maps run as one big-integer multiply per word. The constants sit in 64-bit lanes
of one integer, so ``A*h + B`` computes every ``a*h + b`` at once (each product is below 2^64
and cannot carry into the next lane), and a mask keeps the low 32 bits of each lane.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

NUM_PERM = 96
SEED = 20261127  # what datasketch drew the permutations below from
_MASK32 = 0xFFFFFFFF
EMPTY = (_MASK32,) * NUM_PERM  # the signature of no words: every minimum still at its maximum

# The (a, b) of each map, as datasketch 2.0 draws them for SEED and 96 permutations.
# fmt: off
_A: tuple[int, ...] = (
    0x508D50FD, 0x1A384909, 0x3879C86F, 0xFCFC76A1, 0x5B3FC293, 0x6C1733F1,
    0x1DE7F24F, 0xE771774B, 0xB4944C4F, 0x36DAC8E1, 0x198FBDCB, 0x09D21911,
    0xC5DC3083, 0xE1431E31, 0xE66C056B, 0x31399D0D, 0xDFC5844D, 0x70C42499,
    0x1FFE47F5, 0xC7D2A507, 0x058A81FB, 0x711C5DC1, 0xF2DF5C97, 0xA2EF860D,
    0xA2FD8A6B, 0x13453E91, 0x1A633F7B, 0x22BDA121, 0xA440C467, 0xA1C58071,
    0x57779ED9, 0x993C4D1B, 0x5F375B27, 0x7D3497F1, 0x0A5B9FED, 0x54777173,
    0xDE3DC235, 0x440B77CB, 0x708AC50B, 0xD2CB8DB1, 0x37591EEB, 0x1D9F7821,
    0x8DFEA501, 0x38E4E547, 0x58ED4529, 0x4CE563BB, 0x8EA5DC97, 0x7F6F4CF9,
    0x862EFD55, 0xFA88669D, 0xF18FCC6F, 0xA3CFF867, 0xA298DEB5, 0x1C768227,
    0x6CAFFA0D, 0x9C9EE5A9, 0x55341EFD, 0xF9813C71, 0xEF2E4FB3, 0x475F4DA7,
    0x301B1B01, 0x5B003DC9, 0x70C6EE1B, 0x7435D89D, 0xC800F14D, 0xCCD21B79,
    0x2869612F, 0x7B626A29, 0x047F0B7F, 0x0744F3E1, 0x031AA837, 0xC719EB47,
    0xF1B8D6B9, 0x94506087, 0xEFDEA9BB, 0xCC6384BD, 0x891DABAD, 0x04BBF771,
    0x0F1A523B, 0x861E1EE3, 0x5183A97B, 0x76B25ED9, 0x80D26793, 0x7C2382CF,
    0x560220BF, 0x174D16F3, 0x9A441073, 0x86C59D77, 0xB285936D, 0x4BDD61B1,
    0xF42BB1FD, 0x34E240FD, 0xCC82414B, 0xFE7477B3, 0xBE791967, 0xDCCFF965,
)
_B: tuple[int, ...] = (
    0x1C6D33B2, 0xE65BF3A4, 0xDBED04CA, 0xB1018F1F, 0xD1A58923, 0xECAEB5B6,
    0x9F350DD5, 0x24035A66, 0x9EAF269C, 0x7A222E23, 0x523CE8C9, 0x7A9171E9,
    0xB4D075EF, 0x201BFC29, 0xD9A0ED90, 0x18196D2D, 0xC9240AC3, 0x48DAE102,
    0x246472F0, 0x474FE153, 0xD1A6C6EF, 0x0E9D4DDF, 0xDEE97BD4, 0xCCF16410,
    0x7B118F00, 0x3CA0E85C, 0x04EC65FE, 0xBA15B2C8, 0x86B52F24, 0x6819B9DD,
    0xEBFB6046, 0xF13949CB, 0x9F2A5D0D, 0x0750DA2C, 0x47DE6A92, 0xEE14ED6F,
    0xEDDAAAB1, 0x3CB50E08, 0x0A580450, 0x7101B06C, 0x29FDE362, 0xC1FB1B91,
    0x30E64E2A, 0xD7044A1B, 0x36D27FF6, 0x93585A55, 0x4D801903, 0xFDBA2D43,
    0x05DBC31A, 0x0AA63107, 0xF2D94529, 0xEE39805E, 0xACAB9DBD, 0x6262E5E9,
    0xFE94BD61, 0x142AD475, 0xAC8E6416, 0x916245EB, 0x97D98618, 0x4EE47412,
    0xDF1A6C92, 0xB1330741, 0xF3D06BA6, 0xFC4222B8, 0x446DC08C, 0x0DDA868D,
    0x9D030D0D, 0x1491FB6E, 0xEC3834D8, 0xF42779AF, 0xDDFDCA2A, 0x00F3F593,
    0x8D126D04, 0x8843A033, 0xBAD951ED, 0x54A4F318, 0x30FFD0A0, 0x452577AB,
    0xAC272345, 0xA4DF093C, 0x900351BD, 0xD9D906B2, 0x8174EB7B, 0x619647E2,
    0xFC19E053, 0x3D9B6FB7, 0x1A437CAB, 0x59B87BB6, 0x5F3D51D0, 0x8DE49ED1,
    0xC1B08DD5, 0xDB05AC98, 0x264DCCCD, 0xE5AF74E4, 0x0769D3D6, 0x7BBD9F61,
)
# fmt: on

_LANE = 64
_A_LANES = sum(a << (_LANE * k) for k, a in enumerate(_A))
_B_LANES = sum(b << (_LANE * k) for k, b in enumerate(_B))
_MASK_LANES = sum(_MASK32 << (_LANE * k) for k in range(NUM_PERM))
_LANE_BYTES = NUM_PERM * _LANE // 8
_UNPACK = struct.Struct(f"<{NUM_PERM}Q").unpack


def word_hash(word: bytes) -> int:
    """The 32-bit hash of one word: SHA-1's first 4 bytes, then the MurmurHash3 finalizer."""
    h = int.from_bytes(hashlib.sha1(word).digest()[:4], "little")  # noqa: S324 - not for security
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def permuted(h: int) -> tuple[int, ...]:
    """The NUM_PERM affine maps of one hash value, computed in one multiply (see above)."""
    lanes = (_A_LANES * h + _B_LANES) & _MASK_LANES
    return _UNPACK(lanes.to_bytes(_LANE_BYTES, "little"))


def minhash(words: Iterable[bytes]) -> tuple[int, ...]:
    """The signature of a set of words: NUM_PERM 32-bit minima (EMPTY when there are none)."""
    rows = [permuted(word_hash(w)) for w in words]
    if not rows:
        return EMPTY
    return tuple(map(min, zip(*rows, strict=True)))
