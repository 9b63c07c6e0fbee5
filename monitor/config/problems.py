"""A validation problem that knows which key it is about. Pure.

Pydantic reports a `ValueError` raised in a model validator at the model's own location; raising
`ConfigProblems` instead lets the loader point at the exact key (`feeds[2].id`) in the YAML file.
"""

from __future__ import annotations

from monitor.errors import NewsmonError

KeyPath = tuple[str | int, ...]


# A ValueError too: pydantic turns only ValueError and AssertionError from a validator into a
# ValidationError, which the loader reads.
class ConfigProblems(NewsmonError, ValueError):
    """One or more (relative key path, message) pairs found by a cross-field check."""

    def __init__(self, problems: list[tuple[KeyPath, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))
