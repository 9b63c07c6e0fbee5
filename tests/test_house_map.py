"""docs/design-notes.md, "The house: a map of the flow": the table names every folder and
top-level module of `monitor/`, each part imports only what its row allows, and no modules
import each other in a circle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "monitor"
DOC = (ROOT / "docs" / "design-notes.md").read_text(encoding="utf-8")


def rows() -> dict[str, tuple[set[str], str, set[str]]]:
    """Each row of the map: part -> (its names, what it holds, what it may import)."""
    section = DOC.split("## The house: a map of the flow", 1)[1].split("\n## ", 1)[0]
    found: dict[str, tuple[set[str], str, set[str]]] = {}
    for line in section.splitlines():
        if not line.startswith("| `monitor/"):
            continue
        part, holds, imports = (cell.strip() for cell in line.strip("|").split(" | "))
        names = {re.sub(r"^monitor/|/$|\.py$", "", name) for name in re.findall(r"`([^`]+)`", part)}
        allowed = set(re.findall(r"`([^`]+)`", imports))
        found[part] = (names, holds, allowed)
    assert len(found) > 10, "the map's table was not found in docs/design-notes.md"
    return found


def ground() -> set[str]:
    [names] = [names for names, holds, _ in rows().values() if holds.startswith("the ground")]
    return names


def allowed_by_part() -> dict[str, set[str]]:
    allowed: dict[str, set[str]] = {}
    for names, _, may in rows().values():
        for name in names:
            assert name not in allowed, f"{name} has two rows in the map"
            allowed[name] = may | ground()
    return allowed


def parts_on_disk() -> set[str]:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return folders | modules


def part_of(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def imported_parts(path: Path, on_disk: set[str]) -> set[str]:
    """The parts of `monitor` a file imports, at the top, in functions or for type checking."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import"
            if node.module == "monitor":
                found |= {a.name if a.name in on_disk else "__init__" for a in node.names}
                continue
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            top, _, rest = module.partition(".")
            if top == "monitor" and rest:
                found.add(rest.split(".")[0])
    return found


def test_every_folder_and_module_is_on_the_map() -> None:
    named = set(allowed_by_part())
    on_disk = parts_on_disk()
    assert len(on_disk) > 20
    assert on_disk - named == set(), "parts of monitor/ missing from the map"
    assert named - on_disk == set(), "parts on the map that monitor/ does not have"
    every_allowed = set().union(*(may for may in allowed_by_part().values()))
    assert every_allowed <= on_disk, "the map allows an import of a part that does not exist"


def test_each_part_imports_only_what_its_row_allows() -> None:
    allowed = allowed_by_part()
    on_disk = parts_on_disk()
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 100
    wrong = [
        f"{path.relative_to(ROOT)} imports monitor.{target}"
        for path in files
        for target in sorted(imported_parts(path, on_disk))
        if target != part_of(path) and target not in allowed[part_of(path)]
    ]
    assert wrong == [], "imports the map does not allow (docs/design-notes.md)"


def test_its_links_lead_to_sections() -> None:
    section = DOC.split("## The house: a map of the flow", 1)[1].split("\n## ", 1)[0]
    links = set(re.findall(r"\]\(#([^)]+)\)", section))
    assert len(links) > 5
    headings = re.findall(r"^## (.+)$", DOC, re.MULTILINE)
    slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    assert links - slugs == set(), "links of the map to no section of docs/design-notes.md"


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def module_imports() -> dict[str, set[str]]:
    """Each module of `monitor` -> the modules of `monitor` it imports: at the top, in
    functions or for type checking (an import put off until later still makes a circle)."""
    paths = {module_of(p): p for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str:  # `from monitor.x import name`: module x.name, else x
        while name not in paths:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[module] = {resolve(n) for n in found if n.startswith("monitor.")} - {module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that reach each other through their imports."""
    reach = {m: set[str]() for m in graph}
    for start in graph:
        todo = list(graph[start])
        while todo:
            module = todo.pop()
            if module not in reach[start]:
                reach[start].add(module)
                todo.extend(graph[module])
    groups = {frozenset({m} | {n for n in reach[m] if m in reach[n]}) for m in graph}
    return [set(g) for g in groups if len(g) > 1]


# Circles still to be mended, each named here until it is (none now).
KNOWN_CIRCLES: list[set[str]] = []


def test_imports_form_no_circle() -> None:
    graph = module_imports()
    assert len(graph) > 100
    assert "monitor.delivery.parts" in graph["monitor.delivery.storm"]  # what is read: imports
    found = circles(graph)
    assert [c for c in found if c not in KNOWN_CIRCLES] == [], "modules that import each other"
    assert [c for c in KNOWN_CIRCLES if c not in found] == [], "mended: strike it from the list"
