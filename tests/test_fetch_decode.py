"""The bounded Content-Encoding decoders, fed the way a network delivers bytes."""

from __future__ import annotations

import time
import zlib

import brotli
import pytest

from monitor.net.decode import CHUNK, DecodeError, Decoder, make_decoder

TEXT = b"".join(b"<item><title>story %d</title></item>" % n for n in range(20000))


def decode_all(decoder: Decoder, data: bytes, step: int) -> tuple[bytes, int]:
    out, biggest = bytearray(), 0
    for start in range(0, len(data), step):
        for piece in decoder.decode(data[start : start + step]):
            out += piece
            biggest = max(biggest, len(piece))
    for piece in decoder.finish():
        out += piece
        biggest = max(biggest, len(piece))
    return bytes(out), biggest


ENCODED = {
    "gzip": zlib.compress(TEXT, wbits=31),
    "deflate": zlib.compress(TEXT),
    "br": brotli.compress(TEXT),
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_round_trip_in_any_chunking_with_bounded_pieces(encoding: str, step: int) -> None:
    out, biggest = decode_all(make_decoder(encoding), ENCODED[encoding], step)
    assert out == TEXT
    assert biggest <= 2 * CHUNK  # brotli may overshoot its buffer limit by one growth step


@pytest.mark.parametrize("step", [5, 1 << 20])  # 1 MiB: every member in one read
def test_gzip_with_several_members_decodes_them_all(step: int) -> None:
    data = b"".join(zlib.compress(word, wbits=31) for word in (b"one ", b"two ", b"three"))
    assert decode_all(make_decoder("gzip"), data, step)[0] == b"one two three"


def test_many_empty_gzip_members_cost_bounded_time() -> None:
    # 10 MiB of 20-byte empty members, read 64 KiB at a time: every member is a new zlib
    # stream (about 1.6 us each, 0.8 s here), and none may cost a copy of all before it.
    member = zlib.compress(b"", wbits=31)
    data = member * ((10 << 20) // len(member))
    started = time.process_time()
    assert decode_all(make_decoder("gzip"), data, 1 << 16)[0] == b""
    assert time.process_time() - started < 8


def test_gzip_trailing_garbage_is_ignored() -> None:
    data = zlib.compress(b"feed", wbits=31) + b"\0\0garbage"
    assert decode_all(make_decoder("gzip"), data, 1 << 10)[0] == b"feed"


def test_truncated_gzip_gives_what_it_had() -> None:
    data = zlib.compress(TEXT, wbits=31)
    out, _ = decode_all(make_decoder("gzip"), data[: len(data) // 2], 1 << 12)
    assert TEXT.startswith(out)
    assert len(out) > 0


def test_decoding_stops_when_the_caller_stops() -> None:
    # A bomb is inflated only as far as the caller reads: one piece, not the whole stream.
    bomb = zlib.compress(b"\0" * (8 << 20), 9, wbits=31)
    pieces = make_decoder("gzip").decode(bomb)
    assert len(next(pieces)) <= CHUNK


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (None, "IdentityDecoder"),
        ("", "IdentityDecoder"),
        ("identity", "IdentityDecoder"),
        ("GZIP", "ZlibDecoder"),
        ("x-gzip", "ZlibDecoder"),
        ("deflate", "ZlibDecoder"),
        ("br", "BrotliDecoder"),
        ("identity, gzip", "ZlibDecoder"),
    ],
)
def test_make_decoder_choice(header: str | None, kind: str) -> None:
    assert type(make_decoder(header)).__name__ == kind


@pytest.mark.parametrize(("encoding", "data"), [("gzip", b"plain text"), ("br", b"\xff" * 64)])
def test_corrupt_data_is_a_decode_error(encoding: str, data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_all(make_decoder(encoding), data, 1 << 10)
