"""Smoke tests for the benchmark harness: generator, mutate step, local server, lean extractor."""

from __future__ import annotations

import asyncio
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import feedgen
import httpcost
import lean
import report
import serve


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "feeds").glob("*.xml"))}


def test_generator_is_deterministic_and_feedparser_reads_50_items(tmp_path: Path) -> None:
    feedgen.generate(tmp_path / "a", 4)
    feedgen.generate(tmp_path / "b", 4)
    first, second = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert first == second
    assert len(first) == 4
    for body in first.values():
        assert 40_000 < len(body) < 64_000  # news-sized: about 50 KB a feed
        parsed = feedparser.parse(body)
        assert not parsed.bozo
        assert len(parsed.entries) == 50
        assert len({e.id for e in parsed.entries}) == 50
    # Some items carry words the example rules watch for.
    text = b"".join(first.values())
    assert b"weapons" in text or b"Ukraine" in text


def test_mutate_changes_exactly_ten_percent_with_new_items_and_mtimes(tmp_path: Path) -> None:
    feedgen.generate(tmp_path, 30)
    before = _snapshot(tmp_path)
    mtimes = {p.name: p.stat().st_mtime for p in (tmp_path / "feeds").glob("*.xml")}
    chosen = feedgen.mutate(tmp_path)
    after = _snapshot(tmp_path)
    changed = sorted(name for name in before if before[name] != after[name])
    assert len(changed) == 3
    assert changed == [f"f{i:04d}.xml" for i in chosen]
    for name in changed:
        assert (tmp_path / "feeds" / name).stat().st_mtime > mtimes[name]
        old = {e.id for e in feedparser.parse(before[name]).entries}
        new = {e.id for e in feedparser.parse(after[name]).entries}
        assert len(new - old) == feedgen.NEW_ITEMS_PER_MUTATION
        assert len(new) == 50
    # A second mutation picks again, and moves on from the state file.
    assert len(feedgen.mutate(tmp_path)) == 3


@pytest.mark.parametrize("kind", ["python", "nginx"])
def test_server_answers_304_to_validators_and_counts_statuses(tmp_path: Path, kind: str) -> None:
    if kind == "nginx" and shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    feedgen.generate(tmp_path, 2)
    with serve.Server(tmp_path / "feeds", prefer_nginx=kind == "nginx") as server:
        assert server.kind.startswith(kind)
        mark = server.log_mark()
        with urllib.request.urlopen(server.url("f0001.xml"), timeout=5) as resp:
            etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
            assert len(resp.read()) > 40_000
        for header in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
            request = urllib.request.Request(server.url("f0001.xml"), headers=header)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=5)
            assert err.value.code == 304
        stats = server.stats_since(mark)
        tmp = server.tmp
    # urllib opens a connection per request.
    assert stats == {"requests": 3, "200": 1, "304": 2, "conditional": 2, "connections": 3}
    assert not tmp.exists()


def test_httpcost_sends_each_way_its_conditional_gets_and_all_are_304(tmp_path: Path) -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (the bare-stream way needs keep-alive)")
    feedgen.generate(tmp_path, 3)
    with serve.Server(tmp_path / "feeds") as server:
        urls = [server.url(p.name) for p in sorted((tmp_path / "feeds").glob("f*.xml"))]
        mark = server.log_mark()
        rows = asyncio.run(httpcost.measure(urls, rounds=2))
        stats = server.stats_since(mark)
    ways = [way for way, _ in rows]
    assert len(ways) == 5
    assert ways[-1].startswith("HTTP/1.1 by hand on one asyncio stream")
    assert all(ms > 0 for _, ms in rows)
    # 3 first fetches (200), then 5 ways x 2 rounds x 3 feeds, every one conditional and a 304.
    assert stats["200"] == 3
    assert stats["304"] == stats["conditional"] == 30


def test_lean_extracts_the_items_feedparser_sees(tmp_path: Path) -> None:
    body = feedgen.render_feed(7, 2)
    items = lean.extract_items(body)
    entries = feedparser.parse(body).entries
    assert [i["id"] for i in items] == [e.id for e in entries]
    assert [i["title"] for i in items] == [e.title for e in entries]


def test_ratios_are_pending_without_newsmon_and_computed_with_it() -> None:
    rows = [
        report.Measure("reader", "cold", wall=4.0, cpu=3.0),
        report.Measure("lean", "cold", 1.0, 0.5),
    ]
    assert "| cold | not run |" in "\n".join(report.ratio_lines(rows))
    pending = report.Measure("newsmon", "cold", note="pending: not on this branch")
    assert "| cold | pending |" in "\n".join(report.ratio_lines([*rows, pending]))
    rows.append(report.Measure("newsmon", "cold", wall=2.0, cpu=1.5))
    line = next(x for x in report.ratio_lines(rows) if x.startswith("| cold"))
    assert "0.50× (reader)" in line
    assert "2.00×" in line
    assert "3.00×" in line


def test_daemon_benchmark_counts_polls_and_cpu_of_a_real_daemon() -> None:
    import daemon

    row = daemon.run(n=4, interval=1, window=3.0, changing=0.25)
    assert row["polls"] >= 4  # every feed polled about once a second during the window
    assert 0 < row["cpu"] < row["seconds"] * 2
    assert row["per_1000"] == pytest.approx(row["cpu"] / row["polls"] * 1000)
    assert row["rss"] > 10


def test_soak_benchmark_samples_a_real_daemon_and_tabulates_them() -> None:
    import soak

    samples = soak.run(feeds=4, minutes=0.4, every=6.0, hup=10.0)
    assert len(samples) >= 4
    last = samples[-1]
    assert last["polls"] >= 8  # four feeds every 10 s at most, the failing ones every 15-20 s
    assert last["sighups"] >= 2
    assert last["rss_mb"] > 10
    assert last["fds"] > 3
    assert last["threads"] >= 2  # the task counter's thread at least
    assert len(last["workers_rss_mb"]) == 2  # parse_workers' default
    assert last["tasks"] is not None
    assert last["tasks"] >= 1
    assert last["cpu_share"] is not None
    assert 0 <= last["cpu_share"] < 2  # of the last `every` seconds, on at most 2 CPUs
    assert last["rows"]["feeds"] == 4 + 3 * soak.FAILING
    lines = soak.table(samples, 0.4)
    assert lines[0].count("min") == 4
    assert any(line.startswith("| rows: feeds |") for line in lines)


def test_hostile_http_benchmark_runs_check_against_its_server() -> None:
    """The benchmark as a person runs it, in a process of its own: a child's peak RSS counts
    the image it was forked from (Linux keeps the larger of the two at exec), so a case run
    from this long test process would read this process's size, not `check`'s."""
    import subprocess

    import hostile_http

    done = subprocess.run(
        [
            sys.executable,
            hostile_http.__file__,
            "--cases",
            "redirect-port-minus-1",
            "--deadline",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| `redirect")]
    _case, exit_code, _wall, _cpu, rss_mb, good, outcome = (
        c.strip() for c in row.strip("|").split("|")
    )
    assert exit_code == "2"  # a feed failed; the run did its work
    assert good == "yes"
    assert outcome.startswith("connect: ")
    assert "port -1 is out of range" in outcome
    assert 10 < float(rss_mb) < 500
