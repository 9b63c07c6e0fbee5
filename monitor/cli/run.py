"""`newsmon run`: the daemon. Does I/O.

Polls the configured feeds on their schedule, matches new items, enqueues and delivers alerts,
serves /healthz, /readyz and /metrics, reloads rules when their files change or on SIGHUP (which
applies the config's feeds too), and shuts down gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TextIO, cast

from monitor.cli.common import STDOUT, add_config_args, load_config_from_args, setup_logging

READER_GONE_EXIT = 141  # 128 + SIGPIPE: what a shell shows for a pipe writer whose reader left
READER_GONE = (
    "newsmon: the log's reader went away (stdout is a closed pipe): stopping as on SIGTERM,"
    f" exit {READER_GONE_EXIT}"
)

EPILOG = """\
examples:
  newsmon run --config /config/newsmon.yaml
  NEWSMON_HTTP_ADDR=0.0.0.0:9464 newsmon run      # serve health and metrics on every interface
  kill -HUP <pid>                                  # apply the config's feeds, reload the rules

signals: SIGTERM/SIGINT stop gracefully (a second one stops at once); SIGHUP applies the config's
feeds: list and reloads the rules (other config keys need a restart).
exit codes: 0 a graceful stop, 130 a forced one (a second signal), 141 the log's reader went
away (stdout a closed pipe: stopped as on SIGTERM), 2 cannot start (a config or rule error, the
HTTP address in use).
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the daemon: poll, match, alert, until stopped",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(parser, logs_as_configured=True)
    parser.set_defaults(func=run_daemon)


def run_daemon(args: argparse.Namespace) -> int:
    from monitor.cli.entry import stops_while_starting
    from monitor.config import warn_config
    from monitor.logs import ReaderWatch
    from monitor.process.daemon import StopLatch, defer_sighup, defer_stop, raise_open_files_limit

    defer_sighup()  # a reload asked for while starting must not end the process
    defer_stop(stops_while_starting())  # nor a stop be lost (PID 1 drops an unhandled SIGTERM)
    # The log's reader gone (`newsmon run | head -1`, a log shipper that died): stop as on
    # SIGTERM, say so on stderr, exit 141 as a pipe writer does. Running on with the log
    # dropped would leave a daemon nobody can see (and `| head -1` would never return).
    stop = StopLatch()
    output = ReaderWatch(STDOUT, stop.set, READER_GONE)
    config = load_config_from_args(args, warn=False)
    setup_logging(args, config, stream=cast(TextIO, output))
    # The config's warnings (a secret written inline, a short interval) go into the daemon's
    # log on stdout, in the format the config names, where every other line is.
    warn_config(config)
    raised = raise_open_files_limit()
    if raised is not None:
        import structlog

        structlog.get_logger("newsmon.daemon").info(
            "open_files_limit_raised", before=raised[0], now=raised[1]
        )
    if config.parse_workers > 0:  # their imports overlap the daemon's (monitor.feeds.budget)
        from monitor.feeds.budget import ParseBudget, start_early

        budget = ParseBudget(cpu_s=config.parse_cpu.total_seconds(), memory=config.parse_memory)
        start_early(budget, config.parse_workers)
    from monitor.process.service import serve_forever

    code = asyncio.run(serve_forever(config, rules_override=args.rules, stop=stop))
    return READER_GONE_EXIT if output.lost and code == 0 else code
