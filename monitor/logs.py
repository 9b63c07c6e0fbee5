"""Logging with structlog: JSON lines or console output, ISO timestamps, secrets redacted. Does I/O
(writes log lines to a stream).

`configure_logging` is called once by each command: `newsmon run` logs JSON lines to stdout (the
container's log collector reads it); one-shot commands log to stderr so stdout carries results.
Standard-library loggers (httpx, apscheduler) go through the same processors, so a webhook URL
that httpx logs is redacted too. Resolved destination URLs and signing secrets, and feed URLs'
passwords and API keys, are registered with `register_secrets`; any string containing one is
redacted before rendering.

Libraries' own records below WARNING are never shown, whatever `level`: at DEBUG, httpcore prints
response headers as they are, and a receiver whose redirect `Location` echoes a token (not a
registered secret) would put it in the log. newsmon's own events say what a request did.
Console lines have control characters removed from every value (`strip_controls`): a feed title
with ESC or OSC sequences must not drive the terminal that reads the log. JSON lines escape them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit


def _import_structlog_without_rich() -> None:
    """structlog imports rich and pygments, when installed, for tracebacks newsmon never lets it
    draw (exceptions become text in `format_exc_info` first): about 40 ms of every start. A None
    in sys.modules makes structlog's `import rich` fail, so it takes its plain path; rich itself
    stays importable for the tables that use it. (This module is the first to import structlog
    on every command's path; tests/test_logs.py checks rich stays out.)"""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


_import_structlog_without_rich()

import structlog  # noqa: E402 - after the import above, on purpose
from structlog.typing import EventDict, Processor, WrappedLogger  # noqa: E402

from monitor.controls import confine_bidi, map_strings, strip_controls  # noqa: E402

REDACTED = "[redacted]"
LogFormat = Literal["auto", "json", "console"]
# Shorter secrets are matched only as whole values: as substrings they would redact ordinary text.
_MIN_SUBSTRING = 8
_secrets: frozenset[str] = frozenset()


def register_secrets(values: Iterable[str]) -> None:
    """Redact these values (and a URL's path, query and password) from every later log line."""
    global _secrets
    found = set(_secrets)
    for value in values:
        if not value:
            continue
        found.add(value)
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:
            # A Slack hook's credential is its path; log lines may show only that part.
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(tail.strip("/")) >= _MIN_SUBSTRING:
                found.add(tail)
            if parts.password:
                found.add(parts.password)
    _secrets = frozenset(found)


def register_secret(value: str) -> None:
    """`register_secrets([value])`."""
    register_secrets([value])


def clear_secrets() -> None:
    """Forget every registered secret (tests)."""
    global _secrets
    _secrets = frozenset()


def redact(value: Any) -> Any:
    """`value` with registered secrets replaced by `[redacted]`, through dicts, lists and tuples."""
    return map_strings(value, _redact_str)


def _redact_str(text: str) -> str:
    secrets = _secrets
    if not secrets or text in secrets:
        return REDACTED if text in secrets else text
    hits = [s for s in secrets if len(s) >= _MIN_SUBSTRING and s in text]
    if not hits:
        return text
    if "://" in text and " " not in text.strip():
        return REDACTED  # a URL that contains a secret is the secret, whatever else it holds
    for secret in sorted(hits, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact registered secrets from every value of the event."""
    if not _secrets:
        return event_dict
    for key, value in list(event_dict.items()):
        event_dict[key] = redact(value)
    return event_dict


def strip_control_chars(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor (console only): no ESC, OSC, NUL or C1 control in any value, no bidi
    control left open past its value, and no line of a multi-line event or traceback at the
    start of a line, where it could pass for a log line of its own (the renderer quotes other
    values, newlines escaped)."""
    for key, value in list(event_dict.items()):
        event_dict[key] = map_strings(value, _console_text)
    event = event_dict.get("event")
    if isinstance(event, str) and "\n" in event:  # a library's message quoting a feed or server
        event_dict["event"] = event.replace("\n", "\n  ")
    exception = event_dict.get("exception")
    if isinstance(exception, str):  # printed from the next line on, under the event's line
        event_dict["exception"] = "  " + exception.replace("\n", "\n  ")
    return event_dict


def _console_text(text: str) -> str:
    """No terminal control in `text`, and its bidi controls closed at its end (`confine_bidi`):
    the renderer puts every value of an event on one line, where an override left open by a
    feed title ran on over the fields after it and reordered them."""
    return confine_bidi(strip_controls(text))


def _shared() -> list[Processor]:
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    # Tracebacks become plain text (no frame locals, which may hold secrets) before redaction,
    # so a secret inside an exception message is caught too.
    chain.append(structlog.processors.format_exc_info)
    chain.append(redact_secrets)
    return chain


def configure_logging(
    level: str = "info", fmt: LogFormat | str = "auto", stream: TextIO | None = None
) -> None:
    """Send structlog and standard logging to `stream` (stderr by default) at `level`.

    `fmt`: `json` (one object a line), `console` (readable; colour only on a terminal and
    without NO_COLOR), or
    `auto` (console when `stream` is a terminal, else JSON).
    """
    out = stream if stream is not None else sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r} (use debug, info, warning or error)")
    tty = _isatty(out)
    json = fmt == "json" or (fmt == "auto" and not tty)
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=tty and not os.environ.get("NO_COLOR"))
    )
    shared = _shared() if json else [*_shared(), strip_control_chars]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    # Only libraries log through here: their debug and info lines stay out (see the docstring).
    handler.setLevel(max(numeric, logging.WARNING))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_newsmon", False)]:
        root.removeHandler(old)
    handler._newsmon = True  # type: ignore[attr-defined]  # marks the handler we may replace
    root.addHandler(handler)
    root.setLevel(max(numeric, logging.WARNING))  # records below it are not even made
    # Loggers with a level of their own would bypass the root's: httpx's request lines (full
    # URLs) at INFO, httpcore's headers at DEBUG.
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


class ReaderWatch:
    """`newsmon run`'s log stream: `stream` (stdout), and what to do when its reader goes away.

    `newsmon run | head -1`, or a log shipper that dies: the next log line met a closed pipe,
    and the BrokenPipeError rose out of whatever code was logging (a poll, a delivery between
    its post and its record), which ended the process mid-work with exit 141 and no word. Here
    the first such write points the descriptor at /dev/null (later lines, and the final flush,
    go nowhere without failing), says so once on stderr, and calls `gone` (the daemon stops as
    on SIGTERM); the line is dropped, the logging code goes on. Writes come from several
    threads (the loop's, `asyncio.to_thread`'s), hence the lock.
    """

    def __init__(self, stream: TextIO, gone: Callable[[], None], message: str) -> None:
        self._stream = stream
        self._gone = gone
        self._message = message
        self._lock = threading.Lock()
        self.lost = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._lose()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._lose()

    def isatty(self) -> bool:
        return _isatty(self._stream)

    def _lose(self) -> None:
        with self._lock:
            if self.lost:
                return
            self.lost = True
            point_at_devnull(sys.stdout)
            try:
                print(self._message, file=sys.stderr, flush=True)
            except (OSError, ValueError):  # stderr went with it (`2>&1 | head`): nobody to tell
                point_at_devnull(sys.stderr)
        self._gone()


def point_at_devnull(stream: TextIO | None) -> None:
    """Make `stream`'s descriptor /dev/null: what is buffered, and every later write, is
    dropped without an error (the interpreter's last flush of a broken stdout would fail)."""
    try:
        fd = stream.fileno() if stream is not None else -1
    except (AttributeError, OSError, ValueError):  # a stand-in with no descriptor (a test's)
        return
    if fd < 0:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def get_logger(**context: Any) -> Any:
    """A structlog logger with `context` bound (for example `feed=...`)."""
    return structlog.get_logger().bind(**context)
