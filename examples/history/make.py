"""Writes wire/*.xml: three snapshots of one made-up wire feed, for the backtest walkthrough in
docs/rules.md. The headlines are written for this example (no third-party text). Run it again
after editing ITEMS: `python examples/history/make.py`."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
# (day, hour, title, summary)
ITEMS = [
    (
        0,
        7,
        "North Korea sends 1,500 special forces to Russia",
        "Seoul says the troops were flown to Vladivostok.",
    ),
    (0, 9, "Grain prices fall as harvest estimates rise", "Wheat futures slipped for a third day."),
    (0, 12, "NATO delegation arrives in Kyiv for talks", "Officials met the defence minister."),
    (
        1,
        8,
        "Russia moves thousands of troops toward Finnish border",
        "Satellite images show new camps near Alakurtti.",
    ),
    (1, 10, "City council approves new tram line", "Construction starts in spring."),
    (
        1,
        15,
        "Germany pledges more air defence systems to Ukraine",
        "Two more IRIS-T units will be delivered.",
    ),
    (
        2,
        6,
        "Kremlin sends reinforcements to Kursk",
        "Units were pulled from the south, officials said.",
    ),
    (2, 11, "Storm closes ports along the Baltic coast", "Ferries are cancelled until Friday."),
    (
        3,
        9,
        "Army redeploys brigade from Zaporizhzhia front",
        "The unit is moving north, a spokesman said.",
    ),
    (3, 13, "Central bank holds rates steady", "Inflation stays above target."),
    (
        4,
        7,
        "Belarus hosts joint drills as columns of armour cross from Russia",
        "Tanks and artillery were seen moving west.",
    ),
    (4, 16, "Stoltenberg meets Zelensky in Brussels", "The two spoke about winter supplies."),
    (
        5,
        8,
        "Pentagon to station 3,000 more soldiers in Poland",
        "A rotational brigade will stay through spring.",
    ),
    (
        5,
        12,
        "Video game sales slump as players wait for new consoles",
        "Toy soldiers and strategy titles fared best.",
    ),
    (
        6,
        9,
        "Moscow masses tanks near Kharkiv, Kyiv warns",
        "Ukraine's intelligence says an offensive may follow.",
    ),
    (6, 14, "Netherlands approves F-16 transfer to Ukraine", "The first jets leave in January."),
    (
        7,
        10,
        "Wagner fighters return to Belarus camps",
        "Hundreds of fighters arrived over the weekend.",
    ),
    (7, 15, "Rail strike halts freight across France", "Unions call a second day."),
    (
        8,
        8,
        "Russia sends more troops to Kursk as Ukraine holds ground",
        "Reinforcements came from the Zaporizhzhia front.",
    ),
    (8, 11, "Deployment of new payroll software delayed", "The rollout moves to March."),
]


def item(n: int) -> str:
    day, hour, title, summary = ITEMS[n]
    when = START + timedelta(days=day, hours=hour)
    return (
        f"<item><title>{escape(title)}</title><link>https://wire.example/{n}</link>"
        f"<guid>wire-{n}</guid><description>{escape(summary)}</description>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>\n"
    )


def snapshot(upto: int, count: int = 10) -> str:
    """The feed as polled once item `upto - 1` was out: its newest `count` items."""
    newest = range(upto - 1, max(-1, upto - 1 - count), -1)
    body = "".join(item(n) for n in newest)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Example Wire</title><link>https://wire.example/</link>\n{body}"
        "</channel></rss>\n"
    )


if __name__ == "__main__":
    folder = Path(__file__).resolve().parent / "wire"
    folder.mkdir(exist_ok=True)
    for upto in (8, 14, 20):
        (folder / f"snapshot-{upto:02d}.xml").write_text(snapshot(upto), encoding="utf-8")
