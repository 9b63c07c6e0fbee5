"""The one exception tree of newsmon. Pure.

Every error a user can cause (a bad rule, a bad config, an unreachable feed) is a `NewsmonError`
subclass whose `str()` is one clear line (or a located message with a caret line); the CLI prints
it and exits 2 instead of showing a traceback. Third-party errors are wrapped at the boundary with
`raise ... from e`.

The tree (leaves defined beside the code that raises them; each module imports its base here):

    NewsmonError
    ├── LocatedError
    │   ├── RuleError (+ValueError)
    │   └── ConfigError (+ValueError)
    │       └── AddressError                 monitor.cli.healthcheck: NEWSMON_HTTP_ADDR
    ├── RuleErrors                           every RuleError of a rules folder
    ├── QueryError (+ValueError)             monitor.query.lexer; SetMemberError in .compiler
    ├── RuleEditError                        monitor.query.ruleedit
    ├── SemanticUnavailable                  monitor.query.embed: the semantic extra missing
    ├── ConfigProblems (+ValueError)         monitor.config.problems: keyed, for the loader
    ├── FeedError                            `kind` says which: timeout, parse, ...
    │   ├── BlockedAddressError
    │   ├── FeedStatusError                  monitor.feeds.fetch
    │   ├── DecodeError                      monitor.net.decode: kind "parse"
    │   └── HostStuckError                   monitor.net.hostlimits: kind "timeout", a hung host
    ├── HTTPFailure                          monitor.net.feedclient; fetch words it a FeedError
    ├── StoreError
    │   └── SchemaTooNew                     monitor.store.migrate: a newer newsmon's database
    ├── FingerprintError                     monitor.dedup.fingerprint
    ├── LabelFileError, UnknownTarget, UnknownRule, BadLabel   monitor.feedback
    ├── UnknownFeed                          monitor.cli.backtest: --feed naming no archived feed
    ├── TrialError                           monitor.console.playground
    └── BadRequest (+ValueError)             monitor.console.web: a request answered 400

Delivery failures are outcomes the deliverer records (retry, dead letter), not exceptions.
The bases that keep `ValueError` do so because pydantic validators and older callers catch it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class NewsmonError(Exception):
    """Base of every error newsmon raises on purpose."""


@dataclass(frozen=True)
class SourceLocation:
    """A place in a user's file: 1-based line and column, and the text of that line."""

    file: str
    line: int
    column: int
    line_text: str = ""
    # The caret's 1-based column in `line_text` when that is an excerpt of a long line (0: the
    # column itself).
    caret: int = 0

    def render(self, message: str) -> str:
        """`FILE:LINE:COL: message`, then the line and a caret under the column."""
        head = f"{self.file}:{self.line}:{self.column}: {message}"
        if not self.line_text:
            return head
        caret = " " * (max(self.caret or self.column, 1) - 1) + "^"
        return f"{head}\n    {self.line_text}\n    {caret}"


def not_utf8(file: str, data: bytes, exc: UnicodeDecodeError) -> tuple[str, SourceLocation]:
    """The message and place of the first byte of `data` that is not UTF-8: a file saved in
    Latin-1 or Windows-1252 is told where and what to do, not "codec can't decode position N"."""
    start = exc.start
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", start)
    line_end = len(data) if line_end < 0 else line_end
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    text = data[line_start:line_end].decode("utf-8", "replace").rstrip("\r")
    location = SourceLocation(file, data.count(b"\n", 0, start) + 1, column, text)
    return f"not UTF-8 text (byte 0x{data[start]:02x}): save the file as UTF-8", location


def close_match(name: str, known: Iterable[str]) -> str | None:
    """The known id or name closest to `name` (what a typo meant), or None: difflib's best at its
    default cutoff."""
    import difflib  # only for a mistake: not paid by every start

    found = difflib.get_close_matches(name, list(known), n=1)
    return found[0] if found else None


def did_you_mean(names: Iterable[str], known: Iterable[str]) -> str:
    """`; did you mean 'x'?`, naming the close known id of each of `names` that has one, or ''."""
    known = list(known)
    guesses = [g for name in names if (g := close_match(name, known)) is not None]
    return f"; did you mean {', '.join(map(repr, guesses))}?" if guesses else ""


class LocatedError(NewsmonError):
    """An error at a known place in a user's file."""

    def __init__(self, message: str, location: SourceLocation | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(location.render(message) if location else message)


class RuleError(LocatedError, ValueError):
    """A rule file or query that cannot be used: syntax, unknown set or field, duplicate id."""


class RuleErrors(NewsmonError):
    """Every error found in a rules folder at once, so a user fixes them in one go."""

    def __init__(self, errors: list[RuleError], count: int | None = None) -> None:
        self.errors = errors
        # how many faults there are: more than `errors` when a file's past the shown ones are
        # said in one line ("N more errors in this file not shown")
        self.count = len(errors) if count is None else count
        super().__init__("\n".join(str(e) for e in errors))


class ConfigError(LocatedError, ValueError):
    """A configuration file or environment variable that cannot be used."""


class FeedError(NewsmonError):
    """A feed that could not be fetched or parsed. `kind` classifies it for `newsmon feeds`.

    Kinds: timeout, too_large, too_many_redirects, blocked_address, http_status, connect, tls,
    parse, refused_entities, not_a_feed, local_file, too_costly (a document past the parse
    budget: `monitor.feeds.budget`), memory_busy (a large body that got no turn before its
    deadline: `monitor.net.bodies`).
    """

    def __init__(self, kind: str, message: str, *, status: int | None = None) -> None:
        self.kind = kind
        self.status = status
        super().__init__(message)


class BlockedAddressError(FeedError):
    """The address guard refused a destination (private, loopback, metadata, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__("blocked_address", message)


class StoreError(NewsmonError):
    """The store (SQLite or PostgreSQL) is unavailable or refused an operation."""
