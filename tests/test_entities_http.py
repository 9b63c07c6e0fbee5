"""Hostile documents served from 127.0.0.1 and polled by `newsmon check`, which parses
in-process, without the daemon's parse budget: an entity declaration only feedparser's own
reading would honour must end as `refused_entities` before feedparser sees it, not as a title
grown quadratically; a character reference to no character must not lose the feed; a link, a
tag name or a headline's last word of megabytes (or a thousand characters) must cost linear
time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server, rss
from tests.test_parse import cut_into_the_prolog, with_char_ref

ROOT = Path(__file__).resolve().parent.parent
# Small enough that an unfixed parse costs a few MB: the point is whether it is refused.
ENTITY = "x" * 1000
REFERENCES = "&a;" * 1000


def fake_root_first(lead: str) -> bytes:
    """An element feedparser does not take for the root (`<:x/>`, `<é/>`), then a DOCTYPE that
    declares an entity, then the feed: expat calls the DOCTYPE junk, and feedparser's loose
    parser expands the entity it read before its first `<` + [A-Za-z0-9_]."""
    return (
        f"<?xml version='1.0' encoding='utf-8'?>\n{lead}\n<!DOCTYPE rss [\n"
        f'<!ENTITY a "{ENTITY}">\n]>\n<rss version="2.0"><channel><title>T</title><item>'
        f"<guid>1</guid><title>Troops dispatched {REFERENCES}</title></item></channel></rss>"
    ).encode()


def check_one(tmp_path: Path, body: bytes, content_type: str) -> tuple[int, float]:
    """`newsmon check` of `body` served with `content_type`: its exit code and seconds."""
    with feed_server() as server:
        server.put("/feed", body, content_type=content_type)
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            "allow_networks: ['127.0.0.1/32']\nfetch_deadline: 5s\nlog_level: error\n"
        )
        started = time.monotonic()
        code = main(["check", "--config", str(config), "--feed", server.url("/feed")])
        return code, time.monotonic() - started


@pytest.mark.parametrize("lead", ["<:x/>", "<\u00e9/>"])
def test_a_doctype_behind_an_element_feedparser_skips_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lead: str
) -> None:
    code, elapsed = check_one(tmp_path, fake_root_first(lead), "application/rss+xml")
    err = capsys.readouterr().err
    assert code == 2
    assert "refused_entities" in err, err
    assert elapsed < 10


def test_an_item_cut_that_joins_a_doctype_to_the_prolog_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """UTF-16 named only by the HTTP charset, 1,000 item ends in a leading comment: the item
    cap (1,000 a poll) joins the comment to a DOCTYPE that followed the root."""
    content_type = "application/rss+xml; charset=utf-16le"
    code, elapsed = check_one(tmp_path, cut_into_the_prolog(1000), content_type)
    err = capsys.readouterr().err
    assert code == 2
    assert "refused_entities" in err, err
    assert elapsed < 10


def test_a_character_reference_to_no_character_loses_no_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An emoji written as two surrogate references (`&#55357;&#56832;`), as some HTML encoders
    do, failed the whole feed with `parse: feedparser failed: UnicodeEncodeError`."""
    code, _ = check_one(tmp_path, with_char_ref("&#55357;&#56832;"), "application/rss+xml")
    out, err = capsys.readouterr()
    assert code == 0, err  # the first item matched the example rules
    assert "Troops" in out


def test_an_item_link_of_megabytes_is_not_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` drew a 5 MB item link in its table: 36 s and 260 MB for one matched item."""
    link = "https://news.example/" + "a" * (5 << 20)
    body = (
        "<rss version='2.0'><channel><title>t</title><item><guid>1</guid>"
        f"<title>Troops dispatched to the border</title><link>{link}</link></item>"
        "</channel></rss>"
    ).encode()
    code, elapsed = check_one(tmp_path, body, "application/rss+xml")
    out = capsys.readouterr().out
    assert code == 0
    assert "Troops" in out
    assert len(out) < 100_000
    assert elapsed < 10


def test_an_ill_formed_tag_name_of_megabytes_costs_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`<a` and a run of letters with no `>` in a description (escaped, so it is markup to the
    HTML-to-text step too): the structure check and HTML to text backtracked quadratically
    over the run (20,000 letters: 2.3 s and 1 s; 1 MB: hours)."""
    run = "b" * (1 << 20)
    body = (
        "<rss version='2.0'><channel><title>t</title><item><guid>1</guid>"
        f"<title>Troops dispatched to the border</title><description>x <a{run} &lt;a{run}"
        "</description></item></channel></rss>"
    ).encode()
    code, elapsed = check_one(tmp_path, body, "application/rss+xml")
    err = capsys.readouterr().err
    assert code == 0, err
    assert elapsed < 10


def test_a_headline_ending_in_a_long_word_after_a_dash_does_not_stall_the_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Story dedup strips an aggregator's " - Outlet" from each new item's title; its pattern
    tried every split of a long last word into five: " - ", 200 letters and " |" took 146 s
    holding the GIL, so one such item stood the daemon still. `check --deliver` runs it."""
    with feed_server() as server:
        title = "Troops dispatched - " + "a" * 900 + " |"
        server.put("/feed", rss([("1", "Weather", "Rain.")]))
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n"
            "allow_networks: ['127.0.0.1/32']\nfetch_deadline: 5s\nlog_level: error\n"
            f"feeds:\n  - {{id: wire, url: '{server.url('/feed')}'}}\n"
        )
        assert main(["check", "--deliver", "--config", str(config)]) == 1  # the baseline
        server.put("/feed", rss([("1", "Weather", "Rain."), ("2", title, "Two brigades.")]))
        started = time.monotonic()
        code = main(["check", "--deliver", "--config", str(config)])
        elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert "1 item (1 new)" in err or "2 items (1 new)" in err, err
    assert elapsed < 10


def test_a_long_run_of_thousands_groups_is_matched_in_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The matcher's tokenizer scanned a run of `,234` that is no number (it ends in `2345`)
    again from each of its groups: 64 KB of it took 20 s, holding the GIL."""
    run = "1" + ",234" * 40_000 + "5"
    body = (
        "<rss version='2.0'><channel><title>t</title><item><guid>1</guid>"
        f"<title>Troops dispatched to the border</title><description>{run}</description>"
        "</item></channel></rss>"
    ).encode()
    code, elapsed = check_one(tmp_path, body, "application/rss+xml")
    err = capsys.readouterr().err
    assert code == 0, err
    assert elapsed < 10


def test_a_long_author_in_an_ill_formed_feed_costs_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """feedparser's loose parser (the document is ill-formed: a bare `&`) looks for an e-mail
    address in an author with a pattern that rescans a run of letters from each of them:
    60,000 letters took 13 s."""
    body = (
        "<rss version='2.0'><channel><title>t</title><item><guid>1</guid>"
        "<title>Troops dispatched to the border &amp that</title>"
        f"<author>{'a' * 200_000}</author></item></channel></rss>"
    ).encode()
    code, elapsed = check_one(tmp_path, body, "application/rss+xml")
    err = capsys.readouterr().err
    assert code == 0, err
    assert elapsed < 10
