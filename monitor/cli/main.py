"""Entry point of `newsmon`: builds the argument parser from the sub-command modules and turns
every user mistake into one clear line on stderr and exit code 2. Does I/O.

A mistake is a `NewsmonError` (config, rules, feed, store) or a usage error argparse finds; both
print `newsmon: what is wrong` (located errors add the source line and a caret) and never a
traceback. Logging goes to stderr from the start, so a warning raised while the config is read
never lands in a command's stdout; `run` and `check` reconfigure it from the config.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from monitor import __version__
from monitor.cli.common import STDERR
from monitor.cli.leave import leave
from monitor.controls import strip_controls
from monitor.errors import NewsmonError, close_match
from monitor.logs import configure_logging, point_at_devnull

# Each module has `register(subparsers)`, which adds its parser with `set_defaults(func=...)`;
# `func(args) -> int` returns the exit code.
COMMAND_MODULES = (
    "monitor.cli.init",
    "monitor.cli.check",
    "monitor.cli.run",
    "monitor.cli.rules",
    "monitor.cli.feeds",
    "monitor.cli.deliveries",
    "monitor.cli.stories",
    "monitor.cli.archive",
    "monitor.cli.feedback",
    "monitor.cli.healthcheck",
)
LOG_LEVELS = ("debug", "info", "warning", "error")
USAGE_ERROR = 2

EPILOG = """\
examples:
  newsmon init                                      a commented newsmon.yaml and rules/ here
  newsmon check --config examples/newsmon.yaml      one pass over the feeds, print matches
  newsmon rules test --text seeds/article.txt       try the rules on a text
  newsmon run                                       the daemon
  newsmon COMMAND --help                            each command's options and examples

exit codes: 0 matched or succeeded, 1 nothing matched, 2 a usage, config, rule or feed error
"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `newsmon check: unknown option --fed (see --help)`.

    Sub-parsers are made with the same class (argparse's default), so every level answers so.
    """

    argv: Sequence[str] = ()  # the arguments being parsed (main sets them), for the hints

    def error(self, message: str) -> NoReturn:
        message = message.replace("argument COMMAND: invalid choice:", "unknown command")
        message += self._dash_value_hint(message)
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see `{self.prog} --help`)\n")

    def _dash_value_hint(self, message: str) -> str:
        """`--since -5d`: argparse reads a value that starts with `-` as an option and says the
        option "expected one argument"; say how to give such a value."""
        found = re.fullmatch(r"argument (\S+): expected one argument", message)
        if found is None:
            return ""
        names = found.group(1).split("/")
        argv = list(Parser.argv)
        for at, arg in enumerate(argv[:-1]):
            value = argv[at + 1]
            if arg in names and value.startswith("-") and len(value) > 1:
                return f"; {value!r} reads as an option: write {arg}={value}"
        return ""

    def unknown(self, extras: Sequence[str]) -> NoReturn:
        """Arguments no option took, said by the command they were given to, with a guess."""
        options = [o for action in self._actions for o in action.option_strings]
        guesses = [
            close
            for extra in extras
            if extra.startswith("-") and (close := close_match(extra.split("=")[0], options))
        ]
        hint = f"; did you mean {', '.join(guesses)}?" if guesses else ""
        self.error(f"unknown argument(s): {' '.join(extras)}{hint}")


def build_parser(command: str | None = None) -> Parser:
    """The whole parser; with `command` (the first argument), only that command's if a module
    of that name registers it: the other modules' imports (rules' backtest, healthcheck's
    urllib, ...) are then not paid for by every run (about 20 ms)."""
    modules: tuple[str, ...] = COMMAND_MODULES
    if command is not None and f"monitor.cli.{command}" in COMMAND_MODULES:
        modules = (f"monitor.cli.{command}",)
    parser = Parser(
        prog="newsmon",
        description=(
            "Watch news feeds and alert people at once and exactly once: webhooks, Slack,\n"
            "email, Discord, Teams, Telegram, ntfy, Matrix."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"newsmon {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(subparsers)
    for sub in walk(parser):
        _add_log_level(sub)
        sub.set_defaults(_parser=sub)  # the deepest command's parser wins: errors name it
    return parser


def walk(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every sub-parser under it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from walk(sub)


def _add_log_level(parser: argparse.ArgumentParser) -> None:
    """Every command that reads a config may log (config warnings at least): give it
    `--log-level` if its module did not."""
    options = {o for action in parser._actions for o in action.option_strings}
    if "--config" in options and "--log-level" not in options:
        parser.add_argument(
            "--log-level", choices=LOG_LEVELS, help="how much to log on stderr (default: info)"
        )


def stand_in_for_closed_streams() -> None:
    """A standard stream closed when newsmon started (`newsmon feeds import x.opml >&-`) is None
    in `sys`, and the first `sys.stdout.write` ended in an AttributeError traceback. It becomes
    /dev/null, which `print` already made of it: the output is dropped, the exit status kept. A
    closed descriptor is taken too, so no file opened later gets it (and a stray write)."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:  # closed: /dev/null takes its number
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))  # noqa: SIM115
        else:  # set to None by an embedding program: leave its descriptor alone
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # noqa: SIM115


def escape_what_the_streams_cannot_encode() -> None:
    """stdout (and stderr) write a character their encoding lacks as an escape (\\u6771), not
    raise. On a non-UTF-8 stream (a locale such as de_DE.ISO-8859-1 in an image that has it,
    PYTHONIOENCODING=ascii) a feed title in another script raised UnicodeEncodeError: `check`
    and `rules test` ended in a traceback, and under `run` the console log line took the poll
    task that logged it down with it."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


def _intermixed(
    args: argparse.Namespace, extras: list[str], given: Sequence[str]
) -> tuple[argparse.Namespace, list[str]]:
    """A positional written after an option (`feedback import --config team.yaml labels.jsonl`,
    `archive import a.rss --feed-id wire b.rss`) is left over: argparse takes a command's
    positionals in one run. The command's own parser, which has no sub-commands, reads the
    arguments after the command's words again in any order; what that leaves over is what
    was not understood."""
    command = getattr(args, "_parser", None)
    if not isinstance(command, argparse.ArgumentParser) or " " not in command.prog:
        return args, extras
    words = len(command.prog.split()) - 1  # `newsmon archive import`: two words, then arguments
    try:
        again, rest = command.parse_known_intermixed_args(list(given[words:]))
    except TypeError:  # a parser intermixing cannot read (it has sub-commands)
        return args, extras
    return again, rest


def _refuse_option_before_command(parser: Parser, args: Sequence[str]) -> None:
    """`newsmon --config x.yaml check`: a command's option before the command. argparse took
    `x.yaml` for the command ("unknown command 'x.yaml'"); say where the option goes."""
    option = args[0].split("=", 1)[0]
    mine = [o for action in parser._actions for o in action.option_strings]
    if option == "-" or any(o.startswith(option) for o in mine):  # -h, --version, --vers
        return
    names = {c.removeprefix("monitor.cli.") for c in COMMAND_MODULES}
    at = next((i for i, a in enumerate(args) if a in names), None)
    # The options before the command, moved to the end: after `rules check` too.
    fixed = ["COMMAND", *args] if at is None else [*args[at:], *args[:at]]
    parser.error(f"{option} comes before the command; options go after it, as in"
                 f" `newsmon {' '.join(fixed)}`")  # fmt: skip


# The arguments that name a file or folder: any bytes the file system takes are fine there.
PATH_METAVARS = frozenset({"DIR", "NEW_DIR", "FILE", "FILE.opml", "PATH"})
PATH_OR_URL_METAVARS = frozenset({"FILE_OR_DIR_OR_URL", "PATH_OR_URL", "URL_OR_PATH"})


def _refuse_text_not_utf8(args: argparse.Namespace, parser: Parser) -> None:
    """An argument with bytes that are not UTF-8 (a Latin-1 terminal, `$'caf\\xe9'`) arrives
    with lone surrogates, which no store, URL or JSON takes: a UnicodeEncodeError traceback
    where it was written down. Refused here, except where it names a file."""
    command = getattr(args, "_parser", parser)
    for action in command._actions:
        value = getattr(args, action.dest, None)
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str) or text.isascii() or _is_utf8(text):
                continue
            metavar = action.metavar if isinstance(action.metavar, str) else ""
            if metavar in PATH_METAVARS or (metavar in PATH_OR_URL_METAVARS and "://" not in text):
                continue
            name = action.option_strings[-1] if action.option_strings else metavar or action.dest
            shown = repr(os.fsencode(text))[2:-1]  # the bytes as typed: caf\xe9
            (command if isinstance(command, Parser) else parser).error(
                f"argument {name}: '{shown}' is not UTF-8 text; give it in UTF-8"
            )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def main(
    argv: Sequence[str] | None = None, *, gc_paused: bool = False, may_leave: bool = False
) -> int:
    """Run one command. `gc_paused`: the collector is off for the start (`monitor.cli.entry`);
    it is turned on before the command runs, unless the command settles its heap, which turns
    it on itself (`settles_heap` in its defaults). `may_leave`: a command that has
    `leaves_at_once` in its defaults ends the process when it returns (`monitor.cli.leave`),
    and this does not return."""
    stand_in_for_closed_streams()
    escape_what_the_streams_cannot_encode()
    args_given = sys.argv[1:] if argv is None else list(argv)
    Parser.argv = args_given
    parser = build_parser(args_given[0] if args_given else None)
    if args_given and args_given[0].startswith("-"):
        _refuse_option_before_command(parser, args_given)
    args, extras = parser.parse_known_args(argv)
    if extras:
        args, extras = _intermixed(args, extras, args_given)
    if extras:
        command = getattr(args, "_parser", parser)
        (command if isinstance(command, Parser) else parser).unknown(extras)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    _refuse_text_not_utf8(args, parser)
    configure_logging(level=getattr(args, "log_level", None) or "info", stream=STDERR)
    if gc_paused and not getattr(args, "settles_heap", False):
        gc.enable()
    try:
        code: int = func(args)
    except NewsmonError as exc:
        # A feed's or a receiver's words may be in it (an HTTP reason phrase with a C1 CSI).
        print(strip_controls(f"newsmon: {exc}"), file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `newsmon check | head`: the reader has what it wanted. Point stdout at /dev/null so the
        # interpreter's final flush does not fail again, and end as a pipe writer does.
        point_at_devnull(sys.stdout)
        return 141
    except OSError as exc:
        # A path the system refuses where no command expected it (a name too long to look up,
        # a loop of links): the file and the system's reason, not a traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"newsmon: {where}{exc.strerror or exc}", file=sys.stderr)
        return USAGE_ERROR
    if may_leave and getattr(args, "leaves_at_once", False):
        leave(code)
    return code
