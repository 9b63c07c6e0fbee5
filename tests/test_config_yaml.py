"""Reading the config file's YAML (monitor.config.yamlfile): the data PyYAML's SafeLoader gives,
built in one checking pass when the file is plain; every problem the one it always was, at the
place the user has to edit."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from monitor.config import yamlfile
from monitor.config.yamlfile import parse_yaml
from monitor.errors import ConfigError

PLAIN = """\
database_url: state/newsmon.db
rules: rules
allow_networks: ["127.0.0.1/32", "::1"]
jitter: 0.25
alert_on_edit: false
max_body: 1048576
archive_retention: ~
since: 2021-05-06
at: 2021-05-06T07:08:09Z
"": empty keys are names too
feeds:
  - {id: f0000, url: 'http://127.0.0.1:8080/f0000.xml', interval: 5m, tags: &world [world, europe]}
  - {id: f0001, url: "http://127.0.0.1:8080/f0001.xml", tags: *world}
  - id: f0002
    url: http://127.0.0.1:8080/f0002.xml
    tags: *world
    interval: 90
"""


def built(text: str) -> tuple[Any, bool]:
    """The data and whether the one pass built it (False: PyYAML's constructor did)."""
    _, data, one_pass = yamlfile._load(text, yamlfile._FAST_LOADER)
    return data, one_pass


def test_a_plain_config_is_built_in_one_pass_as_pyyaml_builds_it() -> None:
    data, one_pass = built(PLAIN)
    assert one_pass
    assert data == yaml.load(PLAIN, Loader=yaml.SafeLoader)
    assert parse_yaml(PLAIN, "newsmon.yaml").data == data
    # An alias is the value it names, one object, as PyYAML gives it.
    tags = [feed["tags"] for feed in data["feeds"]]
    assert tags[0] is tags[1] is tags[2] == ["world", "europe"]


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {interval: 5m}\nfeed:\n  <<: *b\n  url: http://x.example/rss\n",
        "names: !!set {a, b}\n",
        "pairs: !!omap [{a: 1}, {b: 2}]\n",
        "blob: !!binary aGVsbG8=\n",
        "pairs: !!pairs [{a: 1}, {a: 2}]\n",
        "deep: " + "[" * 150 + "]" * 150 + "\n",
    ],
)
def test_what_the_one_pass_does_not_know_pyyaml_builds(text: str) -> None:
    _, one_pass = built(text)
    assert not one_pass
    assert parse_yaml(text, "newsmon.yaml").data == yaml.load(text, Loader=yaml.SafeLoader)


def test_a_control_character_is_located_where_it_is_with_secrets_hidden() -> None:
    # It said 'newsmon.yaml: invalid YAML: unacceptable character #x000c: special characters are
    # not allowed\n  in "<unicode string>", position 37', on two lines and with no line number.
    text = "rules: rules\x0c\ndatabase_url: postgresql://bob:s3cret@db.example/news\x7f\n"
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "newsmon.yaml")
    first, quoted, caret = str(caught.value).splitlines()
    assert first == (
        "newsmon.yaml:1:13: invalid YAML: character U+000C (a control character) is not allowed"
        " in YAML: delete it"
    )
    assert quoted.strip() == "rules: rules\ufffd"
    assert caret.index("^") == quoted.index("\ufffd")
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text.replace("\x0c", ""), "newsmon.yaml")
    assert str(caught.value).startswith("newsmon.yaml:2:54: invalid YAML: character U+007F")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("escape", ["\\0", "\\x00", "\\u0000"])
def test_a_nul_made_by_an_escape_is_located_where_it_is(escape: str) -> None:
    # YAML takes it; PostgreSQL's text does not: a feed named with one failed every write with
    # "PostgreSQL text fields cannot contain NUL (0x00) bytes", naming neither file nor line.
    text = f'feeds:\n  - id: f1\n    url: https://example.com/f\n    name: "Wire{escape} one"\n'
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "newsmon.yaml")
    assert str(caught.value).splitlines()[0] == (
        "newsmon.yaml:4:11: a NUL character (an escape such as \\0 in double quotes) cannot be"
        " stored: remove it"
    )
    assert parse_yaml(text.replace(escape, "\\t"), "newsmon.yaml").data["feeds"][0]["name"] == (
        "Wire\t one"
    )


def test_a_lone_surrogate_made_by_an_escape_is_located_where_it_is() -> None:
    # A JSON-style pair ("\ud83d\ude00") is two lone surrogates to YAML: SQLite's store ended in
    # a UnicodeEncodeError traceback at the first write.
    text = 'feeds:\n  - id: f1\n    url: https://example.com/f\n    name: "Wire \\ud83d\\ude00"\n'
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "newsmon.yaml")
    assert str(caught.value).splitlines()[0] == (
        "newsmon.yaml:4:11: U+D83D is half of a UTF-16 surrogate pair, not a character: write a"
        " character beyond U+FFFF as \\U and eight hex digits (\\U0001F600), or as itself"
    )
    fixed = text.replace("\\ud83d\\ude00", "\\U0001F600")
    assert parse_yaml(fixed, "newsmon.yaml").data["feeds"][0]["name"] == "Wire \U0001f600"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("rules: a\nrules: b\n", "newsmon.yaml:2:1: rules: key given twice"),
        ("feeds:\n  - {url: a, url: b}\n", "newsmon.yaml:2:14: feeds[0].url: key given twice"),
        ("1: x\n", "newsmon.yaml:1:1: 1: a key must be a name"),
        ("feeds: [{true: 1}]\n", "newsmon.yaml:1:10: feeds[0].true: a key must be a name"),
        ("a: &a [*a]\n", "newsmon.yaml: a YAML alias contains itself (or the nesting is too deep)"),
        ("a: &a {b: *a}\n", "newsmon.yaml: a YAML alias contains itself"),
        # Deeper than the checking walk goes: refused, not built.
        ("a: " + "[a: " * 300 + "1" + "]" * 300 + "\n", "the nesting is too deep"),
        ("a: !unknown x\n", "newsmon.yaml:1:4: invalid YAML: could not determine a constructor"),
        # PyYAML's constructor finds its problem before the walk finds the repeated key above it.
        ("rules: a\nrules: b\nx: !unknown y\n", "newsmon.yaml:3:4: invalid YAML: could not"),
        ("[a]: x\n", "newsmon.yaml:1:1: invalid YAML: found unhashable key"),
    ],
)
def test_each_problem_is_the_one_it_always_was(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "newsmon.yaml")
    assert says in str(caught.value)


def test_values_are_placed_through_aliases_and_at_their_closest_ancestor() -> None:
    doc = parse_yaml(PLAIN, "newsmon.yaml")

    def at(*path: str | int, key: bool = False) -> tuple[int, int] | None:
        where = doc.locate(path, key=key)
        return None if where is None else (where.line, where.column)

    assert at("feeds", 0, "url") == (12, 22)
    assert at("feeds", 0, "url", key=True) == (12, 17)
    assert at("feeds", 2, "interval", key=True) == (17, 5)
    assert at("feeds", 2, "interval") == (17, 15)
    # Through the alias in feeds[1]: the anchored list's own place.
    assert at("feeds", 1, "tags", 1) == at("feeds", 0, "tags", 1) == (12, 92)
    # A list item's key is its value; a path that is not there, its closest ancestor.
    assert at("feeds", 1, key=True) == at("feeds", 1) == (13, 5)
    assert at("feeds", 7, "url") == at("feeds") == (12, 3)
    assert at("feeds", "url") == at("feeds")
    assert at("rules", 0) == at("rules") == (2, 8)
    assert at("nope") == at() == (1, 1)
    line = doc.locate(("feeds", 2, "url"))
    assert line is not None
    assert line.line_text == "    url: http://127.0.0.1:8080/[hidden]"  # as an error quotes it


def test_a_file_not_in_utf8_is_located_at_its_first_bad_byte_with_secrets_hidden(
    tmp_path: Any,
) -> None:
    # It said "cannot read config file ...: 'utf-8' codec can't decode byte 0xe9 in position 55".
    path = tmp_path / "newsmon.yaml"
    path.write_bytes(b"rules: rules\ndatabase_url: postgresql://bob:s3cr\xe9t@db.example/news\n")
    with pytest.raises(ConfigError) as caught:
        yamlfile.read_yaml(path, "newsmon.yaml")
    first, quoted, caret = str(caught.value).splitlines()
    assert first == "newsmon.yaml:2:36: not UTF-8 text (byte 0xe9): save the file as UTF-8"
    assert quoted.strip() == "database_url: postgresql://db.example/[hidden]"
    assert "s3cr" not in str(caught.value)
    assert caret.strip() == "^"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        # Both were reported at the end of the file, far from the quote or bracket left open.
        (
            'feeds:\n  - url: "https://a.example/rss\n    tags: [x]\n',
            'newsmon.yaml:2:10: invalid YAML: this " is never closed: close it, or put the whole',
        ),
        (
            "feeds:\n  - url: a\n    tags: [x, y\n",
            "newsmon.yaml:3:11: invalid YAML: this [ is never",
        ),
        ("feeds: *all\n", "newsmon.yaml:1:8: invalid YAML: found undefined alias 'all': a value"),
        # Not to be quoted: a tab that indents.
        (
            "feeds:\n  - url: a\n\ttags: [x]\n",
            "newsmon.yaml:3:1: invalid YAML: found character '\\t' that cannot start any token:"
            " YAML indents with spaces; replace the tab with spaces",
        ),
    ],
)
def test_a_value_yaml_cannot_read_is_placed_where_it_can_be_fixed(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "newsmon.yaml")
    assert says in str(caught.value)
