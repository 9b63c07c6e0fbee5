"""`newsmon init`: a commented `newsmon.yaml` and a `rules/` folder with one example rule, written
into a folder (the current one by default), so that a user starts outside this repository. Does
I/O. It never overwrites: if either is there, it says which and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.errors import ConfigError

# The module's docstring is for its readers ("Does I/O"); the help says what a user needs.
DESCRIPTION = """\
Write a commented newsmon.yaml and a rules/ folder with one example rule into a folder (the
current one by default). It never overwrites: if either is there, it says which and writes
nothing."""

EPILOG = """\
examples:
  newsmon init                       newsmon.yaml and rules/ here
  newsmon init --dir /etc/newsmon    or in another folder (then run newsmon from there:
                                     the config's paths are relative to where it runs)
then:
  newsmon rules check                the rules, checked against the config
  newsmon check                      one pass over the feeds: print every match
  newsmon run                        the daemon (add a destination first)
"""

CONFIG = """\
# newsmon configuration, written by `newsmon init`. Every key is described in newsmon's
# docs/configuration.md; each also has an environment variable, NEWSMON_ + the key in upper case
# (NEWSMON_DATABASE_URL, ...), which wins over this file.

database_url: newsmon.db      # a SQLite file next to where newsmon runs (or a postgresql:// URL)
rules: rules                  # the folder of rule files (`newsmon rules check` validates them)
log_level: info
default_interval: 5m          # how often a feed is polled; durations: 90s, 5m, 2h, 7d
retention: 90d                # items published before this are ignored (never alert)
# Feeds and destinations on private or loopback addresses (an intranet feed, a receiver on this
# machine) are refused unless listed here: CIDRs or host names.
# allow_networks: [10.0.0.0/8, feeds.intranet.example]

feeds:
  # `id` is optional (derived from the URL) but keeps rules and `feeds list` stable; rules can
  # name ids or tags in their `feeds:` to watch only some feeds.
  - id: bbc-world
    url: https://feeds.bbci.co.uk/news/world/rss.xml
    tags: [world]
  # - id: my-local-paper
  #   url: https://www.example.org/news/rss
  #   tags: [local]
  #   interval: 15m
  #   backfill: 1d            # the first poll alerts items this recent (default: a silent baseline)

# Where alerts go. Until one is configured `newsmon run` matches and records, but sends nothing.
# URLs and signing secrets come from the environment or files, so this file holds no secret.
destinations:
  # - name: ops-webhook
  #   type: webhook             # signed per Standard Webhooks
  #   url_env: NEWSMON_WEBHOOK_URL
  #   secret_env: NEWSMON_WEBHOOK_SECRET
  # - name: newsroom-slack
  #   type: slack
  #   url_file: /run/secrets/slack_webhook_url
"""

RULE = """\
# A watch rule, written by `newsmon init`. The query language: stemmed words, prefix*, exact
# =NATO, "phrases", AND / OR / NOT, NEAR/n, field scopes like title:(...), named $sets.
# See newsmon's docs/rules.md.
# Try it:  newsmon rules test --text some-article.txt
rules:
  - id: troops-sent
    name: Troops or soldiers sent somewhere
    query: (troops OR soldiers OR "special forces") NEAR/8 (deploy* OR dispatch* OR send OR sent)
    severity: high
    # feeds: [world]          # only feeds with this id or tag (default: every feed)
    # notify: [ops-webhook]   # only these destinations (default: every destination)
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write a commented newsmon.yaml and a rules/ folder with one example rule",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dir", default=".", metavar="DIR", help="where (default: here)")
    parser.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        what = "not a folder" if root.exists() else "no such folder"
        raise ConfigError(f"{root}: {what} (create it first, or choose another --dir)")
    config, rules = root / "newsmon.yaml", root / "rules"
    there = [str(p) for p in (config, rules) if p.exists() or p.is_symlink()]
    if there:
        raise ConfigError(
            f"{' and '.join(there)} already there: newsmon init writes nothing over existing "
            "files (move them away, or choose another --dir)"
        )
    rule = rules / "example.yaml"
    try:
        rules.mkdir()
        with config.open("x", encoding="utf-8") as handle:  # "x": never over a file just made
            handle.write(CONFIG)
        rule.write_text(RULE, encoding="utf-8")
    except OSError as exc:
        for path in (rule, config):  # what this run made, so a failure leaves nothing behind
            if path.is_file():
                path.unlink()
        if rules.is_dir() and not any(rules.iterdir()):
            rules.rmdir()
        raise ConfigError(f"{root}: cannot write there: {exc.strerror}") from exc
    print(f"wrote {config} and {rule}", file=sys.stdout)
    # Its paths (rules, database_url) are relative to where newsmon runs: from anywhere else the
    # config is not found, or its rules folder is not, and a store is made there.
    cd_first = "" if root.resolve() == Path.cwd().resolve() else f"`cd {root}`, then "
    print(
        f"next: {cd_first}`newsmon rules check`, then `newsmon check` (see `newsmon init --help`)"
    )
    return 0
