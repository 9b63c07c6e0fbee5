"""A real feed mix for the poll benchmarks: publishers' snapshots laid out as N feeds.

Does I/O (copies files into a work folder). The snapshots are not part of the repository (they
carry no licence): pass their folder, by default ``../shared/corpora/feeds/news-archive-2021``
next to the repository, laid out as ``OUTLET/*.xml`` (sorted by time in their names).

Feed ``i`` is outlet ``i mod K`` (K outlets with at least two snapshots) at that outlet's
snapshot ``i div K`` (wrapping around its list); ``mutate`` moves 10% of the feeds to their
outlet's next snapshot, as a publisher's feed changes between two polls. Each file's mtime is
set from its snapshot's position, so a server's ETag and Last-Modified change exactly when the
bytes do. Every byte is a snapshot's own: ill-formed ones included.

    python benchmarks/realfeeds.py DIR --feeds 200 [--snapshots FOLDER]
    python benchmarks/realfeeds.py DIR --mutate
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared/corpora/feeds/news-archive-2021"
STATE_FILE = "realfeeds-state.json"
_EPOCH = 1_600_000_000  # mtimes: this plus the snapshot's position, in minutes


def outlets(folder: Path) -> dict[str, list[Path]]:
    """Outlet name to its snapshots in time order, for outlets with at least two."""
    found = {d.name: sorted(d.glob("*.xml")) for d in sorted(folder.iterdir()) if d.is_dir()}
    return {name: paths for name, paths in found.items() if len(paths) >= 2}


def _place(root: Path, feed: int, snapshots: list[Path], position: int) -> None:
    path = root / "feeds" / f"f{feed:04d}.xml"
    tmp = path.with_suffix(".tmp")
    shutil.copyfile(snapshots[position % len(snapshots)], tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    stamp = _EPOCH + 60 * position
    os.utime(path, (stamp, stamp))


def generate(root: Path, n: int, folder: Path = DEFAULT) -> list[Path]:
    """Lay out ``n`` feeds under ``root/feeds``; return their paths in feed order."""
    if not folder.is_dir():
        raise SystemExit(f"no snapshot folder at {folder}: pass --snapshots FOLDER")
    by_outlet = outlets(folder)
    names = sorted(by_outlet)
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    positions = []
    for feed in range(n):
        outlet = names[feed % len(names)]
        position = feed // len(names)
        _place(root, feed, by_outlet[outlet], position)
        positions.append([outlet, position])
    state = {"folder": str(folder), "feeds": positions, "mutations": 0}
    (root / STATE_FILE).write_text(json.dumps(state))
    return [root / "feeds" / f"f{feed:04d}.xml" for feed in range(n)]


def mutate(root: Path, fraction: float = 0.1) -> list[int]:
    """Move ``round(n * fraction)`` feeds to their outlet's next snapshot; return them."""
    state = json.loads((root / STATE_FILE).read_text())
    by_outlet = outlets(Path(state["folder"]))
    feeds: list[list[object]] = state["feeds"]
    rnd = random.Random(4242 + state["mutations"])
    chosen = sorted(rnd.sample(range(len(feeds)), round(len(feeds) * fraction)))
    for feed in chosen:
        outlet, position = str(feeds[feed][0]), int(str(feeds[feed][1])) + 1
        feeds[feed][1] = position
        _place(root, feed, by_outlet[outlet], position)
    state["mutations"] += 1
    (root / STATE_FILE).write_text(json.dumps(state))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--snapshots", type=Path, default=DEFAULT)
    parser.add_argument("--mutate", action="store_true", help="move 10%% of the feeds on")
    args = parser.parse_args(argv)
    if args.mutate:
        print(f"mutated {len(mutate(args.root))} feeds")
    else:
        paths = generate(args.root, args.feeds, args.snapshots)
        print(f"laid out {len(paths)} feeds under {args.root / 'feeds'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
