"""Arguments and start-up steps that several commands share. Does I/O."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from monitor.config import Config, load_config
from monitor.logs import configure_logging


def add_config_args(parser: argparse.ArgumentParser, *, rules: bool = True) -> None:
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
        help="how much to log (default: the config's log_level, info)",
    )


def load_config_from_args(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), env=os.environ)


def setup_logging(args: argparse.Namespace, config: Config, stream: TextIO) -> None:
    configure_logging(
        level=getattr(args, "log_level", None) or config.log_level,
        fmt=config.log_format,
        stream=stream,
    )
