"""`newsmon feedback`: label what a rule caught (or should have), and share labelled sets. Does
I/O (config, store, files, stdout).

    newsmon feedback ALERT_OR_ITEM --relevant|--irrelevant [--rule ID] [--note TEXT] [--who NAME]
    newsmon feedback export [FILE]      every label (history included) as JSON lines
    newsmon feedback import FILE        add labels from JSON lines (`-`: stdin)

ALERT_OR_ITEM is an alert id (`msg_...`, the webhook's `id`, the Slack message's footer) or
`FEED/ITEM_KEY`. A label never replaces an older one: the newest per item and rule is in force
(`newsmon rules backtest --labels`), the rest is history. Exit 2 for an unknown id.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.cli.common import MIB, add_config_args, no_such_rules, read_capped, store_exists
from monitor.clock import Clock, SystemClock
from monitor.errors import ConfigError, NewsmonError, close_match, not_utf8
from monitor.plural import counted

LABELS_MAX_BYTES = 256 * MIB  # about a million labels

if TYPE_CHECKING:
    from monitor.model import Label
    from monitor.store.roles import Labels

EPILOG = """\
examples:
  newsmon feedback msg_3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3 --relevant
  newsmon feedback msg_3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3 --irrelevant --note "a sports story"
  newsmon feedback reuters-world/g:5e0c1a2b3c4d5e6f7a8b --relevant --rule troop-dispatch
  newsmon feedback export labels.jsonl
  newsmon feedback import labels.jsonl

ALERT_OR_ITEM: an alert id (the webhook's "id", the Slack message's footer, `newsmon deliveries
list`) or FEED/ITEM_KEY (the ITEM of `newsmon stories list --story KEY`; `item.feed` and
`item.item_key` in the --json of `check`, `rules test` and `rules backtest`). Without --rule, an
alert's label is for each rule it carried, an item's for whichever rule matched it. The newest
label per item and rule is in force; older ones stay as history (export lists them all).
export [FILE] writes every label, oldest first, as JSON lines (no FILE or `-`: stdout); import
FILE adds a file's labels (`-`: stdin) and skips those already there, so importing a set twice
is harmless; a file with a mistake names its line and imports nothing.
exit codes: 0 labelled, exported or imported; 2 an unknown alert or item, a malformed id or file
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "feedback",
        help="label an alert or item relevant or not; export and import labels",
        description="Label what a rule caught, or should have caught, for precision and recall.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", metavar="ALERT_OR_ITEM", help="msg_..., FEED/ITEM_KEY, `export` or `import`"
    )
    parser.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="for export (default stdout) and import (`-`: stdin)",
    )
    verdict = parser.add_mutually_exclusive_group()
    verdict.add_argument("--relevant", action="store_true", help="the item is what the rule is for")
    verdict.add_argument("--irrelevant", action="store_true", help="the item is not")
    parser.add_argument("--rule", metavar="ID", help="the rule the verdict is about")
    parser.add_argument("--note", default="", metavar="TEXT", help="why, for whoever reads it")
    parser.add_argument(
        "--who", metavar="NAME", help="who labels (default: $NEWSMON_USER, else the login name)"
    )
    add_config_args(parser)  # --rules: a folder being tried (rules backtest --rules) has ids too
    parser.set_defaults(func=cmd_feedback)


def _who(args: argparse.Namespace) -> str:
    if args.who:
        return str(args.who)
    try:
        name = os.environ.get("NEWSMON_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"
    # From the environment, bytes that are not UTF-8 are lone surrogates, which the store
    # cannot write (a UnicodeEncodeError traceback): they become U+FFFD.
    return os.fsencode(name).decode("utf-8", "replace")


def cmd_feedback(args: argparse.Namespace, clock: Clock | None = None) -> int:
    from monitor.config import load_config
    from monitor.store import open_store

    if args.target in ("export", "import"):
        if args.relevant or args.irrelevant or args.rule or args.note:
            raise ConfigError(f"feedback {args.target} takes a FILE only, not a verdict")
    else:
        if args.file is not None:
            raise ConfigError(f"feedback {args.target}: unexpected argument {args.file!r}")
        if not (args.relevant or args.irrelevant):
            raise ConfigError(f"feedback {args.target}: say --relevant or --irrelevant")
    if args.target == "import" and not args.file:
        raise ConfigError("feedback import: name the FILE to read (`-` reads stdin)")
    config = load_config(args.config)
    if args.target != "import" and not store_exists(config):  # a read must not create the store
        if args.target == "export":
            return _export([], args.file)
        raise ConfigError(
            f"no store at {config.database_url} yet, so no alert or item to label: "
            "`newsmon run` or `newsmon check --deliver` creates it"
        )
    folder = args.rules or config.rules
    store = open_store(config.database_url, timeout=config.database_timeout)
    try:
        if args.target == "export":
            return _export(store.list_labels(), args.file)
        if args.target == "import":
            return _import(store, args.file, folder)
        from monitor.feedback.record import UnknownRule, record_label

        try:
            labels = record_label(
                store,
                args.target,
                relevant=bool(args.relevant),
                rule=args.rule,
                note=args.note,
                who=_who(args),
                now=(clock or SystemClock()).now(),
                known_rules=_rule_ids(folder) if args.rule else None,
            )
        except UnknownRule as e:
            raise no_such_rules([e.rule], e.known, folder) from None
    finally:
        store.close()
    verdict = "relevant" if labels[0].relevant else "irrelevant"
    for label in labels:
        rule = f"rule {label.rule}" if label.rule else "any rule"
        print(f"labelled {label.feed_id}/{label.item_key} {verdict} for {rule}")
    return 0


def _rule_ids(folder: str) -> set[str] | None:
    """The rule ids of the rules folder, or None when it does not load (a label is still
    worth keeping then: the folder is checked by `rules check`, not here)."""
    from monitor.query.rulefiles import load_rules

    try:
        return set(load_rules(folder).rules)
    except (NewsmonError, OSError):
        return None


def _export(labels: list[Label], file: str | None) -> int:
    from monitor.feedback.labels import to_json

    lines = "".join(json.dumps(to_json(x), ensure_ascii=False) + "\n" for x in labels)
    if file in (None, "-"):
        sys.stdout.write(lines)
    else:
        try:
            Path(file).write_text(lines, encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot write {file}: {e.strerror or e}") from e
    print(f"exported {counted(len(labels), 'label')}", file=sys.stderr)
    return 0


def _import(store: Labels, file: str, folder: str) -> int:
    from monitor.feedback.labels import from_json_lines

    stdin = getattr(sys.stdin, "buffer", None)
    if file == "-" and stdin is None:  # a text stream put in its place (tests)
        labels = from_json_lines(sys.stdin, "stdin")
    else:
        name = "stdin" if file == "-" else file
        try:
            if stdin is not None and file == "-":
                data = stdin.read(LABELS_MAX_BYTES + 1)
            else:
                data = read_capped(file, LABELS_MAX_BYTES, "a labels file")
        except OSError as e:
            raise ConfigError(f"cannot read {file}: {e.strerror or e}") from e
        if len(data) > LABELS_MAX_BYTES:
            raise ConfigError(f"stdin: larger than {LABELS_MAX_BYTES // MIB} MiB of labels")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(*not_utf8(name, data, e)) from e
        labels = from_json_lines(text.splitlines(), name)
    added = store.add_labels(labels)
    print(
        f"imported {counted(added, 'new label')} ({len(labels) - added} already there)",
        file=sys.stderr,
    )
    _note_unknown_rules(labels, folder)
    return 0


def _note_unknown_rules(labels: list[Label], folder: str) -> None:
    """Name the rules labels were imported for that the folder does not have. They are kept (a
    shared set may carry a team's other rules), but no score reads them until such a rule
    exists, and a typo in a hand-written file would go unseen: `feedback --rule` refuses it."""
    known = _rule_ids(folder)
    if not known:
        return
    counts: dict[str, int] = {}
    for label in labels:
        if label.rule and label.rule not in known:
            counts[label.rule] = counts.get(label.rule, 0) + 1
    if not counts:
        return
    shown = []
    for rule, n in sorted(counts.items())[:10]:
        close = close_match(rule, known)
        hint = f" (did you mean {close!r}?)" if close else ""
        shown.append(f"{rule!r} ({n}){hint}")
    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
    print(
        f"note: {counted(sum(counts.values()), 'label is', 'labels are')} for rules not in "
        f"{folder}: "
        f"{', '.join(shown)}{more}; `rules backtest --labels` and `rules tune` read none of them",
        file=sys.stderr,
    )
