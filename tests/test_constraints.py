"""constraints.txt pins every dependency, at a version pyproject.toml allows.

The image, CI and the README's commands install with `-c constraints.txt`, so that an image built
later ships the versions the tests ran against. A dependency added to pyproject.toml without a new
lock would install unpinned there, and a lock left behind a raised lower bound would make pip fail
to resolve: both fail here first, naming the package and the command that makes the lock anew.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RELOCK = "uv pip compile pyproject.toml --extra dev --python-version 3.11 -o constraints.txt"


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pin = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
            assert pin is not None, f"constraints.txt: {line!r} is not NAME==VERSION"
            found[canonicalize_name(pin[1])] = pin[2]
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed += extra
    return [Requirement(r) for r in listed if not r.startswith("newsmon")]


def test_every_dependency_is_pinned_at_a_version_pyproject_allows() -> None:
    pinned = pins()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in constraints.txt: run {RELOCK}"
        pin = f"{req.name}=={pinned[name]}"
        allowed = req.specifier.contains(pinned[name], prereleases=True)
        assert allowed, f"constraints.txt pins {pin}, outside {req.specifier}: run {RELOCK}"
        for extra in req.extras:  # psycopg[binary] brings psycopg-binary: pinned too
            assert canonicalize_name(f"{req.name}-{extra}") in pinned, f"{req}: run {RELOCK}"


def test_the_check_can_fail() -> None:
    assert not Requirement("httpx>=0.27,<1").specifier.contains("1.2")
    assert canonicalize_name("PyYAML") == canonicalize_name("pyyaml")
