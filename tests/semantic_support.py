"""Models for the tests of the semantic stage: the packaged one (skipping with the reason when the
`semantic` extra is absent), and a tiny exact one whose similarities a test can compute by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from monitor.query.embed import SemanticUnavailable, StaticEmbedder, load_embedder


def packaged_model() -> StaticEmbedder:
    try:
        return load_embedder()
    except SemanticUnavailable as exc:
        pytest.skip(f"the semantic extra is not installed (pip install -e '.[dev]' has it): {exc}")


class ConceptEmbedder:
    """A text's vector counts the words of each concept it holds (one axis a concept), then is
    normalised: `tanks troops` is (1, 1, 0, ...)/√2. Exact, so thresholds can be tested to the
    edge. Counts every call, to show what is embedded when."""

    name = "concepts"

    def __init__(self, concepts: Sequence[Sequence[str]]) -> None:
        self.axes = {w: n for n, words in enumerate(concepts) for w in words}
        self.dims = len(concepts)
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        np = pytest.importorskip("numpy", reason="numpy comes with the semantic extra")
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                if word.strip(".,") in self.axes:
                    out[row, self.axes[word.strip(".,")]] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return out / norms
