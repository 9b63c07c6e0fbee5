"""A YAML syntax error in PyYAML's words, placed where the writer can fix it, with what to do for
the faults a value written plainly runs into. Pure.

A query often starts with a phrase (`query: "special forces" NEAR/5 troops`) or a prefix
(`*ware`), and YAML reads a value that starts with a quote as a string ending at its closing quote,
and one that starts with `*` as an alias; PyYAML then says only "expected <block end>, but found
'<scalar>'" or "found undefined alias". An unclosed quote or bracket is reported at the end of
the file, far from where it was opened.
"""

from __future__ import annotations

import yaml

from monitor.controls import unstorable_char

# A query of the rules' examples, written as the hint says.
QUERY_EXAMPLE = """'"special forces" NEAR/5 troops'"""


def yaml_problem(
    exc: yaml.MarkedYAMLError, text: str, example: str = ""
) -> tuple[str, yaml.Mark | None]:
    """What went wrong, and where (None: nowhere known); `example` shows a value so quoted."""
    quote_it = (
        "put the whole value in single quotes, doubling any ' inside"
        + (f" ({example})" if example else "")
        + ", or write it on the next line after `>-`"
    )
    problem = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    context = exc.context or ""
    at_end = "end of stream" in problem or "<stream end>" in problem
    if at_end and exc.context_mark is not None and exc.problem_mark is not None:
        # Reported at the end of the file; the fault is where the quote or bracket was opened.
        opener = text[exc.context_mark.index : exc.context_mark.index + 1]
        if "quoted scalar" in context and opener in ("'", '"'):
            return f"this {opener} is never closed: close it, or {quote_it}", exc.context_mark
        if "flow" in context and opener in ("[", "{"):
            closer = "]" if opener == "[" else "}"
            return f"this {opener} is never closed: add {closer}", exc.context_mark
    if at_end and "flow node" in context and exc.problem_mark is not None:
        # `rules: [` and nothing after it: PyYAML marks the end of the file, not the bracket.
        body = text.rstrip()
        if body[-1:] in ("[", "{"):
            at = len(body) - 1
            row, col = body.count("\n"), at - (body.rfind("\n") + 1)
            where = yaml.Mark(exc.problem_mark.name, at, row, col, None, 0)
            closer = "]" if body[-1] == "[" else "}"
            return f"this {body[-1]} is never closed: add {closer}", where
    if problem.startswith("expected <block end>, but found") and mark is not None:
        line = text[: mark.index].rsplit("\n", 1)[-1]
        value = line.split(": ", 1)[1] if ": " in line else line.lstrip(" -")
        if value.lstrip()[:1] in ("'", '"'):
            return (
                f"{problem}: a value that starts with a quote ends at its closing quote, and more"
                f" follows it here; {quote_it}"
            ), mark
    if problem in (
        "expected <block end>, but found '<block mapping start>'",
        "expected <block end>, but found '?'",
    ):
        return (
            f"{problem}: this line is indented unlike the keys above it; line the keys of one"
            " mapping up under each other (the keys of a list item under the first one, after"
            " `- `)",
            mark,
        )
    if problem.startswith("found undefined alias"):
        return f"{problem}: a value that starts with * is a YAML alias; {quote_it}", mark
    if problem.startswith("found character '\\t'"):
        return f"{problem}: YAML indents with spaces; replace the tab with spaces", mark
    if "that cannot start any token" in problem:
        return f"{problem}: {quote_it}", mark
    if problem == "mapping values are not allowed here" and mark is not None:
        before = text[: mark.index].rsplit("\n", 1)[-1]
        if before[:1] == " " and " " not in before.strip():
            # `   query: y` under `  name: t2`: the key alone on its line, indented unlike the
            # keys above it, continues the value above; quoting would not help.
            key = before.strip()
            return (
                f"{problem}: `{key}:` is indented differently from the keys above it, so it is"
                " read as part of the value above; indent it as they are",
                mark,
            )
    if problem == "mapping values are not allowed here":
        fields = " (a query's field takes no space: title:(...))" if example else ""
        return (
            f"{problem}: a colon and a space inside a value start a mapping; {quote_it}{fields}",
            mark,
        )
    return problem, mark


def not_printable(exc: yaml.reader.ReaderError) -> str:
    """A character YAML refuses anywhere in a file (a control character): PyYAML says where only
    as "position N" of "<unicode string>"; its place is `exc.position`, a character index."""
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    what = "a control character" if code < 0x20 or 0x7F <= code <= 0x9F else "not a character"
    return f"character U+{code:04X} ({what}) is not allowed in YAML: delete it"


# A double-quoted scalar's escapes (`"\0"`, `"\x00"`, `"\u0000"`, `"\ud800"`) make characters
# YAML allows and a store does not (`monitor.controls.unstorable`). A feed's name or a rule's
# with one failed every write naming neither file nor line (a surrogate: a traceback from SQLite).


def _unstorable_advice(value: str) -> str | None:
    """What is wrong with `value` as text a store keeps, and what to write instead; or None."""
    found = unstorable_char(value)
    if found is None:
        return None
    if found == "\x00":
        return (
            "a NUL character (an escape such as \\0 in double quotes) cannot be stored: remove it"
        )
    return (
        f"U+{ord(found):04X} is half of a UTF-16 surrogate pair, not a character: write"
        " a character beyond U+FFFF as \\U and eight hex digits (\\U0001F600), or as itself"
    )


def unstorable_scalar(text: str, root: yaml.Node | None) -> tuple[yaml.Node, str] | None:
    """The first scalar of `root` (parsed from `text`) a store cannot keep, and why; or None.
    Only an escape makes one (the reader refuses such characters written as they are), so a
    text without a backslash is not walked."""
    if root is None or "\\" not in text:
        return None
    seen: set[int] = set()  # aliases: each node once
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            why = _unstorable_advice(node.value)
            if why is not None:
                return node, why
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.extend((value, key))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None
