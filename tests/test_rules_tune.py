"""`newsmon rules tune`: the proposed threshold is the one a brute-force scan of every threshold
finds (pure, on random labelled points; and end to end on a labelled SQLite archive with the
packaged model), the flips listed, examples added, and the file changed only with --write."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli.main import main
from monitor.model import Label, Mode
from monitor.query import tune
from monitor.query.rulefiles import load_rules
from monitor.store.sqlite import SQLiteStore
from tests.semantic_support import packaged_model
from tests.test_backtest import archive, env, item_row

__all__ = ["env"]

GRID = [k / 100 for k in range(1, 101)]


def brute(points: list[tune.Point], mode: str) -> list[tuple[float, int, int, int]]:
    """(threshold, tp, fp, fn) at every threshold in hundredths, written out plainly."""
    rows = []
    for t in GRID:
        tp = fp = fn = 0
        for p in points:
            similar = p.like + 1e-6 >= t and (p.unlike is None or p.like > p.unlike)
            fires = {
                "widen": p.query or similar,
                "narrow": p.query and similar,
                "similar": p.query and similar,
            }[mode]
            tp += fires and p.relevant
            fp += fires and not p.relevant
            fn += p.relevant and not fires and p.for_rule  # relevant for any rule: no miss
        rows.append((t, tp, fp, fn))
    return rows


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


scores = st.floats(-0.3, 1.0).map(lambda x: round(x, 3))
points_st = st.lists(
    st.builds(
        tune.Point,
        key=st.just(("f", "k")),
        relevant=st.booleans(),
        query=st.booleans(),
        like=scores,
        unlike=st.none() | scores,
        for_rule=st.booleans(),
    ),
    min_size=1,
    max_size=40,
)
modes: st.SearchStrategy[Mode] = st.sampled_from(["widen", "narrow", "similar"])


@settings(max_examples=300, deadline=None)
@given(points_st, modes)
def test_best_f1_is_what_a_scan_of_every_threshold_finds(
    points: list[tune.Point], mode: Mode
) -> None:
    rows = brute(points, mode)
    top = max(f1(*r[1:]) for r in rows)
    want = max(t for t, *counts in rows if f1(*counts) == top)  # of equal F1, the highest
    got = tune.best_f1(points, mode)
    assert (got.threshold, got.f1) == (want, top)


@settings(max_examples=300, deadline=None)
@given(points_st, modes, st.sampled_from([0.5, 0.8, 0.9, 1.0]))
def test_the_precision_threshold_is_what_a_scan_finds(
    points: list[tune.Point], mode: Mode, target: float
) -> None:
    rows = [
        (t, tp, fp, fn)
        for t, tp, fp, fn in brute(points, mode)
        if tp + fp and tp / (tp + fp) >= target
    ]
    got = tune.for_precision(points, mode, target)
    if not rows:
        assert got is None
        return
    recall = max(tp / (tp + fn) if tp + fn else 0.0 for _, tp, _, fn in rows)
    want = max(t for t, tp, _, fn in rows if (tp / (tp + fn) if tp + fn else 0.0) == recall)
    assert got is not None
    assert got.threshold == want


# --- end to end --------------------------------------------------------------------------------

RULES = """\
rules:
  - id: troops
    name: Troops
    query: troops NEAR/3 sent   # the words
    mode: widen
    threshold: 0.9
    like:
      - Russia moves reinforcements toward the border
      - Kremlin rushes extra battalions to the front line
    unlike:
      - Soldiers withdraw from the city
"""
HEADLINES = [
    ("k1", "Troops sent to the border as tension rises", True),
    ("k2", "Moscow shifts fresh battalions toward the Kharkiv frontier", True),
    ("k3", "Thousands of extra soldiers arrive at the border", True),
    ("k4", "Army rushes reinforcements to the eastern front", True),
    ("k5", "Russian soldiers pull back from the city of Kherson", False),
    ("k6", "Football club signs new striker", False),
    ("k7", "Border guards detain smugglers at the frontier", False),
    ("k8", "Extra trains to the border for the holidays", False),
    ("k9", "Battalion commander awarded a medal", False),
]
AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def labelled(env: Path) -> Path:
    packaged_model()  # skips without the extra
    archive(env, [item_row(key, title) for key, title, _ in HEADLINES])
    store = SQLiteStore(env / "news.db")
    store.add_labels(
        [
            Label("f1", key, "troops" if n % 2 else "", relevant, "ana", AT + timedelta(seconds=n))
            for n, (key, _, relevant) in enumerate(HEADLINES)
        ]
    )
    store.close()
    (env / "r").mkdir()
    (env / "r" / "rules.yaml").write_text(RULES, encoding="utf-8")
    return env / "r"


def scanned(folder: Path, tags: tuple[str, ...] = ()) -> list[tune.Point]:
    """The labelled points, computed here from the rules and the model directly (`tags`: the
    feed f1's, as `run` matches its items)."""
    from monitor.model import Item

    rs = load_rules(folder)
    out = []
    for n, (key, title, relevant) in enumerate(HEADLINES):
        item = Item(feed_id="f1", key=key, title=title)
        s = rs.similarity(item)["troops"]
        holds = bool(rs.select(["troops"]).query_holds(item, "troops", tags))
        for_rule = bool(n % 2)  # as `labelled` labels them: for the rule, else for any rule
        out.append(tune.Point(("f1", key), relevant, holds, s.like, s.unlike, for_rule))
    return out


def proposed(out: str, row: str) -> float:
    m = re.search(rf"^  {re.escape(row)}\s+(\d\.\d\d) ", out, re.M)
    assert m, out
    return float(m.group(1))


def test_tune_proposes_the_brute_force_threshold_and_lists_the_flips(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (labelled / "rules.yaml").read_text()
    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled)]) == 0
    out = capsys.readouterr().out
    rows = brute(scanned(labelled), "widen")
    top = max(f1(*r[1:]) for r in rows)
    want = max(t for t, *counts in rows if f1(*counts) == top)
    assert proposed(out, "best F1") == want
    assert want < 0.9  # the paraphrases need a lower threshold than the file's
    assert (
        "tune troops (mode: widen): 9 labelled items in the archive, 4 relevant"
        " (2 for any rule: no miss when it does not fire)\n"
    ) in out
    assert f"labelled items that flip at {want:.2f}:" in out
    assert re.search(r"\+ fires  relevant   0\.\d\d  f1/k2  Moscow shifts fresh battalions", out)
    assert f"-    threshold: 0.9\n+    threshold: {want:g}\n" in out
    assert "(not written: --write writes this change)" in out
    assert (labelled / "rules.yaml").read_text() == before  # never silently

    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--write"]) == 0
    assert load_rules(labelled).rules["troops"].threshold == want
    capsys.readouterr()
    # once written, nothing more to propose
    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled)]) == 1
    assert "nothing to change" in capsys.readouterr().out


def test_tune_for_a_precision_and_adding_labelled_examples(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled)]
    assert main([*argv, "--precision", "1.0"]) == 0
    out = capsys.readouterr().out
    rows = [r for r in brute(scanned(labelled), "widen") if r[1] and not r[2]]
    best_recall = max(r[1] for r in rows)
    assert proposed(out, "precision ≥ 1.00") == max(r[0] for r in rows if r[1] == best_recall)

    assert main([*argv, "--like", "f1/k3", "--unlike", "f1/k7", "--write"]) == 0
    out = capsys.readouterr().out
    assert '+      - "Thousands of extra soldiers arrive at the border"  # f1/k3' in out
    rule = load_rules(labelled).rules["troops"]
    assert rule.like[-1] == "Thousands of extra soldiers arrive at the border"
    assert rule.unlike[-1] == "Border guards detain smugglers at the frontier"
    assert "# the words" in (labelled / "rules.yaml").read_text()  # the rest as written


def test_a_change_that_cannot_be_written_names_the_rules_file(
    labelled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read-only folder (os.replace refusing stands in for it: the tests may run as root)
    # ended in an OSError naming the spare file `.rules.yaml.tune`, and left it behind.
    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("monitor.cli.tune.os.replace", refuse)
    before = (labelled / "rules.yaml").read_text()
    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--write"]) == 2
    assert capsys.readouterr().err == (
        f"newsmon: {labelled / 'rules.yaml'}: cannot write the change (Permission denied);"
        " the file is as it was\n"
    )
    assert sorted(p.name for p in labelled.iterdir()) == ["rules.yaml"]
    assert (labelled / "rules.yaml").read_text() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rule", "nope"], "no rule 'nope' in"),
        (
            ["--rule", "troops", "--like", "f1/k99"],
            "not in the archive: f1/k99 (`rules backtest --json` names archived items as",
        ),
        (["--rule", "troops", "--like", "k3"], "--like 'k3': name an archived item as FEED/"),
        (["--rule", "troops", "--precision", "90"], "--precision must be more than 0"),
        (["--rule", "plain"], "rule 'plain' has no examples to tune (mode: query)"),
    ],
)
def test_tune_errors_are_plain(
    labelled: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with (labelled / "rules.yaml").open("a") as f:
        f.write("  - id: plain\n    name: Plain\n    query: tanks\n")
    assert main(["rules", "tune", "--rules", str(labelled), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_rule_watching_a_tag_is_tuned_on_the_configured_feeds(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The tags came from the store's feed rows, which only `run` writes: before it ever ran, a
    # rule with `feeds: [TAG]` watched no archived item, so every threshold fired on nothing.
    config = labelled.parent / "newsmon.yaml"
    config.write_text(
        config.read_text() + "feeds:\n  - id: f1\n    url: https://news.test/f1.rss\n"
        "    tags: [world]\n"
    )
    rules = labelled / "rules.yaml"
    rules.write_text(
        rules.read_text().replace("    mode: widen\n", "    feeds: [world]\n    mode: widen\n")
    )
    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled)]) == 0
    out = capsys.readouterr().out
    points = scanned(labelled, ("world",))  # as `run` matches f1's items
    assert any(p.query for p in points)
    rows = brute(points, "widen")
    top = max(f1(*r[1:]) for r in rows)
    assert proposed(out, "best F1") == max(t for t, *counts in rows if f1(*counts) == top)
    now = tune.outcome(points, "widen", 0.9)
    assert re.search(rf"^  now\s+0\.90\s+\S+\s+\S+\s+\S+\s+{now.tp + now.fp}$", out, re.M), out


def test_the_now_row_reads_the_labels_as_backtest_labels_does(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An item labelled relevant for any rule (no --rule) is "relevant for whichever rule matched
    # it": backtest --labels counts it as no miss of a rule that did not match it, but tune
    # counted it as this rule's miss, so the two disagreed on the same rule and labels (and tune
    # lowered the threshold to catch another rule's items).
    argv = ["--rules", str(labelled), "--rule", "troops"]
    assert main(["rules", "tune", *argv]) == 0
    out = capsys.readouterr().out
    now = re.search(r"^  now\s+0\.90\s+(\S+)\s+(\S+)\s", out, re.M)
    assert now, out
    assert main(["rules", "backtest", "--labels", "--json", *argv]) == 0
    scored = json.loads(capsys.readouterr().out)
    # k3, labelled relevant for any rule, is no miss of troops; k2 and k4, labelled for it, are
    assert [m["item_key"] for m in scored["misses"]] == ["k2", "k4"]
    assert (now[1], now[2]) == (f"{scored['precision']:.2f}", f"{scored['recall']:.2f}")


def test_examples_written_as_a_flow_list_are_refused_at_their_place(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The refusal named the rule only: not the file, nor the line to rewrite.
    rules = labelled / "rules.yaml"
    text = rules.read_text()
    flow = "    unlike: [Soldiers withdraw from the city]\n"
    rules.write_text(text.replace("    unlike:\n      - Soldiers withdraw from the city\n", flow))
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--unlike", "f1/k7"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = rules.read_text().splitlines().index(flow.rstrip("\n")) + 1
    assert err == (
        f"newsmon: {rules}:{line}:13: rule 'troops': `unlike:` is not written as a block list"
        " (one `- ` a line): write it so, and tune can add to it\n"
        f"{' ' * 4}{flow}    {' ' * 12}^\n"
    )


def test_a_proposal_of_1_says_the_examples_do_nothing_then(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # At threshold 1 a widen rule is its query alone; the table showed "1.00" and no word of it.
    store = SQLiteStore(labelled.parent / "news.db")
    later = AT + timedelta(days=1)
    store.add_labels([Label("f1", k, "troops", False, "ana", later) for k in ("k2", "k4")])
    store.close()
    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled)]) == 0
    out = capsys.readouterr().out
    rows = brute(scanned_relabelled(labelled), "widen")
    top = max(f1(*r[1:]) for r in rows)
    assert max(t for t, *counts in rows if f1(*counts) == top) == 1.0
    assert proposed(out, "best F1") == 1.0
    assert (
        "  at 1.00 only an example's own text is similar, so the rule fires on its query alone:"
        " on these labels its examples gain nothing\n"
    ) in out


def scanned_relabelled(folder: Path) -> list[tune.Point]:
    """`scanned`, with k2 and k4 labelled irrelevant for the rule."""
    return [
        tune.Point(p.key, False, p.query, p.like, p.unlike, True) if p.key[1] in ("k2", "k4") else p
        for p in scanned(folder)
    ]


def test_an_example_whose_text_yaml_cannot_hold_raw_is_written_escaped(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A feed title kept a DEL and a C1 control, which JSON quoting leaves raw and YAML refuses
    # anywhere in a file: `--like` of that item "would not load", and the diff shown without
    # --write was a file that no longer loads.
    title = "Army moves\x7f battalions\x9f east \ufffe"
    archive(labelled.parent, [item_row("k10", title)])
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--like", "f1/k10"]
    assert main([*argv, "--write"]) == 0
    assert "\\u007f" in capsys.readouterr().out
    assert load_rules(labelled).rules["troops"].like[-1] == title


def test_a_change_that_would_not_load_never_reaches_the_disk(
    labelled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The edited file was written, loaded, and put back when it failed: a running daemon, which
    # reloads a rules file as soon as it changes, could read it in between and log a refused
    # reload, and a Ctrl-C during the check (the model loads then) left it broken.
    monkeypatch.setattr("monitor.query.examples.MAX_EXAMPLES", 3)  # the rule has 3 already
    replaced: list[object] = []
    real = os.replace

    def replace(src: str, dst: str) -> None:
        replaced.append(dst)
        real(src, dst)

    monkeypatch.setattr("monitor.cli.tune.os.replace", replace)
    before = (labelled / "rules.yaml").read_text()
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--like", "f1/k3"]
    assert main([*argv, "--write"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newsmon: the change would not load, so it was not written:\n")
    assert "at most 3 examples a rule" in err
    assert replaced == []
    assert (labelled / "rules.yaml").read_text() == before
    assert sorted(p.name for p in labelled.iterdir()) == ["rules.yaml"]


def test_a_linked_rules_file_stays_a_link_and_keeps_its_mode(labelled: Path) -> None:
    # The link was replaced by a file of its own (the one it pointed to never changed) and the
    # new file had the umask's mode, not the file's.
    kept = labelled.parent / "repo"
    kept.mkdir()
    (labelled / "rules.yaml").rename(kept / "rules.yaml")
    (kept / "rules.yaml").chmod(0o640)
    (labelled / "rules.yaml").symlink_to(kept / "rules.yaml")
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--write"]
    assert main(argv) == 0
    assert (labelled / "rules.yaml").is_symlink()
    assert "threshold: 0.9\n" not in (kept / "rules.yaml").read_text()
    assert (kept / "rules.yaml").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in kept.iterdir()) == ["rules.yaml"]


def test_a_threshold_shared_through_an_anchor_is_refused_where_the_anchor_is(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `threshold: *shared` is the anchored node itself: tuning the rule that aliased it printed
    # a diff of the other rule's line, exit 0, and --write said the change would not load.
    rules = labelled / "rules.yaml"
    text = rules.read_text().replace("threshold: 0.9", "threshold: &shared 0.9")
    text += (
        "  - id: more\n    name: More\n    query: tanks\n    mode: widen\n"
        "    threshold: *shared\n    like:\n      - Tanks roll in\n"
    )
    rules.write_text(text)
    for rule in ("more", "troops"):
        assert main(["rules", "tune", "--rule", rule, "--rules", str(labelled)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"newsmon: {rules}:6:16: rule {rule!r}: its `threshold:` is shared through a YAML"
            " anchor, so an edit would change every rule that shares it"
        ), err
    assert rules.read_text() == text


def test_a_rules_file_of_crlf_lines_keeps_them(labelled: Path) -> None:
    # It was read with universal newlines and written with LF: every line of the file changed.
    rules = labelled / "rules.yaml"
    rules.write_bytes(rules.read_bytes().replace(b"\n", b"\r\n"))
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--like", "f1/k3"]
    assert main([*argv, "--write"]) == 0
    data = rules.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") == RULES.count("\n") + 1


def test_a_proposal_from_irrelevant_labels_alone_says_it_rests_on_no_positive_evidence(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With no item labelled relevant, F1 is 0 at every threshold and the tie-break (the highest)
    # proposed 1 as if the labels had shown it: nothing said the proposal rested on nothing.
    store = SQLiteStore(labelled.parent / "news.db")
    later = AT + timedelta(days=1)
    relevant = [key for key, _, yes in HEADLINES if yes]
    store.add_labels(
        [Label("f1", k, r, False, "ana", later) for k in relevant for r in ("", "troops")]
    )
    store.close()
    assert main(["rules", "tune", "--rule", "troops", "--rules", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "9 labelled items in the archive, 0 relevant\n" in out
    assert proposed(out, "best F1") == 1.0
    assert (
        "  no item is labelled relevant for this rule (or for any rule), so F1 cannot favour"
        " any threshold: the proposal rests on no relevant example; label a few relevant items"
        " (`newsmon feedback FEED/ITEM_KEY --relevant --rule troops`) or add one with"
        " --like FEED/ITEM_KEY\n"
    ) in out
    # one relevant label, and it is said no more
    store = SQLiteStore(labelled.parent / "news.db")
    store.add_labels([Label("f1", "k1", "troops", True, "ana", later + timedelta(hours=1))])
    store.close()
    main(["rules", "tune", "--rule", "troops", "--rules", str(labelled)])
    out = capsys.readouterr().out
    assert "1 relevant\n" in out
    assert "no item is labelled relevant" not in out


def test_an_item_already_an_example_is_not_added_again(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--like` of an item already among the rule's examples wrote it a second time (and named
    # twice on one command line, twice too).
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled)]
    assert main([*argv, "--like", "f1/k3", "--like", "f1/k3", "--unlike", "f1/k7", "--write"]) == 0
    out = capsys.readouterr().out
    assert out.count('+      - "Thousands of extra soldiers arrive at the border"  # f1/k3') == 1
    assert "--like f1/k3: named more than once: added once\n" in out
    rule = load_rules(labelled).rules["troops"]
    assert rule.like.count("Thousands of extra soldiers arrive at the border") == 1
    before = (labelled / "rules.yaml").read_text()

    assert main([*argv, "--like", "f1/k3", "--unlike", "f1/k7"]) == 1
    out = capsys.readouterr().out
    assert (
        "--like f1/k3: already one of the rule's like: examples: not added again\n"
        "--unlike f1/k7: already one of the rule's unlike: examples: not added again\n"
    ) in out
    assert "nothing to change" in out
    assert (labelled / "rules.yaml").read_text() == before


def test_an_item_cannot_be_both_a_like_and_an_unlike_example(
    labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An item added as `like` while its text was an `unlike` example (or both at once) was
    # written: its similarity to both is 1, so it could never be similar, and nothing said so.
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled), "--write"]
    rules = labelled / "rules.yaml"
    before = rules.read_text()
    assert main([*argv, "--like", "f1/k3", "--unlike", "f1/k3"]) == 2
    assert "f1/k3 is given as both --like and --unlike" in capsys.readouterr().err
    assert rules.read_text() == before

    assert main([*argv, "--unlike", "f1/k7"]) == 0
    written = rules.read_text()
    capsys.readouterr()
    assert main([*argv, "--like", "f1/k7"]) == 2
    err = capsys.readouterr().err
    assert (
        "--like f1/k7: its text is already one of the rule's unlike: examples (remove it there"
        " first): a text that is both a like and an unlike example is never similar; nothing was"
        " changed\n"
    ) in err
    assert rules.read_text() == written


def test_the_flips_listed_are_the_nearest_the_threshold_and_all_with_all(
    labelled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every labelled item that flips was printed, which on a large set of labels is thousands
    # of lines: the first FLIPS_SHOWN are, the nearest the proposed threshold first.
    points = scanned(labelled)
    rows = brute(points, "widen")
    top = max(f1(*r[1:]) for r in rows)
    want = max(t for t, *counts in rows if f1(*counts) == top)
    flipped = [p for p, _ in tune.flips(points, "widen", 0.9, want)]
    assert len(flipped) >= 3
    nearest = sorted(flipped, key=lambda p: (abs(p.like - want), p.key))
    monkeypatch.setattr("monitor.cli.tune.FLIPS_SHOWN", 2, raising=False)
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(labelled)]

    def listed(out: str) -> list[str]:
        return re.findall(r"^  [+-] \w+  \w+ +\d\.\d\d  f1/(k\d+)  ", out, re.M)

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert listed(out) == [p.key[1] for p in nearest[:2]]
    assert f"  ... and {len(flipped) - 2} more (--all to list every one)\n" in out
    assert main([*argv, "--all"]) == 0
    out = capsys.readouterr().out
    assert listed(out) == [p.key[1] for p in nearest]
    assert "--all to list" not in out


def test_examples_are_added_before_any_item_is_labelled(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `rules tune --like FEED/ITEM_KEY --write` is how an archived item becomes an example; with
    # no label yet it said only that there were no labels, wrote nothing and exited 1.
    packaged_model()  # skips without the extra
    archive(env, [item_row(key, title) for key, title, _ in HEADLINES])
    (env / "r").mkdir()
    (env / "r" / "rules.yaml").write_text(RULES, encoding="utf-8")
    argv = ["rules", "tune", "--rule", "troops", "--rules", str(env / "r")]
    assert main([*argv, "--like", "f1/k3", "--unlike", "f1/k8", "--write"]) == 0
    out = capsys.readouterr().out
    assert "the examples are added; the threshold stays" in out
    assert '+      - "Thousands of extra soldiers arrive at the border"  # f1/k3' in out
    rule = load_rules(env / "r").rules["troops"]
    assert rule.like[-1] == "Thousands of extra soldiers arrive at the border"
    assert rule.unlike[-1] == "Extra trains to the border for the holidays"
    assert rule.threshold == 0.9
    # Nothing asked and nothing to measure: as before.
    assert main(argv) == 1
    assert "no labelled archived items" in capsys.readouterr().out
