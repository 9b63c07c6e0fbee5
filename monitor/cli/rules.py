"""`newsmon rules check` and `newsmon rules test`: validate the rules, try them on a text or a feed.
Does I/O (reads rule files, the text or feed, writes the matches).

`--text FILE`: the file is one item. When its first line is short (at most 150 characters) and
more lines follow, that line is the title and the rest the content; otherwise the whole file is the
content and the title is the file name. `-` reads standard input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.cli.common import (
    MIB,
    add_config_args,
    load_config_from_args,
    no_such_rules,
    read_capped,
)
from monitor.cli.render import HeldRow, print_held_back, print_json_lines, print_matches
from monitor.config import Config
from monitor.errors import (
    ConfigError,
    FeedError,
    LocatedError,
    NewsmonError,
    RuleErrors,
    not_utf8,
)
from monitor.model import Item, Match
from monitor.plural import counted
from monitor.process.bootstrap import (
    make_guard,
    named_feed_policy,
    rule_problems,
    startup_secret_problems,
)
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet

TITLE_MAX = 150

CHECK_EPILOG = """\
examples:
  newsmon rules check --rules rules/
  newsmon rules check --config newsmon.yaml   the config's rules folder, and what `run` checks:
                                              every notify names a destination, every feeds
                                              entry a feed id or tag
  newsmon rules check --require-secrets       where `run` will run: a destination URL or secret,
                                              or a console credential, it cannot read is an
                                              error, not a warning
exit codes: 0 every rule is valid, 2 errors (each as FILE:LINE:COL with a caret)
A destination's URL or secret that `run` could not read here (an unset secret_env, a missing
url_file), or with ui.enabled a console password or token, is a warning on stderr: CI rarely
holds the production secrets.
"""

TEST_EPILOG = """\
examples:
  newsmon rules test --text seeds/article.txt
  newsmon rules test --rule troop-dispatch --feed seeds/article.rss --json
exit codes: 0 something matched, 1 nothing matched, 2 an error
A rule whose positive part matched but a NOT clause vetoed it is listed after the matches as
"held back", with the exclusion and the words that tripped it (--json: "kind": "held_back").
--text FILE is one item: a short first line (<= 150 chars) followed by more lines is its title,
otherwise the whole file is its content. --text - reads standard input.
"""


TEXT_MAX_BYTES = 16 * MIB  # one item: far more than any article


def text_item(path: str) -> Item:
    """One item from a text file (see the module docstring for title and content)."""
    # Bytes, decoded here: standard input's own decoding lets bytes that are not UTF-8 through
    # as lone surrogates (a C locale's surrogateescape), and the semantic stage's tokenizer
    # ended in a TypeError traceback on them.
    if not path.strip():  # `--text "$FILE"` with FILE unset
        raise NewsmonError("--text is empty: name a text file, or - for standard input")
    stdin = getattr(sys.stdin, "buffer", None)
    data = b""
    try:
        if path != "-":
            data = read_capped(path, TEXT_MAX_BYTES, "a text")
        elif stdin is not None:
            data = stdin.read(TEXT_MAX_BYTES + 1)
            if len(data) > TEXT_MAX_BYTES:
                raise NewsmonError(
                    f"stdin: larger than {TEXT_MAX_BYTES // MIB} MiB, more than a text takes"
                )
        raw = sys.stdin.read() if path == "-" and stdin is None else data.decode("utf-8")
    except OSError as exc:
        raise NewsmonError(f"{path}: cannot read the text: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise LocatedError(*not_utf8("stdin" if path == "-" else path, data, exc)) from exc
    first, _, rest = raw.strip().partition("\n")
    if rest.strip() and len(first) <= TITLE_MAX:
        title, content = first.strip(), rest.strip()
    else:
        title, content = ("stdin" if path == "-" else Path(path).name), raw.strip()
    # A path's bytes that are not UTF-8 are lone surrogates here, which a strict UTF-8 stdout
    # (`--json`) and the tokenizer refuse: they become U+FFFD in the item's key and title.
    return Item(feed_id="text", key=_shown(path), title=_shown(title), content=content)


def _shown(text: str) -> str:
    return os.fsencode(text).decode("utf-8", "replace")


def feed_matches(
    source: str, ruleset: RuleSet, config: Config, other_tags: Sequence[str] = ()
) -> tuple[list[tuple[Item, Match]], list[Item], tuple[str, ...], bool]:
    """The matches in a local feed file or a URL (polled once, without state), its items, the
    tags it was matched with, and whether the config lists it (with its own tags; any other
    feed has `other_tags`); an error names
    the file or URL. A URL is fetched as the daemon would fetch it: the config's
    `allow_networks`, body and item limits (a feed on the team's own network that `newsmon run`
    may poll is one a person may try a rule on)."""
    from monitor.cli.oneshot import named_sources
    from monitor.net.urls import hide_url_secrets, shown_url
    from monitor.pipeline.source import poll_one

    policy = named_feed_policy(config)
    try:
        (named,) = named_sources(config, [source], other_tags)
        report = poll_one(named, ruleset, guard=make_guard(config), policy=policy, keep_items=True)
    except FeedError as exc:
        shown = shown_url(source)  # a URL's password or API key is not printed
        message = hide_url_secrets(str(exc), source)
        if message.startswith(shown) or not source.strip():  # it names the source, or none
            raise FeedError(exc.kind, message) from exc
        raise FeedError(exc.kind, f"{shown}: {message}") from exc
    matches = [(i, m) for i, found in report.matched for m in found]
    configured = named.feed_id in {spec.id for spec in config.feed_specs()}
    return matches, list(report.items), (*named.tags, named.feed_id), configured


def held_back(
    ruleset: RuleSet,
    items: list[Item],
    found: list[tuple[Item, Match]],
    feed_tags: Sequence[str] = (),
) -> list[HeldRow]:
    """Each (item, rule) where the rule did not fire but its positive part matched and an
    exclusion vetoed it, item by item in feed order, rules in id order."""
    fired: dict[int, set[str]] = {}
    for item, match in found:
        fired.setdefault(id(item), set()).add(match.rule.id)
    return [
        (item, rule, why)
        for item in items
        for rule, why in ruleset.held_back(item, fired.get(id(item), set()), feed_tags)
    ]


def _load(args: argparse.Namespace, config: Config) -> tuple[RuleSet, str, list[ConfigError]]:
    """The rules (`--rules`, else the config's `rules:` folder, which $NEWSMON_RULES sets), their
    folder, and what `newsmon run` would refuse in them given the config (when there is one)."""
    folder = args.rules or config.rules
    ruleset = load_rules(folder, named_by=config.rules_named_by(args.rules))
    problems = rule_problems(config, ruleset) if config.path is not None else []
    return ruleset, folder, problems


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config_from_args(args)
    # Every destination's URL and secrets, and the console's credentials, as `run` reads them
    # before it starts.
    unreadable = startup_secret_problems(config)
    if unreadable and args.require_secrets:
        for line in unreadable:
            print(line, file=sys.stderr)
        print(
            f"{counted(len(unreadable), 'error')}: `newsmon run` would refuse to start with this"
            " environment",
            file=sys.stderr,
        )
    try:
        ruleset, folder, problems = _load(args, config)
    except RuleErrors as exc:
        folder = args.rules or "the rules folder"
        for err in exc.errors:
            print(err, file=sys.stderr)
        print(f"{counted(exc.count, 'error')} in {folder}", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{counted(len(problems), 'error')} in {folder} against the config", file=sys.stderr)
        return 2
    if unreadable and args.require_secrets:
        return 2
    enabled = sum(r.enabled for r in ruleset.rules.values())
    print(
        f"ok: {counted(len(ruleset.rules), 'rule')} ({enabled} enabled), version {ruleset.version}"
    )
    if unreadable:
        sys.stdout.flush()
        for line in unreadable:
            print(f"warning: {line}", file=sys.stderr)
        print(
            "warning: `newsmon run` would refuse to start with this environment"
            " (--require-secrets: an error)",
            file=sys.stderr,
        )
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    config = load_config_from_args(args)
    ruleset, folder, problems = _load(args, config)
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    if args.rule:
        missing = [r for r in args.rule if r not in ruleset.rules]
        if missing:
            raise no_such_rules(missing, list(ruleset.rules), folder)
        ruleset = ruleset.select(args.rule)
    # A rule that watches only some feeds is tried on a text, and on a feed the config does not
    # list, as if they were among them: it would otherwise never fire here, and say nothing.
    scopes = sorted({name for rule in ruleset.rules.values() for name in rule.feeds})
    if args.text is not None:  # `--text ""` too: not the --feed branch, whose argument is None
        item = text_item(args.text)
        tags: Sequence[str] = scopes
        items, found = [item], [(item, m) for m in ruleset.match(item, tags)]
        configured = False
    else:
        found, items, tags, configured = feed_matches(args.feed, ruleset, config, scopes)
    held = held_back(ruleset, items, found, tags)
    if args.json:
        print_json_lines(found, sys.stdout, held)
    else:
        print_matches(found, sys.stdout)
        if not found:
            print(f"no rule matched ({counted(len(items), 'item')})")
        sys.stdout.flush()
        print_held_back(held, sys.stdout)
    sys.stdout.flush()
    scoped = [r for r in ruleset.rules.values() if r.enabled and r.feeds]
    if scoped and not configured:
        named = ", ".join(f"{r.id} (feeds: {', '.join(r.feeds)})" for r in scoped)
        print(
            f"note: tried on every item here, though they watch only some feeds: {named};"
            " `newsmon run` applies each to its feeds only",
            file=sys.stderr,
        )
    return 0 if found else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    rules = subparsers.add_parser(
        "rules",
        help="check the watch rules, or try them on a text or feed",
        formatter_class=fmt,
        epilog="examples:\n  newsmon rules check\n  newsmon rules test --text seeds/article.txt\n",
    )
    sub = rules.add_subparsers(title="commands", metavar="COMMAND")

    def usage(_args: argparse.Namespace) -> int:
        rules.print_help(sys.stderr)
        return 2

    rules.set_defaults(func=usage)

    def rules_dir(p: argparse.ArgumentParser) -> None:
        add_config_args(p)

    check = sub.add_parser(
        "check", help="validate every rules file", epilog=CHECK_EPILOG, formatter_class=fmt
    )
    rules_dir(check)
    check.add_argument(
        "--require-secrets",
        action="store_true",
        help="a destination URL or secret, or a console credential, `run` could not read here"
        " is an error (exit 2)",
    )
    check.set_defaults(func=cmd_check)

    test = sub.add_parser(
        "test",
        help="print the rules that match a text or feed, with why",
        epilog=TEST_EPILOG,
        formatter_class=fmt,
    )
    rules_dir(test)
    test.add_argument("--rule", metavar="ID", action="append", help="only this rule (repeatable)")
    src = test.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", metavar="FILE", help="a text file, one item (- for stdin)")
    src.add_argument("--feed", metavar="PATH_OR_URL", help="an RSS/Atom/JSON feed file or URL")
    test.add_argument("--json", action="store_true", help="one JSON object a line")
    test.set_defaults(func=cmd_test)

    from monitor.cli import backtest, tune

    backtest.add_parser(sub)
    tune.add_parser(sub)
