"""`newsmon run`: the daemon. Does I/O.

Polls the configured feeds on their schedule, matches new items, enqueues and delivers alerts,
serves /healthz, /readyz and /metrics, reloads rules when their files change or on SIGHUP, and
shuts down gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio

from monitor.cli.common import STDOUT, add_config_args, load_config_from_args, setup_logging

EPILOG = """\
examples:
  newsmon run --config /config/newsmon.yaml
  NEWSMON_HTTP_ADDR=0.0.0.0:9464 newsmon run      # serve health and metrics on every interface
  kill -HUP <pid>                                  # reload the rules now

signals: SIGTERM/SIGINT stop gracefully (a second one stops at once); SIGHUP reloads the rules.
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
    from monitor.process.daemon import defer_sighup

    defer_sighup()  # a reload asked for while starting must not end the process
    config = load_config_from_args(args)
    setup_logging(args, config, stream=STDOUT)
    if config.parse_workers > 0:  # their imports overlap the daemon's (monitor.feeds.budget)
        from monitor.feeds.budget import ParseBudget, start_early

        budget = ParseBudget(cpu_s=config.parse_cpu.total_seconds(), memory=config.parse_memory)
        start_early(budget, config.parse_workers)
    from monitor.process.service import serve_forever

    return asyncio.run(serve_forever(config, rules_override=args.rules))
