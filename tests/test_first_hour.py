"""What a new user meets in the first hour, one table per class of trap: each row is an input, the
exit code, the one line that must be said, and that no traceback shows and nothing is written when
the command failed. Real processes where the process is the unit; a feed server and a webhook
receiver on 127.0.0.1 where the path to an alert is."""

from __future__ import annotations

import base64
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.daemon_support import (
    DaemonProcess,
    daemon_env,
    refusing_port,
    wait_for,
    write_config,
    write_rules,
)
from tests.feedserver import feed_server, rss
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
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# -- 1. the daemon says what it skipped, and check says what the daemon would skip -------------

SKIP_CASES = [
    # (retention, backfill) -> exit code, what the summary line says
    ("90d", "36500d", 1, "0 alerts enqueued; delivered 0, retried 0, dead 0; skipped 1 too_old"),
    ("3650d", "0", 1, "0 alerts enqueued; delivered 0, retried 0, dead 0; skipped 1 baseline"),
    ("3650d", "36500d", 0, "1 alert enqueued; delivered 1, retried 0, dead 0"),
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
    assert f"newsmon: polled 1 feed: 1 item ({int(retention != '90d')} new), {summary}\n" in err
    assert len(rx.requests) == (1 if code == 0 else 0)


def test_check_deliver_says_which_pending_alerts_no_destination_sends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cron user who renamed a destination: its queued alerts wait for a name no run sends
    to, and the summary line (the one a cron mail shows) said nothing of them."""
    from tests.delivery_support import T0, enqueue, open_sqlite

    store = open_sqlite(tmp_path / "state.db")
    enqueue(store, T0, "old-hook", ["s1"])  # queued under the name before the rename
    store.close()
    with feed_server() as server, Receiver() as rx:
        server.put("/seed.rss", SEED.read_bytes())
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            f"allow_networks: [127.0.0.1/32]\nlog_level: warning\n"
            f"feeds:\n  - id: seed\n    url: {server.url('/seed.rss')}\n    backfill: 0\n"
            f"destinations:\n  - name: hook\n    type: webhook\n    url: {rx.url}\n"
        )
        _got, _out, err = run(["check", "--deliver", "--config", str(config)], capsys)
    [summary] = [line for line in err.splitlines() if line.startswith("newsmon: polled")]
    assert summary.endswith(
        "; not sent, no such destination in the config: alerts pending for old-hook"
    )


def test_check_says_which_printed_matches_the_daemon_would_skip(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ROOT / "examples" / "newsmon.yaml"
    argv = ["check", "--config", str(config), "--rules", str(ROOT / "rules"), "--feed", str(SEED)]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert out.count("too_old") == 3  # "daemon skips it: ... too_old" under each match
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert "1 of 1 matched item was published before" in notes[0]
    assert "skip it (too_old)" in notes[0]
    assert notes[1].startswith(f"note: {SEED} is not one of the config's feeds")


BASELINE_NOTE = "note: the daemon's first poll of a feed records its items without alerting"


@pytest.mark.parametrize("backfill", ["0", "36500d"])
def test_check_names_the_baseline_only_while_a_feeds_first_poll_is_ahead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backfill: str
) -> None:
    """`check` said the daemon's first poll would record its matches silently on every run,
    also once the daemon (here `check --deliver`) had polled the feed, and for a feed whose
    `backfill` lets its first poll alert them."""
    with feed_server() as server:
        server.put("/seed.rss", SEED.read_bytes())
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            "allow_networks: [127.0.0.1/32]\nlog_level: warning\nretention: 3650d\n"
            f"feeds:\n  - id: seed\n    url: {server.url('/seed.rss')}\n    backfill: {backfill}\n"
        )
        check = ["check", "--config", str(config)]
        code, _out, before = run(check, capsys)  # no store yet: the first poll is ahead
        assert code == 0
        assert (BASELINE_NOTE in before) == (backfill == "0")
        assert not (tmp_path / "state.db").exists()  # the check wrote nothing
        assert run(["check", "--deliver", *check[1:]], capsys)[0] in (0, 1)
        code, _out, after = run(check, capsys)
    assert code == 0
    assert BASELINE_NOTE not in after


# -- 4 and 5: silence and wrong words ---------------------------------------------------------

PAGE = "<html><body><p>Not a feed.</p></body></html>"
DUPLICATE_OPML = """<?xml version="1.0"?>
<opml version="2.0"><body>
  <outline text="Wire" xmlUrl="https://wire.example.org/rss"/>
  <outline text="World"><outline text="Wire again" xmlUrl="https://wire.example.org/rss"/></outline>
</body></opml>
"""
NO_FEEDS = (
    f"rules: {ROOT / 'rules'}\ndestinations:\n  - {{name: hook, type: webhook, url_env: X}}\n"
)


WORD_CASES = [
    # (argv, exit code, the line stderr must hold, whether the command wrote nothing)
    (["check"], 2, "no `feeds:`); add feeds to the config, or name one with --feed", True),
    (["check", "--deliver"], 2, "newsmon: no feeds to check (", True),
    (["check", "--feed", "folder/"], 2, "folder/: is a folder, not a feed file", True),
    (["check", "--feed", "ftp://example.org/x"], 2, "ftp:// is not supported", True),
    (["check", "--feed", "gone.rss"], 2, "gone.rss: no such file", True),
    (["rules", "test", "--feed", "page.html"], 2, "newsmon: page.html: no RSS, Atom", True),
    (["deliveries", "enable", "nope"], 2, "no such destination 'nope' in newsmon.yaml", True),
    (["deliveries", "list", "--dead", "--status", "pending"], 2, "not allowed with", True),
    (
        ["feeds", "import", "dup.opml"],
        0,
        "dup.opml:4: https://wire.example.org/rss is listed again (first at line 3)",
        False,
    ),
]


@pytest.mark.parametrize(("argv", "code", "said", "writes_nothing"), WORD_CASES)
def test_each_mistake_is_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    said: str,
    writes_nothing: bool,
) -> None:
    (tmp_path / "newsmon.yaml").write_text(NO_FEEDS)
    (tmp_path / "folder").mkdir()
    (tmp_path / "page.html").write_text(PAGE)
    (tmp_path / "dup.opml").write_text(DUPLICATE_OPML)
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    before = sorted(tmp_path.rglob("*"))
    got, _out, err = run(argv, capsys)
    assert got == code
    lines = [line for line in err.splitlines() if said in line]
    assert len(lines) == 1, err
    if writes_nothing:
        assert sorted(tmp_path.rglob("*")) == before


def test_check_deliver_without_feeds_does_not_offer_the_feed_option_it_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "newsmon.yaml").write_text(NO_FEEDS)
    code, _out, err = run(["check", "--deliver"], capsys)
    assert code == 2
    said = "newsmon: no feeds to check (newsmon.yaml: no `feeds:`); add feeds to the config\n"
    assert err == said


def test_nothing_listening_on_a_local_port_is_connection_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "newsmon.yaml").write_text("allow_networks: [127.0.0.1/32]\n")
    url = f"http://127.0.0.1:{refusing_port()}/feed.rss"
    code, _out, err = run(["check", "--rules", str(ROOT / "rules"), "--feed", url], capsys)
    assert code == 2
    assert f"connect: {url}: connection refused (nothing listens on that port?)" in err
    assert "All connection attempts failed" not in err


@pytest.mark.slow
def test_a_daemon_without_feeds_says_so_and_answers_sighup_when_nothing_changed(
    tmp_path: Path,
) -> None:
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    config = write_config(tmp_path, feeds={}, destinations={}, rules=rules)
    # As in the container image, a variable names the rules the file names too.
    env = daemon_env(NEWSMON_RULES=str(rules))
    with DaemonProcess(config, tmp_path, env=env) as daemon:
        daemon.wait_healthy()
        assert wait_for("the no_feeds warning", lambda: daemon.events("no_feeds"))
        # A first daemon with nowhere to send says so at start, not by silence.
        (none,) = wait_for("no_destinations", lambda: daemon.events("no_destinations"))
        assert none["level"] == "warning"
        assert none["hint"].startswith("matches are recorded, and nothing is sent: add one")
        (loaded,) = daemon.events("config_loaded")
        assert (loaded["feeds"], loaded["rules"], loaded["destinations"]) == (0, 1, [])
        assert loaded["env_overrides"] == {"rules": "NEWSMON_RULES"}
        daemon.signal(signal.SIGHUP)
        unchanged = wait_for("rules_unchanged", lambda: daemon.events("rules_unchanged"))
    assert unchanged[0]["level"] == "info"
    assert unchanged[0]["rules"] == 1


@pytest.mark.slow
def test_a_daemon_says_at_start_which_pending_alerts_no_destination_sends(tmp_path: Path) -> None:
    """A destination renamed in the config leaves its pending alerts to no one: the restart
    after the edit said nothing of them, only `deliveries list` did."""
    from tests.delivery_support import T0, enqueue, open_sqlite

    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    config = write_config(
        tmp_path, feeds={}, destinations={"desk": "http://127.0.0.1:9/"}, rules=rules
    )
    store = open_sqlite(tmp_path / "state.db")
    enqueue(store, T0, "hook", ["s1"])  # queued for the destination's name before the rename
    enqueue(store, T0, "desk", ["s2"])
    store.close()
    with DaemonProcess(config, tmp_path, env=daemon_env()) as daemon:
        daemon.wait_healthy()
        events = lambda: daemon.events("alerts_for_unconfigured_destinations")  # noqa: E731
        (said,) = wait_for("alerts_for_unconfigured_destinations", events)
    assert said["level"] == "warning"
    assert said["destinations"] == ["hook"]
    assert said["hint"].startswith("their pending alerts are not sent")


# -- 6: tables ----------------------------------------------------------------------------------

LONG_ID = "a-feed-id-much-longer-than-twenty-four-characters"


def test_lists_show_whole_ids_headers_and_times_with_their_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with feed_server() as server, Receiver() as rx:
        server.put("/seed.rss", SEED.read_bytes())
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            "allow_networks: [127.0.0.1/32]\nlog_level: warning\nretention: 3650d\n"
            f"feeds:\n  - id: {LONG_ID}\n    url: {server.url('/seed.rss')}\n"
            "    backfill: 36500d\n"
            f"destinations:\n  - name: hook\n    type: webhook\n    url: {rx.url}\n"
            "    secret_env: TEST_HOOK_SECRET\n"
        )
        code, out, _err = run(["check", "--deliver", "--config", str(config)], capsys)
    assert code == 0
    assert "Seed Wire" in out  # the feed's own title, not only its id
    cfg = ["--config", str(config)]
    _, feeds, _ = run(["feeds", "list", *cfg], capsys)
    _, stories, _ = run(["stories", "list", *cfg], capsys)
    _, deliveries, _ = run(["deliveries", "list", *cfg], capsys)
    feed_rows = feeds.splitlines()
    assert feed_rows[0].split()[:2] == ["FEED", "STATUS"]
    assert feed_rows[1].startswith(LONG_ID + "  ok")  # whole, never cut
    assert feed_rows[1].count(" UTC") == 2  # last fetch, next poll
    story_rows = stories.splitlines()
    assert story_rows[0].split() == ["STORY", "SIGHTINGS", "FIRST", "SEEN", "TITLE"]
    assert " 1  " in story_rows[1]
    assert story_rows[1].count(" UTC") == 1
    assert "SIGHTINGS: the items, in any feed, that told the story" in story_rows[2]
    header, row = deliveries.splitlines()[1:3]
    assert header.split()[:7] == ["ID", "DESTINATION", "STATUS", "TRIES", "CREATED", "NEXT", "TRY"]
    assert "delivered" in row
    assert row.count(" UTC") == 2  # created, delivered: two columns, two meanings


EMPTY_CASES = [
    # a read on a store that is not there: what it says, and it creates no store
    (["feeds", "list"], 0, "no feeds polled yet"),
    (["stories", "list"], 1, "no stories yet: `newsmon run` and `newsmon check --deliver`"),
    (["stories", "list", "--story", "u:x"], 1, "no sightings of story 'u:x'"),
    (["deliveries", "list"], 0, "no alerts"),
    (["deliveries", "replay", "--all-dead"], 1, "nothing to replay"),
]


@pytest.mark.parametrize(("argv", "code", "said"), EMPTY_CASES)
def test_a_read_of_a_missing_store_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, said: str
) -> None:
    (tmp_path / "newsmon.yaml").write_text("database_url: state.db\n")
    got, out, err = run(argv, capsys)
    assert got == code
    assert said in out + err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newsmon.yaml"]


# -- 2: config mistakes are found when the config is read, by every command alike --------------

RULE = "rules:\n  - id: r\n    name: R\n    query: troops\n"
CONFIG_CASES = [
    # (config text after `rules: myrules`, rule text, the line every command must say)
    (
        "feeds: [{id: wire, url: 'https://wire.example/rss', tags: [world]}]\n",
        RULE + "    feeds: [wrld]\n",
        "r.yaml:2:1: rule 'r': feeds: 'wrld' is no feed id or tag in the config, so the rule would "
        "never fire; did you mean 'world'?",
    ),
    (
        "destinations: [{name: hook, type: webhook, url_env: HOOK}]\n",
        RULE + "    notify: [hock]\n",
        "r.yaml:2:1: rule 'r': notify: 'hock' is no destination name in the config; did you "
        "mean 'hook'?",
    ),
    (
        "destinations: [{name: hook, type: webhook, url_env: HOOK}]\n",
        RULE + "    notify: hook, desk\n",
        "r.yaml:2:1: rule 'r': notify: 'hook, desk' is no destination name in the config; "
        "several are written as a list: [hook, desk]",
    ),
    (
        "feeds: [{id: wire, url: 'https://wire.example/rss', tags: [world]}]\n",
        RULE + "    feeds: wire,world\n",
        "r.yaml:2:1: rule 'r': feeds: 'wire,world' is no feed id or tag in the config, so the rule "
        "would never fire; several are written as a list: [wire, world]",
    ),
    (
        "destinations: [{name: hook, type: webhook, url_env: HOOK}]\n",
        RULE + "    notify: [desk]\n",
        "r.yaml:2:1: rule 'r': notify: 'desk' is no destination name in the config "
        "(configured: hook)",
    ),
    (
        "feeds: [{id: wire, url: 'https://wire.example/rss'}]\n",
        RULE + "    notify: [desk]\n",
        "r.yaml:2:1: rule 'r': notify: 'desk' is no destination name in the config: the config "
        "has no destinations; add one under `destinations:`",
    ),
    (
        "destinations: [{name: hook, type: webhook, url: 'http://exa mple/x'}]\n",
        RULE,
        "destinations[0].url: the URL contains a space or control character",
    ),
    (
        "destinations: [{name: hook, type: webhook, url: 'ftp://hooks.example/x'}]\n",
        RULE,
        "destinations[0].url: the URL must start with http:// or https://",
    ),
    (
        "feeds: [{id: wire, url: 'http://exa mple/rss'}]\n",
        RULE,
        "feeds[0].url: the URL contains a space or control character: 'http://exa mple/rss'",
    ),
]
COMMANDS = [
    ["rules", "check", "--config", "newsmon.yaml"],
    ["rules", "test", "--config", "newsmon.yaml", "--text", "item.txt"],
    ["check", "--config", "newsmon.yaml", "--feed", str(SEED)],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(("config", "rule", "said"), CONFIG_CASES)
def test_config_mistakes_are_refused_alike_by_rules_check_rules_test_and_check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    config: str,
    rule: str,
    said: str,
) -> None:
    (tmp_path / "newsmon.yaml").write_text(f"rules: myrules\ndatabase_url: state.db\n{config}")
    (tmp_path / "myrules").mkdir()
    (tmp_path / "myrules" / "r.yaml").write_text(rule)
    (tmp_path / "item.txt").write_text("Troops\nTroops crossed the river.\n")
    before = sorted(tmp_path.rglob("*"))
    code, _out, err = run(command, capsys)
    assert code == 2
    assert len([line for line in err.splitlines() if line.endswith(said)]) == 1, err
    assert "exa mple" not in err or "feeds[0]" in said  # a destination URL is never echoed
    assert sorted(tmp_path.rglob("*")) == before


def test_rules_check_lists_the_rules_the_config_cannot_serve_in_file_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They came in the order of the rule ids: line 6 before line 2."""
    (tmp_path / "newsmon.yaml").write_text(
        "rules: myrules\nfeeds: [{id: wire, url: 'https://wire.example/rss'}]\n"
        "destinations: [{name: hook, type: webhook, url_env: HOOK}]\n"
    )
    (tmp_path / "myrules").mkdir()
    (tmp_path / "myrules" / "r.yaml").write_text(
        "rules:\n  - id: zz\n    name: Z\n    notify: [hock]\n"
        "  - id: aa\n    name: A\n    feeds: [wrie]\n"
    )
    code, _out, err = run(["rules", "check", "--config", "newsmon.yaml"], capsys)
    assert code == 2
    located = [line.split(": rule")[0] for line in err.splitlines() if ": rule '" in line]
    assert located == ["myrules/r.yaml:2:1", "myrules/r.yaml:5:1"], err


def test_rules_check_reads_the_configs_rules_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "newsmon.yaml").write_text("rules: myrules\n")
    (tmp_path / "myrules").mkdir()
    (tmp_path / "myrules" / "r.yaml").write_text(RULE)
    code, out, _err = run(["rules", "check", "--config", "newsmon.yaml"], capsys)
    assert code == 0
    assert out.startswith("ok: 1 rule (1 enabled)")


# -- 3: settings do what the docs say -------------------------------------------------------------


@pytest.mark.slow
def test_an_empty_newsmon_http_addr_turns_the_listener_off(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    config = write_config(tmp_path, feeds={}, destinations={}, rules=rules)
    # A port in the file that no other socket can take (a daemon binding it would exit).
    text = config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{refusing_port()}")
    config.write_text(text)
    with DaemonProcess(config, tmp_path, env=daemon_env(NEWSMON_HTTP_ADDR="")) as daemon:
        wait_for("daemon_started", lambda: daemon.events("daemon_started"))
        assert daemon.events("http_listening") == []
        with pytest.raises(OSError):
            daemon.get("/healthz")  # the port in the file is not listened on


@pytest.mark.slow
@pytest.mark.parametrize("from_env", [False, True])
def test_an_address_in_use_is_blamed_on_where_it_was_set(tmp_path: Path, from_env: bool) -> None:
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    config = write_config(tmp_path, feeds={}, destinations={}, rules=rules)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        lines = [t for t in config.read_text().splitlines() if not t.startswith("http_addr:")]
        # From the environment, the file's own address is overridden; from the file, it is used.
        lines.append(f"http_addr: {'127.0.0.1:9' if from_env else addr}")
        config.write_text("\n".join(lines) + "\n")
        env = daemon_env(NEWSMON_HTTP_ADDR=addr) if from_env else daemon_env()
        proc = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    source = "NEWSMON_HTTP_ADDR" if from_env else f"http_addr in {config}"
    assert proc.returncode == 2
    assert f"newsmon: cannot listen on {addr} ({source}): address already in use" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


# -- 8: the words of errors and docs ------------------------------------------------------------

RULE_WORD_CASES = [
    # (rule text, the line `rules check` must say)
    (
        "rules:\n  - severity: urgent\n    id: x\n    name: X\n    query: troops\n",
        "a.yaml:2:15: rule 'x': severity must be one of info, low, medium, high, critical, "
        "not 'urgent'",
    ),
    (
        "rules:\n  - id: x\n    name: X\n    enabled: maybe\n    query: troops\n",
        "a.yaml:4:14: rule 'x': enabled must be true or false",
    ),
    (
        'rules:\n  - id: x\n    name: X\n    query: "troops OR"\n',
        "a.yaml:4:20: rule 'x': a term must follow OR, but the query ends",
    ),
    (
        'rules:\n  - id: x\n    name: X\n    query: "troops AND OR sent"\n',
        "a.yaml:4:24: rule 'x': a term must follow AND, not 'OR'",
    ),
]


@pytest.mark.parametrize(("rule", "said"), RULE_WORD_CASES)
def test_rule_errors_name_their_rule_and_say_each_thing_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str, said: str
) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "a.yaml").write_text(rule)
    code, _out, err = run(["rules", "check", "--rules", "r"], capsys)
    assert code == 2
    assert [line for line in err.splitlines() if line.endswith(said)] == [f"r/{said}"]


KEY_CASES = [
    # (config text, the hint for the unknown key)
    ("pol_interval: 5m\n", "unknown key 'pol_interval'; did you mean 'default_interval'?"),
    ("poll_interval: 5m\n", "unknown key 'poll_interval'; did you mean 'default_interval'?"),
    ("max_intervl: 5m\n", "unknown key 'max_intervl'; did you mean 'max_interval'?"),
    (
        "feeds: [{url: 'https://a.example/rss', pol_interval: 5m}]\n",
        "feeds[0].pol_interval: unknown key 'pol_interval'; did you mean 'interval'?",
    ),
]


@pytest.mark.parametrize(("config", "said"), KEY_CASES)
def test_an_unknown_key_suggests_the_key_that_was_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, said: str
) -> None:
    (tmp_path / "newsmon.yaml").write_text(config)
    code, _out, err = run(["check", "--feed", str(SEED)], capsys)
    assert code == 2
    assert len([line for line in err.splitlines() if line.endswith(said)]) == 1, err


def test_docs_cli_md_has_a_section_for_every_command() -> None:
    from monitor.cli.main import build_parser

    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "==SUPPRESS==" and a.choices)
    assert commands.choices
    for name in commands.choices:
        assert f"\n## newsmon {name}\n" in doc, name


def test_docs_cli_md_shows_the_usage_of_every_sub_command() -> None:
    # `rules tune` was documented in rules.md alone: docs/cli.md is where a user looks for it.
    from monitor.cli.main import build_parser, walk

    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    progs = [sub.prog for sub in walk(build_parser())][1:]
    assert "newsmon rules tune" in progs
    for prog in progs:
        assert f"\n{prog} [" in doc or f"\n{prog}\n" in doc or f"\n{prog} " in doc, prog


# -- 7: install, init, and the README's two commands ---------------------------------------------


def test_init_writes_a_working_start_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(["init"], capsys)
    assert code == 0
    assert out.startswith("wrote newsmon.yaml and rules/example.yaml")
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert sorted(p.name for p in written) == ["example.yaml", "newsmon.yaml"]
    # What it wrote works at once: the rule is valid against the config, and it matches.
    code, out, _err = run(["rules", "check"], capsys)
    assert (code, out.split(",")[0]) == (0, "ok: 1 rule (1 enabled)")
    assert run(["rules", "test", "--text", str(ROOT / "seeds" / "article.txt")], capsys)[0] == 0
    # A second init, or one where either file is, refuses and leaves every byte as it was.
    (tmp_path / "newsmon.yaml").write_text("# mine\n")
    written[tmp_path / "newsmon.yaml"] = b"# mine\n"
    for argv, said in [
        (["init"], "newsmon.yaml and rules already there"),
        (["init", "--dir", "nowhere"], "nowhere: no such folder"),
        (["init", "--dir", "newsmon.yaml"], "newsmon.yaml: not a folder"),  # was "no such"
    ]:
        code, _out, err = run(argv, capsys)
        assert code == 2
        assert len([line for line in err.splitlines() if said in line]) == 1, err
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == written


def test_readme_starts_with_the_two_commands_and_ci_runs_the_same_tests() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == [
        "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . && "
        ".venv/bin/python examples/first_run.py",
        ".venv/bin/pip install -c constraints.txt -e '.[dev]' && .venv/bin/python -m pytest",
    ]
    ci = [line.replace(" -q", "") for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for step in block[1].split(" && "):  # each step of the test command, as CI spells it
        assert step.replace(".venv/bin/", "") in ci or step in ci, step


@pytest.mark.slow
def test_the_readme_first_run_shows_the_whole_path_with_one_signed_alert(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "first_run.py")],
        cwd=tmp_path,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "rules: arms-to-ukraine, nato-delegation, troop-dispatch" in proc.stdout
    assert ": signature verified" in proc.stdout
    assert "1 alert enqueued; delivered 1" in proc.stderr
    assert "the second cycle sent 0 more" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind


@pytest.mark.parametrize("table", [False, True], ids=["json", "table"])
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path, table: bool) -> None:
    """`newsmon rules test ... --json | head -1`: the pipe closes while newsmon still writes.
    A table is written by rich, which answered a closed pipe with exit 1, grep's "nothing
    matched"; it ends as a pipe writer does too."""
    items = [(f"g{i}", f"Troops dispatched to the border, report {i}", "Soldiers were sent.")
             for i in range(400)]  # fmt: skip
    feed = tmp_path / "many.rss"
    feed.write_bytes(rss(items))  # far more output than a pipe buffer holds
    argv = ["rules", "test", "--rules", str(ROOT / "rules"), "--feed", str(feed)]
    argv += [] if table else ["--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *argv],
        cwd=tmp_path,
        env=daemon_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(10) == ("┏━━━".encode() if table else b'{"rule": "')[:10]
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err
    assert err == ""


def test_feeds_import_entries_paste_under_the_feeds_list_init_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The import printed its list unindented (`- id:` at the margin): pasted under init's
    `feeds:`, whose entries are indented, it was a YAML error."""
    assert run(["init"], capsys)[0] == 0
    (tmp_path / "subs.opml").write_text(DUPLICATE_OPML)
    code, out, _err = run(["feeds", "import", "subs.opml"], capsys)
    assert code == 0
    assert out.startswith("# 1 feed imported from subs.opml\n")  # not "1 feeds"
    entries = out.split("feeds:\n", 1)[1]
    config = tmp_path / "newsmon.yaml"
    text = config.read_text()
    anchor = "    tags: [world]\n"
    config.write_text(text.replace(anchor, anchor + entries, 1))
    from monitor.config.loader import load_config

    assert [f.id for f in load_config(config).feed_specs()] == ["bbc-world", "wire"]


# -- 8: a rule that watches only some feeds, tried by hand --------------------------------------

SCOPED_RULE = (
    "rules:\n  - id: cyber\n    name: Cyber\n    query: ransomware NEAR/5 hospital\n"
    "    feeds: [local]\n"
)
SCOPED_ITEM = ("a1", "Ransomware hits hospital", "A ransomware gang hit the hospital.")


def scoped_config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "myrules").mkdir()
    (tmp_path / "myrules" / "cyber.yaml").write_text(SCOPED_RULE)
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'state.db'}\nrules: myrules\nallow_networks: [127.0.0.1/32]\n"
        f"log_level: warning\nfeeds:\n  - id: desk-wire\n    url: {url}\n    tags: [local]\n"
    )
    return config


def test_a_configured_feed_named_by_its_url_is_matched_as_the_daemon_matches_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --feed URL` and `rules test --feed URL` of a feed the config lists gave it an id
    of its own and no tags: a rule watching its tag never fired, and the item's key named a feed
    `newsmon feedback` did not know."""
    with feed_server() as server:
        server.put("/cyber.xml", rss([SCOPED_ITEM]))
        url = server.url("/cyber.xml")
        scoped_config(tmp_path, url)
        for argv in (
            ["check", "--feed", url, "--json"],
            ["rules", "test", "--feed", url, "--json"],
        ):
            code, out, err = run(argv, capsys)
            assert code == 0, err
            (line,) = out.splitlines()
            assert '"rule": "cyber"' in line
            assert '"feed": "desk-wire"' in line
            assert "tried on every item here" not in err


def test_rules_test_tries_a_rule_that_watches_some_feeds_on_a_text_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "no rule matched", even with `--rule cyber`: the text comes from no feed."""
    scoped_config(tmp_path, "https://wire.example/rss")
    (tmp_path / "item.txt").write_text(f"{SCOPED_ITEM[1]}\n{SCOPED_ITEM[2]}\n")
    (tmp_path / "feed.xml").write_bytes(rss([SCOPED_ITEM]))
    for source in (["--text", "item.txt"], ["--feed", "feed.xml"]):
        code, out, err = run(["rules", "test", *source, "--rule", "cyber"], capsys)
        assert code == 0, out + err
        assert "Ransomware hits hospital" in out
        assert err.strip() == (
            "note: tried on every item here, though they watch only some feeds: cyber (feeds: "
            "local); `newsmon run` applies each to its feeds only"
        )
    # `check --feed FILE`, which the README gives for trying the rules on a feed, the same.
    code, out, err = run(["check", "--feed", "feed.xml"], capsys)
    assert code == 0, out + err
    assert "Ransomware hits hospital" in out
    assert (
        "note: tried on every item of a feed the config does not list, though they watch only "
        "some feeds: cyber (feeds: local); `newsmon run` applies each to its feeds only"
    ) in err.splitlines()


@pytest.mark.slow
def test_a_daemon_that_cannot_start_says_only_why(tmp_path: Path) -> None:
    """In a folder without rules it logged no_feeds (and no_destinations) first, then the error."""
    config = tmp_path / "newsmon.yaml"
    config.write_text(f"database_url: {tmp_path / 'state.db'}\nrules: missing\nhttp_addr: ''\n")
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        cwd=tmp_path,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "missing: no such rules folder" in proc.stderr
    assert "no_feeds" not in proc.stdout + proc.stderr
    assert "no_destinations" not in proc.stdout + proc.stderr


def _run_warned(tmp_path: Path, settings: str = "") -> subprocess.CompletedProcess[str]:
    """`run` on a config with a Slack URL written inline (a warning as it loads) and no rules
    folder: it stops, exit 2, once the config has loaded."""
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'state.db'}\nrules: missing\nhttp_addr: ''\n{settings}"
        "destinations:\n"
        "  - {name: chat, type: slack, url: 'https://hooks.slack.com/services/T/B/x'}\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        cwd=tmp_path,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_config_warning_of_run_is_in_its_log_on_stdout(tmp_path: Path) -> None:
    """`run` logs to stdout; the config's warnings, logged as it loads, went to stderr alone."""
    proc = _run_warned(tmp_path)
    assert proc.returncode == 2  # the rules folder is missing: it stops once the config loaded
    assert '"event": "destination_inline_secret"' in proc.stdout
    assert "destination_inline_secret" not in proc.stderr


def test_a_config_warning_of_run_has_the_log_format_the_config_names(tmp_path: Path) -> None:
    """Logged as the config loads, before `log_format: console` was read, the warning was a JSON
    line (stdout a pipe) among the console lines: a log reader expecting one format got two."""
    proc = _run_warned(tmp_path, "log_format: console\n")
    assert proc.returncode == 2
    (line,) = [ln for ln in proc.stdout.splitlines() if "destination_inline_secret" in ln]
    assert not line.startswith("{")
    assert "hint=" in line  # the console renderer's key=value


def test_the_allow_networks_line_init_writes_works_once_uncommented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init"], capsys)[0] == 0
    config = tmp_path / "newsmon.yaml"
    text = config.read_text()
    assert "\n# allow_networks: [" in text
    config.write_text(text.replace("\n# allow_networks: [", "\nallow_networks: [", 1))
    from monitor.config.loader import load_config

    assert list(load_config(config).allow_networks) == ["10.0.0.0/8", "feeds.intranet.example"]


def test_init_elsewhere_says_to_run_newsmon_from_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`newsmon init --dir desk` then `newsmon rules check` here found no config and no rules:
    the config's paths are relative to where newsmon runs."""
    (tmp_path / "desk").mkdir()
    code, out, _err = run(["init", "--dir", "desk"], capsys)
    assert code == 0
    assert out.splitlines()[1].startswith("next: `cd desk`, then `newsmon rules check`")
    (tmp_path / "here").mkdir()
    assert run(["init", "--dir", "here/."], capsys)[1].splitlines()[1].startswith("next: `cd ")
    assert (
        run(["init", "--dir", "."], capsys)[1]
        .splitlines()[1]
        .startswith("next: `newsmon rules check`")
    )


def test_check_deliver_says_which_feeds_it_left_alone_backing_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Right after a feed's server was fixed, `check --deliver` said "polled 0 feeds" and no
    more: the feed backs off after its error, and only `feeds list` showed until when."""
    with feed_server() as server:
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            "allow_networks: [127.0.0.1/32]\nlog_level: warning\n"
            f"feeds:\n  - id: wire\n    url: {server.url('/not-yet.rss')}\n"
        )
        code, _out, err = run(["check", "--deliver"], capsys)
        assert code == 2, err  # a 404: the feed backs off
        assert "left alone" not in err
        server.put("/not-yet.rss", SEED.read_bytes())
        code, _out, err = run(["check", "--deliver"], capsys)
    (summary,) = [line for line in err.splitlines() if line.startswith("newsmon: polled")]
    assert summary.startswith("newsmon: polled 0 feeds: 0 items (0 new)"), summary
    assert re.search(
        r"; left alone, backing off after errors: wire until \d{4}-\d\d-\d\d \d\d:\d\d UTC$",
        summary,
    ), summary


def test_feeds_list_shows_a_configured_feed_not_polled_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A feed just added to the config was missing from `feeds list` until its first poll."""
    (tmp_path / "newsmon.yaml").write_text(
        "database_url: state.db\nfeeds:\n  - {id: wire, url: 'https://wire.example/rss'}\n"
    )
    code, out, err = run(["feeds", "list"], capsys)
    assert code == 0
    assert out.splitlines()[1].split() == ["wire", "not", "polled", "yet", "-", "-"], out
    assert "no store at state.db" in err
    assert not (tmp_path / "state.db").exists()
