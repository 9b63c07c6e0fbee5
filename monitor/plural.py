"""A count and its noun, as a person reads it: `1 item`, `2 items`, `1,200 stories`. Pure.

Every message that counts something says it through `counted`, so none prints "1 items".
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, one: str, many: str | None = None) -> str:
    """`count` (thousands separated) and `one` for exactly one, else `many` (default: `one`
    and an s). Give `many` for the irregular ones: counted(n, "story", "stories"),
    counted(n, "item was", "items were")."""
    return f"{count:,} {one if count == 1 else (many if many is not None else one + 's')}"
