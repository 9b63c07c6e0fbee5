"""The semantic stage: `like`/`unlike` examples, a threshold and the four modes, on hand-written
items with an exact model (tests.semantic_support.ConceptEmbedder), and the rules-file errors of
every new field, located. The packaged model's own tests are at the end and skip without it."""

from __future__ import annotations

import importlib.abc
import os
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.delivery.document import build_alert_document
from monitor.errors import RuleErrors
from monitor.model import Item, Mode, Rule
from monitor.query import embed, rulefiles
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet
from tests.semantic_support import ConceptEmbedder, packaged_model

CONCEPTS = [
    ["troops", "battalions", "reinforcements", "soldiers"],
    ["tanks", "missiles", "weapons"],
    ["football", "match"],
    ["talks", "meeting"],
]


@pytest.fixture
def model() -> ConceptEmbedder:
    return ConceptEmbedder(CONCEPTS)


def item(title: str, summary: str = "") -> Item:
    return Item(feed_id="wire", key=title, title=title, summary=summary)


def fired(rs: RuleSet, it: Item) -> list[str]:
    got = [m.rule.id for m in rs.match(it)]
    assert got == [m.rule.id for m in rs.match_every_rule(it)]
    return got


# query true and similar / query true, off topic / query false, similar / neither
A = item("troops sent north")
B = item("troops sent to the football match")
C = item("reinforcements move north")
D = item("football match tonight")


@pytest.mark.parametrize(
    ("mode", "query", "expected"),
    [
        ("query", "troops NEAR/3 sent", "AB"),
        ("widen", "troops NEAR/3 sent", "ABC"),
        ("narrow", "troops NEAR/3 sent", "A"),
        ("similar", "", "AC"),
    ],
)
def test_each_mode_on_hand_written_items(
    model: ConceptEmbedder, mode: Mode, query: str, expected: str
) -> None:
    like = ("battalions and reinforcements",) if mode != "query" else ()
    rule = Rule("r", "R", query, mode=mode, like=like, threshold=0.9)
    rs = RuleSet.from_rules([rule], embedder=model)
    got = "".join(name for name, it in zip("ABCD", (A, B, C, D), strict=True) if fired(rs, it))
    assert got == expected


def test_unlike_must_be_beaten_not_equalled(model: ConceptEmbedder) -> None:
    def similar(like: str, unlike: str, text: str, threshold: float = 0.5) -> bool:
        rule = Rule("r", "R", mode="similar", like=(like,), unlike=(unlike,), threshold=threshold)
        return bool(fired(RuleSet.from_rules([rule], embedder=model), item(text)))

    assert similar("troops", "troops tanks", "soldiers")  # like 1.00 beats unlike 0.71
    assert not similar("troops tanks", "tanks", "missiles")  # unlike 1.00 beats like 0.71
    assert not similar("troops", "battalions", "soldiers")  # 1.00 each: a tie is not similar
    # the unlike wins even far above the threshold
    assert not similar("troops tanks", "tanks", "missiles tanks", threshold=0.1)


def test_each_rule_is_scored_against_its_own_examples_only(model: ConceptEmbedder) -> None:
    rules = [
        Rule("a", "A", mode="similar", like=("troops", "tanks"), unlike=("football",)),
        Rule("b", "B", mode="similar", like=("talks",)),
        Rule("c", "C", mode="similar", like=("football troops",), unlike=("talks", "tanks")),
    ]
    scores = RuleSet.from_rules(rules, embedder=model).similarity(item("tanks"))
    assert {k: (round(v.like, 3), v.closest, v.unlike) for k, v in scores.items()} == {
        "a": (1.0, 1, 0.0),
        "b": (0.0, 0, None),
        "c": (0.0, 0, 1.0),
    }


@pytest.mark.parametrize(
    ("threshold", "fires"),
    [
        (0.7071, True),  # the similarity is 1/√2 = 0.70710677 in float32
        (0.70710677, True),
        (0.7071069, True),  # within 1e-6
        (0.7072, False),
        (1.0, False),
    ],
)
def test_threshold_edges(model: ConceptEmbedder, threshold: float, fires: bool) -> None:
    rule = Rule("r", "R", mode="similar", like=("troops tanks",), threshold=threshold)
    rs = RuleSet.from_rules([rule], embedder=model)
    assert bool(fired(rs, item("battalions"))) is fires


def test_an_item_equal_to_an_example_reaches_a_threshold_of_one(model: ConceptEmbedder) -> None:
    rule = Rule("r", "R", mode="similar", like=("troops tanks football",), threshold=1.0)
    assert fired(RuleSet.from_rules([rule], embedder=model), item("soldiers missiles match"))


def test_each_item_is_embedded_once_and_only_when_a_rule_asks(model: ConceptEmbedder) -> None:
    rules = [
        Rule("a", "A", "troops", mode="widen", like=("troops",)),
        Rule("b", "B", "tanks", mode="widen", like=("tanks",), unlike=("football",)),
        Rule("c", "C", "troops", mode="narrow", like=("troops",)),
        Rule("d", "D", "talks"),
    ]
    rs = RuleSet.from_rules(rules, embedder=model)
    assert len(model.calls) == 1  # every rule's examples: one matrix
    assert len(model.calls[0]) == 4
    assert [m.rule.id for m in rs.match(item("troops and tanks"))] == ["a", "b", "c"]
    assert model.calls[1:] == [["troops and tanks\n"]]  # once, for three rules
    # a poll's items scored ahead in one batch: one call for all, none while matching
    batch = [item("troops sent"), item("tanks"), item("football")]
    rs.prepare(batch)
    assert model.calls[2:] == [["troops sent\n", "tanks\n", "football\n"]]
    assert [[m.rule.id for m in rs.match(i)] for i in batch] == [["a", "c"], ["b"], []]
    assert len(model.calls) == 3
    rs.match(item("troops sent"))  # an equal item, but not one of the batch: scored alone
    assert len(model.calls) == 4
    narrow_only = RuleSet.from_rules(rules[2:], embedder=model)
    narrow_only.prepare(batch)  # no rule asks about every item: nothing to do
    before = len(model.calls)
    assert [m.rule.id for m in narrow_only.match(item("talks in Geneva"))] == ["d"]
    assert len(model.calls) == before  # no narrow rule's query held: nothing embedded


def test_feeds_still_limit_a_widened_rule(model: ConceptEmbedder) -> None:
    rule = Rule("r", "R", "troops NEAR/3 sent", feeds=("other",), mode="widen", like=("troops",))
    assert fired(RuleSet.from_rules([rule], embedder=model), C) == []


def test_explanations_say_the_similarity_the_example_and_the_words(
    model: ConceptEmbedder,
) -> None:
    rules = [
        Rule("n", "N", "troops NEAR/3 sent", mode="narrow", like=("battalions " * 12,)),
        Rule("w", "W", "troops NEAR/3 sent", mode="widen", like=("reinforcements",)),
    ]
    rs = RuleSet.from_rules(rules, embedder=model)
    narrow, widen = rs.match(A)
    assert widen.explanation.clauses == (
        "troops NEAR/3 sent",
        'similar 1.00 ≥ 0.50 to "reinforcements"',
    )
    (off_topic,) = rs.match(B)  # the query held, so the widened rule fired though not similar
    assert off_topic.explanation.clauses[1] == 'similar 0.45 < 0.50 to "reinforcements"'
    assert narrow.explanation.clauses == (
        "troops NEAR/3 sent",
        'similar 1.00 ≥ 0.50 to "battalions battalions battalions battalions battalions'
        ' battalions battalions battalions…"',
    )
    assert [h.word for h in narrow.explanation.hits] == ["troops", "sent"]
    assert narrow.snippet == "**troops sent** north"
    sim = narrow.explanation.similarity
    assert sim is not None
    assert sim.score == pytest.approx(1.0)
    assert sim.unlike is None
    # widened in by similarity alone: no query words to show
    (only,) = rs.match(C)
    assert only.rule.id == "w"
    assert only.explanation.clauses == ('similar 1.00 ≥ 0.50 to "reinforcements"',)
    assert only.explanation.hits == ()
    assert only.snippet == "reinforcements move north"
    doc = build_alert_document(
        C,
        [only],
        alert_id="msg_" + "0" * 32,
        destination="d",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert doc["matches"][0]["explanation"]["similarity"] == {
        "score": 1.0,
        "example": "reinforcements",
        "threshold": 0.5,
        "unlike": None,
    }
    jsonschema = pytest.importorskip("jsonschema")
    import json

    schema = Path(__file__).parent.parent / "monitor" / "schemas" / "alert-v1.json"
    jsonschema.validate(doc, json.loads(schema.read_text("utf-8")))


# --- rules files -------------------------------------------------------------------------------

GOOD = """\
rules:
  - id: troops
    name: Troops
    query: troops NEAR/3 sent
    mode: widen
    threshold: 0.8
    like:
      - battalions move north
      - file: examples/one.txt
    unlike: [football match]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "a.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "rules"


def errors_of(folder: Path, model: ConceptEmbedder) -> list[str]:
    with pytest.raises(RuleErrors) as e:
        load_rules(folder, embedder=model)
    return [str(x).splitlines()[0] for x in e.value.errors]


def test_a_rules_file_with_examples_loads_them_files_included(
    tmp_path: Path, model: ConceptEmbedder
) -> None:
    folder = write(tmp_path, GOOD)
    (folder / "examples").mkdir()
    (folder / "examples" / "one.txt").write_text("Reinforcements arrive\n", encoding="utf-8")
    rs = load_rules(folder, embedder=model)
    rule = rs.rules["troops"]
    assert rule.like == ("battalions move north", "Reinforcements arrive\n")
    assert rule.unlike == ("football match",)
    assert (rule.mode, rule.threshold) == ("widen", 0.8)
    assert [m.rule.id for m in rs.match(item("Soldiers head north"))] == ["troops"]
    # the examples' text is part of the rules' version: editing one is a change to reload
    version = rs.version
    (folder / "examples" / "one.txt").write_text("Tanks arrive\n", encoding="utf-8")
    assert load_rules(folder, embedder=model).version != version


@pytest.mark.parametrize(
    ("lines", "where", "message"),
    [
        ({6: "    threshold: 1.5"}, "6:16", "threshold must be more than 0 and at most 1"),
        ({6: "    threshold: 0"}, "6:16", "threshold must be more than 0 and at most 1"),
        (
            {6: "    threshold: high"},
            "6:16",
            "threshold must be a number more than 0 and at most 1",
        ),
        ({6: "    threshold: [1]"}, "6:16", "threshold must be a number"),
        # YAML numbers that Python's float() cannot read were a ValueError traceback
        (
            {6: "    threshold: .inf"},
            "6:16",
            "threshold must be a number more than 0 and at most 1",
        ),
        ({6: "    threshold: 0x1"}, "6:16", "threshold must be a number more than 0 and at most 1"),
        ({6: "    threshold: 1:30"}, "6:16", "not '1:30'"),
        ({6: "    threshold: !!float half"}, "6:16", "not 'half'"),
        ({5: "    mode: wider"}, "5:11", "mode must be one of: query (the query alone), widen"),
        ({5: "    mode: similar"}, "5:5", "mode: similar uses the examples alone"),
        ({4: "    query:", 5: "    mode: narrow"}, "5:5", "mode: narrow combines a query"),
        ({5: "    mode: query"}, "7:5", "say how the examples combine with the query"),
        ({8: "      - file: examples/none.txt"}, "8:15", "example file 'examples/none.txt' not"),
        ({8: "      - file: examples"}, "8:15", "'examples' cannot be read: it is not a regular"),
        # a named pipe blocked the load for ever; a NUL in the name was a ValueError traceback
        ({8: "      - file: examples/pipe"}, "8:15", "it is not a regular file (a folder, a pipe"),
        ({8: "      - file: /dev/zero"}, "8:15", "it is not a regular file"),
        ({6: '    threshold: "0.5"'}, "6:16", "not '0.5'"),  # quoted: written as text
        ({8: "      - file: examples/latin1.txt"}, "8:15", "is not UTF-8 text"),
        ({8: "      - file: examples/empty.txt"}, "8:15", "example file 'examples/empty.txt' is"),
        ({8: "      - file: examples/big.txt"}, "8:15", "is larger than 64 KiB"),
        ({8: "      - path: examples/one.txt"}, "8:9", "must be an example's text, or `file"),
        ({8: "      - [a, b]"}, "8:9", "must be an example's text, or `file: PATH`"),
        # an item named by its key or link was compared as those characters, in silence
        ({8: "      - wire/18"}, "8:9", "example 'wire/18' is a link or the name of an item"),
        ({8: "      - 'https://wire.example/18'"}, "8:9", "is a link or the name of an item"),
        ({8: "      - wire/g:0a1b2c3d4e5f60718293"}, "8:9", "is a link or the name of an item"),
        ({8: "      - msg_0123456789abcdef0123456789abcdef"}, "8:9", "the name of an item"),
        ({7: "    like: []", 8: "", 9: ""}, "7:11", "`like:` is empty"),
    ],
)
@pytest.mark.timeout(20)  # a named pipe read as an example would block for ever
def test_every_new_field_is_checked_and_located(
    tmp_path: Path, model: ConceptEmbedder, lines: dict[int, str], where: str, message: str
) -> None:
    text = GOOD.splitlines()
    for n, line in lines.items():
        text[n - 1] = line
    folder = write(tmp_path, "\n".join(text) + "\n")
    (folder / "examples").mkdir()
    (folder / "examples" / "one.txt").write_text("Reinforcements arrive\n", encoding="utf-8")
    (folder / "examples" / "latin1.txt").write_bytes("Kyïv".encode("latin-1"))
    (folder / "examples" / "empty.txt").write_text(" \n", encoding="utf-8")
    (folder / "examples" / "big.txt").write_text("troops " * 10_000, encoding="utf-8")
    os.mkfifo(folder / "examples" / "pipe")
    (got,) = errors_of(folder, model)
    assert got.startswith(f"{folder / 'a.yaml'}:{where}: rule 'troops': "), got
    assert message in got


def test_a_threshold_written_with_an_exponent_is_a_number(
    tmp_path: Path, model: ConceptEmbedder
) -> None:
    # YAML 1.1 reads a plain 5e-1 as a string (its floats need a dot): it was refused as "not
    # a number".
    text = "\n".join(
        "    threshold: 5e-1" if n == 6 else line for n, line in enumerate(GOOD.splitlines(), 1)
    )
    folder = write(tmp_path, text.replace("file: examples/one.txt", "reinforcements") + "\n")
    assert load_rules(folder, embedder=model).rules["troops"].threshold == 0.5


def test_a_nul_in_an_example_file_s_name_is_refused_where_it_is(
    tmp_path: Path, model: ConceptEmbedder
) -> None:
    # It was a ValueError traceback; then "its name holds a NUL"; now the loader refuses the
    # escape that made it, as anywhere in a rules file.
    folder = write(tmp_path, GOOD.replace("file: examples/one.txt", 'file: "examples/one.txt\\0"'))
    (got,) = errors_of(folder, model)
    assert got.startswith(f"{folder / 'a.yaml'}:9:15: a NUL character (an escape such"), got


def test_an_example_with_a_slash_in_its_words_is_text(
    tmp_path: Path, model: ConceptEmbedder
) -> None:
    text = GOOD.replace("battalions move north", "troops head to Kyiv / Kharkiv")
    folder = write(tmp_path, text.replace("file: examples/one.txt", "援军/部队向北移动"))
    rule = load_rules(folder, embedder=model).rules["troops"]
    assert rule.like == ("troops head to Kyiv / Kharkiv", "援军/部队向北移动")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
def test_an_example_that_is_a_folder_leaves_no_file_open(
    tmp_path: Path, model: ConceptEmbedder
) -> None:
    """Every reload of such a rule left the folder open: a daemon asked to reload often (SIGHUP)
    ran out of file descriptors."""
    folder = write(tmp_path, GOOD.replace("examples/one.txt", "examples"))
    (folder / "examples").mkdir()
    errors_of(folder, model)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        (got,) = errors_of(folder, model)
        assert "it is not a regular file (a folder" in got
    assert len(os.listdir("/proc/self/fd")) < before + 5


def test_examples_without_a_like_are_located(tmp_path: Path, model: ConceptEmbedder) -> None:
    folder = write(
        tmp_path,
        "rules:\n"
        "  - id: a\n    name: A\n    query: x\n    threshold: 0.5\n"
        "  - id: b\n    name: B\n    query: x\n    unlike: [y]\n"
        "  - id: c\n    name: C\n    query: x\n    mode: widen\n",
    )
    assert [e.split(": ", 1)[0].rsplit(":", 2)[1:] for e in errors_of(folder, model)] == [
        ["5", "5"],
        ["9", "5"],
        ["13", "5"],
    ]
    assert "a threshold needs `like:` examples" in errors_of(folder, model)[0]
    assert "`unlike:` counter-examples need `like:` examples" in errors_of(folder, model)[1]
    assert "mode: widen compares items with `like:` examples" in errors_of(folder, model)[2]


def test_rules_in_code_are_checked_the_same_way(model: ConceptEmbedder) -> None:
    with pytest.raises(RuleErrors, match="rule 'r': say how the examples combine"):
        RuleSet.from_rules([Rule("r", "R", "x", like=("y",))], embedder=model)
    with pytest.raises(RuleErrors, match="rule 'r': threshold must be more than 0"):
        RuleSet.from_rules(
            [Rule("r", "R", mode="similar", like=("y",), threshold=-0.2)], embedder=model
        )


class _Absent(importlib.abc.MetaPathFinder):
    """Import hook: these packages are not installed, as without the extra."""

    names = ("numpy", "tokenizers", "safetensors", "wordllama")

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.fixture
def no_extra(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(sys.modules):
        if name.split(".")[0] in _Absent.names:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Absent(), *sys.meta_path])
    embed.load_embedder.cache_clear()
    yield
    embed.load_embedder.cache_clear()


@pytest.mark.usefixtures("no_extra")
def test_without_the_extra_a_rule_with_examples_is_a_located_error(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        GOOD.replace("      - file: examples/one.txt\n", "")
        + "  - id: plain\n    name: Plain\n    query: tanks\n",
    )
    with pytest.raises(RuleErrors) as e:
        load_rules(folder)
    (only,) = e.value.errors
    assert str(only).splitlines()[0] == (
        f"{folder / 'a.yaml'}:7:5: rule 'troops': rules with `like:` examples need the semantic"
        " extra (numpy is not installed): pip install 'newsmon[semantic]'"
    )
    # rules without examples load as they always did
    (folder / "a.yaml").write_text("rules:\n  - id: plain\n    name: P\n    query: tanks\n")
    assert [m.rule.id for m in load_rules(folder).match(item("tanks"))] == ["plain"]


# --- the packaged model ------------------------------------------------------------------------

# Hand-written headlines (not corpus text). Widen: on topic, sharing no word with the query, caught
# by the examples. Narrow: the query's words, off topic, dropped by the examples.
TROOPS = Rule(
    "troops",
    "Troops",
    "troops NEAR/4 (sent OR deploy*)",
    mode="widen",
    threshold=0.4,
    like=(
        "Russia moves reinforcements toward the border",
        "Kremlin rushes extra battalions to the front line",
        "Army masses soldiers near the frontier",
    ),
    unlike=("Soldiers withdraw from the city", "Troops shell the village"),
)
ARMS = Rule(
    "arms",
    "Arms",
    "weapons OR tanks OR missiles",
    mode="narrow",
    threshold=0.35,
    like=(
        "Germany to deliver tanks to Ukraine",
        "US approves new package of missiles for Kyiv",
        "Allies pledge more weapons for Ukraine",
    ),
    unlike=(
        "Russian missiles hit power plants overnight",
        "Video game features realistic tanks",
        "Museum shows medieval weapons",
    ),
)
PARAPHRASES = [
    # headline, what the words alone fire, what the rules with examples fire
    ("Moscow shifts fresh battalions toward the Kharkiv frontier", set(), {"troops"}),
    ("Thousands of extra soldiers arrive at the border, army says", set(), {"troops"}),
    ("Britain to provide Kyiv with additional tanks", {"arms"}, {"arms"}),
    ("Washington unveils package of missiles for Ukraine", {"arms"}, {"arms"}),
    ("Missiles strike Kharkiv overnight, killing four", {"arms"}, set()),
    ("New video game lets players drive tanks", {"arms"}, set()),
    ("Town museum opens exhibition of old weapons", {"arms"}, set()),
    ("Troops sent to guard the border", {"troops"}, {"troops"}),
    ("Football club signs new striker", set(), set()),
]


@pytest.mark.parametrize(("headline", "words", "examples"), PARAPHRASES)
def test_paraphrase_table_with_the_packaged_model(
    headline: str, words: set[str], examples: set[str]
) -> None:
    boolean = RuleSet.from_rules([Rule("troops", "T", TROOPS.query), Rule("arms", "A", ARMS.query)])
    assert {m.rule.id for m in boolean.match(item(headline))} == words
    rs = RuleSet.from_rules([TROOPS, ARMS], embedder=packaged_model())
    assert {m.rule.id for m in rs.match(item(headline))} == examples


def test_the_packaged_model_is_read_from_the_wheel_and_normalised() -> None:
    model = packaged_model()
    vectors = model.embed(["Troops sent to the border", "", "Troops sent to the border"])
    assert vectors.shape == (3, 256)
    assert float(vectors[0] @ vectors[2]) == pytest.approx(1.0, abs=1e-5)
    assert float(abs(vectors[1]).sum()) == 0.0  # nothing to go on: similar to nothing


@pytest.mark.parametrize(
    "text",
    [
        "Troops sent to the border, officials said.",
        "Zelensky: Ukraine needs more HIMARS (16.08.22 21:50) « War in Ukraine | Censor.NET",
        "Kyïv’s “new” anti-tank weapons\n\nand 1,500 soldiers",
    ],
)
def test_word_by_word_tokens_are_the_tokenizers_and_the_memo_forgets_cleanly(text: str) -> None:
    model = packaged_model()
    # white space is where words part, so line breaks count as spaces
    spaced = " ".join(text.split())
    assert model.tokens(text) == model.tokenizer.encode(spaced, add_special_tokens=False).ids
    first = model.embed([text])
    small = embed.StaticEmbedder(model.table, model.tokenizer)
    small.WORDS_KEPT = 3  # starts afresh on every text
    for _ in range(2):
        assert (small.embed([text]) == first).all()
    assert len(small._tokens) <= len(set(text.split()))


def test_many_examples_are_embedded_in_bounded_batches_and_alike() -> None:
    """Every token of every example was gathered at once, a KiB each: 100,000 examples of a
    thousand characters took 20 GB. Batches give the same vectors within a bounded peak."""
    model = packaged_model()
    texts = [f"troops {i} sent " + "to the border near the river " * 40 for i in range(600)]
    whole = embed.StaticEmbedder(model.table, model.tokenizer)
    whole.GATHER_MAX = 10**9
    small = embed.StaticEmbedder(model.table, model.tokenizer)
    small.GATHER_MAX = 100  # a batch every text or so
    assert (small.embed(texts[:20]) == whole.embed(texts[:20])).all()
    model.embed(texts[:1])  # the tokens' memo filled before measuring
    tracemalloc.start()
    try:
        vectors = model.embed(texts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert vectors.shape == (600, 256)
    # the rows (600 KiB) and a batch of 2**14 tokens (16 MiB); all at once was 120 MiB
    assert peak < 40 * 2**20, peak


def test_an_example_file_is_read_once_however_many_rules_name_it_and_a_folder_is_capped(
    tmp_path: Path, model: ConceptEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YAML aliases let 16 KB of rules name a 64 KiB file 10,000 times: 10,000 copies, 2.9 GB."""
    folder = write(
        tmp_path,
        "rules:\n"
        "  - id: a\n    name: A\n    mode: similar\n"
        "    like: &l [{file: one.txt}, {file: one.txt}]\n"
        "  - id: b\n    name: B\n    mode: similar\n    like: *l\n"
        "  - id: c\n    name: C\n    mode: similar\n    like: *l\n",
    )
    (folder / "one.txt").write_text("Reinforcements arrive\n", encoding="utf-8")
    reads: list[Path] = []
    real = rulefiles._read_example

    def counted(path: Path) -> bytes | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(rulefiles, "_read_example", counted)
    rs = load_rules(folder, embedder=model)
    assert rs.rules["c"].like == ("Reinforcements arrive\n",) * 2
    assert reads == [folder / "one.txt"]
    monkeypatch.setattr(rulefiles, "MAX_EXAMPLES_TOTAL", 5)
    (got,) = errors_of(folder, model)
    assert got.startswith(f"{folder / 'a.yaml'}:13:5: rule 'c': the rules up to this one have 6 ")
    assert "more than the 5 a rules folder may" in got


def test_a_rule_keeps_only_the_start_of_an_example_file_that_is_compared(
    tmp_path: Path, model: ConceptEmbedder
) -> None:
    """Every example file was kept whole for as long as the rules ran, though only its start is
    compared: the 20,000 files of 64 KiB a folder may name held 1.5 GB."""
    files = 150
    folder = write(
        tmp_path,
        "rules:\n  - id: a\n    name: A\n    mode: similar\n    like:\n"
        + "".join(f"      - file: ex/{i}.txt\n" for i in range(files)),
    )
    (folder / "ex").mkdir()
    article = ("Reinforcements arrive at the front. " * 2000)[:60_000]
    for i in range(files):
        (folder / "ex" / f"{i}.txt").write_text(f"{i} {article}", encoding="utf-8")
    load_rules(folder, embedder=model)  # the parser's and the model's memos filled first
    tracemalloc.start()
    try:
        rs = load_rules(folder, embedder=model)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 150 files of 60 KB are 9 MB; what is compared of them, 150 KB
    assert kept < 2 * 2**20, kept
    assert peak < 4 * 2**20, peak
    like = rs.rules["a"].like
    assert len(like) == files
    assert like[7] == f"7 {article}"[: embed.TEXT_CHARS]
    # An edit past the start is still a new version, to reload.
    version = rs.version
    (folder / "ex" / "7.txt").write_text(f"7 {article} More.", encoding="utf-8")
    assert load_rules(folder, embedder=model).version != version
