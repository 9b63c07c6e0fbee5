"""Entry point of `newsmon`: builds the argument parser from the sub-command modules and turns
every `NewsmonError` into one clear line on stderr and exit code 2. Does I/O."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import NewsmonError

# Each module has `register(subparsers)`, which adds its parser with `set_defaults(func=...)`;
# `func(args) -> int` returns the exit code. A module that is not there yet is skipped.
COMMAND_MODULES = (
    "monitor.cli.check",
    "monitor.cli.run",
    "monitor.cli.rules",
    "monitor.cli.feeds",
    "monitor.cli.deliveries",
    "monitor.cli.healthcheck",
)

EPILOG = """\
examples:
  newsmon check --config examples/newsmon.yaml      one pass over the feeds, print matches
  newsmon rules test --text seeds/article.txt       try the rules on a text
  newsmon run                                       the daemon

exit codes: 0 matched or succeeded, 1 nothing matched, 2 a usage, config, rule or feed error
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsmon",
        description="Watch news feeds and alert Slack or webhooks, at once and exactly once.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"newsmon {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = func(args)
    except NewsmonError as exc:
        print(f"newsmon: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
