"""The example rules on real reporting: the labels, and a quality floor on the held-out split.

The labelled text (the RUWA corpus of 2022 war reporting, CC BY-NC-SA, and for round 9 the
publishers' 2021 feed snapshots, with no licence) stays outside the repository, in ../shared;
the tests that need it skip with the reason when it is absent. The labels file, the label
checker and the paraphrase table run everywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

# The benchmarks are scripts that import each other as top-level modules; so do their tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from rules_quality import (
    CORPUS,
    LABELS,
    ROUND3,
    ROUND4,
    ROUND5,
    ROUND6,
    ROUND7,
    ROUND8,
    ROUND9,
    ROUND10,
    ROUND11,
    ROUND12,
    ROUND13,
    ROUND14,
    ROUNDS,
    RULES,
    SNAPSHOTS,
    Label,
    LabelError,
    Score,
    draw_all,
    draw_snapshots,
    main,
    misses,
    read_corpora,
    read_corpus,
    read_labels,
    read_snapshots,
    score,
    split_of,
)

from monitor.model import Item
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet

BLIND_R5 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round5-blind.jsonl"
BLIND_R6 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round6-blind.jsonl"
BLIND_R7 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round7-blind.jsonl"
BLIND_R8 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round8-blind.jsonl"
BLIND_R9 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round9-blind.jsonl"
BLIND_R10 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round10-blind.jsonl"
BLIND_R11 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round11-blind.jsonl"
BLIND_R12 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round12-blind.jsonl"
BLIND_R13 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round13-blind.jsonl"
BLIND_R14 = Path(__file__).resolve().parent / "data" / "rules-quality" / "round14-blind.jsonl"

ROOT = Path(__file__).resolve().parent.parent

# Measured when the rules were last revised, on rounds 1-7 (docs/rules.md has the table), set a
# little under it: one more miss or false alarm may pass, two fail. Every round here is dev now:
# rounds 1-3 since the fourth rewrite, round 4 since the fifth, round 5 since the sixth, round 6
# since the seventh, round 7 since the eighth (the revision was made reading all of them). These
# floors guard against a regression on them; an eighth round, held out whole and labelled blind,
# is the figure on news the rules were not written against. The names keep the splits' names in
# the table (`held_out r5` etc.).
DEV_FLOOR = {
    # split: {rule: (precision, recall)}
    "dev": {
        "troop-dispatch": (0.90, 0.92),
        "arms-to-ukraine": (0.94, 0.96),
        "nato-delegation": (0.84, 0.90),
    },
    "dev r3": {
        "troop-dispatch": (0.89, 0.96),
        "arms-to-ukraine": (0.93, 0.93),
    },
}

HELD_OUT_FLOOR = {
    # rule: (precision, recall)
    "troop-dispatch": (0.90, 0.89),
    "arms-to-ukraine": (0.92, 0.82),
    "nato-delegation": (0.77, 0.66),
}

# The third round's held-out part (dev since the fourth rewrite). `nato-delegation` has two
# relevant items there, too few for a floor that means anything.
HELD_OUT_R3_FLOOR = {
    "troop-dispatch": (0.90, 0.89),
    "arms-to-ukraine": (0.84, 0.88),
}

# The fourth round: held out whole and scored once for the fourth rewrite (troop 0.66/0.81,
# arms 0.95/0.87), then read for the fifth to eighth; dev now (docs/rules.md: troop 0.87/0.96,
# arms 0.97/0.97; with the examples of examples/rules-semantic, arms 0.95/0.97).
HELD_OUT_R4_FLOOR = {
    "troop-dispatch": (0.85, 0.93),
    "arms-to-ukraine": (0.95, 0.95),
}

# The fifth round: held out whole, labelled blind by two with a third settling, scored once for
# the fifth rewrite (troop 0.70/0.82, arms 0.89/0.89), then read for the sixth to eighth: dev
# now (docs/rules.md: troop 0.92/0.96, arms 1.00/0.97; no NATO item was left to draw).
HELD_OUT_R5_FLOOR = {
    "troop-dispatch": (0.90, 0.94),
    "arms-to-ukraine": (0.97, 0.94),
}

# Round 6, held out blind and scored once after the sixth revision (docs/rules.md: arms
# 0.93/0.81 on 32 relevant items, troop 0.75/0.60 on 5), then read for the seventh: dev now
# (then troop 1.00/0.80, arms 0.97/0.97; after the eighth, troop 1.00/1.00). One more miss or
# false alarm passes.
HELD_OUT_R6_FLOOR = {
    "troop-dispatch": (0.83, 0.80),
    "arms-to-ukraine": (0.93, 0.93),
}

# Round 7, held out blind and scored once after the seventh revision (docs/rules.md: troop
# 0.50/0.31 on 13 relevant items, arms 0.93/0.89 on 85), then read for the eighth: dev now
# (troop 1.00/1.00, arms 0.98/1.00; with the examples of examples/rules-semantic, arms
# 0.97/1.00). One more miss or false alarm passes, the examples' included.
HELD_OUT_R7_FLOOR = {
    "troop-dispatch": (0.92, 0.92),
    "arms-to-ukraine": (0.95, 0.98),
}


# Round 8, held out blind and scored once after the eighth revision (docs/rules.md: troop
# 0.88/0.60 on 25 relevant items, arms 0.69/0.90 on 10). One more miss or false alarm passes.
HELD_OUT_R8_FLOOR = {
    "troop-dispatch": (0.83, 0.56),
    "arms-to-ukraine": (0.64, 0.80),
}


# Round 9, 2021 general news from fifteen outlets, held out blind and scored once with the eighth
# revision (docs/rules.md: troop 0.33/0.20 on 10 relevant items; the arms and NATO rules had no
# relevant item and raised no false alarm), then read for the ninth: dev now (troop 0.67/0.60).
# One more miss or false alarm passes.
HELD_OUT_R9_FLOOR = {
    "troop-dispatch": (0.58, 0.50),
}
# Round 10, RUWA, held out blind and scored once with the ninth revision (docs/rules.md: troop
# 0.59/0.62 on 21 relevant items, arms 0.75/0.82 on 22), then read for the tenth: dev now (troop
# 0.71/0.71, arms 0.90/0.86). One more miss or false alarm passes.
HELD_OUT_R10_FLOOR = {
    "troop-dispatch": (0.68, 0.66),
    "arms-to-ukraine": (0.86, 0.81),
}
# Round 11, RUWA, held out blind and scored once with the tenth revision (docs/rules.md: troop
# 0.73/0.50 on 22 relevant items, arms 0.75/0.63 on 19), and once with the eleventh (troop
# 0.71/0.55). One more miss or false alarm passes.
HELD_OUT_R11_FLOOR = {
    "troop-dispatch": (0.66, 0.50),
    "arms-to-ukraine": (0.70, 0.57),
}
# Round 12, RUWA, held out blind and scored once with the tenth revision (docs/rules.md: troop
# 0.80/0.46 on 26 relevant items, arms 0.71/0.59 on 17; with the examples of
# examples/rules-semantic, arms 0.67/0.59). One more miss or false alarm passes, the examples'
# included.
HELD_OUT_R12_FLOOR = {
    "troop-dispatch": (0.75, 0.42),
    "arms-to-ukraine": (0.62, 0.52),
}
# Round 13, RUWA, held out blind and scored once with the tenth revision (docs/rules.md: troop
# 0.67/0.55 on 22 relevant items, arms 1.00/0.73 on 11), then read for the eleventh: dev now
# (troop 0.77/0.91, arms 1.00/0.91). One more miss or false alarm passes.
HELD_OUT_R13_FLOOR = {
    "troop-dispatch": (0.74, 0.86),
    "arms-to-ukraine": (0.90, 0.81),
}
# Round 14, RUWA, held out blind and scored once with the eleventh revision (docs/rules.md:
# troop 0.59/0.53 on 19 relevant items, arms 0.71/0.56 on 9; with the examples of
# examples/rules-semantic, arms 0.50/0.56). One more miss or false alarm passes, the examples'
# included.
HELD_OUT_R14_FLOOR = {
    "troop-dispatch": (0.55, 0.47),
    "arms-to-ukraine": (0.45, 0.44),
}
# The rules without a relevant item in round 9: at most this many false alarms.
HELD_OUT_R9_MOST_FP = {"arms-to-ukraine": 1, "nato-delegation": 1}


# examples/rules-semantic/: the same words with examples (`widen`): the examples add one false
# alarm for NATO on the first rounds' held-out part. The same margin of about one item.
SEMANTIC_HELD_OUT_FLOOR = {
    "troop-dispatch": (0.90, 0.89),
    "arms-to-ukraine": (0.92, 0.82),
    "nato-delegation": (0.70, 0.66),
}


@pytest.fixture(scope="module")
def corpus() -> dict[str, dict[str, str]]:
    if not CORPUS.is_file():
        pytest.skip(
            f"the RUWA corpus is not at {CORPUS} (a checkout of the shared corpora next to the"
            " repository): its licence keeps its text out of this repository"
        )
    if not SNAPSHOTS.is_dir():
        pytest.skip(
            f"the 2021 feed snapshots are not at {SNAPSHOTS} (round 9 is read from them): a"
            " checkout of the shared corpora next to the repository"
        )
    return read_corpora(CORPUS, SNAPSHOTS)


@pytest.fixture(scope="module")
def labels() -> list[Label]:
    return read_labels(LABELS)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(ROOT / "rules")


def test_labels_file_is_well_formed_and_big_enough(labels: list[Label]) -> None:
    assert len(labels) >= 1000
    held_whole = tuple(r.prefix for r in ROUNDS if r.whole)
    early = [x for x in labels if not x.drawn.startswith(held_whole)]
    by_split = {s: [x for x in early if x.split == s] for s in ("dev", "held_out")}
    # Rounds 1-3: about a third held out, by the urls' hashes.
    assert 0.28 < len(by_split["held_out"]) / len(early) < 0.38
    for rule in RULES:
        for split, items in by_split.items():
            assert sum(rule in x.rules for x in items) >= 8, (rule, split)
    # Hard negatives are there too: most labelled items are relevant to no rule.
    assert sum(not x.rules for x in labels) > len(labels) / 2
    # Round 4 is held out whole, and it can measure the troop and arms rules (the corpus has
    # too few NATO meetings left for the third rule: docs/rules.md).
    for prefix, size in ((ROUND4, 350), (ROUND5, 250)):
        whole = [x for x in labels if x.drawn.startswith(prefix)]
        assert len(whole) >= size
        assert {x.split for x in whole} == {"held_out"}
        for rule in ("troop-dispatch", "arms-to-ukraine"):
            assert sum(rule in x.rules for x in whole) >= 25, (prefix, rule)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"url": "u", "split": "dev", "rules": []}', "exactly the keys"),
        ('{"url": "", "split": "dev", "drawn": "uniform", "rules": []}', "url must be"),
        ('{"url": "u", "split": "test", "drawn": "uniform", "rules": []}', "split must be"),
        ('{"url": "u", "split": "SPLIT", "drawn": "odd", "rules": []}', "unknown stratum"),
        ('{"url": "u", "split": "dev", "drawn": "round4:nato", "rules": []}', "split must be"),
        ('{"url": "u", "split": "SPLIT", "drawn": "arms", "rules": ["troops"]}', "rules must"),
        ('{"url": "u", "split": "SPLIT", "drawn": "arms", "rules": "troop-dispatch"}', "rules"),
    ],
)
def test_label_checker_names_the_line_and_the_fault(
    tmp_path: Path, line: str, message: str
) -> None:
    good = json.dumps({"url": "v", "split": split_of("v"), "drawn": "nato", "rules": []})
    path = tmp_path / "labels.jsonl"
    path.write_text(good + "\n" + line.replace("SPLIT", split_of("u")) + "\n", encoding="utf-8")
    with pytest.raises(LabelError, match=message) as e:
        read_labels(path)
    assert str(e.value).startswith("labels.jsonl:2: ")


def test_label_checker_refuses_a_url_labelled_twice(tmp_path: Path) -> None:
    line = json.dumps({"url": "v", "split": split_of("v"), "drawn": "nato", "rules": []})
    path = tmp_path / "labels.jsonl"
    path.write_text(f"{line}\n{line}\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"labels\.jsonl:2: v is labelled twice"):
        read_labels(path)


def test_every_labelled_url_is_in_the_corpus_and_the_draw_reproduces_the_sample(
    corpus: dict[str, dict[str, str]], labels: list[Label]
) -> None:
    missing = [x.url for x in labels if x.url not in corpus]
    assert not missing
    rows = list(read_corpus(CORPUS).values())
    done = tuple(r.prefix for r in ROUNDS if r.prefix)
    first = [x for x in labels if not x.drawn.startswith(done)]
    third = [x for x in labels if x.drawn.startswith(ROUND3)]
    fourth = [x for x in labels if x.drawn.startswith(ROUND4)]
    fifth = [x for x in labels if x.drawn.startswith(ROUND5)]
    sixth = [x for x in labels if x.drawn.startswith(ROUND6)]
    seventh = [x for x in labels if x.drawn.startswith(ROUND7)]
    eighth = [x for x in labels if x.drawn.startswith(ROUND8)]
    drawn = draw_all(rows)
    assert drawn[1] == [(x.url, x.drawn, x.split) for x in first]
    assert drawn[3] == [(x.url, x.drawn, x.split) for x in third]
    assert drawn[4] == [(x.url, x.drawn, x.split) for x in fourth]
    assert drawn[5] == [(x.url, x.drawn, x.split) for x in fifth]
    assert drawn[6] == [(x.url, x.drawn, x.split) for x in sixth]
    assert drawn[7] == [(x.url, x.drawn, x.split) for x in seventh]
    assert drawn[8] == [(x.url, x.drawn, x.split) for x in eighth]
    # each round is news the earlier ones did not draw
    assert not {x.url for x in first} & {x.url for x in third}
    assert not ({x.url for x in first} | {x.url for x in third}) & {x.url for x in fourth}
    assert not ({x.url for x in first} | {x.url for x in third} | {x.url for x in fourth}) & {
        x.url for x in fifth
    }
    earlier = {x.url for x in first + third + fourth + fifth}
    assert not earlier & {x.url for x in sixth}
    assert not (earlier | {x.url for x in sixth}) & {x.url for x in seventh}
    assert not (earlier | {x.url for x in sixth + seventh}) & {x.url for x in eighth}
    tenth = [x for x in labels if x.drawn.startswith(ROUND10)]
    assert drawn[10] == [(x.url, x.drawn, x.split) for x in tenth]
    assert not (earlier | {x.url for x in sixth + seventh + eighth}) & {x.url for x in tenth}
    eleventh = [x for x in labels if x.drawn.startswith(ROUND11)]
    assert drawn[11] == [(x.url, x.drawn, x.split) for x in eleventh]
    before = earlier | {x.url for x in sixth + seventh + eighth + tenth}
    assert not before & {x.url for x in eleventh}
    twelfth = [x for x in labels if x.drawn.startswith(ROUND12)]
    assert drawn[12] == [(x.url, x.drawn, x.split) for x in twelfth]
    assert not (before | {x.url for x in eleventh}) & {x.url for x in twelfth}
    before |= {x.url for x in eleventh + twelfth}
    for number, prefix in ((13, ROUND13), (14, ROUND14)):
        got = [x for x in labels if x.drawn.startswith(prefix)]
        assert drawn[number] == [(x.url, x.drawn, x.split) for x in got]
        assert not before & {x.url for x in got}
        before |= {x.url for x in got}
    # round 9 is another corpus: the 2021 snapshots' items, drawn from them alone
    ninth = [x for x in labels if x.drawn.startswith(ROUND9)]
    snapshots = read_snapshots(SNAPSHOTS)
    assert draw_snapshots(list(snapshots.values())) == [(x.url, x.drawn, x.split) for x in ninth]
    assert not {r["url"] for r in rows} & {x.url for x in ninth}


# The floors of rounds 3 to 14, by the split each is reported under.
LATER_FLOORS = (
    ("held_out r3", HELD_OUT_R3_FLOOR),
    ("held_out r4", HELD_OUT_R4_FLOOR),
    ("held_out r5", HELD_OUT_R5_FLOOR),
    ("held_out r6", HELD_OUT_R6_FLOOR),
    ("held_out r7", HELD_OUT_R7_FLOOR),
    ("held_out r8", HELD_OUT_R8_FLOOR),
    ("held_out r9", HELD_OUT_R9_FLOOR),
    ("held_out r10", HELD_OUT_R10_FLOOR),
    ("held_out r11", HELD_OUT_R11_FLOOR),
    ("held_out r12", HELD_OUT_R12_FLOOR),
    ("held_out r13", HELD_OUT_R13_FLOOR),
    ("held_out r14", HELD_OUT_R14_FLOOR),
)


def _reach_floors(
    scores: dict[tuple[str, str], Score],
    floors_by_split: Sequence[tuple[str, dict[str, tuple[float, float]]]],
) -> None:
    """Each rule at or above its (precision, recall) floor in each split, and at most
    HELD_OUT_R9_MOST_FP false alarms on round 9 for the rules it has no relevant item for."""
    for split, floors in floors_by_split:
        for rule, (precision, recall) in floors.items():
            s = scores[rule, split]
            assert (s.precision or 0.0) >= precision, (rule, split, s)
            assert (s.recall or 0.0) >= recall, (rule, split, s)
    for rule, most in HELD_OUT_R9_MOST_FP.items():
        assert scores[rule, "held_out r9"].fp <= most, (rule, scores[rule, "held_out r9"])


def test_example_rules_reach_their_floor_on_the_held_out_split(
    corpus: dict[str, dict[str, str]], labels: list[Label], ruleset: RuleSet
) -> None:
    scores = score(ruleset, labels, corpus)
    _reach_floors(scores, (*DEV_FLOOR.items(), ("held_out", HELD_OUT_FLOOR), *LATER_FLOORS))


def test_example_rules_with_examples_reach_their_floor_on_the_held_out_split(
    corpus: dict[str, dict[str, str]], labels: list[Label]
) -> None:
    from tests.semantic_support import packaged_model

    semantic = load_rules(ROOT / "examples" / "rules-semantic", embedder=packaged_model())
    scores = score(semantic, labels, corpus)
    words = score(semantic.without_examples(), labels, corpus)
    for rule, (precision, recall) in SEMANTIC_HELD_OUT_FLOOR.items():
        s = scores[rule, "held_out"]
        assert (s.precision or 0.0) >= precision, (rule, s)
        assert (s.recall or 0.0) >= recall, (rule, s)
        # widen only adds: every item the words catch, the rule with examples catches too
        assert s.tp >= words[rule, "held_out"].tp
    # the same words, so the same floors on the later rounds
    _reach_floors(scores, LATER_FLOORS)


def test_misses_list_exactly_the_scored_errors_of_the_groups_asked(
    corpus: dict[str, dict[str, str]], labels: list[Label], ruleset: RuleSet
) -> None:
    scores = score(ruleset, labels, corpus)
    groups = ("dev r3", "held_out r6")
    listed = misses(ruleset, labels, corpus, groups)
    for rule in RULES:
        for kind, count in (("FN", "fn"), ("FP", "fp")):
            want = sum(getattr(scores[rule, g], count) for g in groups)
            assert sum(1 for r, k, _ in listed if (r, k) == (rule, kind)) == want, (rule, kind)
    in_groups = {
        x.url
        for x in labels
        if x.drawn.startswith((ROUND3, ROUND6)) and (x.drawn.startswith(ROUND6) or x.split == "dev")
    }
    assert {url for _, _, url in listed} <= in_groups


def test_misses_refuse_a_round_still_held_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round still held out is scored once, never read item by item: neither the function nor
    the command lists its misses (the command refuses before it reads the corpus). Every round
    drawn so far has been scored and read; the next one drawn is held out like this."""
    import rules_quality

    monkeypatch.setattr(rules_quality, "UNREAD", ("held_out r8",))
    with pytest.raises(ValueError, match="held out"):
        misses(load_rules(ROOT / "rules"), [], {}, ("dev", "held_out r8"))
    assert main(["--misses", "--split", "dev", "--split", "held_out r8"]) == 2
    assert "never listed" in capsys.readouterr().err


# Hand-written headlines in the ways real reporting words these stories (not corpus text):
# the paraphrases the first example rules missed, and the hard negatives next to them.
PARAPHRASES = [
    ("Russia moves troops and armour toward the Kharkiv border", {"troop-dispatch"}),
    ("Kremlin rushes reinforcements to the southern front", {"troop-dispatch"}),
    ("France to send military instructors to Ukraine, Macron says", {"troop-dispatch"}),
    ("North Korean soldiers arrive in Kursk region to fight for Moscow", {"troop-dispatch"}),
    ("The enemy regroups its troops near Bakhmut", {"troop-dispatch"}),
    ("Satellite images show a build-up of Russian forces near the border", {"troop-dispatch"}),
    ("NATO to bolster its eastern flank with four new battlegroups", {"troop-dispatch"}),
    ("A Russian military convoy is moving towards Kharkiv", {"troop-dispatch"}),
    ("The enemy's Black Sea fleet was reinforced by two landing ships", {"troop-dispatch"}),
    ("The enemy regroups its units in the south", {"troop-dispatch"}),
    ("Russia deploys Iskander launchers in Belarus near the border", {"troop-dispatch"}),
    ("Putin orders troops into two breakaway regions", {"troop-dispatch"}),
    ("Two Russian warships redeployed to the Sea of Azov", {"troop-dispatch"}),
    ("Poland to strengthen its air defence on the border with Belarus", {"troop-dispatch"}),
    ("Russian troops withdraw from Kherson to the left bank", set()),
    ("Enemy troops attacked the village but retreated with losses", set()),
    ("Ukrainian forces use HIMARS to destroy Russian ammunition depot", set()),
    ("Ukraine appoints new Armed Forces commander", set()),
    ("Company announces deployment of new software to its servers", set()),
    ("Russian troops shelled the railway station in Popasna", set()),
    ("Russian forces pull out of Snake Island", set()),
    (
        "Biden allows Ukraine to strike inside Russia with US-supplied long-range missiles",
        {"arms-to-ukraine"},
    ),
    ("Washington approves $725 million package of anti-tank weapons for Kyiv", {"arms-to-ukraine"}),
    (
        "Pentagon plans surge of weapons to Ukraine before the change of administration",
        {"arms-to-ukraine"},
    ),
    ("Germany to help Ukraine repair damaged Leopard tanks in Lithuania", {"arms-to-ukraine"}),
    ("UK lets Kyiv fire Storm Shadow missiles at targets in Russia", {"arms-to-ukraine"}),
    ("Zelensky asks allies for more air defence systems", {"arms-to-ukraine"}),
    ("Ukraine needs heavy weapons to save lives, says minister", {"arms-to-ukraine"}),
    ("Allies keep supporting Ukraine with arms and munitions", {"arms-to-ukraine"}),
    ("The West rushes to send arms as the offensive nears", {"arms-to-ukraine"}),
    ("Defense Contact Group meets to coordinate aid for Kyiv", {"arms-to-ukraine"}),
    ("Lend-Lease for Ukraine is signed into law", {"arms-to-ukraine"}),
    ("Partners to boost Ukraine's air defence after the strikes", {"arms-to-ukraine"}),
    ("Austin and Reznikov discuss Ukraine's defense needs", {"arms-to-ukraine"}),
    ("Greece to hand over infantry fighting vehicles to Kyiv", {"arms-to-ukraine"}),
    ("Germany to transfer tanks to Ukraine's Armed Forces", {"arms-to-ukraine"}),
    ("EU approves a new package of sanctions for Ukraine's aggressor", set()),
    ("Russian missiles hit Ukrainian power plants overnight", set()),
    ("Russia claims it destroyed four HIMARS launchers supplied to Ukraine", set()),
    # moved to a front, not supplied: equipment on the move counts as a troop move (the labels
    # count "the enemy transferred weapons and military equipment to the Bakhmut direction")
    ("The enemy transferred weapons to the Bakhmut direction, Ukraine says", {"troop-dispatch"}),
    ("Iran denies supplying drones to Russia for its war in Ukraine", set()),
    ("Arm wrestling championship held in Kyiv", set()),
    ("Volunteers take up arms to defend Ukraine", set()),
    ("France to offer 100 million euros in humanitarian aid to Ukraine", set()),
    # the seventh revision's wordings (rounds 1-6), and the hard negatives next to them
    (
        "US to send Kyiv new air defence systems in response to Russia's missile strikes",
        {"arms-to-ukraine"},
    ),
    ("Washington ready to keep providing defence support to Kyiv", {"arms-to-ukraine"}),
    ("Allies vow to strengthen Ukraine's armed forces before the winter", {"arms-to-ukraine"}),
    (
        "NATO will keep providing assistance to the Ukrainian army, Stoltenberg says",
        {"arms-to-ukraine"},
    ),
    ("Leaders pledge more military and humanitarian support for Ukraine", {"arms-to-ukraine"}),
    ("Moscow threatens to strike Western arms shipments to Ukraine", {"arms-to-ukraine"}),
    ("Ukraine to get its first long-range launchers next month", {"arms-to-ukraine"}),
    ("Washington to send Himars to Kyiv", {"arms-to-ukraine"}),
    ("Britain to gift Kyiv a squadron of Challenger tanks", {"arms-to-ukraine"}),
    ("Iran sent hundreds of drones to Russia for its war in Ukraine", set()),
    ("Ukraine shoots down drones supplied by Iran", set()),
    ("Russian plants cannot repair tanks damaged in Ukraine, intelligence says", set()),
    ("Russian ammunition trains derailed in Crimea", set()),
    ("Zelensky: Russia fired more missiles at Kyiv this week", set()),
    ("Charity concert held in support of the Armed Forces of Ukraine", set()),
    ("Enemy transfers more artillery to the Zaporizhzhia axis", {"troop-dispatch"}),
    ("Polish howitzers already deployed on the front line", {"troop-dispatch"}),
    ("Movement of Russian military vehicles leaving Kherson recorded as they withdraw", set()),
    ("The enemy transferred ammunition to the Bakhmut direction", set()),
    # The eighth revision (on rounds 1-7): moves told without a verb of sending, their
    # look-alikes, and arms wordings; written by hand, not taken from the corpus.
    ("Occupiers bring more armoured vehicles to the southern front", {"troop-dispatch"}),
    ("Russia replenishes its battalions with newly mobilised reservists", {"troop-dispatch"}),
    ("Fresh Russian units begin to appear near Izium", {"troop-dispatch"}),
    ("Norway opens talks on hosting American troops", {"troop-dispatch"}),
    ("Senate authorises the use of troops abroad", {"troop-dispatch"}),
    (
        "Kremlin tells its army to carry out peacekeeping functions in the breakaway regions",
        {"troop-dispatch"},
    ),
    ("Belarus strengthens protection of its border with Ukraine", {"troop-dispatch"}),
    ("Columns of Russian military equipment leave Melitopol for Vasylivka", {"troop-dispatch"}),
    ("Hundreds of reservists refuse to go to the front", {"troop-dispatch"}),
    ("Separatist units are moving from Luhansk towards the Donetsk region", {"troop-dispatch"}),
    ("EU adopts new sanctions against Moscow", set()),
    ("Refugees reach Zaporizhzhia from a city besieged by Russian troops", set()),
    ("Russians jam mobile signal to conceal troop movements", set()),
    ("Commanders ordered soldiers to shoot at civilians, intercept shows", set()),
    ("Russian military vehicles leaving Kherson as the counteroffensive advances", set()),
    ("US to provide additional security aid to Kyiv", {"arms-to-ukraine"}),
    (
        "Berlin says it is sending military aid as Ukraine braces for an offensive",
        {"arms-to-ukraine"},
    ),
    (
        "Defence minister announces a new military aid package from Canada for Ukraine",
        {"arms-to-ukraine"},
    ),
    ("Kyiv may use Western weapons against targets in Crimea", {"arms-to-ukraine"}),
    (
        "Pentagon meets weapon manufacturers to speed up deliveries for Ukraine",
        {"arms-to-ukraine"},
    ),
    ("Zelensky and Scholz held talks on military aid", {"arms-to-ukraine"}),
    ("Germany announces a medical support package for Ukraine", set()),
    ("Damaged Russian frigate towed to Sevastopol for repairs", set()),
    ("Every missile fired at Ukraine must have its price, Zelensky says", set()),
    ("Russia says it hit a depot storing weapons supplied to Ukraine", set()),
    ("NATO secretary general meets Zelensky in Kyiv", {"nato-delegation"}),
    ("Stoltenberg visits Ukraine for talks on air defence", {"nato-delegation"}),
    ("Zelensky after talks with Stoltenberg: the door stays open", {"nato-delegation"}),
    ("NATO-Russia Council meets in Brussels for the first time in two years", {"nato-delegation"}),
    ("Stoltenberg hopes Zelensky will attend the NATO summit in Madrid", {"nato-delegation"}),
    ("Zelensky discussed the attack with the NATO Secretary General", {"nato-delegation"}),
    ("Stoltenberg invites Zelensky to the alliance's summit", {"nato-delegation"}),
    ("Kuleba to take part in the NATO foreign ministers' meeting", {"nato-delegation"}),
    ("Minister addresses a meeting of the North Atlantic Council", {"nato-delegation"}),
    ("NATO says Russia is preparing a new offensive", set()),
    ("Sweden has officially decided to join NATO", set()),
    # The names and arms of late 2024, not in the 2022 corpus: Rutte heads NATO from October
    # 2024 (before, as the Dutch prime minister, meeting Zelensky is no NATO meeting); mines,
    # jets and the permission to fire supplied missiles. And home crises that call in the army.
    ("NATO chief Rutte makes a surprise visit to Kyiv", {"nato-delegation"}),
    ("Erdogan receives NATO Secretary General Rutte in Ankara", {"nato-delegation"}),
    ("Trump meets NATO's Rutte in Florida", {"nato-delegation"}),
    ("Zelensky meets Dutch Prime Minister Rutte in Kyiv", set()),
    ("Pentagon to send anti-personnel mines to Ukraine", {"arms-to-ukraine"}),
    ("US approves sending landmines to Kyiv to slow the Russian advance", {"arms-to-ukraine"}),
    ("France to deliver Mirage 2000 jets to Ukraine early next year", {"arms-to-ukraine"}),
    ("Ukraine strikes Russia with US-made ATACMS after Biden's green light", {"arms-to-ukraine"}),
    ("Anti-personnel mine blast kills two farmers in Kharkiv region", set()),
    ("Premier calls in the army to help with the ambulance crisis", {"troop-dispatch"}),
    ("With petrol pumps dry, the government brings in the military", {"troop-dispatch"}),
    ("South Korea considers sending military observers to Ukraine", {"troop-dispatch"}),
    ("US deploys B-52 bombers to the Middle East", {"troop-dispatch"}),
    ("Denmark pays for the production of howitzers in Ukraine", {"arms-to-ukraine"}),
    ("Moldovan president visits NATO headquarters", {"nato-delegation"}),
    ("Rutte welcomes the Finnish president to NATO headquarters", {"nato-delegation"}),
    ("NATO's Rutte and Zelensky hold a joint press conference in Kyiv", {"nato-delegation"}),
    ("Seoul says North Korea has shipped 3,000 soldiers to Russia", {"troop-dispatch"}),
    (
        "South Korea considers sending weapons to Ukraine after North Korean deployment",
        {"arms-to-ukraine"},
    ),
    # the eleventh revision (round 13)
    ("Russia strengthens its group of forces in the Zaporizhzhia direction", {"troop-dispatch"}),
    ("Pentagon adds 3,000 troops to its presence in Poland", {"troop-dispatch"}),
    ("The minister added that troops would hold their positions near Bakhmut", set()),
    ("Kremlin orders an increase in the number of troops on the border", {"troop-dispatch"}),
    ("Wagner Group has deployed to Mali, officials say", {"troop-dispatch"}),
    ("Navy prepares a landing of troops on the coast", {"troop-dispatch"}),
    ("Ukraine calls for UN peacekeepers to guard the nuclear plant", {"troop-dispatch"}),
    ("Moscow has thrown all its reserves into the battle for Bakhmut", {"troop-dispatch"}),
    ("Ukraine works with partners to get more air defence systems", {"arms-to-ukraine"}),
    ("Kyiv awaits the first F-16 jets", {"arms-to-ukraine"}),
    ("Russia gets more drones from Iran as Ukraine braces for winter", set()),
]


@pytest.mark.parametrize(("headline", "expected"), PARAPHRASES)
def test_paraphrases(ruleset: RuleSet, headline: str, expected: set[str]) -> None:
    item = Item(feed_id="wire", key="k", title=headline)
    assert {m.rule.id for m in ruleset.match(item)} == expected


@pytest.mark.parametrize(
    ("path", "prefix", "size"),
    [
        (BLIND_R5, ROUND5, 269),
        (BLIND_R6, ROUND6, 305),
        (BLIND_R7, ROUND7, 400),
        (BLIND_R8, ROUND8, 510),
        (BLIND_R9, ROUND9, 475),
        (BLIND_R10, ROUND10, 650),
        (BLIND_R11, ROUND11, 650),
        (BLIND_R12, ROUND12, 650),
        (BLIND_R13, ROUND13, 560),
        (BLIND_R14, ROUND14, 560),
    ],
)
def test_rounds_5_to_14_labels_are_the_blind_labellers_settled_answers(
    labels: list[Label], path: Path, prefix: str, size: int
) -> None:
    """Rounds 5 to 14 were labelled by two labellers blind to the rules, a third settling where
    they differ (docs/rules.md): the labels file holds that settled answer for each item."""
    blind = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    drawn_round = {x.url: x.rules for x in labels if x.drawn.startswith(prefix)}
    assert len(blind) == len(drawn_round) == size
    for row in blind:
        agreed = row["a"] == row["b"]
        assert (row["third"] is None) == agreed, row["url"]
        settled = row["a"] if agreed else row["third"]
        assert row["rules"] == settled, row["url"]
        assert drawn_round[row["url"]] == frozenset(settled), row["url"]
