"""The CLI teaches: every command and sub-command shows an example in its --help, every command
that reads a config takes --log-level, --version answers, and usage errors are one line."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import __version__
from monitor.cli.main import build_parser, main, walk

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[tuple[str, argparse.ArgumentParser]]:
    return [(parser.prog, parser) for parser in walk(build_parser())]


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


def test_the_walk_reaches_every_command_and_sub_command() -> None:
    progs = {prog for prog, _ in commands()}
    for expected in (
        "newsmon",
        "newsmon check",
        "newsmon run",
        "newsmon rules check",
        "newsmon rules test",
        "newsmon rules backtest",
        "newsmon archive import",
        "newsmon feeds list",
        "newsmon feeds import",
        "newsmon deliveries list",
        "newsmon deliveries replay",
        "newsmon deliveries enable",
        "newsmon healthcheck",
    ):
        assert expected in progs


@pytest.mark.parametrize(("prog", "parser"), commands(), ids=lambda v: str(v).replace(" ", "-"))
def test_every_help_has_an_example_that_names_the_command(
    prog: str, parser: argparse.ArgumentParser
) -> None:
    text = parser.format_help()
    assert "example" in text.lower()
    # The example is a command line of this very command (or, for a group, of one under it).
    example = text.lower().split("example", 1)[1]
    assert prog in example


@pytest.mark.parametrize(("prog", "parser"), commands(), ids=lambda v: str(v).replace(" ", "-"))
def test_no_help_quotes_a_module_docstring_meant_for_its_readers(
    prog: str, parser: argparse.ArgumentParser
) -> None:
    # `newsmon init --help` told users it "Does I/O" and starts them "outside this repository".
    text = parser.format_help()
    assert "Does I/O" not in text, prog
    assert "Pure." not in text, prog
    assert "this repository" not in text, prog


@pytest.mark.parametrize(("prog", "parser"), commands(), ids=lambda v: str(v).replace(" ", "-"))
def test_every_command_that_reads_a_config_takes_log_level(
    prog: str, parser: argparse.ArgumentParser
) -> None:
    if "--config" in options(parser):
        assert "--log-level" in options(parser), prog


@pytest.mark.parametrize(("prog", "parser"), commands(), ids=lambda v: str(v).replace(" ", "-"))
def test_log_level_help_names_the_default_the_command_uses(
    prog: str, parser: argparse.ArgumentParser
) -> None:
    # Only `run` and `check` set up their logging from the config (setup_logging); every other
    # command logs at info unless told, whatever the config's log_level says.
    action = next((a for a in parser._actions if "--log-level" in a.option_strings), None)
    if action is None:
        return
    from_config = "log_level" in (action.help or "")
    assert from_config == (prog in ("newsmon check", "newsmon run")), (prog, action.help)


def test_a_rule_a_help_example_names_is_one_of_the_example_rules() -> None:
    # `newsmon feedback --help` showed `--rule troop-movements`, a rule the example rules lack:
    # given as shown, the label is refused as a typo of troop-dispatch.
    rule_ids = set(re.findall(r"^\s*- id: ([\w.-]+)", _example_rules_text(), re.MULTILINE))
    assert "troop-dispatch" in rule_ids
    for prog, parser in commands():
        for named in re.findall(r"--rule ([\w.-]+)", parser.format_help()):
            if named != "ID":
                assert named in rule_ids, (prog, named)


def _example_rules_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "rules").glob("*.yaml")))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"newsmon {__version__}\n"


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "examples:" in capsys.readouterr().err


def test_help_runs_as_a_real_process_without_a_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0
    assert "newsmon run --config /config/newsmon.yaml" in result.stdout
    assert "SIGTERM" in result.stdout


def test_a_usage_error_is_one_line_naming_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["feeds", "list", "--jsn"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "newsmon feeds list: unknown argument(s): --jsn; did you mean --json?"
        " (see `newsmon feeds list --help`)\n"
    )


def test_a_positional_after_an_option_is_read_as_one_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse takes a command's positionals in one run: `feedback export --config C FILE`
    # left FILE over ("unknown argument(s)"), though the same words in another order worked.
    config = tmp_path / "newsmon.yaml"
    config.write_text(f"database_url: {tmp_path / 'none.db'}\n")
    out = tmp_path / "labels.jsonl"
    assert main(["feedback", "export", "--config", str(config), str(out)]) == 0
    assert out.read_text() == ""
    with pytest.raises(SystemExit) as stop:
        main(["feedback", "import", "--config", str(config), str(out), "extra"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unknown argument(s): extra (see `newsmon feedback --help`)" in err


@pytest.mark.parametrize(("prog", "parser"), commands(), ids=lambda v: str(v).replace(" ", "-"))
def test_every_command_reads_its_positionals_after_options_too(
    prog: str, parser: argparse.ArgumentParser
) -> None:
    # main reads a command's arguments again with parse_known_intermixed_args when a positional
    # came after an option; argparse refuses that (TypeError) for a positional in a mutually
    # exclusive group, and the positional was left over: `deliveries replay ID --config C ID2`.
    if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        return  # a group of commands: its commands are read, not it
    try:
        parser.parse_known_intermixed_args(["--help-not-an-option"])
    except SystemExit:
        pass  # a required positional missing: read, and refused as a user would be
    except TypeError as exc:
        pytest.fail(f"{prog}: {exc}")


@pytest.mark.parametrize(
    ("argv", "fixed"),
    [
        (["--config", "n.yaml", "check", "--json"], "newsmon check --json --config n.yaml"),
        (["--log-level=debug", "rules", "check"], "newsmon rules check --log-level=debug"),
        (["--rules", "r/"], "newsmon COMMAND --rules r/"),
    ],
)
def test_an_option_before_the_command_is_moved_after_it(
    argv: list[str], fixed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse took the option's value for the command: "unknown command 'n.yaml'".
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    option = argv[0].split("=")[0]
    assert capsys.readouterr().err == (
        f"newsmon: {option} comes before the command; options go after it, as in `{fixed}`"
        " (see `newsmon --help`)\n"
    )


def test_the_options_of_newsmon_itself_still_go_first(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--vers"], ["-h", "check"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 0
    assert "usage: newsmon" in capsys.readouterr().out


def test_a_value_that_starts_with_a_dash_is_told_how_to_be_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # argparse read "-5d" as an option and said only "expected one argument".
    with pytest.raises(SystemExit) as stop:
        main(["rules", "backtest", "--since", "-5d"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "newsmon rules backtest: argument --since: expected one argument; '-5d' reads as an"
        " option: write --since=-5d (see `newsmon rules backtest --help`)\n"
    )
    with pytest.raises(SystemExit):
        main(["check", "--feed"])  # a value missing: no hint
    assert "reads as an option" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["stories", "list", "--story", "u:caf\udce9"], "argument --story: 'u:caf\\xe9'"),
        (["feedback", "f1/k\udce9", "--relevant"], "argument ALERT_OR_ITEM: 'f1/k\\xe9'"),
        (["check", "--feed", "https://caf\udce9.test/rss"], "argument --feed: 'https://caf"),
    ],
)
def test_an_argument_that_is_not_utf8_is_a_usage_error(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Bytes that are not UTF-8 arrive as lone surrogates ("\udce9"), which the store, a URL or
    # JSON cannot take: a UnicodeEncodeError traceback where they were written down.
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert "is not UTF-8 text; give it in UTF-8" in err


def test_a_path_that_is_not_utf8_is_still_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    text = tmp_path / os.fsdecode(b"caf\xe9.txt")
    text.write_text("Troops sent\nSoldiers were deployed north.\n")
    rules = str(ROOT / "rules")
    assert main(["rules", "test", "--rules", rules, "--text", str(text), "--json"]) == 0
    out = capsys.readouterr().out
    assert "troop-dispatch" in out
    assert out.encode("utf-8")  # no lone surrogate: a strict UTF-8 stdout takes it


def test_a_command_builds_its_own_parser_only_and_imports_no_other_command(
    tmp_path: Path,
) -> None:
    # Every run of `newsmon check` would otherwise import every command's module first.
    probe = (
        "import sys\n"
        "from monitor.cli.main import main\n"
        "try:\n"
        "    main(['check', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "others = sorted(m for m in sys.modules if m.startswith('monitor.cli.')"
        " and m.rsplit('.', 1)[1] in ('run', 'rules', 'feeds', 'backtest', 'healthcheck'))\n"
        "print('loaded:', others, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        check=False,
    )
    assert "usage: newsmon check" in result.stdout
    assert "loaded: []" in result.stderr, result.stderr
    # With anything else first, the whole parser: an unknown command lists them all.
    with pytest.raises(SystemExit):
        main(["chek"])


def test_backtest_since_help_does_not_read_as_a_default_of_30_days() -> None:
    # It said "(30d)", the form every other help uses for a default; without --since a backtest
    # reads the whole archive.
    (parser,) = [p for prog, p in commands() if prog == "newsmon rules backtest"]
    (action,) = [a for a in parser._actions if "--since" in a.option_strings]
    assert action.default is None
    assert "default: the whole archive" in (action.help or "")


def test_feedback_help_says_what_export_and_import_do() -> None:
    # `newsmon feedback export --help` is the labelling help (export is a value of its first
    # argument): it showed the two as examples only, without what they write, read or skip.
    (parser,) = [p for prog, p in commands() if prog == "newsmon feedback"]
    text = " ".join(parser.format_help().split())
    assert "export [FILE] writes every label" in text
    assert "skips those already there" in text
    assert "exit codes: 0 labelled, exported or imported" in text
