"""Bounded Content-Encoding decoders (gzip, deflate, br). Pure: bytes in, bounded pieces out.

httpx decodes whole chunks at once (a gzip bomb's first decoded chunk was 67 MB against a 10 MiB
cap), so `fetch` reads raw bytes and decodes them here. Each `decode` call yields pieces of at
most about `CHUNK` bytes and produces the next piece only when asked, so the caller can stop at its
cap before anything more is inflated.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli

from monitor.errors import FeedError

CHUNK = 64 * 1024

# What `fetch` advertises; brotli's Decompressor bounds its output (output_buffer_limit, 1.1+).
ACCEPT_ENCODING = "gzip, deflate, br"


class DecodeError(FeedError):
    """The body does not decode under the Content-Encoding the server declared."""

    def __init__(self, message: str) -> None:
        super().__init__("parse", message)


class Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class IdentityDecoder:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class ZlibDecoder:
    """gzip (several members allowed) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, *, gzip: bool) -> None:
        self._gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._started = False
        self._done = False

    def _decompress(self, data: bytes) -> bytes:
        try:
            out = self._d.decompress(data, CHUNK)
        except zlib.error as e:
            if not self._started and not self._gzip:
                # "deflate" without the zlib wrapper: retry the same bytes as raw deflate.
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self._decompress(data)
            raise DecodeError(f"body is not valid {'gzip' if self._gzip else 'deflate'}") from e
        self._started = True
        return out

    def decode(self, data: bytes) -> Iterator[bytes]:
        more = True  # a full CHUNK of output may mean zlib holds more without further input
        while (data or more) and not self._done:
            if self._d.eof:
                data = self._d.unused_data + data
                if not (self._gzip and data):
                    self._done = not self._gzip  # bytes after a deflate stream are ignored
                    return
                self._d = zlib.decompressobj(self._wbits)  # the next gzip member
                try:
                    out = self._d.decompress(data, CHUNK)
                except zlib.error:
                    self._done = True  # trailing garbage after the last member, as gzip(1) does
                    return
            else:
                out = self._decompress(data)
            more = len(out) == CHUNK
            if out:
                yield out
            data = self._d.unconsumed_tail
            if self._gzip and self._d.eof and self._d.unused_data:
                more = True  # the next member came in the same read: on with it now
                # (finish() would find the stream ended and drop it)

    def finish(self) -> Iterator[bytes]:
        if self._done or self._d.eof:
            return
        yield from self.decode(b"")
        # A truncated stream gives what it had, as browsers do; the parser judges the rest.
        tail = self._d.flush(CHUNK)
        if tail:
            yield tail


class BrotliDecoder:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def _process(self, data: bytes) -> bytes:
        try:
            return bytes(self._d.process(data, output_buffer_limit=CHUNK))
        except brotli.error as e:
            raise DecodeError("body is not valid brotli") from e

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._d.is_finished():
            return  # bytes after the end of the stream are ignored
        out = self._process(data)
        if out:
            yield out
        # When the output limit was reached, brotli must be drained with empty input.
        while not self._d.can_accept_more_data():
            out = self._process(b"")
            if not out:
                return
            yield out

    def finish(self) -> Iterator[bytes]:
        # Input brotli took but did not turn into output yet (it stops at the output limit).
        while not self._d.is_finished():
            out = self._process(b"")
            if not out:
                return  # truncated: give what it had, as for gzip
            yield out


def make_decoder(content_encoding: str | None) -> Decoder:
    """The decoder for a Content-Encoding header; raise DecodeError for one we did not offer."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return IdentityDecoder()
    if len(codings) > 1:
        raise DecodeError(f"stacked content encodings are not supported: {content_encoding}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return ZlibDecoder(gzip=True)
    if coding == "deflate":
        return ZlibDecoder(gzip=False)
    if coding == "br":
        return BrotliDecoder()
    raise DecodeError(f"unsupported content encoding: {content_encoding}")
