"""`newsmon rules backtest --labels`: precision, recall and misses per rule against the feedback
labels, over a real SQLite archive; items only archived can be labelled too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.model import Label
from monitor.store.sqlite import SQLiteStore
from tests.test_backtest import archive, env, item_row, rules_dir

__all__ = ["env"]  # the fixture, shared with test_backtest

AT = datetime(2026, 3, 1, tzinfo=UTC)


def labels(env: Path, *rows: tuple[str, str, bool]) -> None:
    store = SQLiteStore(env / "news.db")
    store.add_labels([Label("f1", key, rule, relevant, "ana", AT + timedelta(seconds=n))
                      for n, (key, rule, relevant) in enumerate(rows)])  # fmt: skip
    store.close()


@pytest.fixture
def labelled(env: Path) -> str:
    archive(env, [item_row("k1", "Troops cross the border", age_days=1),
                  item_row("k2", "Troops parade in the capital", age_days=1),
                  item_row("k3", "Kremlin sends reinforcements to Kursk", age_days=5),
                  item_row("k4", "Troops in the news again", age_days=1)])  # fmt: skip
    labels(env, ("k1", "troops", True), ("k2", "", False), ("k3", "troops", True),
           ("k9", "troops", True))  # fmt: skip
    return rules_dir(env / "r", {"troops": "troops", "quiet": "absent"})


def test_text_report_has_precision_recall_and_the_misses(
    labelled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "backtest", "--rules", labelled, "--labels"]) == 0
    out = capsys.readouterr().out
    assert "against 4 labels in force" in out
    assert ("troops: precision 50% (1 of 2 labelled matches), recall 50% (1 of 2 labelled "
            "relevant); 1 matches unlabelled") in out  # fmt: skip
    assert "missed f1/k3  Kremlin sends reinforcements to Kursk" in out
    assert "unwanted f1/k2  Troops parade in the capital" in out
    assert "(1 labelled relevant outside these items" in out  # k9 is not archived
    assert "quiet: precision -" in out


def test_json_has_one_object_a_rule_and_since_narrows_the_misses(
    labelled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "backtest", "--rules", labelled, "--labels", "--json"]) == 0
    quiet, troops = [json.loads(x) for x in capsys.readouterr().out.splitlines()]  # by rule id
    assert (troops["rule"], troops["precision"], troops["recall"]) == ("troops", 0.5, 0.5)
    assert troops["misses"] == [{"feed": "f1", "item_key": "k3",
                                 "title": "Kremlin sends reinforcements to Kursk"}]  # fmt: skip
    assert (troops["unlabelled_matches"], troops["labelled_outside"]) == (1, 1)
    assert (quiet["precision"], quiet["recall"], quiet["misses"]) == (None, None, [])
    # k3 is 5 days old: outside --since 3d it cannot be a miss
    assert main(["rules", "backtest", "--rules", labelled, "--labels", "--json",
                 "--since", "3d", "--rule", "troops"]) == 0  # fmt: skip
    [troops] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (troops["recall"], troops["misses"], troops["labelled_outside"]) == (1.0, [], 2)


def test_a_label_for_an_archived_item_and_the_newest_label_counts(
    labelled: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ["--config", str(env / "newsmon.yaml")]
    assert main(["feedback", "f1/k4", "--relevant", "--rule", "troops", *config]) == 0
    assert main(["feedback", "f1/k2", "--relevant", *config]) == 0  # changed their mind
    capsys.readouterr()
    assert main(["rules", "backtest", "--rules", labelled, "--labels", "--json", "--rule",
                 "troops"]) == 0  # fmt: skip
    [troops] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (troops["precision"], troops["true_positives"], troops["false_positives"]) == (
        1.0,
        3,
        [],
    )
    store = SQLiteStore(env / "news.db")
    assert [x.title for x in store.list_labels() if x.item_key == "k4"] == [
        "Troops in the news again"
    ]
    store.close()


def test_labels_and_diff_are_refused_together(
    labelled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "backtest", "--rules", labelled, "--labels", "--diff", labelled]) == 2
    assert "--labels measures one rules folder" in capsys.readouterr().err
