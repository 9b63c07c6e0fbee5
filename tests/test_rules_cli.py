"""`newsmon rules check` and `newsmon rules test`, run through the real entry point."""

import json
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server, rss

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
SEED = str(ROOT / "seeds" / "article.txt")


def test_check_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "--rules", RULES]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 rules (3 enabled), version ")


def test_check_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: a\n    name: A\n    query: a NEAR b\n")
    assert main(["rules", "check", "--rules", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{tmp_path / 'r.yaml'}:4:14: rule 'a': NEAR needs a distance, e.g. NEAR/5"
    assert err[1] == "        query: a NEAR b"
    assert err[2] == "                 ^"
    assert err[3] == f"1 error in {tmp_path}"


def test_a_field_nested_inside_near_is_a_located_error_for_check_and_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A field two levels deep in a NEAR side, on the second line of a folded query, was
    silently ignored; both commands now name its file, line and column, without a traceback."""
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: parade\n    name: P\n    query: >-\n"
        "      news OR\n      ((drill OR NOT title:parade) OR march) NEAR/2 troops\n"
    )
    message = (
        "rule 'parade': a field cannot go inside NEAR, not even deeper in a group: put it around "
        "the whole NEAR, e.g. title:(a NEAR/3 b); to scope one word of an OR, split it: "
        "title:(a NEAR/3 b) OR (c NEAR/3 b)"
    )
    assert main(["rules", "check", "--rules", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{tmp_path / 'r.yaml'}:6:22: {message}"
    assert err[1] == "          ((drill OR NOT title:parade) OR march) NEAR/2 troops"
    assert err[2] == " " * 25 + "^"  # under the field, as the line is shown indented by 4
    assert err[3] == f"1 error in {tmp_path}"
    assert main(["rules", "test", "--rules", str(tmp_path), "--text", SEED]) == 2
    out = capsys.readouterr()
    assert out.err.splitlines()[0] == f"newsmon: {tmp_path / 'r.yaml'}:6:22: {message}"
    assert "Traceback" not in out.err
    assert out.out == ""


def test_check_uses_env_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSMON_RULES", str(tmp_path / "missing"))
    assert main(["rules", "check"]) == 2
    assert "missing: no such rules folder" in capsys.readouterr().err
    monkeypatch.delenv("NEWSMON_RULES")
    monkeypatch.chdir(ROOT)
    assert main(["rules", "check"]) == 0


def test_a_relative_rules_folder_says_it_is_read_from_where_newsmon_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `rules: rules` in /etc/newsmon/newsmon.yaml is not read beside the config, and nothing
    # said so: "rules: no such rules folder (set by rules in /etc/newsmon/newsmon.yaml)".
    for name in ("NEWSMON_RULES", "NEWSMON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "rules").mkdir()
    config = tmp_path / "etc" / "newsmon.yaml"
    config.write_text("rules: rules\n")
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "test", "--config", str(config), "--text", SEED]) == 2
    assert capsys.readouterr().err == (
        f"newsmon: rules: no such rules folder (set by rules in {config};"
        f" relative to {tmp_path}, where newsmon runs)\n"
    )


def test_a_missing_rules_folder_is_blamed_on_what_named_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every missing folder said "set --rules or NEWSMON_RULES", also the config's `rules:` and
    # backtest's --diff.
    monkeypatch.delenv("NEWSMON_RULES", raising=False)
    monkeypatch.delenv("NEWSMON_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "newsmon.yaml"
    config.write_text(f"rules: {tmp_path / 'gone'}\ndatabase_url: {tmp_path / 'n.db'}\n")
    assert main(["rules", "test", "--text", SEED]) == 2
    assert capsys.readouterr().err == (
        f"newsmon: {tmp_path / 'gone'}: no such rules folder (set by rules in newsmon.yaml)\n"
    )
    assert main(["rules", "backtest", "--rules", RULES, "--diff", "edited"]) == 2
    assert capsys.readouterr().err == (
        f"newsmon: edited: no such rules folder (given by --diff; relative to {tmp_path},"
        " where newsmon runs)\n"
    )
    monkeypatch.setenv("NEWSMON_RULES", "elsewhere")
    assert main(["rules", "tune", "--rule", "troop-dispatch"]) == 2
    assert "elsewhere: no such rules folder (set by NEWSMON_RULES; relative" in (
        capsys.readouterr().err
    )


HOOK_CONFIG = (
    "destinations:\n  - name: ops\n    type: webhook\n"
    "    url_env: T_HOOK_URL\n    secret_env: T_HOOK_SECRET\n"
)
GOOD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_check_warns_of_destination_secrets_run_could_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` refuses to start without a destination's secret; `rules check` said ok. It now
    warns (CI rarely holds production secrets) and with --require-secrets exits 2, through
    the deliverer's own check: a malformed secret is caught as `run` catches it."""
    monkeypatch.delenv("NEWSMON_RULES", raising=False)
    config = tmp_path / "newsmon.yaml"
    config.write_text(f"rules: {RULES}\n{HOOK_CONFIG}")
    monkeypatch.setenv("T_HOOK_URL", "https://hooks.example.org/in")
    monkeypatch.delenv("T_HOOK_SECRET", raising=False)
    args = ["rules", "check", "--config", str(config)]
    missing = "destination 'ops': secret: environment variable T_HOOK_SECRET is not set or empty"
    assert main(args) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ok: 3 rules")
    assert out.err.splitlines() == [
        f"warning: {missing}",
        "warning: `newsmon run` would refuse to start with this environment"
        " (--require-secrets: an error)",
    ]
    assert main([*args, "--require-secrets"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        missing,
        "1 error: `newsmon run` would refuse to start with this environment",
    ]
    monkeypatch.setenv("T_HOOK_SECRET", "not-a-signing-secret")
    assert main([*args, "--require-secrets"]) == 2
    assert "destination 'ops': signing secret 1: " in capsys.readouterr().err
    monkeypatch.setenv("T_HOOK_SECRET", GOOD_SECRET)
    assert main([*args, "--require-secrets"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ok: 3 rules")
    assert out.err == ""


def test_check_warns_of_console_credentials_run_could_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With `ui.enabled`, `run` refuses to start without a console password or token; `rules
    check` warns of it like a destination secret, and --require-secrets makes it an error."""
    monkeypatch.delenv("NEWSMON_RULES", raising=False)
    for name in ("PASSWORD", "ADMIN_PASSWORD", "TOKEN", "ADMIN_TOKEN"):
        monkeypatch.delenv(f"NEWSMON_UI_{name}", raising=False)
    config = tmp_path / "newsmon.yaml"
    config.write_text(f"rules: {RULES}\nui:\n  enabled: true\n  password_file: pw.txt\n")
    args = ["rules", "check", "--config", str(config)]
    assert main(args) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ok: 3 rules")
    warnings = out.err.splitlines()
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("warning: ")
    assert "pw.txt" in warnings[0]
    assert main([*args, "--require-secrets"]) == 2
    assert "pw.txt" in capsys.readouterr().err
    (tmp_path / "pw.txt").write_text("a long enough console password\n")
    assert main([*args, "--require-secrets"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ok: 3 rules")
    assert out.err == ""


def test_a_first_run_without_config_or_rules_is_pointed_at_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("NEWSMON_RULES", "NEWSMON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "test", "--text", SEED]) == 2
    assert capsys.readouterr().err == (
        "newsmon: rules: no such rules folder (the default, and no config file was found:"
        f" `newsmon init` writes both; relative to {tmp_path}, where newsmon runs)\n"
    )
    (tmp_path / "newsmon.yaml").write_text("log_level: info\n")
    assert main(["rules", "test", "--text", SEED]) == 2
    assert "(the default; set --rules, NEWSMON_RULES or rules: in the config; relative" in (
        capsys.readouterr().err
    )


def test_text_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "--rules", RULES, "--text", SEED, "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["rule"] for x in lines] == ["arms-to-ukraine", "nato-delegation", "troop-dispatch"]
    first = lines[0]
    assert set(first) == {"rule", "item", "explanation", "snippet"}
    assert first["item"] == {
        "title": "article.txt",
        "url": None,
        "feed": "text",
        "item_key": SEED,
        "published": None,
    }
    assert set(first["explanation"]) == {"clauses", "hits"}
    assert {"field", "word", "term", "position", "start", "end"} == set(
        first["explanation"]["hits"][0]
    )
    assert "**" in first["snippet"]


def test_text_one_rule_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "test", "--rules", RULES, "--rule", "troop-dispatch", "--text", SEED])
    assert code == 0
    out = capsys.readouterr().out
    assert "troop-dispatch" in out
    assert "arms-to-ukraine" not in out
    assert "**dispatched**" in out


def test_text_with_headline_and_nothing_matched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "t.txt"
    text.write_text("Weather: sunny\nA calm day across the region.\n")
    assert main(["rules", "test", "--rules", RULES, "--text", str(text), "--json"]) == 1
    assert capsys.readouterr().out == ""
    text.write_text("Troops sent to the border\nMore later.\n")
    assert main(["rules", "test", "--rules", RULES, "--text", str(text), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["item"]["title"] == "Troops sent to the border"
    assert line["explanation"]["hits"][0]["field"] == "title"


def test_a_text_not_in_utf8_is_located_at_its_first_bad_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "cannot read the text: 'utf-8' codec can't decode byte 0xe9 in position 19".
    text = tmp_path / "t.txt"
    text.write_bytes(b"Troops sent\nSoldiers caf\xe9 north.\n")
    assert main(["rules", "test", "--rules", RULES, "--text", str(text)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"newsmon: {text}:2:13: not UTF-8 text (byte 0xe9): save the file as UTF-8",
        "    Soldiers caf\ufffd north.",
        "                ^",
    ]


def test_a_mistyped_rule_id_gets_the_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    # It said "no rule troop-dispach in ... (rules: ...)"; an empty id showed as a double space.
    argv = ["rules", "test", "--rules", RULES, "--text", SEED, "--rule", "troop-dispach"]
    assert main([*argv, "--rule", ""]) == 2
    assert capsys.readouterr().err == (
        f"newsmon: no rule 'troop-dispach', '' in {RULES}; did you mean 'troop-dispatch'?"
        " (3 rules: arms-to-ukraine, nato-delegation, troop-dispatch)\n"
    )


def test_a_text_is_never_read_with_lone_surrogates(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 reached the item as lone surrogates, from a file's name or from
    standard input in a C locale, and the semantic stage's tokenizer ended in a TypeError."""
    import os
    import subprocess
    import sys

    from monitor.cli.rules import text_item

    named = tmp_path / os.fsdecode(b"caf\xe9.txt")
    named.write_text("troops sent to the border\n")
    assert text_item(str(named)).title.encode("utf-8") == "caf\ufffd.txt".encode()
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "test", "--rules", RULES, "--text", "-"],
        input=b"troops \xe9 sent\n",
        capture_output=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path),
            "LC_ALL": "C",
        },
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.decode().startswith(
        "newsmon: stdin:1:8: not UTF-8 text (byte 0xe9): save the file as UTF-8\n"
    )


def test_files_named_by_mistake_are_read_to_a_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--text /dev/zero`, `feeds import` or `feedback import` of a log file: read whole until
    memory ran out (a MemoryError traceback). The limits, made small here, say so instead."""
    from monitor.cli import feedback, feeds, rules

    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 2048)
    monkeypatch.setattr(rules, "TEXT_MAX_BYTES", 1024)
    monkeypatch.setattr(feeds, "OPML_MAX_BYTES", 1024)
    monkeypatch.setattr(feedback, "LABELS_MAX_BYTES", 1024)
    monkeypatch.setenv("NEWSMON_DATABASE_URL", str(tmp_path / "n.db"))
    for argv, what in (
        (["rules", "test", "--rules", RULES, "--text", str(big)], "a text"),
        (["feeds", "import", str(big)], "a subscription list"),
        (["feedback", "import", str(big)], "a labels file"),
    ):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == (
            f"newsmon: {big}: larger than 1024 bytes, more than {what} takes;"
            " is this the right file?\n"
        )


def test_an_empty_text_argument_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    # It took the --feed branch with no feed: an AttributeError traceback.
    assert main(["rules", "test", "--rules", RULES, "--text", ""]) == 2
    assert capsys.readouterr().err == (
        "newsmon: --text is empty: name a text file, or - for standard input\n"
    )


def test_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "--rules", RULES, "--rule", "nope", "--text", SEED]) == 2
    assert "no rule 'nope'" in capsys.readouterr().err
    assert main(["rules", "test", "--rules", RULES, "--text", str(tmp_path / "x")]) == 2
    assert "cannot read the text" in capsys.readouterr().err
    assert main(["rules", "test", "--rules", str(tmp_path), "--text", SEED]) == 2
    assert "no rules files" in capsys.readouterr().err


def test_feed_file(capsys: pytest.CaptureFixture[str]) -> None:
    rss = str(ROOT / "seeds" / "article.rss")
    assert main(["rules", "test", "--rules", RULES, "--feed", rss, "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {x["rule"] for x in lines} == {"arms-to-ukraine", "nato-delegation", "troop-dispatch"}
    assert lines[0]["item"]["feed"] == "article"
    assert lines[0]["item"]["published"].startswith("2024-10-22T09:30:00")


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["rules", "--help"], ["rules", "check", "--help"], ["rules", "test", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "example" in capsys.readouterr().out


def test_feed_url_is_fetched_under_the_configs_allow_networks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed on the team's own network that `newsmon run` may poll (allow_networks) is one a
    person may try a rule on; without the allowance the address guard refuses it, by name."""
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no newsmon.yaml found by accident
    body = rss([("g1", "Troops dispatched to the border", "Soldiers were sent on Monday.")])
    allowed = tmp_path / "allowed.yaml"
    allowed.write_text(f'rules: {RULES}\nallow_networks: ["127.0.0.1/32"]\n')
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"rules: {RULES}\n")
    with feed_server() as server:
        server.put("/wire.rss", body)
        url = server.url("/wire.rss")
        args = ["rules", "test", "--rule", "troop-dispatch", "--feed", url, "--json"]
        assert main([*args, "--config", str(allowed)]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["item"]["title"] for x in lines] == ["Troops dispatched to the border"]

        assert main([*args, "--config", str(plain)]) == 2
        err = capsys.readouterr().err
        assert url in err
        assert "127.0.0.1" in err
        assert "allow_networks" in err.lower()


def test_the_table_counts_exclusions_and_json_keeps_every_clause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule written for real news carries many `NOT` clauses: the table names the clause that
    matched and counts the exclusions that held; `--json` keeps every clause."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: moves\n    name: Moves\n"
        "    query: 'troops NEAR/3 sent NOT parade NOT \"toy soldiers\"'\n"
    )
    text = tmp_path / "item.txt"
    text.write_text("Troops sent to the border\nMore troops were sent on Monday.\n")
    args = ["rules", "test", "--rules", str(rules), "--text", str(text)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "troops NEAR/3 sent" in out
    assert "(+2 exclusions held)" in out
    assert "parade" not in out
    assert main([*args, "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    clauses = json.loads(line)["explanation"]["clauses"]
    assert clauses[0] == "troops NEAR/3 sent"
    assert len(clauses) == 3
    assert all(c.startswith("NOT ") for c in clauses[1:])


# The seed of "held back": a supply of air defence whose subheading trips an exclusion of
# `arms-to-ukraine` (supplied weapons destroyed: the words cannot tell whose missiles destroyed
# what), with the rule's words in its title.
HELD = (
    "Germany to send Ukraine advanced air defence systems\n"
    "Berlin acts after Russian strikes destroyed power stations with missiles and drones.\n"
)


def test_a_miss_held_back_by_an_exclusion_names_it_and_its_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one line a cell: the clause reads whole
    text = tmp_path / "item.txt"
    text.write_text(HELD, encoding="utf-8")
    args = ["rules", "test", "--rules", RULES, "--rule", "arms-to-ukraine", "--text", str(text)]
    assert main(args) == 1  # still a miss: exit 1
    out = capsys.readouterr().out
    assert out.startswith("no rule matched (1 item)\n")
    assert "held back by an exclusion (1): " in out
    [row] = [line for line in out.splitlines() if line.startswith("│ arms-to-ukraine")]
    assert "Germany to send Ukraine advanced air defence systems" in row
    assert "NOT (destroy* OR destruct*) ONEAR/4 $weapons" in row
    assert "($supply NEAR/4 $ukraine) NEAR/6 $weapons" in row
    words = [line for line in out.splitlines() if "words:" in line]
    assert "words: destroyed (content), missiles (content)" in words[0]
    assert (
        "words: send (title), Ukraine (title), air (title), defence (title), systems (title)"
        in words[0]
    )

    # the title alone matches, and then nothing is held back
    text.write_text(HELD.splitlines()[0] + "\n", encoding="utf-8")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(+21 exclusions held)" in out
    assert "held back" not in out


def test_held_back_json_is_its_own_kind_and_matches_keep_their_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "item.txt"
    text.write_text(HELD, encoding="utf-8")
    assert main(["rules", "test", "--rules", RULES, "--text", str(text), "--json"]) == 1
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert set(line) == {"kind", "rule", "item", "held_back"}
    assert line["kind"] == "held_back"
    assert line["rule"] == "arms-to-ukraine"
    assert line["item"]["title"].startswith("Germany to send Ukraine")
    [veto] = line["held_back"]["by"]
    assert veto["clause"] == "NOT (destroy* OR destruct*) ONEAR/4 $weapons"
    assert [h["word"] for h in veto["tripped"]["hits"]] == ["destroyed", "missiles"]
    assert {h["field"] for h in veto["tripped"]["hits"]} == {"content"}
    positive = line["held_back"]["positive"]
    assert positive["clauses"] == ["($supply NEAR/4 $ukraine) NEAR/6 $weapons"]
    assert [h["word"] for h in positive["hits"]] == ["send", "Ukraine", "air", "defence", "systems"]

    # a match beside a held-back pair: the match's object is unchanged, printed first
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n"
        "  - id: moves\n    name: Moves\n    query: 'troops NEAR/3 sent NOT parade'\n"
        "  - id: sent\n    name: Sent\n    query: sent\n"
    )
    text.write_text("Troops sent to the parade\nMore later.\n")
    assert main(["rules", "test", "--rules", str(rules), "--text", str(text), "--json"]) == 0
    first, second = (json.loads(x) for x in capsys.readouterr().out.splitlines())
    assert set(first) == {"rule", "item", "explanation", "snippet"}
    assert first["rule"] == "sent"
    assert (second["kind"], second["rule"]) == ("held_back", "moves")
    assert second["held_back"]["by"][0]["clause"] == "NOT parade"


def test_no_held_back_line_for_an_item_that_matches_nothing_or_a_rule_without_exclusions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "t.txt"
    text.write_text("Weather: sunny\nA calm day across the region.\n")
    assert main(["rules", "test", "--rules", RULES, "--text", str(text)]) == 1
    assert capsys.readouterr().out == "no rule matched (1 item)\n"
    assert main(["rules", "test", "--rules", RULES, "--text", str(text), "--json"]) == 1
    assert capsys.readouterr().out == ""

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n"
        "  - id: plain\n    name: Plain\n    query: 'troops NEAR/3 sent parade*'\n"
        "  - id: branch\n    name: Branch\n    query: '(troops NEAR/3 sent NOT parade) OR tanks'\n"
        "  - id: held\n    name: Held\n    query: 'troops NEAR/3 sent NOT parade'\n"
    )
    text.write_text("Troops sent home\nNo parade this year.\n")
    assert main(["rules", "test", "--rules", str(rules), "--text", str(text), "--json"]) == 0
    found = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # `plain` (no exclusion) matches; `branch` (its exclusion inside an OR) is not explained
    assert [(x.get("kind"), x["rule"]) for x in found] == [(None, "plain"), ("held_back", "held")]
    # a rule without exclusions that misses is a plain miss
    text.write_text("Troops sent home\nNo march this year.\n")
    args = ["rules", "test", "--rules", str(rules), "--rule", "plain", "--text", str(text)]
    assert main(args) == 1
    assert capsys.readouterr().out == "no rule matched (1 item)\n"


def test_held_back_feed_text_is_never_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: moves\n    name: Moves\n    query: 'troops NEAR/3 sent NOT parade'\n"
    )
    text = tmp_path / "t.txt"
    text.write_text(
        "[red]Troops sent[/red] to the [link=https://x.example]parade[/link] :fire:\nLater.\n"
    )
    assert main(["rules", "test", "--rules", str(rules), "--text", str(text)]) == 1
    out = capsys.readouterr().out
    assert "[red]Troops sent[/red] to the [link=https://x.example]parade[/link] :fire:" in out
    assert "\U0001f525" not in out  # not as an emoji either
    assert "words: parade (title)" in out


def test_the_held_back_example_in_docs_rules_md_is_what_newsmon_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    doc = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    text = tmp_path / "item.txt"
    text.write_text(HELD, encoding="utf-8")
    args = ["rules", "test", "--rules", RULES, "--rule", "arms-to-ukraine", "--text", str(text)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert out.strip() in doc
    assert HELD in doc  # the item shown is the item run


def test_check_counts_the_errors_it_does_not_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 300 rules naming a set renamed away: 200 shown, one line for the other 100, and the total
    # said "201 errors" (the shown ones and that line).
    (tmp_path / "sets.yaml").write_text("sets:\n  troop: [troops, soldiers]\n")
    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        + "".join(f"  - id: r{i}\n    name: r{i}\n    query: $troops w{i}\n" for i in range(300))
    )
    assert main(["rules", "check", "--rules", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "100 more errors in this file not shown" in err[-2]
    assert err[-1] == f"300 errors in {tmp_path}"
