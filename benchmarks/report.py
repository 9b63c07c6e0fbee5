"""The results of a benchmark run: one row per tool and round, markdown tables, medians (pure).

No I/O: ``peers.py`` and ``poll.py`` measure; this module only shapes what they measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

# A run's results as JSON-ready data: {"meta": {...}, "results": [Measure as dict, ...]}.
Report = dict[str, Any]

ROUNDS = ("cold", "304", "10%")
PEERS = ("newsboat", "rss2email", "reader")
ALL_TOOLS = ("newsmon", *PEERS, "lean")


@dataclass
class Measure:
    tool: str
    round: str
    wall: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    http: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    note: str = ""  # the run failed or was killed: no ratios from it
    remark: str = ""  # worth knowing, the numbers stand (e.g. feeds that are not feeds)

    @property
    def ok(self) -> bool:
        return not self.note


def statuses(http: dict[str, int]) -> str:
    codes = sorted(k for k in http if k.isdigit())
    return " ".join(f"{k}×{http[k]}" for k in codes) or "-"


_FEEDSETS = {
    "plain": "plain RSS 2.0, 50 items each",
    "publisher": "publisher-shaped RSS and Atom (feedgen), 50 items each",
    "real": "real publisher snapshots (2021)",
}


def render(report: Report) -> str:
    """The markdown tables of one run (pure)."""
    meta = report["meta"]
    assert isinstance(meta, dict)
    rows = [Measure(**r) for r in report["results"]]
    out = [
        f"### {meta['feeds']} feeds, {_FEEDSETS.get(meta.get('feedset', 'plain'), '')}"
        f" — {meta['date']}"
        + (f" — median of {meta['runs']} runs" if meta.get("runs", 1) != 1 else ""),
        "",
        f"Server: {meta.get('server')}; {meta.get('machine')}; "
        + "; ".join(f"{v}" for v in meta.get("versions", {}).values()),
        "",
        "| tool | round | wall s | CPU s | peak RSS MB | requests | statuses | conditional "
        "| connections | alerts | note |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for m in rows:
        if not m.ok and not m.http:
            out.append(f"| {m.tool} | {m.round} | | | | | | | | | {m.note} |")
            continue
        out.append(
            f"| {m.tool} | {m.round} | {m.wall:.2f} | {m.cpu:.2f} | {m.rss_mb:.0f} | "
            f"{m.http.get('requests', 0)} | {statuses(m.http)} | {m.http.get('conditional', 0)} | "
            f"{m.http.get('connections', '')} | "
            f"{m.alerts if m.tool == 'newsmon' else ''} | {m.note or m.remark} |"
        )
    out += ["", *ratio_lines(rows)]
    return "\n".join(out) + "\n"


def ratio_lines(rows: list[Measure]) -> list[str]:
    """newsmon's wall and CPU against the fastest peer and the lean reference, per round (pure)."""
    by = {(m.tool, m.round): m for m in rows if m.ok and m.wall > 0}
    lines = [
        "| round | newsmon wall / fastest peer | CPU / least-CPU peer | wall / lean | CPU / lean |"
    ]
    lines.append("|---|---|---|---|---|")
    for rnd in ROUNDS:
        nm = by.get(("newsmon", rnd))
        peers = [by[(p, rnd)] for p in PEERS if (p, rnd) in by]
        lean = by.get(("lean", rnd))
        if nm is None:
            why = next((m.note for m in rows if m.tool == "newsmon" and m.round == rnd), "")
            word = "pending" if why.startswith("pending") else (why or "not run")
            lines.append(f"| {rnd} | {word} | {word} | {word} | {word} |")
            continue
        cells = []
        fastest = min(peers, key=lambda m: m.wall) if peers else None
        thrifty = min(peers, key=lambda m: m.cpu) if peers else None
        cells.append(f"{nm.wall / fastest.wall:.2f}× ({fastest.tool})" if fastest else "—")
        cells.append(f"{nm.cpu / max(thrifty.cpu, 0.01):.2f}× ({thrifty.tool})" if thrifty else "—")
        cells.append(f"{nm.wall / lean.wall:.2f}×" if lean else "—")
        cells.append(f"{nm.cpu / max(lean.cpu, 0.01):.2f}×" if lean else "—")
        lines.append(f"| {rnd} | " + " | ".join(cells) + " |")
    return lines


def median_report(reports: list[Report]) -> Report:
    """One report from several runs: per tool and round, the median wall, CPU and RSS (pure).

    Status counts and alerts come from the first run; a later run that saw different counts
    is noted, since the rounds are deterministic and should not differ.
    """
    first = reports[0]
    merged: list[Report] = []
    for i, row in enumerate(first["results"]):
        runs = [r["results"][i] for r in reports]
        out = dict(row)
        for key in ("wall", "cpu", "rss_mb"):
            out[key] = round(statistics.median(float(r[key]) for r in runs), 2)
        notes = [str(r["note"]) for r in runs if r["note"]]
        if any(r["http"] != row["http"] for r in runs):
            notes.append("status counts differ between runs")
        out["note"] = "; ".join(dict.fromkeys(notes))
        merged.append(out)
    meta = dict(first["meta"])
    meta["runs"] = len(reports)
    return {"meta": meta, "results": merged}
