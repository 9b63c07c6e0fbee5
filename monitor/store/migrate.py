"""Versioned schema migrations shared by both stores: find them, split them. Reads package files.

Migrations live in `migrations/<dialect>/NNNN_name.sql`; NNNN is the version they bring the schema
to. Each store applies the missing ones in order, inside one transaction that also records them in
`schema_version`, under a lock that makes two processes starting at once take turns (SQLite:
`BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock). Every migration not yet
recorded is applied, not only those above the highest recorded: numbers are handed out ahead of
time, so one may land after a higher one, and a database that has the higher one still gets it.

A database that has recorded a version this build has no migration for was migrated by a newer
newsmon: every store refuses it (`SchemaTooNew`) before writing anything, for every command,
the ones that only read too. This build cannot know what the newer migration changed (a column
renamed, a status added), so a write could break the newer newsmon's rows and a read could show
wrong answers without saying so; the way out is the same for both: upgrade newsmon, or name
another database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import __version__
from monitor.errors import StoreError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema migration: the version it brings the schema to, its name, its statements."""

    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements: `;` at the end of a line ends one; `--` comment lines
    are dropped. Our migrations have no procedural bodies, so this is enough (and it lets SQLite
    run them inside our own transaction, which `executescript` would commit)."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


def load_migrations(dialect: str) -> list[Migration]:
    """The migrations of one dialect (`sqlite` or `postgres`), in version order."""
    found: list[Migration] = []
    for entry in _folder(dialect).iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        text = entry.read_text(encoding="utf-8")
        found.append(Migration(int(match.group(1)), match.group(2), tuple(split_statements(text))))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two {dialect} migrations share a version: {versions}")
    return found


def _folder(dialect: str) -> Traversable:
    """The dialect's migrations: the folder beside this module when the package is files on
    disk, as pip installs it. importlib.resources' reader for such a package imports zipfile and
    more (≈2 ms and 0.35 MB of every start) to give the same folder; it is asked only when the
    package is elsewhere (a zip)."""
    here = Path(__file__).with_name("migrations") / dialect
    if here.is_dir():
        return here
    from importlib import resources

    return resources.files("monitor.store").joinpath("migrations", dialect)


def latest_version(dialect: str) -> int:
    migrations = load_migrations(dialect)
    return migrations[-1].version if migrations else 0


class SchemaTooNew(StoreError):
    """The database was migrated by a newer newsmon: its schema has versions this build lacks."""


def refuse_unknown_versions(
    recorded: Mapping[int, str], migrations: Sequence[Migration], where: str
) -> None:
    """Raise `SchemaTooNew` when `recorded` (the database's `schema_version`: version -> name)
    holds a version none of `migrations` brings. `where` names the database for the message."""
    known = {m.version for m in migrations}
    unknown = sorted(v for v in recorded if v not in known)
    if not unknown:
        return
    latest = max(known, default=0)
    versions = ", ".join(f"{v} ({recorded[v]})" for v in unknown)
    plural = "s" if len(unknown) > 1 else ""
    raise SchemaTooNew(
        f"{where} has schema version{plural} {versions}, which this newsmon ({__version__}) does"
        f" not know: it knows versions up to {latest}, so a newer newsmon migrated the database."
        " Upgrade newsmon, or point database_url (NEWSMON_DATABASE_URL) at another database;"
        " nothing was written"
    )
