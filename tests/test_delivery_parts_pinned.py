"""The cut of a webhook digest or fold into parts, and the parts' ids, pinned: a resend after
an upgrade (a part recorded, the rest sent by the new version) must carry the alerts and the
`webhook-id` it would have, or receivers get an alert twice or a part they cannot dedupe.
The size fitting is seeded with each alert's entry, so a change there can move the cut."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.delivery.digest import Digest, digest_parts
from monitor.delivery.storm import fold_parts
from monitor.model import OutboxRow
from tests.delivery_support import T0, document

END = T0 + timedelta(hours=1)
HOURLY = Digest(every=timedelta(hours=1))


def title(i: int) -> str:
    """Titles from a few characters to about 1,000, some ending in 4-byte characters."""
    return f"{i} " + "Troops at the border, officials said " * (i * 7 % 27) + "\U0001f4f0" * (i % 5)


def rows() -> list[OutboxRow]:
    out = []
    for i in range(24):
        doc = document("ops", f"s{i:02d}", title(i))
        if i % 3 == 0:  # two rules first, so digest parts carry several groups
            doc["rules"].reverse()
        when = T0 + timedelta(seconds=i % 4)  # the outbox order is not the id order
        out.append(OutboxRow(doc["id"], "ops", f"s{i:02d}", "f1", f"i{i}", doc, when))
    return out


@pytest.mark.parametrize(
    ("max_body", "digest", "fold"),
    [
        (2_500, [6, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1], [6, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1]),
        (4_000, [8, 5, 3, 3, 3, 2], [9, 5, 4, 3, 3]),
        (9_000, [16, 8], [16, 8]),
        (30_000, [24], [24]),
    ],
)
def test_the_cut_is_pinned(max_body: int, digest: list[int], fold: list[int]) -> None:
    digests = digest_parts("ops", HOURLY, T0, END, rows(), max_body=max_body)
    folds = fold_parts("ops", "troops", T0, END, rows(), max_body=max_body)
    assert [len(p.members) for p in digests] == digest
    assert [len(p.members) for p in folds] == fold


def test_the_part_ids_are_pinned() -> None:
    def ids(max_body: int) -> tuple[list[str], list[str]]:
        digests = digest_parts("ops", HOURLY, T0, END, rows(), max_body=max_body)
        folds = fold_parts("ops", "troops", T0, END, rows(), max_body=max_body)
        return [p.document["id"][:12] for p in digests], [p.document["id"][:13] for p in folds]

    assert ids(4_000) == (
        [
            "dig_fd494f30",
            "dig_eadd563d",
            "dig_3d84f4f1",
            "dig_d9615848",
            "dig_2adabce7",
            "dig_7ed18aae",
        ],
        ["fold_02487561", "fold_d13045f8", "fold_47a2de99", "fold_1500fad9", "fold_9764f612"],
    )
    assert ids(9_000) == (["dig_d5f856a9", "dig_a34a4726"], ["fold_dd3fd447", "fold_846fdfea"])
    assert ids(30_000) == (["dig_e291a6a5"], ["fold_744197c2"])  # one post: the whole's id
