"""`newsmon check` end to end: real feed server on 127.0.0.1, real SQLite, real webhook receiver."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server, rss

ROOT = Path(__file__).resolve().parent.parent
SEED_RULES = ("arms-to-ukraine", "nato-delegation", "troop-dispatch")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_readme_main_job_prints_the_three_matches(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            "--config",
            str(ROOT / "examples" / "newsmon.yaml"),
            "--rules",
            str(ROOT / "rules"),
            "--feed",
            str(ROOT / "seeds" / "article.rss"),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert sorted(line["rule"] for line in lines) == list(SEED_RULES)
    for line in lines:
        assert line["item"]["url"].startswith("https://news.example.com/world/")
        assert "**" in line["snippet"]
        assert line["explanation"]["hits"]


def test_readme_command_runs_as_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "check",
            "--config",
            str(ROOT / "examples" / "newsmon.yaml"),
            "--rules",
            str(ROOT / "rules"),
            "--feed",
            str(ROOT / "seeds" / "article.rss"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    for rule in SEED_RULES:
        assert rule in proc.stdout
    assert list(tmp_path.iterdir()) == []  # without --deliver, check writes no state


def test_nothing_matched_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "calm.rss"
    feed.write_bytes(rss([("a", "Local bakery wins prize", "Bread and cakes.")]))
    code = main(["check", "--rules", str(ROOT / "rules"), "--feed", str(feed)])
    assert code == 1


def test_feed_text_prints_as_written_not_as_emoji_or_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "wire.rss"
    title = "Troops :fire: deployed [bold]now[/bold]"
    feed.write_bytes(rss([("a", title, "Russia sends troops to the border. :thumbs_up:")]))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules:\n  - {id: troops, name: Troops, query: troops}\n"
    )
    code = main(["check", "--rules", str(tmp_path / "rules"), "--feed", str(feed)])
    out = capsys.readouterr().out
    assert code == 0
    assert ":fire:" in out
    assert "[bold]now[/bold]" in out
    assert "\U0001f525" not in out
    assert "\U0001f44d" not in out


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_backslashes_in_feed_text_never_turn_the_table_into_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a terminal the matched words are bold: rich markup around feed text. A backslash run
    # in front of one of those tags used to escape it, and the tag closing it then closed
    # nothing: a MarkupError traceback instead of the table.
    feed = tmp_path / "wire.rss"
    title = "Russia sends \\troops to the border \\\\\\"
    feed.write_bytes(rss([("a", title, "Russia sends \\\\\\troops [bold]east\\\\\\")]))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules:\n  - {id: troops, name: Troops, query: troops}\n"
    )
    monkeypatch.setenv("COLUMNS", "300")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    code = main(["check", "--rules", str(tmp_path / "rules"), "--feed", str(feed)])
    out = SGR.sub("", terminal.getvalue())
    assert code == 0
    assert title in out
    assert "Russia sends \\\\\\troops [bold]east" in out
    assert "\x1b[1m" in terminal.getvalue()  # the matched words are still bold


def test_missing_feed_file_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--rules", str(ROOT / "rules"), "--feed", "no/such/feed.xml"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no/such/feed.xml" in err
    assert "Traceback" not in err


def test_a_feed_refused_by_the_address_guard_is_a_feed_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with feed_server() as server:
        server.put("/world.rss", rss([("a", "Troops dispatched to the border", "x")]))
        code = main(["check", "--rules", str(ROOT / "rules"), "--feed", server.url("/world.rss")])
        assert server.requests == []
    err = capsys.readouterr().err
    assert code == 2
    assert "blocked_address" in err


def test_a_bug_in_one_feeds_poll_fails_that_feed_and_the_others_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll that raises what no poll should (a bug a hostile feed trips) is that feed's
    failure, as in the daemon: the other feeds' matches are still printed."""
    from monitor.model import FeedState
    from monitor.pipeline.poll import Poller, PollReport

    real = Poller.poll

    async def poll(self: Poller, feed: FeedState) -> PollReport:
        if feed.url.endswith("broken.rss"):
            raise RuntimeError("a bug in one feed's poll")
        return await real(self, feed)

    monkeypatch.setattr(Poller, "poll", poll)
    broken = tmp_path / "broken.rss"
    broken.write_bytes((ROOT / "seeds" / "article.rss").read_bytes())
    seed = str(ROOT / "seeds" / "article.rss")
    code = main(["check", "--rules", str(ROOT / "rules"), "--feed", str(broken), "--feed", seed])
    out, err = capsys.readouterr()
    assert code == 2  # a feed failed
    assert sorted(json_rule for json_rule in SEED_RULES if json_rule in out) == list(SEED_RULES)
    assert "broken.rss" in err
    assert "unexpected error" in err
