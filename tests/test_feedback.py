"""Feedback labels: recorded through the store (both dialects), the label in force, JSON lines,
precision and recall on a hand-made table, and `newsmon feedback` end to end on SQLite."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.main import main
from monitor.feedback.labels import (
    LabelFileError,
    from_json_lines,
    in_force,
    parse_target,
    to_json,
)
from monitor.feedback.record import BadLabel, UnknownRule, UnknownTarget, record_label
from monitor.feedback.score import score_rules
from monitor.model import Label
from monitor.store.sqlite import SQLiteStore
from tests.store_fixtures import T0, StoreFactory, alert, ok_update, seen, spec

LEASE = timedelta(minutes=5)
ALERT = "msg_" + "a1" * 16
MISSING = "msg_" + "0f" * 16


def poll_with_alert(store: Any) -> None:
    """Feed f1 saw items k1 and k2; an alert (item `item-s1`) carried rules troops and border."""
    store.sync_feeds([spec("f1")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    doc: dict[str, Any] = {"rules": [{"id": "troops"}, {"id": "border"}],
           "item": {"title": "Troops move to the border"}}  # fmt: skip
    new = alert(ALERT, "desk", "s1", **doc)
    store.commit_poll("f1", "w", T0, ok_update(T0), [seen("k1", "s1"), seen("k2")], [new])


def label(
    feed: str, key: str, rule: str, relevant: bool, minutes: int = 0, who: str = "ana"
) -> Label:
    return Label(feed, key, rule, relevant, who, T0 + timedelta(minutes=minutes))


# -- the store, both dialects ---------------------------------------------------------------------
def test_label_an_alert_for_each_rule_it_carried(store: Any) -> None:
    poll_with_alert(store)
    got = record_label(store, ALERT, relevant=True, rule=None, note="yes", who="ana", now=T0)
    assert [(x.feed_id, x.item_key, x.rule, x.relevant) for x in got] == [
        ("f1", "item-s1", "troops", True), ("f1", "item-s1", "border", True)]  # fmt: skip
    assert {x.title for x in got} == {"Troops move to the border"}
    assert store.list_labels() == got
    assert all(x.alert_id == ALERT for x in store.list_labels())


def test_unknown_alert_or_item_is_refused_and_nothing_recorded(store: Any) -> None:
    poll_with_alert(store)
    with pytest.raises(UnknownTarget, match=f"no alert {MISSING}"):
        record_label(store, MISSING, relevant=True, rule=None, note="", who="a", now=T0)
    with pytest.raises(UnknownTarget, match="no item 'k9' of feed 'f1'"):
        record_label(store, "f1/k9", relevant=True, rule=None, note="", who="a", now=T0)
    with pytest.raises(BadLabel, match="neither an alert id") as bad:
        record_label(store, "msg_xyz", relevant=True, rule=None, note="", who="a", now=T0)
    assert "named with its feed" not in str(bad.value)
    # An item key without its feed is told how an item is named, and where to find it.
    with pytest.raises(BadLabel, match="an item is named with its feed, FEED/ITEM_KEY"):
        record_label(store, "k2", relevant=True, rule=None, note="", who="a", now=T0)
    assert store.list_labels() == []


def test_a_nul_in_a_label_is_refused_where_it_is_given(store: Any) -> None:
    # PostgreSQL's text cannot hold a NUL: a label with one failed in the store, with a message
    # naming neither the field nor the file's line (and SQLite kept it).
    poll_with_alert(store)
    with pytest.raises(BadLabel, match="the note holds a NUL character"):
        record_label(store, ALERT, relevant=True, rule=None, note="a\x00b", who="ana", now=T0)
    assert store.list_labels() == []
    line = json.dumps(to_json(Label("f", "g:1", "", True, "a\x00b", T0)))
    with pytest.raises(LabelFileError, match=r'^labels.jsonl:1: "who" holds a NUL character'):
        from_json_lines([line], "labels.jsonl")
    # A lone surrogate (a JSON escape, "\ud83d"): SQLite's write raised UnicodeEncodeError.
    with pytest.raises(BadLabel, match=r"the note holds U\+D83D \(half of a UTF-16 surrogate"):
        record_label(store, ALERT, relevant=True, rule=None, note="a\ud83d", who="ana", now=T0)
    assert store.list_labels() == []
    line = line.replace("a\\u0000b", "a\\ud83db")
    with pytest.raises(LabelFileError, match=r'^labels.jsonl:1: "who" holds U\+D83D'):
        from_json_lines([line], "labels.jsonl")


def test_a_second_label_wins_and_the_first_stays_as_history(make_store: StoreFactory) -> None:
    first, replica = make_store(), make_store()  # two processes on one database
    poll_with_alert(first)
    record_label(first, "f1/k2", relevant=True, rule="troops", note="", who="ana", now=T0)
    later = T0 + timedelta(minutes=3)
    record_label(replica, "f1/k2", relevant=False, rule="troops", note="a drill", who="bo",
                 now=later)  # fmt: skip
    history = make_store().list_labels()  # a restart sees both
    assert [(x.who, x.relevant, x.at) for x in history] == [("ana", True, T0),
                                                          ("bo", False, later)]  # fmt: skip
    current = in_force(history)
    assert list(current) == [("f1", "k2", "troops")]
    assert current["f1", "k2", "troops"].relevant is False
    assert current["f1", "k2", "troops"].note == "a drill"


def test_adding_the_same_labels_twice_adds_nothing(store: Any) -> None:
    labels = [label("f9", "g:1", "troops", True), label("f9", "g:1", "troops", False, 1)]
    assert store.add_labels(labels) == 2
    assert store.add_labels(labels) == 0
    assert store.list_labels() == labels  # an item of a feed not polled here is fine


# -- pure parts -----------------------------------------------------------------------------------
def test_targets() -> None:
    alert_target = parse_target(ALERT)
    assert alert_target is not None
    assert alert_target.alert_id == ALERT
    item = parse_target("news/world/g:abc")
    assert item is not None
    assert (item.feed_id, item.item_key) == ("news/world", "g:abc")
    assert parse_target("g:abc") is None
    assert parse_target("msg_ABC") is None


def test_in_force_takes_the_newest_and_the_later_of_a_tie() -> None:
    a, b = label("f", "k", "r", True, 5), label("f", "k", "r", False, 1)
    assert in_force([a, b])["f", "k", "r"] is a  # recorded later but older: not in force
    tie = label("f", "k", "r", False, 5, who="bo")
    assert in_force([a, tie])["f", "k", "r"] is tie


def test_precision_and_recall_on_a_hand_made_table() -> None:
    # item  | troops label | any-rule label | troops matched | border matched
    # a     | relevant     |                | yes            | yes
    # b     | irrelevant   |                | yes            |
    # c     | relevant     |                |                |          -> a miss of troops
    # d     |              | relevant       | yes            | yes
    # e     |              | irrelevant     |                | yes
    # f     |              |                | yes            |          -> unlabelled
    # g     | relevant     |                |                |          -> outside the scope
    history = [
        label("w", "a", "troops", True), label("w", "b", "troops", True),
        label("w", "b", "troops", False, 2),  # changed their mind: irrelevant is in force
        label("w", "c", "troops", True), label("w", "d", "", True), label("w", "e", "", False),
        label("w", "g", "troops", True),
    ]  # fmt: skip
    matched = {"troops": {("w", "a"), ("w", "b"), ("w", "d"), ("w", "f")},
               "border": {("w", "a"), ("w", "d"), ("w", "e")}}  # fmt: skip
    scope = {("w", x) for x in "abcdef"}
    troops, border, quiet = score_rules(["troops", "border", "quiet"], matched, in_force(history),
                                        scope)  # fmt: skip
    assert troops.true_positives == (("w", "a"), ("w", "d"))
    assert troops.false_positives == (("w", "b"),)
    assert troops.misses == (("w", "c"),)
    assert (troops.unlabelled, troops.outside) == (1, 1)
    assert troops.precision == pytest.approx(2 / 3)
    assert troops.recall == pytest.approx(2 / 3)
    # border: a has only a troops label (no verdict for border), d relevant, e irrelevant
    assert (border.true_positives, border.false_positives) == ((("w", "d"),), (("w", "e"),))
    assert (border.precision, border.recall, border.misses, border.unlabelled) == (0.5, 1.0, (), 1)
    assert (quiet.precision, quiet.recall) == (None, None)  # nothing to measure: not 0
    everything = score_rules(["troops"], matched, in_force(history))[0]
    assert everything.misses == (("w", "c"), ("w", "g"))  # no scope: every label counts
    assert everything.recall == pytest.approx(2 / 4)


def test_json_lines_round_trip_and_a_bad_line_names_its_place() -> None:
    labels = [Label("f", "g:1", "troops", True, "ana", T0, "note ✓", ALERT, "Title"),
              Label("f", "h:2", "", False, "bo", T0 + timedelta(seconds=1.5))]  # fmt: skip
    lines = [json.dumps(to_json(x)) for x in labels]
    assert from_json_lines([*lines, ""], "labels.jsonl") == labels
    broken = json.loads(lines[0]) | {"relevant": "yes"}
    with pytest.raises(LabelFileError, match=r'^labels.jsonl:2: "relevant" must be true or false'):
        from_json_lines([lines[1], json.dumps(broken)], "labels.jsonl")
    with pytest.raises(LabelFileError, match=r"^labels.jsonl:1: not JSON"):
        from_json_lines(["{oops"], "labels.jsonl")
    naive = json.loads(lines[0]) | {"at": "2026-03-01T12:00:00"}
    with pytest.raises(LabelFileError, match="needs a time zone"):
        from_json_lines([json.dumps(naive)], "labels.jsonl")


# -- the command ----------------------------------------------------------------------------------
@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL", "NEWSMON_USER"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "newsmon.yaml"
    path.write_text(f"database_url: {tmp_path / 'state.db'}\n")
    store = SQLiteStore(tmp_path / "state.db")
    store.migrate()
    poll_with_alert(store)
    store.close()
    return path


def test_cli_labels_exports_and_imports(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(config)]
    assert main(["feedback", ALERT, "--irrelevant", "--rule", "troops", "--who", "ana", *c]) == 0
    assert capsys.readouterr().out == "labelled f1/item-s1 irrelevant for rule troops\n"
    assert main(["feedback", "f1/k2", "--relevant", "--note", "missed", "--who", "bo", *c]) == 0
    assert capsys.readouterr().out == "labelled f1/k2 relevant for any rule\n"
    exported = tmp_path / "labels.jsonl"
    assert main(["feedback", "export", str(exported), *c]) == 0
    assert "exported 2 labels" in capsys.readouterr().err
    rows = [json.loads(x) for x in exported.read_text().splitlines()]
    assert [(r["item_key"], r["rule"], r["relevant"], r["who"]) for r in rows] == [
        ("item-s1", "troops", False, "ana"), ("k2", None, True, "bo")]  # fmt: skip

    other = tmp_path / "other.yaml"  # a colleague's store
    other.write_text(f"database_url: {tmp_path / 'other.db'}\n")
    assert main(["feedback", "import", str(exported), "--config", str(other)]) == 0
    assert "imported 2 new labels (0 already there)" in capsys.readouterr().err
    assert main(["feedback", "import", str(exported), "--config", str(other)]) == 0
    assert "imported 0 new labels (2 already there)" in capsys.readouterr().err
    assert main(["feedback", "export", "--config", str(other)]) == 0
    assert capsys.readouterr().out == exported.read_text()  # the round trip keeps every field


def test_a_labeller_name_from_the_environment_that_is_not_utf8(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its bytes arrive as lone surrogates; the store's write ended in a UnicodeEncodeError.
    import os

    monkeypatch.setenv("NEWSMON_USER", os.fsdecode(b"Jos\xe9"))
    assert main(["feedback", ALERT, "--relevant", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["feedback", "export", "--config", str(config)]) == 0
    assert {json.loads(x)["who"] for x in capsys.readouterr().out.splitlines()} == {"Jos\ufffd"}


def test_cli_mistakes_exit_2_with_one_clear_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(config)]
    assert main(["feedback", MISSING, "--relevant", *c]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"newsmon: no alert {MISSING} in the store")
    assert "Traceback" not in err
    assert main(["feedback", "f1/nope", "--relevant", *c]) == 2
    err = capsys.readouterr().err
    assert "no item 'nope' of feed 'f1' in the store: only an item newsmon polled" in err
    # `rules test --feed FILE --json` names items too, but of no store: say how to get them there
    assert "`rules backtest --json` names those as item.feed and item.item_key" in err
    assert main(["feedback", ALERT, *c]) == 2
    assert "say --relevant or --irrelevant" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"feed": "f1"}\n')
    assert main(["feedback", "import", str(bad), *c]) == 2
    assert "bad.jsonl:1:" in capsys.readouterr().err
    assert main(["feedback", "import", str(tmp_path / "none.jsonl"), *c]) == 2
    assert "cannot read" in capsys.readouterr().err
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"feed": "f1", "item_key": "k2", "note": "caf\xe9"}\n')
    assert main(["feedback", "import", str(latin), *c]) == 2
    assert capsys.readouterr().err.startswith(
        f"newsmon: {latin}:1:46: not UTF-8 text (byte 0xe9): save the file as UTF-8\n"
    )
    store = SQLiteStore(config.parent / "state.db")
    assert store.list_labels() == []
    store.close()


def test_an_item_only_in_the_archive_can_be_labelled(store: Any) -> None:
    from monitor.model import Item
    from monitor.pipeline.archive import archived

    item = Item(feed_id="snap", key="g:1", title="Kremlin sends reinforcements")
    store.archive_items([archived(item, "s-1", T0)])
    assert store.archived_title("snap", "g:2") is None
    [got] = record_label(store, "snap/g:1", relevant=True, rule="troops", note="", who="a", now=T0)
    assert (got.title, got.rule) == ("Kremlin sends reinforcements", "troops")


def test_cli_reads_do_not_create_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NEWSMON_DATABASE_URL", raising=False)
    config = tmp_path / "newsmon.yaml"
    config.write_text(f"database_url: {tmp_path / 'none.db'}\n")
    assert main(["feedback", "export", "--config", str(config)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["feedback", ALERT, "--relevant", "--config", str(config)]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_a_rule_id_neither_in_the_folder_nor_on_the_alert_is_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A typo would label for a rule that no backtest or tune ever reads.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - {id: troops, name: T, query: troops}\n  - {id: ports, name: P, query: port}\n"
    )
    config.write_text(config.read_text() + f"rules: {rules}\n")
    c = ["--config", str(config)]
    assert main(["feedback", "f1/k2", "--relevant", "--rule", "trops", *c]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"newsmon: no rule 'trops' in {rules}; did you mean 'troops'?"), err
    assert main(["feedback", ALERT, "--relevant", "--rule", "bordr", *c]) == 2
    assert "did you mean 'border'?" in capsys.readouterr().err  # the alert carried it
    store = SQLiteStore(config.parent / "state.db")
    assert store.list_labels() == []
    store.close()
    # a rule the alert carried, since removed from the folder, and one of the folder's
    assert main(["feedback", ALERT, "--relevant", "--rule", "border", *c]) == 0
    assert main(["feedback", "f1/k2", "--relevant", "--rule", "ports", *c]) == 0
    # a folder that does not load is `rules check`'s business: the label is kept
    (rules / "r.yaml").write_text("rules: [\n")
    assert main(["feedback", "f1/k2", "--irrelevant", "--rule", "anything", *c]) == 0
    assert "labelled f1/k2 irrelevant for rule anything" in capsys.readouterr().out


def test_a_rule_of_a_folder_being_tried_is_labelled_with_rules(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A new rule tried in a copy of the folder (`rules backtest --rules copy/`, `rules tune
    # --rules copy/`) could not be labelled: feedback checked ids against the config's folder
    # only, and had no --rules.
    live, tried = tmp_path / "rules", tmp_path / "copy"
    for folder, rule in ((live, "troops"), (tried, "swaps")):
        folder.mkdir()
        (folder / "r.yaml").write_text(f"rules:\n  - {{id: {rule}, name: R, query: x}}\n")
    config.write_text(config.read_text() + f"rules: {live}\n")
    c = ["--config", str(config)]
    assert main(["feedback", "f1/k2", "--relevant", "--rule", "swaps", *c]) == 2
    assert f"no rule 'swaps' in {live}" in capsys.readouterr().err
    assert (
        main(["feedback", "f1/k2", "--relevant", "--rule", "swaps", "--rules", str(tried), *c]) == 0
    )
    assert capsys.readouterr().out == "labelled f1/k2 relevant for rule swaps\n"
    assert (
        main(["feedback", "f1/k2", "--relevant", "--rule", "swap", "--rules", str(tried), *c]) == 2
    )
    assert f"no rule 'swap' in {tried}; did you mean 'swaps'?" in capsys.readouterr().err


def test_an_import_names_the_rules_it_labels_that_the_folder_does_not_have(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `feedback --rule trops` is refused; the same typo in an imported file was taken silently,
    # and no backtest or tune ever read the label.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text("rules:\n  - {id: troops, name: T, query: troops}\n")
    config.write_text(config.read_text() + f"rules: {rules}\n")
    line = {"feed": "f1", "item_key": "k2", "relevant": True, "who": "a"}
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps(line | {"rule": r, "at": f"2026-03-01T12:00:0{n}Z"}) + "\n"
            for n, r in enumerate(["trops", "troops", None, "trops", "ports"])
        )
    )
    assert main(["feedback", "import", str(labels), "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "imported 5 new labels (0 already there)\n" in err  # kept: a shared set
    assert (
        f"note: 3 labels are for rules not in {rules}: 'ports' (1), 'trops' (2) (did you mean"
        " 'troops'?); `rules backtest --labels` and `rules tune` read none of them\n"
    ) in err
    labels.write_text(json.dumps(line | {"rule": "troops", "at": "2026-03-02T12:00:00Z"}) + "\n")
    assert main(["feedback", "import", str(labels), "--config", str(config)]) == 0
    assert "note:" not in capsys.readouterr().err


def test_record_label_checks_a_rule_only_against_the_ids_it_is_given(store: Any) -> None:
    poll_with_alert(store)
    with pytest.raises(UnknownRule) as e:
        record_label(store, "f1/k1", relevant=True, rule="x", note="", who="a", now=T0,
                     known_rules={"troops"})  # fmt: skip
    assert e.value.known == ["troops"]
    got = record_label(store, "f1/k1", relevant=True, rule="x", note="", who="a", now=T0)
    assert [x.rule for x in got] == ["x"]
