"""The sentence-embedding model of the semantic stage (the `semantic` extra). Reads its files.

The model is WordLlama's `l2_supercat` at 256 dimensions: a static table of one vector per token
(32,000 tokens), whose mean over a text's tokens is the text's vector. Its weights (16 MB) and
tokenizer ship inside the `wordllama` wheel, so nothing is downloaded at run time. We read those two
files ourselves, with `tokenizers` and `safetensors`, rather than through wordllama's loader: that
loader looks for the tokenizer in a folder the wheel does not have and then tries to download it,
and importing wordllama configures the root logger. docs/design-notes.md says why this model.

numpy, tokenizers and safetensors are imported here only, and only when a rule has examples: the
default install has none of them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from monitor.errors import NewsmonError
from monitor.model import Item

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

EXTRA = "pip install 'newsmon[semantic]'"
MODEL = "wordllama l2_supercat 256"
# An item is embedded as its title and lede: the first characters of its summary (else content).
# A static model averages its tokens, so a long body would drown the headline's subject.
LEDE_CHARS = 250
# Examples are cut the same way, so a pasted article compares like a headline and its lede.
TEXT_CHARS = 1_000
_NEEDED = ("numpy", "tokenizers", "safetensors", "wordllama")


class SemanticUnavailable(NewsmonError):
    """The `semantic` extra (its model or a library it needs) is not installed."""


class Embedder(Protocol):
    """Turns texts into unit vectors (rows), so that a dot product is a cosine similarity."""

    name: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def item_text(item: Item) -> str:
    """What the semantic stage reads of an item: its title and lede."""
    lede = (item.summary or item.content)[:LEDE_CHARS]
    return f"{item.title}\n{lede}" if item.title else lede


class StaticEmbedder:
    """Mean of the tokens' vectors, L2-normalised; a text with no known token is the zero vector
    (similar to nothing).

    A text is tokenised word by word (split at white space, line breaks too), each word's tokens
    remembered: the tokenizer cost 0.2 ms an item, most of the semantic stage's cost, and news
    repeats its words. The model's tokenizer puts a word-start mark on every word, so a word's
    tokens are those it has in a sentence whose white space is single spaces."""

    WORDS_KEPT = 50_000  # words whose tokens are remembered (a few MB); then it starts afresh
    # Tokens gathered at once (a KiB each): all of a load's examples at once took 20 GB for
    # 100,000 examples of a thousand characters.
    GATHER_MAX = 2**14

    def __init__(self, table: Any, tokenizer: Any, name: str = MODEL) -> None:
        # (tokens, dims) in float32: 32 MB, twice the float16 shipped, but summing float16 rows
        # cost 0.15 ms an item more (numpy converts them one by one)
        self.table = table.astype("float32")
        self.tokenizer = tokenizer
        self.name = name
        self._tokens: dict[str, tuple[int, ...]] = {}

    @property
    def dims(self) -> int:
        return int(self.table.shape[1])

    def tokens(self, text: str) -> list[int]:
        """The token ids of `text`, word by word."""
        words = text.split()
        known = self._tokens
        try:  # every word seen before: the common case, one comprehension
            return [i for w in words for i in known[w]]
        except KeyError:
            pass
        new = [w for w in dict.fromkeys(words) if w not in known]
        if len(known) + len(new) > self.WORDS_KEPT:
            known = self._tokens = {}
            new = list(dict.fromkeys(words))
        limit = self.table.shape[0] - 1
        encoded = self.tokenizer.encode_batch(new, add_special_tokens=False)
        for word, enc in zip(new, encoded, strict=True):
            known[word] = tuple(min(max(i, 0), limit) for i in enc.ids)
        return [i for w in words for i in known[w]]

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np  # the extra's: imported only once a rule has examples

        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        ids: list[int] = []
        spans: list[tuple[int, int, int]] = []
        for row, text in enumerate(texts):
            mine = self.tokens(text[:TEXT_CHARS])
            if mine:
                spans.append((row, len(ids), len(ids) + len(mine)))
                ids.extend(mine)
            if len(ids) >= self.GATHER_MAX:
                self._sum_rows(out, ids, spans)
                ids, spans = [], []
        self._sum_rows(out, ids, spans)
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))[:, None]
        norms[norms == 0] = 1.0
        out /= norms
        return out

    def _sum_rows(self, out: Any, ids: list[int], spans: list[tuple[int, int, int]]) -> None:
        """Each text's token vectors summed into its row: one gather for a batch of texts, then
        a sum per text (the sum, as rows are normalised; slices, as np.add.reduceat along rows
        is ten times slower)."""
        if ids:
            vectors = self.table.take(ids, axis=0)
            for row, start, end in spans:
                out[row] = vectors[start:end].sum(axis=0)


def _package_dir(name: str) -> Path:
    """A package's folder, found without importing it (see the module's docstring)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def load_embedder() -> StaticEmbedder:
    """The packaged model, loaded once per process (about 0.4 s of CPU and 55 MB)."""
    try:
        for name in _NEEDED[:3]:
            importlib.import_module(name)
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = _package_dir("wordllama")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise SemanticUnavailable(
            f"rules with `like:` examples need the semantic extra ({missing} is not installed):"
            f" {EXTRA}"
        ) from exc
    weights = folder / "weights" / "l2_supercat_256.safetensors"
    tokens = folder / "tokenizers" / "l2_supercat_tokenizer_config.json"
    if not weights.is_file() or not tokens.is_file():
        raise SemanticUnavailable(
            f"the installed wordllama has no packaged model at {weights.parent}: reinstall the"
            f" semantic extra ({EXTRA})"
        )
    with safe_open(str(weights), framework="np") as f:
        table = f.get_tensor("embedding.weight")
    return StaticEmbedder(table, Tokenizer.from_file(str(tokens)))
