"""`python -m monitor.config --markdown`: print the reference tables; `--check FILE`: validate."""

from __future__ import annotations

import argparse
import sys

from monitor.config.loader import load_config
from monitor.config.reference import markdown
from monitor.errors import ConfigError
from monitor.plural import counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitor.config")
    parser.add_argument("--markdown", action="store_true", help="print the reference tables")
    parser.add_argument("--check", metavar="FILE", help="load FILE and report problems")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    try:
        config = load_config(args.check)
    except ConfigError as exc:
        print(f"newsmon: {exc}", file=sys.stderr)
        return 2
    feeds, destinations = len(config.feeds), len(config.destinations)
    print(f"ok: {counted(feeds, 'feed')}, {counted(destinations, 'destination')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
