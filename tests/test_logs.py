"""Logging: JSON lines off a terminal, console on one, ISO timestamps, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from monitor import logs

HOOK = "https://hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    logs.clear_secrets()
    yield
    logs.clear_secrets()
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_newsmon", False)]:
        root.removeHandler(handler)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    logs.configure_logging("info", "auto", stream=out)
    structlog.get_logger().bind(feed="bbc").info("feed_polled", items=3)
    structlog.get_logger().debug("hidden")
    (event,) = json_lines(out)
    assert event["event"] == "feed_polled"
    assert (event["feed"], event["items"], event["level"]) == ("bbc", 3, "info")
    assert str(event["timestamp"]).endswith("Z")
    assert "T" in str(event["timestamp"])


def test_console_on_a_terminal() -> None:
    out = FakeTTY()
    logs.configure_logging("debug", "auto", stream=out)
    structlog.get_logger().debug("rules_loaded", version=4)
    line = out.getvalue()
    assert "rules_loaded" in line
    assert "version" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_registered_secrets_are_redacted_in_captured_events() -> None:
    logs.register_secrets([HOOK, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    with capture_logs(processors=[logs.redact_secrets]) as events:
        structlog.get_logger().warning(
            "delivery_failed",
            url=HOOK,
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            target=f"{HOOK}?retry=1",
            error=f"POST {HOOK} timed out",
            path="/services/T0000/B0000/XXXXsecretXXXX",
            nested={"urls": [HOOK]},
            status=503,
        )
    (event,) = events
    assert event["url"] == "[redacted]"
    assert event["secret"] == "[redacted]"
    assert event["target"] == "[redacted]"
    assert event["error"] == "POST [redacted] timed out"
    assert event["path"] == "[redacted]"
    assert event["nested"] == {"urls": ["[redacted]"]}
    assert event["status"] == 503


def test_redaction_in_a_real_json_render_and_stdlib_logs() -> None:
    out = io.StringIO()
    logs.configure_logging("info", "json", stream=out)
    logs.register_secret(HOOK)
    structlog.get_logger().info("posting", url=HOOK)
    logging.getLogger("some.library").warning("HTTP Request: POST %s", HOOK)
    try:
        # TRY301: the exception a log line must redact
        raise RuntimeError(f"cannot reach {HOOK}")  # noqa: TRY301
    except RuntimeError:
        structlog.get_logger().exception("delivery_crashed")
    text = out.getvalue()
    assert "XXXXsecretXXXX" not in text
    events = json_lines(out)
    assert [e["event"] for e in events] == [
        "posting",
        "HTTP Request: POST [redacted]",
        "delivery_crashed",
    ]
    assert events[1]["logger"] == "some.library"
    assert "RuntimeError" in str(events[2]["exception"])


def test_short_or_unregistered_values_are_left_alone() -> None:
    logs.register_secrets(["abc", ""])
    assert logs.redact("abc") == "[redacted]"  # equal to a secret: always
    assert logs.redact("abcdef") == "abcdef"  # too short to hunt as a substring
    assert logs.redact({"k": ("x", 1)}) == {"k": ("x", 1)}


def test_httpx_request_lines_are_quiet_at_info() -> None:
    out = io.StringIO()
    logs.configure_logging("info", "json", stream=out)
    logging.getLogger("httpx").info("HTTP Request: GET https://example.org")
    assert out.getvalue() == ""


def test_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logs.configure_logging("loud", stream=io.StringIO())


def test_a_polling_command_starts_without_rich_or_prometheus() -> None:
    # Start-up is most of a one-shot 304 round: structlog must not pull in rich (and pygments)
    # for tracebacks it never draws, nor the poller prometheus_client (docs/performance.md).
    probe = (
        "import sys, monitor.cli.main, monitor.process.cycle, monitor.cli.check; "
        "print(sorted(m for m in ('rich', 'pygments', 'prometheus_client', 'numpy') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_library_debug_and_info_lines_stay_out_even_at_debug() -> None:
    out = io.StringIO()
    logs.configure_logging("debug", "json", stream=out)
    # What httpcore prints at DEBUG for a redirect: the headers as they are, a token included.
    logging.getLogger("httpcore.http11").debug(
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 302, b'Found', "
        "[(b'Location', b'http://127.0.0.1/next?token=SENTINELtoken')])"
    )
    logging.getLogger("some.library").info("connected to %s", "http://127.0.0.1/?k=SENTINEL")
    logging.getLogger("some.library").warning("pool exhausted")
    structlog.get_logger().debug("own_debug_event")
    events = json_lines(out)
    assert [e["event"] for e in events] == ["pool exhausted", "own_debug_event"]
    assert "SENTINEL" not in out.getvalue()


def test_console_lines_carry_no_control_characters() -> None:
    out = FakeTTY()
    logs.configure_logging("info", "console", stream=out)
    title = "Pwned \x1b]0;owned\x07\x1b[2J\x00\x9b31m end"
    structlog.get_logger().info("item_matched", title=title, nested={"t": [title]})
    logging.getLogger("some.library").warning("title %s", title)
    text = out.getvalue()
    assert "Pwned ]0;owned[2J31m end" in text
    colours = text.count("\x1b[")  # the renderer's own colours stay; the feed's ESCs are gone
    assert "\x1b]" not in text
    assert "\x1b[2J" not in text
    assert colours > 0
    assert not any(ch in text for ch in "\x00\x07\x9b")


def test_console_lines_keep_a_title_s_bidi_override_within_its_value() -> None:
    # An RLO left open by a feed title ran on over the rest of the line (the fields after it
    # read reversed in a terminal or log viewer that lays bidi text out).
    out = FakeTTY()
    logs.configure_logging("info", "console", stream=out)
    # (A value without a space is written as it is; one with a space is quoted by repr,
    # which escapes the controls.)
    structlog.get_logger().info("item_matched", title="News\u202eevil", rule="troops")
    logging.getLogger("some.library").warning("title %s then more", "x\u2067y")
    text = out.getvalue()
    assert "News\u202eevil\u202c" in text
    # A library's message is one value, formatted before newsmon sees it: closed at its end.
    assert "x\u2067y then more\u2069" in text
    assert text.count("\u202e") == 1


def test_console_lines_cannot_be_forged_by_a_newline_in_an_event_or_traceback() -> None:
    out = FakeTTY()
    logs.configure_logging("debug", "console", stream=out)
    forged = "2026-01-01T00:00:00.000000Z [error    ] forged_event"
    structlog.get_logger().warning("feed_error", error=f"boom\n{forged}")
    logging.getLogger("some.library").warning("title %s", f"x\n{forged}")
    try:
        _fail(f"bad\n{forged}")
    except ValueError:
        structlog.get_logger().exception("poll_crashed")
    lines = out.getvalue().splitlines()
    assert sum("forged_event" in line for line in lines) == 3  # all there, as text
    # Three events, three lines at the margin; a traceback and a message's lines go under them.
    heads = [line for line in lines if not line.startswith(" ")]
    assert len(heads) == 3
    assert not any(line.startswith("2026-01-01") for line in heads)


def _fail(message: str) -> None:
    raise ValueError(message)
