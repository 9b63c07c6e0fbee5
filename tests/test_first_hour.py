"""What a new user meets in the first hour, one table per class of trap: each row is an input, the
exit code, the one line that must be said, and that no traceback shows and nothing is written when
the command failed. Real processes where the process is the unit; a feed server and a webhook
receiver on 127.0.0.1 where the path to an alert is."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "article.rss"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL", "NEWSMON_HTTP_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# -- 1. the daemon says what it skipped, and check says what the daemon would skip -------------

SKIP_CASES = [
    # (retention, backfill) -> exit code, what the summary line says
    ("90d", "100000d", 1, "0 alerts enqueued; delivered 0, retried 0, dead 0; skipped 1 too_old"),
    ("3650d", "0", 1, "0 alerts enqueued; delivered 0, retried 0, dead 0; skipped 1 baseline"),
    ("3650d", "100000d", 0, "1 alerts enqueued; delivered 1, retried 0, dead 0"),
]


@pytest.mark.parametrize(("retention", "backfill", "code", "summary"), SKIP_CASES)
def test_check_deliver_summary_counts_skipped_items_by_reason(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    retention: str,
    backfill: str,
    code: int,
    summary: str,
) -> None:
    with feed_server() as server, Receiver() as rx:
        server.put("/seed.rss", SEED.read_bytes())
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            f"allow_networks: [127.0.0.1/32]\nlog_level: warning\nretention: {retention}\n"
            f"feeds:\n  - id: seed\n    url: {server.url('/seed.rss')}\n    backfill: {backfill}\n"
            f"destinations:\n  - name: hook\n    type: webhook\n    url: {rx.url}\n"
            "    secret_env: TEST_HOOK_SECRET\n"
        )
        got, _out, err = run(["check", "--deliver", "--config", str(config)], capsys)
    assert got == code
    assert f"newsmon: polled 1 feed: 1 items ({int(retention != '90d')} new), {summary}\n" in err
    assert len(rx.requests) == (1 if code == 0 else 0)


def test_check_says_which_printed_matches_the_daemon_would_skip(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ROOT / "examples" / "newsmon.yaml"
    argv = ["check", "--config", str(config), "--rules", str(ROOT / "rules"), "--feed", str(SEED)]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert out.count("too_old") == 3  # "daemon skips it: ... too_old" under each match
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert "1 of 1 matched items were published before" in notes[0]
    assert "skip them (too_old)" in notes[0]
    assert notes[1].startswith(f"note: {SEED} is not one of the config's feeds")
