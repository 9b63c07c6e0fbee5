"""monitor.plural: a count and its noun."""

import pytest

from monitor.plural import counted


@pytest.mark.parametrize(
    ("count", "one", "many", "shown"),
    [
        (0, "item", None, "0 items"),
        (1, "item", None, "1 item"),
        (2, "item", None, "2 items"),
        (1, "story", "stories", "1 story"),
        (12_345, "story", "stories", "12,345 stories"),
        (1, "item was", "items were", "1 item was"),
        (-1, "item", None, "-1 items"),
    ],
)
def test_a_count_takes_its_noun_in_the_right_number(
    count: int, one: str, many: str | None, shown: str
) -> None:
    assert counted(count, one, many) == shown
