"""`newsmon rules backtest` and `newsmon archive import`, through the real entry point and store.

A backtest is `rules test` over the archive: the same matcher, the same JSON objects."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.cli.archive import import_rows
from monitor.cli.backtest import Scan, archive_batches
from monitor.cli.main import main
from monitor.cli.render import match_json
from monitor.model import ArchivedItem, Item, Rule
from monitor.pipeline.archive import archived
from monitor.pipeline.backtest import matches, sparkline, tally
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet
from monitor.store.sqlite import SQLiteStore
from tests.test_query_property import SETS, queries, texts

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def rules_dir(root: Path, rules: dict[str, str]) -> str:
    body = "rules:\n" + "".join(
        f"  - id: {rid}\n    name: {rid}\n    query: '{query}'\n" for rid, query in rules.items()
    )
    return write(root / "rules.yaml", body).rsplit("/", 1)[0]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose SQLite store is in tmp_path (archive kept for a year)."""
    write(tmp_path / "newsmon.yaml", f"database_url: {tmp_path / 'news.db'}\n"
                                     "archive_retention: 365d\n")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSMON_RULES", raising=False)
    monkeypatch.delenv("NEWSMON_DATABASE_URL", raising=False)
    return tmp_path


def archive(env: Path, rows: list[ArchivedItem]) -> None:
    store = SQLiteStore(env / "news.db")
    store.migrate()
    store.archive_items(rows)
    store.close()


def item_row(
    key: str, title: str, feed: str = "f1", age_days: float = 1.0, story: str = ""
) -> ArchivedItem:
    when = NOW - timedelta(days=age_days)
    item = Item(feed_id=feed, key=key, title=title, published=when)
    return archived(item, story or f"s-{key}", when)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["rules", "backtest", "--json", *args])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


# -- the same as `rules test` ----------------------------------------------------------------------
items_st = st.lists(
    st.tuples(texts, texts, texts, st.sampled_from(["f1", "f2"])), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), items_st, st.integers(1, 5))
def test_backtest_equals_rules_test_on_the_same_items(
    qs: list[str], raw: list[tuple[str, str, str, str]], batch: int
) -> None:
    rs = RuleSet.from_rules([Rule(f"r{i}", "R", q) for i, q in enumerate(qs)], SETS)
    items = [
        Item(feed_id=f, key=f"k{n}", title=t, summary=s, content=c, link=f"https://x.test/{n}",
             published=NOW - n * DAY, categories=("world",))
        for n, (t, s, c, f) in enumerate(raw)
    ]  # fmt: skip
    store = SQLiteStore(":memory:")
    store.migrate()
    store.archive_items([archived(i, f"story-{i.key[-1]}", NOW) for i in items])
    found = list(
        matches(archive_batches(store, Scan(), None, None, batch_size=batch), rs.match, {})
    )
    store.close()
    expected = [match_json(i, m) for i in items for m in rs.match(i)]  # what `rules test` prints
    assert [match_json(f.item, f.match) for f in found] == expected
    for t in tally(found, rs.rules, None):
        assert t.matches == sum(1 for e in expected if e["rule"] == t.rule_id)
        keys = {f.story_key for f in found if f.match.rule.id == t.rule_id}
        assert t.alerts == len(keys)


def rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>https://news.test/{k}</link><guid>{k}</guid>"
        f"<description>{d}</description><pubDate>{format_datetime(NOW - n * DAY)}</pubDate></item>"
        for n, (k, t, d) in enumerate(items)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
    return f"{head}{body}</channel></rss>"


WIRE = [
    ("a1", "Russia moves thousands of troops toward border", "Soldiers were sent north."),
    ("a2", "NATO delegation visits Kyiv", "A NATO delegation met officials."),
    ("a3", "Weather: a sunny week", "Nothing to see."),
    ("a4", "Germany sends anti-tank weapons to Ukraine", "Arms shipments continue."),
]


def test_imported_feed_backtests_as_rules_test_prints_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = write(env / "wire.rss", rss(WIRE))
    rules = str(Path(__file__).resolve().parent.parent / "rules")
    assert main(["archive", "import", feed]) == 0
    assert "archived 4 new items from 1 feed file" in capsys.readouterr().out
    assert main(["rules", "test", "--rules", rules, "--feed", feed, "--json"]) == 0
    tested = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    code, backtested = run_json(capsys, "--rules", rules)
    assert code == 0
    assert len(tested) >= 3
    assert sorted(backtested, key=json.dumps) == sorted(tested, key=json.dumps)


def test_an_archived_match_names_its_item_for_feedback(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An item only in the archive is in no story list: the backtest's JSON is where a user
    # reads the FEED/ITEM_KEY that `newsmon feedback` and `rules tune --like` take.
    rules = rules_dir(env / "r", {"troops": "troops"})
    assert main(["archive", "import", "--feed-id", "wire", write(env / "w.rss", rss(WIRE))]) == 0
    capsys.readouterr()
    code, got = run_json(capsys, "--rules", rules)
    assert code == 0
    assert [g["item"]["feed"] for g in got] == ["wire"]
    target = f"{got[0]['item']['feed']}/{got[0]['item']['item_key']}"
    assert main(["feedback", target, "--irrelevant", "--rule", "troops"]) == 0  # the store has it
    assert "labelled" in capsys.readouterr().out


def test_a_rule_watching_a_tag_fires_on_the_configured_feeds_before_run_ever_started(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tags were read from the store's feed rows, which only `run` writes: on an archive filled
    # by `archive import`, a rule with `feeds: [TAG]` matched nothing, though `run` alerts it.
    config = env / "newsmon.yaml"
    config.write_text(
        config.read_text() + "feeds:\n  - id: f1\n    url: https://news.test/f1.rss\n"
        "    tags: [world]\n  - id: f2\n    url: https://news.test/f2.rss\n"
    )
    archive(env, [item_row("k1", "troops sent", feed="f1"), item_row("k2", "troops sent", "f2")])
    write(env / "r" / "rules.yaml", "rules:\n  - id: world\n    name: w\n    query: troops\n"
                                    "    feeds: [world]\n")  # fmt: skip
    code, got = run_json(capsys, "--rules", str(env / "r"))
    assert code == 0
    assert [g["item"]["feed"] for g in got] == ["f1"]
    item = Item(feed_id="f1", key="k1", title="troops sent")  # what `run` would match
    assert [m.rule.id for m in load_rules(str(env / "r")).match(item, ("world", "f1"))] == ["world"]


def test_items_the_archive_cut_short_are_counted_where_a_word_past_the_cap_is_not_matched(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A full-text feed's item is archived as its first 4 KB of body text: the daemon matched a
    # word past that, the backtest cannot, and said nothing of it.
    long = Item(feed_id="f1", key="long", title="Report", summary="weather " * 600 + "troops")
    rows = [archived(long, "s-long", NOW - DAY), item_row("short", "troops sent")]
    archive(env, rows)
    rules = rules_dir(env / "r", {"troops": "troops"})
    assert [m.rule.id for m in load_rules(rules).match(long)] == ["troops"]  # as `run` saw it
    assert main(["rules", "backtest", "--rules", rules]) == 0
    out = capsys.readouterr().out
    assert "troops: 1 match," in out
    assert (
        "\n  1 item was archived cut to 4 KB of text (1 KB of title): words past that, which the"
        " daemon matched, are not matched here\n"
    ) in out
    assert main(["rules", "backtest", "--json", "--rules", rules]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(x)["item"]["item_key"] for x in out.splitlines()] == ["short"]
    assert "note: 1 item was archived cut to 4 KB" in err
    other = Item(feed_id="f1", key="other", title="Weather", summary="weather " * 500)
    archive(env, [archived(other, "s-other", NOW - DAY)])  # long, but short of the cap
    assert main(["rules", "backtest", "--rules", rules]) == 0
    assert "1 item was archived cut" in capsys.readouterr().out


# -- filters --------------------------------------------------------------------------------------
def test_since_feed_and_rule_are_honoured(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [item_row(f"k{n}", f"troops nato item {n}", feed=("f1", "f2")[n % 2], age_days=n)
            for n in range(1, 21)]  # fmt: skip
    archive(env, rows)
    rules = rules_dir(env / "r", {"troops": "troops", "nato": "nato"})

    def titles(*args: str) -> set[tuple[str, str]]:
        code, got = run_json(capsys, "--rules", rules, *args)
        assert code == 0
        return {(g["rule"], g["item"]["title"]) for g in got}

    every = {(r, f"troops nato item {n}") for r in ("troops", "nato") for n in range(1, 21)}
    assert titles() == every
    recent = {(r, t) for r, t in every if int(t.rsplit(" ", 1)[1]) < 10}
    assert titles("--since", "228h") == recent
    # Longer ago than datetime reaches (before the year 1): everything, not an OverflowError.
    assert titles("--since", "100000d") == titles("--since", "999999999d") == every
    f2 = {(r, t) for r, t in every if int(t.rsplit(" ", 1)[1]) % 2 == 1}
    assert titles("--feed", "f2") == f2
    assert titles("--rule", "nato") == {(r, t) for r, t in every if r == "nato"}
    assert titles("--rule", "nato", "--feed", "f1", "--since", "132h") == {
        ("nato", f"troops nato item {n}") for n in (2, 4)
    }
    code, got = run_json(capsys, "--rules", rules, "--limit", "2")
    assert code == 0
    assert sorted(g["rule"] for g in got) == ["nato", "nato", "troops", "troops"]
    code, got = run_json(capsys, "--query", "item NEAR/0 (=7 OR =8)")
    assert {g["item"]["title"] for g in got} == {"troops nato item 7", "troops nato item 8"}
    assert {g["rule"] for g in got} == {"query"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_what_since_and_feed_leave_to_read(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The progress line said "of about N" with N the whole archive's count, under --since or
    # --feed too: a run of 10 items in an archive of 20 ended at "10 of about 20 items".
    rows = [item_row(f"k{n}", f"troops {n}", feed=("f1", "f2")[n % 2], age_days=n)
            for n in range(1, 21)]  # fmt: skip
    archive(env, rows)
    rules = rules_dir(env / "r", {"troops": "troops"})
    monkeypatch.setattr("monitor.cli.backtest.PROGRESS_MIN", 5)

    def progress(*args: str) -> str:
        tty = Terminal()
        monkeypatch.setattr("monitor.cli.backtest.STDERR", tty)
        assert main(["rules", "backtest", "--rules", rules, *args]) == 0
        capsys.readouterr()
        return tty.getvalue()

    assert "\rbacktest: 20 of about 20 items" in progress()
    assert "\rbacktest: 10 of about 10 items" in progress("--feed", "f2")
    assert "\rbacktest: 9 of about 9 items" in progress("--since", "228h")
    # a run shorter than PROGRESS_MIN shows none, however large the archive
    assert progress("--feed", "f1", "--since", "132h") == ""


def test_text_report_counts_alerts_by_story_and_charts_days(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Five matching items, three stories (two repeat one story), over three days.
    rows = [item_row("a", "troops x", story="s1", age_days=0.1),
            item_row("b", "troops y", story="s1", age_days=0.2),
            item_row("c", "troops z", story="s2", age_days=2),
            item_row("d", "troops w", story="s3", age_days=2.1),
            item_row("e", "troops v", story="s3", age_days=2.2),
            item_row("f", "weather", age_days=1)]  # fmt: skip
    archive(env, rows)
    rules = rules_dir(env / "r", {"troops": "troops", "quiet": "absent"})
    assert main(["rules", "backtest", "--rules", rules, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "6 archived items" in out
    assert "troops: 5 matches, 3 alerts (one a story)" in out
    assert "... 4 more" in out
    assert out.index("troops x") < out.index("no match")  # the newest match is the one shown
    assert "troops v" not in out
    assert "no match: quiet" in out
    assert "busiest day" in out


def test_a_disabled_rule_is_named_as_not_run_and_runs_when_asked_for(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A disabled rule was left out without a word: neither a match nor "no match".
    archive(env, [item_row("a", "troops sent")])
    rules = "rules:\n  - {id: on, name: On, query: troops}\n"
    rules += "  - {id: off, name: Off, query: troops, enabled: false}\n"
    write(env / "r" / "rules.yaml", rules)
    assert main(["rules", "backtest", "--rules", str(env / "r")]) == 0
    out = capsys.readouterr().out
    assert "on: 1 match, 1 alert" in out
    assert "\ndisabled, not run (`--rule ID` runs one): off\n" in out
    assert main(["rules", "backtest", "--rules", str(env / "r"), "--rule", "off"]) == 0
    out = capsys.readouterr().out
    assert "off: 1 match, 1 alert" in out
    assert "not run" not in out


def test_nothing_matched_is_exit_1_and_an_empty_archive_says_how_to_fill_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rules_dir(env / "r", {"troops": "troops"})
    assert main(["rules", "backtest", "--rules", rules]) == 1
    assert "archive import" in capsys.readouterr().err
    archive(env, [item_row("a", "weather")])
    assert main(["rules", "backtest", "--rules", rules]) == 1
    assert "no match: troops" in capsys.readouterr().out
    # a --since that leaves nothing says so, and what the archive holds (it said "0 archived
    # items (since 1h ago), first seen no items")
    assert main(["rules", "backtest", "--rules", rules, "--since", "1h"]) == 1
    out = capsys.readouterr().out
    assert (
        f"backtest of {rules}: no archived items (since 1h ago) of the 1 the archive holds\n" in out
    )


# -- diff -----------------------------------------------------------------------------------------
def test_diff_reports_exactly_the_changed_matches(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    titles = ["troops sent", "soldiers sent", "nato summit", "ukraine aid", "troops and soldiers",
              "weather"]  # fmt: skip
    archive(env, [item_row(f"k{n}", t) for n, t in enumerate(titles)])
    old_rules = {"dispatch": "troops", "alliance": "nato", "gone": "weather"}
    new_rules = {"dispatch": "troops OR soldiers", "alliance": "nato", "aid": "ukraine"}
    old = rules_dir(env / "old", old_rules)
    new = rules_dir(env / "new", new_rules)
    code, got = run_json(capsys, "--rules", old, "--diff", new)
    assert code == 0
    changes = {(g["rule"], g["item"]["title"], g["change"]) for g in got}
    # Expected from each folder's own matches (as `rules test` finds them):
    rs_old = RuleSet.from_rules([Rule(k, k, q) for k, q in old_rules.items()])
    rs_new = RuleSet.from_rules([Rule(k, k, q) for k, q in new_rules.items()])
    items = [Item(feed_id="f1", key=t, title=t) for t in titles]
    before = {(m.rule.id, i.title) for i in items for m in rs_old.match(i)}
    after = {(m.rule.id, i.title) for i in items for m in rs_new.match(i)}
    expected = {(r, t, "gained") for r, t in after - before} | {
        (r, t, "lost") for r, t in before - after
    }
    assert changes == expected
    assert changes == {("dispatch", "soldiers sent", "gained"), ("aid", "ukraine aid", "gained"),
                       ("gone", "weather", "lost")}  # fmt: skip
    assert main(["rules", "backtest", "--rules", old, "--diff", new]) == 0
    out = capsys.readouterr().out
    assert "dispatch: 1 gained, 0 lost" in out
    assert "gone: 0 gained, 1 lost" in out
    assert "unchanged: alliance" in out
    assert main(["rules", "backtest", "--rules", old, "--diff", old, "--json"]) == 1
    assert capsys.readouterr().out == ""


# -- errors ---------------------------------------------------------------------------------------
def test_a_broken_rules_folder_is_exit_2_with_the_place(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive(env, [item_row("a", "troops")])
    good = rules_dir(env / "good", {"troops": "troops"})
    bad = write(env / "bad" / "r.yaml", "rules:\n  - id: a\n    name: A\n    query: a NEAR b\n")
    broken = str(Path(bad).parent)
    for args in (["--rules", broken], ["--rules", good, "--diff", broken]):
        assert main(["rules", "backtest", *args]) == 2
        err = capsys.readouterr().err
        assert f"{bad}:4:14: rule 'a': NEAR needs a distance" in err
    assert main(["rules", "backtest", "--rules", good, "--rule", "nope"]) == 2
    assert "no rule 'nope'" in capsys.readouterr().err
    assert main(["rules", "backtest", "--rules", good, "--since", "soon"]) == 2
    assert "--since: not a duration" in capsys.readouterr().err
    assert main(["rules", "backtest", "--query", "a NEAR b"]) == 2
    assert "NEAR needs a distance" in capsys.readouterr().err


def test_a_feed_with_no_archived_item_is_exit_2_with_the_close_id_and_the_archived_feeds(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--feed nope` read nothing and said "0 archived items", exit 1, as if nothing matched."""
    feeds = ["reuters-world", "bbc-europe", "ukrinform"]
    archive(env, [item_row(f"k{n}", "troops sent", feed=f) for n, f in enumerate(feeds)])
    rules = rules_dir(env / "r", {"troops": "troops"})
    for extra in ([], ["--json"], ["--labels"], ["--diff", rules]):
        assert main(["rules", "backtest", "--rules", rules, "--feed", "reuters-wrld", *extra]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (
            "newsmon: --feed: the archive holds no item of feed 'reuters-wrld'; did you mean "
            "'reuters-world'? (it holds items of 3 feeds: bbc-europe, reuters-world, ukrinform)\n"
        )
    # One of two given unknown: said, not a backtest of the other alone.
    assert main(["rules", "backtest", "--rules", rules, "--feed", "ukrinform", "--feed", "zz"]) == 2
    err = capsys.readouterr().err
    assert "no item of feed 'zz' (it holds items of 3 feeds:" in err
    code, got = run_json(capsys, "--rules", rules, "--feed", "bbc-europe", "--feed", "ukrinform")
    assert code == 0
    assert sorted(g["item"]["feed"] for g in got) == ["bbc-europe", "ukrinform"]
    # A known feed with nothing since --since is no mistake: nothing matched, exit 1.
    assert (
        main(["rules", "backtest", "--rules", rules, "--feed", "ukrinform", "--since", "1h"]) == 1
    )


# -- import ---------------------------------------------------------------------------------------
def test_import_of_snapshots_archives_each_item_once_and_marks_nothing_seen(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snaps = env / "snaps" / "wire"
    write(snaps / "1.xml", rss(WIRE[:2]))
    write(snaps / "2.xml", rss(WIRE[1:]))
    write(snaps / "notes.txt", "not a feed")
    old = write(env / "old.xml", rss([("z", "ancient", "x")]).replace(
        format_datetime(NOW), format_datetime(NOW - timedelta(days=400))))  # fmt: skip
    assert main(["archive", "import", str(snaps.parent / "wire"), old]) == 2
    out, err = capsys.readouterr()
    assert "archived 4 new items from 3 feed files" in out
    assert "1 older than archive_retention (365d) skipped" in out
    assert "notes.txt" in err
    store = SQLiteStore(env / "news.db")
    rows = [a for _, a in store.read_archive(0, 100)]
    assert sorted(a.title for a in rows) == sorted(t for _, t, _ in WIRE)
    assert {a.feed_id for a in rows} == {"wire"}  # a folder is one feed's snapshots
    assert store.seen_keys("wire", [a.key for a in rows]) == set()
    assert store.list_alerts() == []
    store.close()
    assert main(["archive", "import", str(snaps / "1.xml"), "--feed-id", "wire"]) == 0
    assert "archived 0 new items" in capsys.readouterr().out


def test_import_of_a_feed_file_longer_than_max_items_per_poll_says_what_it_left(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A history file of 10,000 items archived its first 1,000 and said only "archived 1,000
    # new items from 1 feed file".
    monkeypatch.setenv("NEWSMON_MAX_ITEMS_PER_POLL", "3")
    feed = write(env / "wire.rss", rss(WIRE))
    assert main(["archive", "import", feed]) == 0
    out, err = capsys.readouterr()
    assert "archived 3 new items from 1 feed file" in out
    assert err == (
        f"note: {feed}: read the first 3 of its 4 items, as max_items_per_poll allows: set"
        " NEWSMON_MAX_ITEMS_PER_POLL higher for this import, or split the file\n"
    )
    monkeypatch.setenv("NEWSMON_MAX_ITEMS_PER_POLL", "4")
    assert main(["archive", "import", feed]) == 0
    assert capsys.readouterr().err == ""


def test_import_of_a_url_urlsplit_refuses_reports_it_and_imports_the_rest(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = write(env / "wire.rss", rss(WIRE))
    assert main(["archive", "import", "http://[bad/rss", feed]) == 2
    out, err = capsys.readouterr()
    assert err == (
        "newsmon: http://[bad/rss: is not a usable URL (Invalid IPv6 URL); give an http(s) URL"
        " or a file\n"
    )
    assert "archived 4 new items from 1 feed file" in out


def test_import_of_an_empty_name_does_not_read_the_current_folder(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(env / "wire.rss", rss(WIRE))  # in the current folder, which "" is not
    assert main(["archive", "import", ""]) == 2
    out, err = capsys.readouterr()
    assert err == "newsmon: an empty feed name: give a path to a feed file or a URL\n"
    assert "archived 0 new items from 0 feed files" in out


def test_import_of_a_folder_reads_its_subfolders_and_skips_hidden_ones(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Files under .git/ were read as snapshots, each reported as "no RSS, Atom or JSON Feed".
    snaps = env / "snaps" / "wire"
    write(snaps / "2026-11" / "1.xml", rss(WIRE[:2]))
    write(snaps / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(snaps / ".git" / "objects" / "ab", "x")
    assert main(["archive", "import", str(snaps)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "archived 2 new items from 1 feed file" in out


def test_import_of_a_folder_whose_name_is_not_utf8(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The folder's name files its items; with a byte that is not UTF-8 (a lone surrogate) the
    # store's write ended in a UnicodeEncodeError traceback.
    import os

    snaps = env / os.fsdecode(b"caf\xe9")
    write(snaps / "1.xml", rss(WIRE[:2]))
    assert main(["archive", "import", str(snaps)]) == 0
    assert "archived 2 new items" in capsys.readouterr().out
    store = SQLiteStore(env / "news.db")
    assert {a.feed_id for _, a in store.read_archive(0, 100)} == {"caf\ufffd"}
    store.close()


def test_import_refuses_when_the_archive_is_off(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_ARCHIVE_RETENTION", "0")
    feed = write(env / "wire.rss", rss(WIRE))
    assert main(["archive", "import", feed]) == 2
    assert "NEWSMON_ARCHIVE_RETENTION is 0" in capsys.readouterr().err


def test_sparkline_scales_to_the_busiest_day() -> None:
    from datetime import date

    days = [date(2026, 1, d) for d in range(1, 6)]
    assert sparkline({days[0]: 1, days[2]: 8, days[4]: 4}, days) == "▁ █ ▄"
    assert sparkline({}, days) == "     "


def test_a_long_span_is_charted_in_columns_of_several_days() -> None:
    from datetime import date

    from monitor.pipeline.backtest import bucketed, buckets

    size, starts = buckets(date(2020, 1, 1), date(2020, 12, 31), 60)
    assert (size, len(starts)) == (7, 53)  # 366 days, 7 a column
    counts = bucketed(
        {date(2020, 1, 1): 2, date(2020, 1, 7): 1, date(2020, 12, 31): 5}, size, starts
    )
    assert (counts[starts[0]], counts[starts[-1]], sum(counts.values())) == (3, 5, 8)
    assert buckets(date(2020, 1, 1), date(2020, 1, 3), 60) == (
        1,
        [date(2020, 1, d) for d in (1, 2, 3)],
    )


def test_the_walkthrough_in_docs_rules_md_is_what_newsmon_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "rules.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSMON_RULES", raising=False)
    monkeypatch.setenv("NEWSMON_DATABASE_URL", str(tmp_path / "newsmon.db"))
    monkeypatch.setenv("NEWSMON_ARCHIVE_RETENTION", "3650d")
    shutil.copytree(root / "rules", tmp_path / "rules")
    assert main(["archive", "import", str(root / "examples" / "history" / "wire")]) == 0
    assert capsys.readouterr().out.strip() in doc
    assert main(["rules", "backtest", "--rule", "troop-dispatch", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    for line in [*out.splitlines()[:4], "  ... 5 more (--limit N shows more, --json all)"]:
        assert line in doc
    query = "(tanks OR armour OR fighters) NOT (video OR toy)"
    code, got = run_json(capsys, "--query", query)
    assert code == 0
    for g in got:
        assert g["item"]["title"] + "\n" in doc
    edited = tmp_path / "rules-edited"
    shutil.copytree(tmp_path / "rules", edited)
    sets = (edited / "sets.yaml").read_text(encoding="utf-8")
    sets = sets.replace("    - instructors\n", "    - instructors\n    - fighters\n    - tanks\n"
                        "    - armour\n", 1)  # fmt: skip
    sets = sets.replace('    - "bring in"\n', '    - "bring in"\n    - =masses\n    - =massing\n'
                        "    - =cross\n", 1)  # fmt: skip
    (edited / "sets.yaml").write_text(sets, encoding="utf-8")
    assert main(["rules", "backtest", "--diff", "rules-edited/"]) == 0
    out = capsys.readouterr().out
    assert "troop-dispatch: 2 gained, 0 lost" in out
    assert out.count("gained") == 3  # the count line and each item's mark
    assert "unchanged: arms-to-ukraine, nato-delegation" in out


def test_import_keys_items_sharing_a_section_page_link_by_their_titles_as_a_poll_does() -> None:
    # A press office's feed links every item to "/news": keyed by that link, its items were one
    # story in the archive (backtest counted one), though a poll keys them apart.
    items = [
        Item(feed_id="po", key=f"k{n}", title=title, url="https://po.test/news", published=NOW)
        for n, title in enumerate(["Minister resigns", "Budget passed", "Port reopens"])
    ]
    rows, too_old = import_rows(items, "po", NOW + DAY, 365 * DAY)
    assert too_old == 0
    assert len({row.story_key for row in rows}) == 3
    alone, _ = import_rows(items[:1], "po", NOW + DAY, 365 * DAY)  # a link of its own still keys
    assert alone[0].story_key.startswith("u:")
