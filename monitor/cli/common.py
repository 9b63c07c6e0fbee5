"""Arguments and start-up steps that several commands share. Does I/O."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO, cast

from monitor.config import Config, load_config
from monitor.errors import NewsmonError, did_you_mean
from monitor.logs import configure_logging
from monitor.plural import counted

if TYPE_CHECKING:
    from monitor.store.roles import FeedSchedule


class StdStream:
    """`sys.stdout` or `sys.stderr` as it is at each write, not as it was when logging was set up
    (a test harness or a caller may swap them; a stale one may be closed by then)."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self.name = name

    def _stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self.name)
        return stream

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        try:
            return self._stream().isatty()
        except (AttributeError, ValueError):
            return False


STDOUT: TextIO = cast(TextIO, StdStream("stdout"))
STDERR: TextIO = cast(TextIO, StdStream("stderr"))


def at_least_one(text: str) -> int:
    """argparse type of a count such as `--limit N`: a whole number, 1 or more. One past what
    SQLite's LIMIT takes (a 64-bit integer; an OverflowError traceback) means the same: all."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return min(value, 2**63 - 1)


def no_such_rules(missing: Sequence[str], known: Sequence[str], folder: str) -> NewsmonError:
    """`--rule ID` naming no rule of `folder`: each id quoted (an empty one shows), the close
    id for a typo, and the first of the rule ids (a folder may hold hundreds)."""
    names = ", ".join(map(repr, missing))
    return NewsmonError(
        f"no rule {names} in {folder}{did_you_mean(missing, known)}"
        f" ({counted(len(known), 'rule')}: {ids_shown(known)})"
    )


def ids_shown(known: Sequence[str]) -> str:
    """The first MAX_IDS_SHOWN of `known`, then ` ...` if there are more."""
    return ", ".join(known[:MAX_IDS_SHOWN]) + (" ..." if len(known) > MAX_IDS_SHOWN else "")


MAX_IDS_SHOWN = 10


MIB = 1024 * 1024


def read_capped(path: str | Path, limit: int, what: str) -> bytes:
    """A file a person named, read whole, but not past `limit` bytes: `/dev/zero` or a log file
    given by mistake was read until memory ran out (a MemoryError traceback). Raises OSError
    as `open` does, and NewsmonError past the limit."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        size = f"{limit // MIB} MiB" if limit >= MIB else f"{limit} bytes"
        raise NewsmonError(
            f"{path}: larger than {size}, more than {what} takes; is this the right file?"
        )
    return data


def add_config_args(
    parser: argparse.ArgumentParser, *, rules: bool = True, logs_as_configured: bool = False
) -> None:
    """`--config`, `--rules` and `--log-level`. `logs_as_configured`: the command sets up its
    logging from the config (`setup_logging`), so the config's `log_level` is the default; the
    others log at `info` unless told (monitor.cli.main)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the YAML config (default: $NEWSMON_CONFIG, else ./newsmon.yaml if present)",
    )
    if rules:
        parser.add_argument(
            "--rules",
            metavar="DIR",
            help="the rules folder (default: $NEWSMON_RULES, else the config's, else ./rules)",
        )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="how much to log (default: "
        + ("the config's log_level, info)" if logs_as_configured else "info)"),
    )


def load_config_from_args(args: argparse.Namespace, *, warn: bool = True) -> Config:
    return load_config(getattr(args, "config", None), env=os.environ, warn=warn)


def store_exists(config: Config) -> bool:
    """False when the store is a SQLite file that is not there yet: a command that only reads
    then has nothing to show, and must not create the file."""
    from pathlib import Path

    from monitor.store import sqlite_path

    path = sqlite_path(config.database_url.strip())
    return path is None or path == ":memory:" or Path(path).exists()


def no_store_yet(config: Config) -> str:
    """The line a command that only reads says when the SQLite file is not there: which file,
    and for a relative path where it was looked for (`database_url: newsmon.db` is read
    relative to where newsmon runs, so a command run elsewhere finds no store and said only
    "no feeds polled yet")."""
    from monitor.store import sqlite_path

    path = sqlite_path(config.database_url.strip()) or config.database_url
    where = "" if Path(path).is_absolute() else f" (relative to {Path.cwd()})"
    return (
        f"note: no store at {path}{where} yet: `newsmon run` or `newsmon check --deliver` makes it"
    )


def setup_logging(args: argparse.Namespace, config: Config, stream: TextIO = STDERR) -> None:
    configure_logging(
        level=getattr(args, "log_level", None) or config.log_level,
        fmt=config.log_format,
        stream=stream,
    )


def feed_tags(config: Config, store: FeedSchedule) -> dict[str, tuple[str, ...]]:
    """Each feed's tags as `run` matches its items (a rule's `feeds:` names ids or tags): the
    config's, which `run` writes to the store only when it starts (an archive filled by
    `archive import` before that, or tags edited since, would be matched without them), over
    the store's."""
    tags = {f.id: tuple(f.tags) for f in store.list_feeds()}
    tags.update((f.id, tuple(f.tags)) for f in config.feeds)
    return tags
