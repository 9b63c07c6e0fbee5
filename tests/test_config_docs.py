"""docs/configuration.md stays in step with the settings model: its tables are parsed, compared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.config import Config, DestinationConfig, FeedConfig
from monitor.config.__main__ import main as config_main
from monitor.config.reference import TABLE_NAMES, format_default, markdown_tables
from monitor.config.ui import UIConfig

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def doc_table(name: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", text, re.DOTALL)
    assert match, f"docs/configuration.md lacks the {name} table markers"
    rows = [line for line in match.group(1).splitlines() if line.startswith("|")][2:]
    return [[cell.strip().strip("`") for cell in row.strip("|").split(" | ")] for row in rows]


def test_settings_table_matches_the_model() -> None:
    rows = doc_table("settings")
    documented = {row[0]: (row[1], row[3]) for row in rows}
    expected = {
        name: (f"NEWSMON_{name.upper()}", format_default(info, _kind(info)))
        for name, info in Config.model_fields.items()
        if name not in ("feeds", "destinations", "ui")
    }
    assert documented == expected
    assert all(row[4] for row in rows), "every setting needs a meaning"


def test_entry_tables_match_the_models() -> None:
    for name, model in (
        ("feeds", FeedConfig),
        ("destinations", DestinationConfig),
        ("ui", UIConfig),
    ):
        documented = {row[0]: row[1] for row in doc_table(name)}
        expected = {v.alias or k: format_default(v) for k, v in model.model_fields.items()}
        assert documented == expected, name


def test_doc_tables_are_the_generated_ones() -> None:
    # Regenerate with: python -m monitor.config --markdown
    text = DOC.read_text(encoding="utf-8")
    for name, table in markdown_tables().items():
        assert f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->" in text, name
    assert set(TABLE_NAMES) == set(markdown_tables())


def test_markdown_command_prints_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_main(["--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| `fetch_deadline` | `NEWSMON_FETCH_DEADLINE` | duration | `30s` |" in out


def _kind(info: object) -> str:
    extra = getattr(info, "json_schema_extra", None)
    return str(extra.get("kind", "")) if isinstance(extra, dict) else ""
