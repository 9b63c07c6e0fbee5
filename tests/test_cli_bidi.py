"""Bidi controls from feed text in the terminal tables of `check`, `rules test` and
`deliveries list`: a bidi terminal lays out each line as one paragraph, so an override a title
leaves open reversed the rest of its line, the table's borders and the cells after it. Each
field, and each line of a wrapped cell, is closed where it ends; the title keeps its override."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.cli.render import columns, print_held_back, print_matches
from monitor.model import Explanation, Hit, Item, Match, Rule
from monitor.query.explain import HeldBack, Veto
from tests.bidi_support import RLO, SPOOF_TITLE, assert_outside, open_at
from tests.delivery_support import T0, enqueue, open_sqlite

LONG_TITLE = SPOOF_TITLE + " and then many more words" * 6  # wraps in its cell


def _item() -> Item:
    return Item(
        feed_id="f1",
        key="k1",
        title=LONG_TITLE,
        summary="calm",
        url="https://example.com/a\u202eb",
        published=T0,
        feed_title="Wire \u2067open",
        feed_url="https://example.com/feed.xml",
    )


def _lines_closed(out: str) -> None:
    assert RLO in out  # the title's own override is kept
    for line in out.splitlines():
        assert open_at(line, len(line)) == [], line
        if "│" in line:
            assert_outside(line, "│")  # every border, and so every cell after the title


def test_check_and_rules_test_table() -> None:
    hit = Hit("title", "calm", "calm", 1, 8, 12)
    match = Match(Rule(id="r1", name="R1"), Explanation(("calm",), (hit,)), "**calm** \u202eend")
    stream = io.StringIO()
    print_matches([(_item(), match)], stream, feed_names={"f1": "Wire \u202bfeed"})
    _lines_closed(stream.getvalue())


def test_held_back_table() -> None:
    why = Explanation(("calm",), (Hit("title", "calm", "calm", 1, 8, 12),))
    held = HeldBack((Veto("NOT spoof", why),), why)
    stream = io.StringIO()
    print_held_back([(_item(), Rule(id="r1", name="R1"), held)], stream)
    _lines_closed(stream.getvalue())


def test_columns_close_each_cell() -> None:
    [_, line] = columns([[SPOOF_TITLE, "https://example.com/x"]], ["TITLE", "URL"])
    assert_outside(line, "https://")


def test_deliveries_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("NEWSMON_DATABASE_URL", "NEWSMON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "newsmon.db"
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\ndestinations:\n  - {{name: ops, type: webhook, url: 'https://example.com/h'}}\n",
        encoding="utf-8",
    )
    store = open_sqlite(db)
    enqueue(store, T0, "ops", ["s1", "s2"], {"s1": SPOOF_TITLE})
    store.close()
    assert main(["deliveries", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert RLO in out
    for line in out.splitlines():
        assert open_at(line, len(line)) == [], line
