from datetime import timedelta

import pytest

from monitor.cli.main import main
from monitor.durations import format_duration, parse_duration
from monitor.errors import RuleError, SourceLocation


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("7d", 604800), ("15", 15), (" 1.5m ", 90), (30, 30)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "bad", ["", "5 minutes", "-3", "m", "1x", True, 86_400_000_000_000.0, "99999999999999d"]
)
def test_parse_duration_rejects(bad: str | bool) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for text in ("90s", "5m", "2h", "7d"):
        assert format_duration(parse_duration(text)) == text


def test_located_error_has_caret_under_column() -> None:
    loc = SourceLocation("rules/a.yaml", 3, 12, "  query: troop NEAR/x dispatch")
    err = RuleError("NEAR needs a distance", loc)
    lines = str(err).splitlines()
    assert lines[0] == "rules/a.yaml:3:12: NEAR needs a distance"
    assert lines[2].index("^") - 4 == 11


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("newsmon ")
