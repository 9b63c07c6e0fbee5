"""Load a rules folder: every `*.yaml` / `*.yml` file under it, validated, compiled. Reads files.

A rules file holds `rules:` (a list of rules) and/or `sets:` (named word sets), e.g.

    sets:
      troops: [troops, soldiers, "special forces"]
    rules:
      - id: troop-dispatch
        name: Troops sent abroad
        query: $troops NEAR/6 (dispatch* OR deploy*)
        severity: high

Every fault of every file is collected and raised at once as `RuleErrors`, each located
`FILE:LINE:COL` with the line and a caret; a query's fault is placed at its column inside the YAML
line, block scalars (`>`, `|`) included. Nothing is skipped silently.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, get_args

import yaml

from monitor.errors import RuleError, RuleErrors, SourceLocation, did_you_mean, not_utf8
from monitor.model import Rule, Severity
from monitor.query.compiler import (
    MAX_SET_MEMBERS,
    CompiledSets,
    SetMemberError,
    check_set,
    compile_query,
    set_members_named,
)
from monitor.query.embed import TEXT_CHARS, Embedder, SemanticUnavailable, load_embedder
from monitor.query.examples import (
    MODE_HELP,
    MODES,
    example_problems,
    reference_problem,
    threshold_problem,
)
from monitor.query.lexer import QueryError
from monitor.query.ruleset import CompiledRule, RuleSet
from monitor.query.yamlsource import Source, pairs, text_of, texts_of
from monitor.yamlhint import QUERY_EXAMPLE, not_printable, unstorable_scalar, yaml_problem

RULE_KEYS = (
    "id",
    "name",
    "query",
    "mode",
    "like",
    "unlike",
    "threshold",
    "feeds",
    "notify",
    "severity",
    "tags",
    "enabled",
)
SEVERITIES: tuple[str, ...] = get_args(Severity)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_SET = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_BOOL = "tag:yaml.org,2002:bool"
_TRUE, _FALSE = ("true", "yes", "on", "y"), ("false", "no", "off", "n")
_NUMBER = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_STR_TAG = "tag:yaml.org,2002:str"
# An example file is an article or a few headlines; past this it is refused at its path.
MAX_EXAMPLE_BYTES = 64 * 2**10
# Loading takes about 2-3 s of CPU and 55 MB of memory at its peak per MB of YAML (every node is
# built): a file of a thousand rules is 70-100 KB. Past these caps a file is refused unparsed.
MAX_FILE_BYTES = 2 * 2**20
MAX_TOTAL_BYTES = 8 * 2**20
# Set members all the rules of a folder may name (each `$name` counting its set's members again).
# A set is compiled once a load (`CompiledSets`), but a rule naming it is still filed in the
# presearcher under each member, and explained member by member: 1,000 rules of one `$name` each,
# on a set of 20,000 words (161 KB of YAML), take 11 s and 400 MB to load (7 minutes and 5.8 GB
# when each `$name` compiled its set anew). At the cap, 0.3-0.5 s and about 200 MB.
MAX_SET_MEMBERS_NAMED = 2_000_000
# Examples of all the rules of a folder: each is a row of the matrix every item is compared
# with, embedded at every load (about 75 µs each). YAML aliases let 20 KB of rules give 100
# rules 1,000 examples each: 7 s to load, and 2.9 GB before each example file was read once.
MAX_EXAMPLES_TOTAL = 20_000
# libyaml's composer where PyYAML has it: the same nodes and marks (character indexes), about
# 20x less CPU; the example rules took 18 ms of every start in pure Python.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        # Composed again in pure Python only to report the fault in PyYAML's own words.
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    return node


class _Loader:
    """Collects the sets and rules of every file, with the nodes needed to locate errors."""

    def __init__(self, texts: Mapping[Path, str] | None = None) -> None:
        self.texts = texts or {}  # files read as these texts, not from the disk
        self.sources: list[Source] = []
        self.sets: dict[str, list[str]] = {}
        self.set_nodes: dict[str, tuple[Source, yaml.Node, list[yaml.Node]]] = {}
        self.rules: list[tuple[Source, Rule, yaml.Node | None]] = []
        self.ids: dict[str, SourceLocation] = {}
        self.total = 0  # bytes of every file read so far
        # the SHA-256 of every example file read, for the version (a whole file, where a rule
        # keeps only the start that is compared)
        self.example_files: list[bytes] = []
        # each example file read, by folder and name as written: its text, or None and why not
        self.examples_read: dict[tuple[str, str], tuple[str | None, str]] = {}
        self.examples_total = 0  # `like` and `unlike` examples of the rules kept so far
        # where each rule with examples says `like:`, to report a missing extra there
        self.like_keys: list[tuple[Source, str, int]] = []

    def file(self, path: Path) -> None:
        try:
            if path in self.texts:
                data = self.texts[path].encode("utf-8")
            else:
                with path.open("rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            self.unreadable(path, exc)
            return
        self.total += len(data)
        if len(data) > MAX_FILE_BYTES or self.total > MAX_TOTAL_BYTES:
            self.too_large(path, data)
            return
        try:
            # Universal newlines, as reading in text mode gives (the rules' version hashes text).
            text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError as exc:
            self.sources.append(src := Source(str(path), ""))
            src.errors.append(RuleError(*not_utf8(str(path), data, exc)))
            return
        self.sources.append(src := Source(str(path), text))
        try:
            root = _compose(text)
        except yaml.MarkedYAMLError as exc:
            problem, mark = yaml_problem(exc, text, QUERY_EXAMPLE)
            src.error(f"YAML syntax error: {problem}", mark.index if mark else 0)
            return
        except yaml.reader.ReaderError as exc:
            src.error(f"YAML error: {not_printable(exc)}", exc.position)
            return
        except yaml.YAMLError as exc:
            src.error(f"YAML error: {exc}", 0)
            return
        except RecursionError:  # PyYAML recurses once per level of nesting, without a limit
            src.error("YAML nested too deeply (hundreds of levels): not a rules file", 0)
            return
        if root is None:
            return
        if (bad := unstorable_scalar(text, root)) is not None:
            src.error(bad[1], bad[0].start_mark.index)
            return
        if not isinstance(root, yaml.MappingNode):
            # A list of rules without the key above it is the likely one.
            fix = (
                ": this file is a list; put `rules:` on a line above it, and the list under it"
                if isinstance(root, yaml.SequenceNode)
                else ""
            )
            src.error(
                f"a rules file must be a mapping with `rules:` and/or `sets:`{fix}",
                root.start_mark.index,
            )
            return
        for name, key, value in pairs(src, root):
            if name == "sets":
                self.sets_node(src, value)
            elif name == "rules":
                if isinstance(value, yaml.SequenceNode):
                    for node in value.value:
                        self.rule(src, node)
                elif not (isinstance(value, yaml.ScalarNode) and value.value == ""):
                    src.error(
                        "`rules:` must be a list of rules (each starting with `- id:`)",
                        value.start_mark.index,
                    )
            else:
                src.error(
                    f"unknown key {name!r}: a rules file has `rules:` and `sets:`",
                    key.start_mark.index,
                )

    def unreadable(self, path: Path, exc: Exception) -> None:
        self.sources.append(src := Source(str(path), ""))
        src.errors.append(RuleError(f"{path}: cannot read: {exc}"))

    def too_large(self, path: Path, data: bytes) -> None:
        """Refuse a file past the size caps, located at its first line (the rest is not read)."""
        first = data[:200].split(b"\n", 1)[0].decode("utf-8", "replace")
        self.sources.append(src := Source(str(path), first))
        if len(data) > MAX_FILE_BYTES:
            src.error(
                f"this rules file is larger than {MAX_FILE_BYTES // 2**20} MiB, the most one "
                "file may hold: split it into several files in the rules folder, and put long "
                "lists of words in sets",
                0,
            )
        else:
            src.error(
                f"the rules files read so far, this one included, hold more than "
                f"{MAX_TOTAL_BYTES // 2**20} MiB, the most a rules folder may hold: remove the "
                "files you do not use",
                0,
            )

    def sets_node(self, src: Source, node: yaml.Node) -> None:
        if not isinstance(node, yaml.MappingNode):
            src.error("`sets:` must map set names to lists of words", node.start_mark.index)
            return
        for name, key, value in pairs(src, node):
            if not _SET.match(name):
                src.error(
                    f"bad set name {name!r}: use letters, digits, _ and -", key.start_mark.index
                )
                continue
            if name in self.sets:
                other, first = self.set_nodes[name][0].name, self.set_nodes[name][1].start_mark
                src.error(
                    f"set ${name} is already defined ({other}:{first.line + 1})",
                    key.start_mark.index,
                )
                continue
            members = value.value if isinstance(value, yaml.SequenceNode) else [value]
            self.sets[name] = list(texts_of(src, value, f"set ${name}"))
            self.set_nodes[name] = (src, key, members)
            try:
                check_set(name, self.sets[name])
            except SetMemberError as exc:
                bad = members[exc.member] if 0 <= exc.member < len(members) else None
                if isinstance(bad, yaml.ScalarNode):
                    src.error(f"set ${name}: {exc.message}", src.value_index(bad, exc.offset))
                else:
                    src.error(exc.message, key.start_mark.index)

    def rule(self, src: Source, node: yaml.Node) -> None:
        if not isinstance(node, yaml.MappingNode):
            src.error(
                "each rule must be a mapping with at least `id` and `name`", node.start_mark.index
            )
            return
        fields: dict[str, object] = {}
        nodes: dict[str, yaml.Node] = {}
        keys: dict[str, int] = {}
        broken_examples = False  # an example already reported: say nothing more about them
        # Errors in a value are said once the rule's id is known ("rule 'x': ..."), as the
        # query's are; the id may come after the key in the file.
        deferred: list[tuple[str, int]] = []
        for name, key, value in pairs(src, node):
            if name not in RULE_KEYS:
                hint = did_you_mean([name], RULE_KEYS)  # `querry`, `notfy`: as config keys do
                src.error(
                    f"unknown rule key {name!r}{hint} (keys: {', '.join(RULE_KEYS)})",
                    key.start_mark.index,
                )
                continue
            nodes[name] = value
            keys[name] = key.start_mark.index
            at = value.start_mark.index
            if name in ("like", "unlike"):
                before = len(deferred)
                fields[name] = self.examples(src, value, name, deferred)
                broken_examples = broken_examples or len(deferred) > before
            elif name == "mode":
                mode = text_of(src, value, name)
                if mode is not None and mode not in MODES:
                    deferred.append((f"mode must be one of: {MODE_HELP}; not {mode!r}", at))
                    broken_examples = True
                elif mode is not None:
                    fields[name] = mode
            elif name == "threshold":
                number: object = value.value if isinstance(value, yaml.ScalarNode) else "a list"
                if isinstance(value, yaml.ScalarNode) and (
                    value.tag in _NUMBER or (not value.style and value.tag == _STR_TAG)
                ):
                    # YAML numbers Python cannot read (`.inf`, `0x1`, `1:30`, `!!float x`) are
                    # reported as the text written. A plain `1e-3` is a string to YAML 1.1 (its
                    # floats need a dot) and a number to whoever wrote it: read as one.
                    with suppress(ValueError):
                        number = float(value.value)
                problem = threshold_problem(number)
                if problem is None:
                    fields[name] = number
                else:
                    deferred.append((problem, at))
            elif name in ("feeds", "notify", "tags"):
                fields[name] = texts_of(src, value, name)
            elif name == "enabled":
                # `!!bool maybe` is tagged a boolean but is neither: it read as false
                word = value.value.lower() if isinstance(value, yaml.ScalarNode) else ""
                if value.tag == _BOOL and word in _TRUE + _FALSE:
                    fields[name] = word in _TRUE
                else:
                    deferred.append(("enabled must be true or false", at))
            elif name == "severity":
                sev = text_of(src, value, name)
                if sev is not None and sev not in SEVERITIES:
                    deferred.append(
                        (f"severity must be one of {', '.join(SEVERITIES)}, not {sev!r}", at)
                    )
                elif sev is not None:
                    fields[name] = sev
            elif (
                name == "query"
                and isinstance(value, yaml.ScalarNode)
                and value.tag == "tag:yaml.org,2002:null"
            ):
                fields[name] = ""
            else:
                got = text_of(src, value, name)
                if got is not None:
                    fields[name] = got
        rid = fields.get("id")
        where = node.start_mark.index
        named = f"rule {rid!r}: " if isinstance(rid, str) and _ID.match(rid) else ""
        for message, at in deferred:
            src.error(named + message, at)
        if "id" not in nodes:
            src.error("this rule has no `id`", where)
            return
        if not isinstance(rid, str) or not _ID.match(rid):
            if isinstance(rid, str):
                src.error(
                    f"bad rule id {rid!r}: use letters, digits, '.', '_' and '-'",
                    nodes["id"].start_mark.index,
                )
            return
        if rid in self.ids:
            first = self.ids[rid]
            src.error(
                f"duplicate rule id {rid!r} (first defined at {first.file}:{first.line})",
                nodes["id"].start_mark.index,
            )
            return
        self.ids[rid] = src.at(where)
        if "name" not in nodes:
            src.error(f"rule {rid!r} has no `name`", where)
            return
        if "name" not in fields:  # given, but not text (`name:` left empty): already reported
            return
        rule = Rule(file=src.name, line=src.at(where).line, **fields)  # type: ignore[arg-type]
        problems = [] if broken_examples else example_problems(rule)
        if "threshold" in nodes and "like" not in nodes:
            problems.append(("threshold", "a threshold needs `like:` examples to compare with"))
        for field, message in problems:
            src.error(f"rule {rid!r}: {message}", keys.get(field, where))
        if problems or broken_examples:
            return
        self.examples_total += len(rule.like) + len(rule.unlike)
        if self.examples_total > MAX_EXAMPLES_TOTAL:
            src.error(
                f"rule {rid!r}: the rules up to this one have {self.examples_total:,} examples "
                f"(like and unlike), more than the {MAX_EXAMPLES_TOTAL:,} a rules folder may: "
                "keep the examples that tell each subject apart",
                keys.get("like", where),
            )
            return
        if "like" in keys:
            self.like_keys.append((src, rid, keys["like"]))
        self.rules.append((src, rule, nodes.get("query")))

    def examples(
        self, src: Source, node: yaml.Node, what: str, deferred: list[tuple[str, int]]
    ) -> tuple[str, ...]:
        """The texts of `like:` or `unlike:`: each entry is the text itself or `file: PATH`, a
        text file relative to this rules file's folder (read now, at most 64 KiB)."""
        entries = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if isinstance(node, yaml.SequenceNode) and not entries:
            deferred.append((f"`{what}:` is empty: give example texts or `file: PATH`", 0))
        out = []
        for entry in entries:
            at = entry.start_mark.index
            if isinstance(entry, yaml.ScalarNode) and entry.tag != "tag:yaml.org,2002:null":
                if (problem := reference_problem(str(entry.value))) is not None:
                    deferred.append((problem, at))
                else:
                    out.append(str(entry.value))
                continue
            path_node = None
            if isinstance(entry, yaml.MappingNode) and len(entry.value) == 1:
                key, path_node = entry.value[0]
                if not (isinstance(key, yaml.ScalarNode) and key.value == "file"):
                    path_node = None
            if not isinstance(path_node, yaml.ScalarNode) or not path_node.value:
                deferred.append(
                    (f"each of {what} must be an example's text, or `file: PATH` (a text file)", at)
                )
                continue
            text = self.example_file(src, str(path_node.value), path_node, deferred)
            if text is not None:
                out.append(text)
        if isinstance(node, yaml.SequenceNode) and not entries:
            deferred[-1] = (deferred[-1][0], node.start_mark.index)
        return tuple(out)

    def example_file(
        self, src: Source, name: str, node: yaml.Node, deferred: list[tuple[str, int]]
    ) -> str | None:
        # Each file is read once a load, however many rules name it: YAML aliases let 16 KB of
        # rules name one 64 KiB file 10,000 times, read into 10,000 copies (2.9 GB).
        key = (str(Path(src.name).parent), name)
        got = self.examples_read.get(key)
        if got is None:
            text, problem = _example_text(name, Path(key[0]) / name)
            if text is not None:
                self.example_files.append(hashlib.sha256(text.encode()).digest())
                # Only the start is ever compared (embed.TEXT_CHARS): 20,000 files of 64 KiB,
                # what a folder may name, held 1.3 GB for as long as the rules ran.
                text = text[:TEXT_CHARS]
            got = self.examples_read[key] = (text, problem)
        text, problem = got
        if text is None:
            deferred.append((problem, node.start_mark.index))
        return text

    def compile(self) -> list[CompiledRule]:
        out = []
        named = 0  # set members named by the rules compiled so far
        shared = CompiledSets(self.sets)  # each set compiled once, for every rule naming it
        for src, rule, qnode in self.rules:
            try:
                more = set_members_named(rule.query, self.sets)
                # (one query past its own cap is told so by compile_query, at the $name)
                if more <= MAX_SET_MEMBERS and named + more > MAX_SET_MEMBERS_NAMED:
                    raise _too_many_named(named + more)
                matcher = compile_query(rule.query, shared)
                named += more
            except QueryError as exc:
                if isinstance(qnode, yaml.ScalarNode):
                    src.error(
                        f"rule {rule.id!r}: {exc.message}", src.value_index(qnode, exc.offset)
                    )
                else:
                    src.errors.append(RuleError(f"rule {rule.id!r}: {exc.message}"))
                continue
            out.append(CompiledRule.of(rule, matcher))
        return out


def _too_many_named(named: int) -> QueryError:
    return QueryError(
        f"the rules up to this one name {named:,} set members in all (each $name counts its "
        f"set's members again), more than the {MAX_SET_MEMBERS_NAMED:,} a rules folder may: "
        "name large sets in fewer rules, or make them smaller",
        0,
    )


def _example_text(name: str, path: Path) -> tuple[str | None, str]:
    """An example file's text, or None and why it cannot be used (`name` as the rule wrote it)."""
    try:
        data = _read_example(path)
    except FileNotFoundError:
        return None, f"example file {name!r} not found (looked for {path})"
    except OSError as exc:
        return None, f"example file {name!r} cannot be read: {exc}"
    except ValueError:  # a NUL in the name, which no path can hold
        return None, f"example file {name!r} cannot be read: its name holds a NUL"
    if data is None:
        return None, (
            f"example file {name!r} cannot be read: it is not a regular file (a folder, a pipe or"
            " a device)"
        )
    if len(data) > MAX_EXAMPLE_BYTES:
        return None, (
            f"example file {name!r} is larger than {MAX_EXAMPLE_BYTES // 2**10} KiB: an example"
            " is an article or a few lines (only its start is compared)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"example file {name!r} is not UTF-8 text"
    if not text.strip():
        return None, f"example file {name!r} is empty"
    return text, ""


def _read_example(path: Path) -> bytes | None:
    """The start of an example file (a byte past the cap, to tell it is too long), or None when
    it is not a regular file. Opened without blocking: a named pipe or a terminal would wait for
    a writer for ever, and with it `rules check` or the daemon's reload."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    # Checked before any file object owns the descriptor: os.fdopen of a folder raised
    # "Is a directory: 15" (the descriptor's number) and left it open, one more each reload.
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        left = MAX_EXAMPLE_BYTES + 1
        while left > 0 and (chunk := os.read(fd, left)):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _place(e: RuleError) -> tuple[int, int]:
    return (e.location.line, e.location.column) if e.location else (0, 0)


# Files and folders a rules folder may hold, counted as they are listed (hidden ones too): far
# more than any rules folder with its example files (at most 20,000 examples a folder), far fewer
# than a home folder or `/`, which a mistaken `--rules /` walked whole (10-25 s and 600 MB on a
# small container) to report every YAML file on the machine in 40,000 lines. It is refused now
# after listing 50,000 entries: 0.06 s.
MAX_FOLDER_ENTRIES = 50_000


def rule_files(root: Path, named_by: str | None = None) -> list[Path]:
    """Every rules file under a folder (recursively, sorted), or the file itself. Raises
    RuleErrors, before listing any more, when the folder holds more than MAX_FOLDER_ENTRIES files
    and folders: not a rules folder (`named_by`: what named it, for the message)."""
    if root.is_file():
        return [root]
    # Hidden paths are skipped: a Kubernetes ConfigMap mount keeps a second copy of every file in
    # a `..2026_…` folder, which would load each rule twice. Symlinked folders are not entered
    # (they may lead anywhere, or round in a loop); symlinked files are read (a ConfigMap's are).
    found = []
    seen = 0
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            entries = os.scandir(folder)
        except OSError:  # an unreadable or vanished subfolder is skipped, as os.walk did
            continue
        with entries:
            for entry in entries:
                seen += 1
                if seen > MAX_FOLDER_ENTRIES:
                    raise _too_many_entries(root, named_by)
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(Path(entry.path))
                    elif name.endswith((".yaml", ".yml")) and entry.is_file():
                        found.append(Path(entry.path))
                except OSError:
                    continue
    return sorted(found)


def _too_many_entries(root: Path, named_by: str | None) -> RuleErrors:
    where = f" ({named_by})" if named_by else ""
    return RuleErrors(
        [
            RuleError(
                f"{root}: more than {MAX_FOLDER_ENTRIES:,} files and folders under it, so not "
                f"a rules folder{where}: name the folder that holds your *.yaml rules files "
                "(every one under it is read, subfolders included)"
            )
        ]
    )


def _embedder_for(loader: _Loader, embedder: Embedder | None) -> Embedder | None:
    """The model, when a rule has examples; without the extra, an error at each `like:`."""
    if embedder is not None or not loader.like_keys:
        return embedder
    try:
        return load_embedder()
    except SemanticUnavailable as exc:
        for src, rid, at in loader.like_keys:
            src.error(f"rule {rid!r}: {exc}", at)
        return None


@contextmanager
def _collections_paused() -> Iterator[None]:
    """No cyclic garbage collection while rules are read and compiled.

    Loading allocates about a hundred objects a rule, nearly all kept: the collector ran again
    and again over a heap that only grew, a fifth to a third of a 10,000-rule reload. The few
    cycles made meanwhile (YAML loaders) wait for the next collection after it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_rules(
    path: str | Path,
    embedder: Embedder | None = None,
    *,
    named_by: str | None = None,
    texts: Mapping[Path, str] | None = None,
) -> RuleSet:
    """Load, validate and compile a rules folder. Raises RuleErrors listing every fault.

    Rules with examples are compared with `embedder`'s vectors, by default the packaged model's.
    `named_by`: what named the folder (`Config.rules_named_by`), for a missing one. `texts`: files
    of the folder read as these texts instead (an edit checked before it is written).
    """
    root = Path(path)
    if not root.exists():
        where = named_by or "set --rules or NEWSMON_RULES"
        if not root.is_absolute():  # the config's `rules: rules` is not read beside the config
            where += f"; relative to {Path.cwd()}, where newsmon runs"
        raise RuleErrors([RuleError(f"{root}: no such rules folder ({where})")])
    files = rule_files(root, named_by)
    if not files:
        raise RuleErrors([RuleError(f"{root}: no rules files (*.yaml, *.yml) in this folder")])
    with _collections_paused():
        return _load(root, files, embedder, texts)


def _load(
    root: Path, files: list[Path], embedder: Embedder | None, texts: Mapping[Path, str] | None
) -> RuleSet:
    loader = _Loader(texts)
    if texts and not set(texts) <= set(files):  # else the edit would go unchecked
        raise ValueError(f"not files of {root}: {sorted(set(texts) - set(files))}")
    digest = hashlib.sha256()
    for f in files:
        loader.file(f)
        digest.update(str(f.relative_to(root) if f != root else f.name).encode() + b"\0")
        digest.update(loader.sources[-1].text.encode() + b"\0")
    compiled = loader.compile()
    embedder = _embedder_for(loader, embedder)
    for sha in loader.example_files:
        digest.update(sha)
    errors = []
    dropped = 0
    for s in loader.sources:
        errors += sorted(s.errors, key=_place)
        if (more := s.dropped_error()) is not None:
            errors.append(more)
            dropped += s.dropped - 1  # the line that counts them stands for one
    if not errors and not loader.rules:
        errors.append(RuleError(f"{root}: no rules found (a file needs a `rules:` list)"))
    if errors:
        raise RuleErrors(errors, len(errors) + dropped)
    return RuleSet(compiled, digest.hexdigest()[:12], embedder, loader.sets)
