"""`newsmon healthcheck` / `python -m monitor.cli.healthcheck`, the container's HEALTHCHECK, against
real local HTTP servers on 127.0.0.1."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.cli import healthcheck
from tests.daemon_support import refusing_port
from tests.feedserver import serving

ROOT = Path(__file__).resolve().parent.parent


class _Handler(BaseHTTPRequestHandler):
    status = 200
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"status": 200, "paths": []})
    with serving(handler) as httpd:
        yield httpd, handler


def _addr(httpd: ThreadingHTTPServer) -> str:
    return f"127.0.0.1:{httpd.server_address[1]}"


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("0.0.0.0:9464", "http://127.0.0.1:9464/healthz"),
        (":9464", "http://127.0.0.1:9464/healthz"),
        ("[::]:9464", "http://[::1]:9464/healthz"),
        ("[::1]:8080", "http://[::1]:8080/healthz"),
        ("127.0.0.1:9464", "http://127.0.0.1:9464/healthz"),
        ("localhost:9464", "http://localhost:9464/healthz"),
        (" 10.0.0.5:80 ", "http://10.0.0.5:80/healthz"),
    ],
)
def test_health_url_probes_wildcards_on_loopback(addr: str, url: str) -> None:
    assert healthcheck.health_url(addr) == url


@pytest.mark.parametrize(
    ("addr", "says"),
    [
        ("", "is empty"),
        ("9464", "is not host:port"),
        ("0.0.0.0:http", "is not host:port"),
        ("0.0.0.0:0", "is not host:port"),
        ("0.0.0.0:65536", "is not host:port"),
        ("::1:9464", "in brackets"),
        ("[localhost]:9464", "only an IPv6 address"),
    ],
)
def test_health_url_refuses_bad_addresses(addr: str, says: str) -> None:
    with pytest.raises(healthcheck.AddressError, match=says):
        healthcheck.health_url(addr)


def test_a_bad_address_is_said_as_given_and_a_url_is_told_to_drop_its_scheme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --addr was worded as NEWSMON_HTTP_ADDR, and a URL was told to bracket its IPv6 host.
    monkeypatch.delenv(healthcheck.ADDR_ENV, raising=False)
    assert healthcheck.check("http://127.0.0.1:9464") == (
        healthcheck.UNHEALTHY,
        "unhealthy: --addr 'http://127.0.0.1:9464': give host:port, without http://",
    )
    assert healthcheck.check("nonsense")[1] == (
        "unhealthy: --addr 'nonsense' is not host:port (for example 0.0.0.0:9464)"
    )
    monkeypatch.setenv(healthcheck.ADDR_ENV, "nonsense")
    assert healthcheck.check(None)[1] == (
        "unhealthy: NEWSMON_HTTP_ADDR='nonsense' is not host:port (for example 0.0.0.0:9464)"
    )


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "1e308", "soon"])
def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(
    timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # urllib read 0 as "do not wait" and refused the others only once the probe ran, as
    # "unreachable": a mistake in the probe's command line looked like a dead daemon.
    with pytest.raises(SystemExit) as stop:
        healthcheck.main(["--addr", f"127.0.0.1:{refusing_port()}", "--timeout", timeout])
    assert stop.value.code == 2
    assert "argument --timeout:" in capsys.readouterr().err


def test_the_help_names_every_exit_code_it_can_end_with() -> None:
    # It said "0 healthy, 1 unhealthy or unreachable", though argparse ends a mistake with 2.
    assert "2 a mistake in the command" in healthcheck.EXAMPLES


def test_healthy_on_200_and_asks_healthz(
    server: tuple[ThreadingHTTPServer, type[_Handler]],
) -> None:
    httpd, handler = server
    code, line = healthcheck.check(_addr(httpd))
    assert code == healthcheck.HEALTHY
    assert line.startswith("healthy:")
    assert handler.paths == ["/healthz"]


@pytest.mark.parametrize("status", [404, 500, 503])
def test_unhealthy_on_an_error_status(
    server: tuple[ThreadingHTTPServer, type[_Handler]], status: int
) -> None:
    httpd, handler = server
    handler.status = status
    code, line = healthcheck.check(_addr(httpd))
    assert code == healthcheck.UNHEALTHY
    assert f"answered {status}" in line


def test_unhealthy_when_nothing_listens() -> None:
    code, line = healthcheck.check(f"127.0.0.1:{refusing_port()}", timeout=2)
    assert code == healthcheck.UNHEALTHY
    assert "unreachable" in line


def test_unhealthy_not_a_usage_error_on_a_bad_address() -> None:
    # Docker reserves exit code 2 of a HEALTHCHECK; a bad address is plainly "unhealthy".
    assert healthcheck.check("nonsense")[0] == healthcheck.UNHEALTHY


def test_reads_the_address_from_the_environment(
    server: tuple[ThreadingHTTPServer, type[_Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    httpd, _ = server
    monkeypatch.setenv(healthcheck.ADDR_ENV, f"0.0.0.0:{httpd.server_address[1]}")
    assert healthcheck.check(None)[0] == healthcheck.HEALTHY
    monkeypatch.setenv(healthcheck.ADDR_ENV, f"0.0.0.0:{refusing_port()}")
    assert healthcheck.check(None, timeout=2)[0] == healthcheck.UNHEALTHY


def test_ignores_a_proxy_in_the_environment(
    server: tuple[ThreadingHTTPServer, type[_Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    httpd, _ = server
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{refusing_port()}")
    monkeypatch.setenv("no_proxy", "")
    assert healthcheck.check(_addr(httpd))[0] == healthcheck.HEALTHY


def test_registers_as_a_subcommand(server: tuple[ThreadingHTTPServer, type[_Handler]]) -> None:
    httpd, _ = server
    parser = argparse.ArgumentParser(prog="newsmon")
    healthcheck.register(parser.add_subparsers())
    args = parser.parse_args(["healthcheck", "--addr", _addr(httpd), "--timeout", "2"])
    assert args.func(args) == healthcheck.HEALTHY


def test_runs_as_a_module_the_way_the_container_does(
    server: tuple[ThreadingHTTPServer, type[_Handler]],
) -> None:
    httpd, handler = server
    command = [sys.executable, "-m", "monitor.cli.healthcheck"]
    env = {"NEWSMON_HTTP_ADDR": f"0.0.0.0:{httpd.server_address[1]}", "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "healthy" in ok.stdout
    handler.status = 503
    bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 1
    assert "answered 503" in bad.stderr


def test_module_loads_no_heavy_dependency() -> None:
    """Run every 30 s: it must not import the daemon's libraries."""
    probe = (
        "import sys, monitor.cli.healthcheck; "
        "print(sorted(m for m in ('httpx', 'feedparser', 'apscheduler', 'structlog', 'pydantic')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_without_addr_or_variable_it_probes_the_configs_http_addr(
    server: tuple[ThreadingHTTPServer, type[_Handler]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`newsmon init`'s folder with `http_addr` set: the probe went to 127.0.0.1:9464 and said
    "unhealthy" beside a daemon that was running."""
    httpd, _ = server
    monkeypatch.delenv(healthcheck.ADDR_ENV, raising=False)
    monkeypatch.delenv(healthcheck.CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "newsmon.yaml").write_text(f"http_addr: {_addr(httpd)}\n", encoding="utf-8")
    assert healthcheck.check(None, timeout=2) == (
        healthcheck.HEALTHY,
        f"healthy: http://{_addr(httpd)}/healthz answered 200",
    )
    other = tmp_path / "other.yaml"
    other.write_text(f"http_addr: 127.0.0.1:{refusing_port()}\n", encoding="utf-8")
    code, line = healthcheck.check(None, timeout=2, config=str(other))
    assert code == healthcheck.UNHEALTHY
    assert line.endswith(f"(address: http_addr in {other})"), line
    monkeypatch.setenv(healthcheck.CONFIG_ENV, str(other))
    assert healthcheck.check(None, timeout=2)[0] == healthcheck.UNHEALTHY
    # The variable wins over the file, as it does for `newsmon run`.
    monkeypatch.setenv(healthcheck.ADDR_ENV, _addr(httpd))
    assert healthcheck.check(None, timeout=2)[0] == healthcheck.HEALTHY


def test_a_config_whose_listener_is_off_or_that_cannot_be_read_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(healthcheck.ADDR_ENV, raising=False)
    monkeypatch.delenv(healthcheck.CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "newsmon.yaml").write_text('http_addr: ""\n', encoding="utf-8")
    assert healthcheck.check(None) == (
        healthcheck.UNHEALTHY,
        "unhealthy: http_addr in newsmon.yaml is empty: the HTTP listener is off, nothing to check",
    )
    code, line = healthcheck.check(None, config=str(tmp_path / "nope.yaml"))
    assert (code, line) == (
        healthcheck.UNHEALTHY,
        f"unhealthy: config file not found: {tmp_path / 'nope.yaml'}",
    )


def test_with_no_config_here_it_probes_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(healthcheck.ADDR_ENV, raising=False)
    monkeypatch.delenv(healthcheck.CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(healthcheck, "probe", lambda url, timeout: (1, f"unhealthy: {url} x"))
    assert healthcheck.check(None) == (
        healthcheck.UNHEALTHY,
        "unhealthy: http://127.0.0.1:9464/healthz x (address: the default)",
    )
