"""Loading rules folders: every fault located FILE:LINE:COL with the line and a caret."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.errors import RuleError, RuleErrors
from monitor.query import rulefiles
from monitor.query.rulefiles import load_rules


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path) -> list[RuleError]:
    with pytest.raises(RuleErrors) as exc:
        load_rules(tmp_path)
    return exc.value.errors


def where(err: RuleError) -> tuple[int, int]:
    assert err.location is not None
    return err.location.line, err.location.column


def caret_under(err: RuleError, text: str) -> None:
    """The caret line points at `text` in the quoted line."""
    lines = str(err).splitlines()
    line, caret = lines[1], lines[2]
    assert line[caret.index("^") :].startswith(text), str(err)


def test_a_rules_file_not_in_utf8_is_located_at_its_first_bad_byte(tmp_path: Path) -> None:
    # It said "cannot read: 'utf-8' codec can't decode byte 0xe9 in position 40: ...".
    (tmp_path / "r.yaml").write_bytes(
        "rules:\n  - id: a\n    name: A\n    query: caf".encode("latin-1") + b"\xe9\n"
    )
    (err,) = errors_of(tmp_path)
    assert str(err).splitlines()[0] == (
        f"{tmp_path / 'r.yaml'}:4:15: not UTF-8 text (byte 0xe9): save the file as UTF-8"
    )
    assert where(err) == (4, 15)
    caret_under(err, "\ufffd")


@pytest.mark.parametrize(
    ("char", "what"), [("\x0c", "a control character"), ("\ufffe", "not a character")]
)
def test_a_character_yaml_refuses_is_located_where_it_is(
    tmp_path: Path, char: str, what: str
) -> None:
    # It was placed at 1:1 under the file's first line, as PyYAML's 'unacceptable character
    # #x000c ... in "<unicode string>", position 28'.
    (tmp_path / "r.yaml").write_text(f"rules:\n  - id: a\n    name: A{char}\n    query: b\n")
    (err,) = errors_of(tmp_path)
    code = f"U+{ord(char):04X}"
    assert str(err).splitlines()[0] == (
        f"{tmp_path / 'r.yaml'}:3:12: YAML error: character {code} ({what}) is not allowed in"
        " YAML: delete it"
    )


def test_a_lone_surrogate_made_by_an_escape_is_located_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text('rules:\n  - id: a\n    name: A\n    query: "b\\udfff"\n')
    (err,) = errors_of(tmp_path)
    first = str(err).splitlines()[0]
    assert first.startswith(f"{tmp_path / 'r.yaml'}:4:12: U+DFFF is half of a UTF-16 surrogate")


def test_a_nul_made_by_an_escape_is_located_where_it_is(tmp_path: Path) -> None:
    # `rules check` said ok, and every alert naming the rule failed in PostgreSQL's store.
    (tmp_path / "r.yaml").write_text('rules:\n  - id: a\n    name: "A\\0"\n    query: b\n')
    (err,) = errors_of(tmp_path)
    assert str(err).splitlines()[0] == (
        f"{tmp_path / 'r.yaml'}:3:11: a NUL character (an escape such as \\0 in double quotes)"
        " cannot be stored: remove it"
    )


GOOD = """\
sets:
  troops: [troops, soldiers, "special forces"]
rules:
  - id: a
    name: A
    query: $troops NEAR/3 sent
    feeds: [wire]
    notify: slack
    severity: high
    tags: [x]
  - id: b
    name: B
    enabled: false
"""


def test_loads_folder_recursively(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", GOOD)
    write(tmp_path, "sub/two.yml", "rules:\n  - id: c\n    name: C\n    query: $troops\n")
    write(tmp_path, "notes.txt", "not yaml: [")
    rs = load_rules(tmp_path)
    assert list(rs.rules) == ["a", "b", "c"]
    a = rs.rules["a"]
    assert (a.feeds, a.notify, a.severity, a.tags, a.line) == (
        ("wire",),
        ("slack",),
        "high",
        ("x",),
        4,
    )
    assert a.file.endswith("one.yaml")
    assert rs.rules["b"].enabled is False
    assert rs.rules["b"].query == ""
    assert len(rs.version) == 12
    assert load_rules(tmp_path).version == rs.version
    write(tmp_path, "one.yaml", GOOD.replace("NEAR/3", "NEAR/4"))
    assert load_rules(tmp_path).version != rs.version


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RuleErrors, match="no such rules folder"):
        load_rules(tmp_path / "nope")
    with pytest.raises(RuleErrors, match="no rules files"):
        load_rules(tmp_path)
    write(tmp_path, "sets.yaml", "sets:\n  a: [b]\n")
    with pytest.raises(RuleErrors, match="no rules found"):
        load_rules(tmp_path)


def test_query_errors_are_located_in_the_yaml_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yaml",
        """\
rules:
  - id: near
    name: N
    query: troops NEAR/x sent
  - id: quoted
    name: Q
    query: "troops AND $nope"
  - id: folded
    name: F
    query: >-
      troops OR
      sent AND
      headline:(x)
  - id: literal
    name: L
    query: |
      (troops OR
        sent
""",
    )
    errs = errors_of(tmp_path)
    assert [where(e) for e in errs] == [(4, 24), (7, 24), (13, 7), (17, 7)]
    assert "NEAR distance" in errs[0].message
    caret_under(errs[0], "x sent")
    assert "unknown set $nope" in errs[1].message
    caret_under(errs[1], "$nope")
    assert "unknown field 'headline'" in errs[2].message
    caret_under(errs[2], "headline")
    assert "unclosed '('" in errs[3].message
    caret_under(errs[3], "(troops")
    assert str(errs[0]).startswith(f"{tmp_path / 'r.yaml'}:4:24: rule 'near': NEAR distance")


def test_query_errors_after_non_ascii_text_are_located_by_character(tmp_path: Path) -> None:
    # libyaml composes the files: its marks must count characters as PyYAML's do, not bytes.
    write(
        tmp_path,
        "r.yaml",
        """\
# Києв, São Paulo, 東京 — 🚀
rules:
  - id: kyiv
    name: Київ é
    query: "Київ AND $nope"
  - id: tokyo
    name: 東京
    query: >-
      東京 OR
      headline:(x)
""",
    )
    errs = errors_of(tmp_path)
    assert [where(e) for e in errs] == [(5, 22), (10, 7)]
    caret_under(errs[0], "$nope")
    caret_under(errs[1], "headline")


def test_every_structural_error_is_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """\
sets:
  troops: [troops, "sol*diers"]
  empty: []
rules:
  - id: one
    name: One
  - id: one
    name: Again
  - id: two
    name: Two
    querry: x
  - id: three
    name: Three
    severity: urgent
    enabled: maybe
  - name: No id
  - id: four
extra: 1
""",
    )
    write(tmp_path, "b.yaml", "sets:\n  troops: [x]\nrules:\n  - id: five\n    name: [unclosed\n")
    write(tmp_path, "c.yaml", "rules:\n  - id: one\n    name: Third\n")
    errs = errors_of(tmp_path)
    got = [(Path(e.location.file).name, *where(e), e.message) for e in errs if e.location]
    msgs = "\n".join(str(g) for g in got)
    assert got[0][:3] == ("a.yaml", 2, 24), msgs
    assert "'*' may only end a word" in got[0][3]
    expected = [
        ("a.yaml", 3, 3, "set $empty is empty"),
        ("a.yaml", 7, 9, "duplicate rule id 'one' (first defined at"),
        ("a.yaml", 11, 5, "unknown rule key 'querry'; did you mean 'query'? (keys: id, name,"),
        ("a.yaml", 14, 15, "severity must be one of info, low, medium, high, critical"),
        ("a.yaml", 15, 14, "enabled must be true or false"),
        ("a.yaml", 16, 5, "this rule has no `id`"),
        ("a.yaml", 17, 5, "rule 'four' has no `name`"),
        ("a.yaml", 18, 1, "unknown key 'extra'"),
        ("b.yaml", 5, 11, "YAML syntax error: this [ is never closed: add ]"),
        ("c.yaml", 2, 9, "duplicate rule id 'one'"),
    ]
    for e in expected:
        assert any(g[:3] == e[:3] and e[3] in g[3] for g in got), f"{e}\n{msgs}"
    assert len(errs) == len(expected) + 1, msgs


def test_a_query_naming_a_set_that_failed_is_located_at_the_reference(tmp_path: Path) -> None:
    """The loader compiles every rule even when a set failed: it raised ValueError when that set
    had no usable member and a NEAR or the index read its (empty) widths."""
    write(
        tmp_path,
        "a.yaml",
        "sets:\n  gone: [null]\nrules:\n  - id: r\n    name: R\n    query: x NEAR/3 $gone\n",
    )
    errs = errors_of(tmp_path)
    assert [where(e) for e in errs] == [(2, 3), (2, 10), (6, 21)], "\n".join(map(str, errs))
    assert "set $gone is empty" in errs[2].message
    caret_under(errs[2], "$gone")


@pytest.mark.parametrize(
    ("written", "enabled"), [("yes", True), ("Off", False), ("!!bool maybe", None)]
)
def test_enabled_reads_yaml_booleans_and_refuses_a_tagged_non_boolean(
    tmp_path: Path, written: str, enabled: bool | None
) -> None:
    """`enabled: !!bool maybe` read as false, silently disabling the rule."""
    write(tmp_path, "a.yaml", f"rules:\n  - id: r\n    name: R\n    enabled: {written}\n")
    if enabled is not None:
        assert load_rules(tmp_path).rules["r"].enabled is enabled
        return
    (err,) = errors_of(tmp_path)
    assert where(err) == (4, 14)
    assert "enabled must be true or false" in err.message


def test_duplicate_yaml_key_and_not_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - id: x\n    name: X\n    name: Y\n")
    write(tmp_path, "b.yaml", "- just\n- a list\n")
    errs = errors_of(tmp_path)
    assert [where(e) for e in errs] == [(4, 5), (1, 1)]
    assert "duplicate key 'name'" in errs[0].message
    assert "must be a mapping" in errs[1].message


def test_example_rules_folder_is_valid(repo_root: Path) -> None:
    rs = load_rules(repo_root / "rules")
    assert set(rs.rules) == {"troop-dispatch", "arms-to-ukraine", "nato-delegation"}


@pytest.mark.parametrize(
    ("query", "column", "says"),
    [
        # YAML ends a value that starts with a quote at its closing quote; PyYAML said only
        # "expected <block end>, but found '<scalar>'".
        ('"special forces" NEAR/5 troops', 29, "a value that starts with a quote ends at its"),
        ("'special forces' NEAR/5 troops", 29, "put the whole value in single quotes"),
        # Reported at the end of the file (6:1) before; the fault is the quote that opened it.
        ('"ransomware attack', 12, 'this " is never closed'),
        ("*ware", 12, "a value that starts with * is a YAML alias"),
        ("ransomware: hospital", 22, "a colon and a space inside a value start a mapping"),
        ("@hospital", 12, "found character '@' that cannot start any token: put the whole"),
    ],
)
def test_a_query_that_yaml_cannot_read_says_how_to_quote_it(
    tmp_path: Path, query: str, column: int, says: str
) -> None:
    write(
        tmp_path,
        "r.yaml",
        f"rules:\n  - id: t\n    name: T\n    query: {query}\n    severity: high\n",
    )
    (err,) = errors_of(tmp_path)
    assert where(err) == (4, column), str(err)
    assert err.message.startswith("YAML syntax error: "), str(err)
    assert says in err.message, str(err)


@pytest.mark.parametrize("opener", ["[", "{"])
def test_a_bracket_opened_last_and_never_closed_is_told_at_the_bracket(
    tmp_path: Path, opener: str
) -> None:
    # PyYAML said "expected the node content, but found '<stream end>'" at the file's end.
    write(tmp_path, "r.yaml", f"sets:\n  troops: [troops]\nrules: {opener}\n\n")
    (err,) = errors_of(tmp_path)
    assert where(err) == (3, 8), str(err)
    closer = "]" if opener == "[" else "}"
    assert err.message == f"YAML syntax error: this {opener} is never closed: add {closer}"


@pytest.mark.parametrize(
    ("lines", "at", "says"),
    [
        # Indented deeper: read as the value above going on. It was told to quote the value.
        ("    name: T\n     query: x\n", (4, 11), "`query:` is indented differently from the"),
        # Indented less, or as deep as `- `: PyYAML said only "expected <block end>, but found".
        ("    name: T\n   query: x\n", (4, 4), "this line is indented unlike the keys above it"),
        ("    name: T\n  query: x\n", (4, 3), "this line is indented unlike the keys above it"),
    ],
)
def test_a_key_indented_unlike_its_neighbours_is_told_so(
    tmp_path: Path, lines: str, at: tuple[int, int], says: str
) -> None:
    write(tmp_path, "r.yaml", "rules:\n  - id: t\n" + lines)
    (err,) = errors_of(tmp_path)
    assert where(err) == at, str(err)
    assert says in err.message, str(err)
    assert "quote" not in err.message, str(err)


def test_the_quoting_the_hint_gives_loads(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yaml",
        "rules:\n  - id: t\n    name: T\n    query: '\"special forces\" NEAR/5 troops'\n",
    )
    assert load_rules(tmp_path).rules["t"].query == '"special forces" NEAR/5 troops'


OTHER = "rules:\n  - id: c\n    name: C\n    query: x\n"


def test_a_folder_too_large_to_be_a_rules_folder_is_refused_before_it_is_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--rules /` walked the whole machine (10-25 s, 600 MB and every YAML file on it): past
    MAX_FOLDER_ENTRIES files and folders the walk stops, with one error naming the folder."""
    monkeypatch.setattr(rulefiles, "MAX_FOLDER_ENTRIES", 30)
    write(tmp_path, "rules/a.yaml", GOOD)
    write(tmp_path, "rules/deep/c.yaml", OTHER)
    assert sorted(load_rules(tmp_path / "rules").rules) == ["a", "b", "c"]
    for i in range(40):  # a folder of other things beside it: the parent is no rules folder
        write(tmp_path, f"other/{i // 8}/{i}.txt", "x")
    listed: list[str] = []
    real_scandir = os.scandir

    def listing(path: Path) -> Iterator[os.DirEntry[str]]:
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", listing)
    with pytest.raises(RuleErrors) as caught:
        load_rules(tmp_path, named_by="given by --rules")
    (error,) = caught.value.errors
    assert str(error) == (
        f"{tmp_path}: more than 30 files and folders under it, so not a rules folder (given by "
        "--rules): name the folder that holds your *.yaml rules files (every one under it is "
        "read, subfolders included)"
    )
    assert len(listed) < 9  # stopped at the bound, before listing every one of the 9 folders


def test_a_symlinked_folder_is_not_entered_and_a_symlinked_file_is_read(tmp_path: Path) -> None:
    write(tmp_path, "elsewhere/c.yaml", OTHER)
    write(tmp_path, "rules/a.yaml", GOOD)
    (tmp_path / "rules" / "loop").symlink_to(tmp_path / "rules")
    (tmp_path / "rules" / "out").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "rules" / "one.yml").symlink_to(tmp_path / "elsewhere" / "c.yaml")
    assert sorted(load_rules(tmp_path / "rules").rules) == ["a", "b", "c"]  # c once, by one.yml
    assert rulefiles.rule_files(tmp_path / "rules") == [
        tmp_path / "rules" / "a.yaml",
        tmp_path / "rules" / "one.yml",
    ]


def test_a_list_of_rules_without_rules_above_it_is_told_to_add_it(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", "- id: t\n  name: T\n  query: x\n")
    (err,) = errors_of(tmp_path)
    assert where(err) == (1, 1)
    assert err.message == (
        "a rules file must be a mapping with `rules:` and/or `sets:`: this file is a list; put"
        " `rules:` on a line above it, and the list under it"
    )
    # What it says to do loads.
    write(tmp_path, "r.yaml", "rules:\n- id: t\n  name: T\n  query: x\n")
    assert list(load_rules(tmp_path).rules) == ["t"]


def test_a_file_read_as_given_text_must_be_one_of_the_folder(tmp_path: Path) -> None:
    # `rules tune --write` checks its edit so: a path that missed would check the old file.
    path = write(tmp_path, "r.yaml", "rules:\n  - id: a\n    name: A\n")
    edited = "rules:\n  - id: b\n    name: B\n"
    assert list(load_rules(tmp_path, texts={path: edited}).rules) == ["b"]
    with pytest.raises(ValueError, match="not files of"):
        load_rules(tmp_path, texts={tmp_path / "other.yaml": edited})
