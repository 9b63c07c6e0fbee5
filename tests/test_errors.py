"""One exception tree: every error class newsmon defines for a user to meet derives from
`NewsmonError`, so the CLI's one handler turns each into a line and exit code 2."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import monitor
from monitor import errors
from monitor.cli import healthcheck
from monitor.cli.main import main
from monitor.config.problems import ConfigProblems
from monitor.net.decode import DecodeError, make_decoder
from monitor.query.compiler import compile_query
from monitor.query.lexer import QueryError

# Control flow inside one function's module, never raised past it (leading underscore).
PRIVATE_PREFIX = "_"


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(monitor.__path__, prefix="monitor.")
        if not info.name.endswith("__main__")
    ]
    assert len(names) > 50, names  # the walk found the package, not an empty folder
    return names


def test_every_public_exception_class_is_in_the_tree() -> None:
    outside = []
    seen = 0
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if not (inspect.isclass(value) and issubclass(value, BaseException)):
                continue
            if value.__module__ != name or attr.startswith(PRIVATE_PREFIX):
                continue
            seen += 1
            if not issubclass(value, errors.NewsmonError):
                outside.append(f"{name}.{attr}")
    assert seen >= 15, seen
    assert outside == []


def test_the_drawing_of_the_tree_names_every_error_class() -> None:
    """monitor/errors.py draws the tree in its docstring: a new error class goes there too."""
    missing = sorted(
        f"{name}.{attr}"
        for name in _modules()
        for attr, value in vars(importlib.import_module(name)).items()
        if inspect.isclass(value)
        and issubclass(value, errors.NewsmonError)
        and value.__module__ == name
        and not attr.startswith(PRIVATE_PREFIX)
        and attr not in (errors.__doc__ or "")
    )
    assert missing == [], "add these to the tree in monitor/errors.py's docstring"


@pytest.mark.parametrize(
    "error",
    [
        QueryError("an operand is missing", 3),
        ConfigProblems([(("feeds", 0, "id"), "duplicate id")]),
        healthcheck.AddressError("NEWSMON_HTTP_ADDR='x' is not host:port"),
        DecodeError("body is not valid gzip"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_once_outside_errors_are_newsmon_errors(error: Exception) -> None:
    assert isinstance(error, errors.NewsmonError)


def test_a_bad_encoding_is_a_parse_feed_error() -> None:
    with pytest.raises(DecodeError) as caught:
        make_decoder("compress")
    assert isinstance(caught.value, errors.FeedError)
    assert caught.value.kind == "parse"


def test_a_query_error_keeps_its_offset_and_stays_a_value_error() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query("weapon AND", {})
    assert isinstance(caught.value, ValueError)  # pydantic and older callers catch ValueError
    assert "at character" in str(caught.value)


def test_the_cli_handler_turns_a_bad_query_into_one_located_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: broken\n    name: Broken\n    query: weapon AND\n"
    )
    text = tmp_path / "a.txt"
    text.write_text("a weapon\n")
    code = main(["rules", "test", "--rules", str(rules), "--text", str(text)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("newsmon: ")
    assert "r.yaml:4:" in err
    assert "at character" in err or "ends" in err
    assert "Traceback" not in err


def test_not_utf8_locates_the_first_bad_byte_in_characters_of_its_line() -> None:
    data = "a: 1\nnamé: caf".encode() + b"\xe9 noir\r\nb: 2\n"
    with pytest.raises(UnicodeDecodeError) as caught:
        data.decode("utf-8")
    message, at = errors.not_utf8("f.yaml", data, caught.value)
    assert message == "not UTF-8 text (byte 0xe9): save the file as UTF-8"
    # Column 10, not 11: the "é" before it is two bytes but one character.
    assert (at.file, at.line, at.column, at.line_text) == ("f.yaml", 2, 10, "namé: caf\ufffd noir")
