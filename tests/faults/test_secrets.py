"""Secrets never leak: a whole life of newsmon with sentinel webhook URLs and signing secrets, and
not one log line, error message, CLI output, metric or stored row contains them, nor their URL
path or query on its own.

Destinations, each with its URL and secret given a different way (env, file, inline):
  good     a receiver that answers 200                      -> delivered
  flaky    a receiver that answers 503 with Retry-After      -> retried
  down     a closed port                                     -> retried (connection refused)
  rejects  a receiver that answers 400                       -> dead letter at once
  slack    a Slack-type hook answering 404 `no_service`      -> destination disabled, loudly
  redirect a receiver answering 302 whose `Location` echoes a token -> dead letter at once
The run, at log level debug: `check --deliver` twice (baseline, then alerts), `newsmon run` with
/metrics, /healthz and /readyz scraped while it works, `deliveries list` (text and JSON, dead
letters too), `deliveries replay --all-dead`, `feeds list` (text and JSON), a config whose
destination URL is malformed (an error path that must not quote it), and config files with
inline secrets and a syntax error (a tab, a bad indent, a key given twice, an alias to a URL
where a type belongs): each error points at its line without quoting the secret.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.daemon_support import refusing_port
from tests.faults.harness import (
    ROOT,
    DaemonProcess,
    GrowingFeeds,
    baselined,
    child_env,
    wait_until,
    write_config,
)
from tests.feedserver import feed_server
from tests.receiver import Receiver, Reply

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]


LOCATION_TOKEN = "SENTINELlocationToken42"  # echoed only by a receiver, never configured


def whsec(raw: bytes) -> str:
    return "whsec_" + base64.b64encode(raw).decode()


SECRETS = {
    "GOOD_SECRET": whsec(b"SENTINELsignGOOD-0123456789abcdef"),
    "FLAKY_SECRET": whsec(b"SENTINELsignFLAKY-0123456789abcde"),
    "DOWN_SECRET": whsec(b"SENTINELsignDOWN-0123456789abcdef"),
}


def sentinels(urls: dict[str, str]) -> list[str]:
    """Every string that must not appear: whole URLs, their path and query, each secret whole,
    its base64 part, and the decoded key's distinctive part."""
    found: list[str] = []
    for url in urls.values():
        found.append(url)
        path_and_query = url.split("/", 3)[3]
        found.append(path_and_query)
        parts = path_and_query.replace("?", "/").replace("=", "/").split("/")
        found.extend(part for part in parts if "SENTINEL" in part)
    for secret in SECRETS.values():
        b64 = secret.removeprefix("whsec_")
        found += [secret, b64, base64.b64decode(b64).decode()]
    found.append(LOCATION_TOKEN)
    found.append("SENTINEL")  # every sentinel carries this word; nothing else does
    return found


def newsmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def test_no_secret_in_any_log_error_output_metric_or_row(tmp_path: Path) -> None:
    closed_port = refusing_port()
    slack_rx = Receiver([Reply(404, b"no_service")])
    # httpcore's debug lines print response headers as they are: this token must not reach a log.
    moved = Reply(302, headers={"Location": f"http://127.0.0.1:9/next?token={LOCATION_TOKEN}"})
    redirect_rx = Receiver([moved])
    with (
        feed_server() as server,
        Receiver() as good_rx,
        Receiver([Reply(503, headers={"Retry-After": "1"})]) as flaky_rx,
        Receiver([Reply(400, b"bad request")]) as reject_rx,
        slack_rx,
        redirect_rx,
    ):

        def local(port: int, rest: str) -> str:
            return f"http://127.0.0.1:{port}/{rest}"

        urls = {
            "GOOD_URL": local(good_rx.port, "hooks/SENTINELgoodPath77?token=SENTINELgoodQuery88"),
            "FLAKY_URL": local(flaky_rx.port, "SENTINELflakyPath/x?k=SENTINELflakyQuery"),
            "DOWN_URL": local(closed_port, "SENTINELdownPath?sig=SENTINELdownQuery"),
            "REJECT_URL": local(reject_rx.port, "SENTINELrejectPath/hook"),
            "SLACK_URL": local(slack_rx.port, "services/T0SENTINEL/B0SENTINEL/SENTINELslackKey"),
            "REDIRECT_URL": local(redirect_rx.port, "SENTINELredirectPath?k=SENTINELredirectQ"),
        }
        (tmp_path / "flaky.url").write_text(urls["FLAKY_URL"] + "\n")
        (tmp_path / "flaky.secret").write_text(SECRETS["FLAKY_SECRET"] + "\n")
        destinations = f"""  - name: good
    type: webhook
    url_env: GOOD_URL
    secret_env: GOOD_SECRET
  - name: flaky
    type: webhook
    url_file: {tmp_path / "flaky.url"}
    secret_file: {tmp_path / "flaky.secret"}
  - name: down
    type: webhook
    url: "{urls["DOWN_URL"]}"
    secret: "{SECRETS["DOWN_SECRET"]}"
  - name: rejects
    type: webhook
    url_env: REJECT_URL
  - name: slack
    type: slack
    url_env: SLACK_URL
  - name: redirect
    type: webhook
    url_env: REDIRECT_URL
"""
        env = child_env({**urls, **SECRETS})
        feeds = GrowingFeeds(server, ["wire"])
        db = tmp_path / "state.db"
        config = write_config(tmp_path, database_url=str(db), feeds=feeds.urls(),
                              destinations=destinations, http_addr="127.0.0.1:0",
                              extra="log_level: debug")  # fmt: skip
        config.write_text(config.read_text().replace("log_level: info\n", ""))
        outputs: dict[str, str] = {}

        def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
            result = newsmon(*args, env=env)
            outputs[name] = result.stdout + result.stderr
            return result

        assert run("check-baseline", "check", "--deliver", "--config", str(config)).returncode == 1
        feeds.baseline_done()
        feeds.add("wire")
        assert run("check-deliver", "check", "--deliver", "--config", str(config),
                   "--json").returncode == 0  # fmt: skip
        assert len(good_rx.requests) == 1
        assert "SENTINELgoodPath77" in good_rx.requests[0].path  # the sentinels are really used
        assert len(reject_rx.requests) == 1
        assert len(slack_rx.requests) == 1
        assert len(redirect_rx.requests) == 1  # its 302 was answered, not followed

        daemon = DaemonProcess(config, tmp_path / "daemon.log", env={**urls, **SECRETS})
        daemon.env = env
        daemon.start()
        try:
            wait_until(lambda: baselined(db, 1), 30, "the store", running=[daemon])
            wait_until(lambda: "daemon_started" in daemon.log_text(), 30, "the daemon")
            # The port the daemon picked (port 0): none another socket could take first.
            [port] = [e["port"] for e in daemon.events() if e["event"] == "http_listening"]
            for _ in range(3):
                feeds.add("wire")
                time.sleep(1.0)
            wait_until(lambda: len(good_rx.requests) >= 4, 30, "deliveries by the daemon")
            wait_until(lambda: len(flaky_rx.requests) >= 2, 30, "retries")
            for path in ("/metrics", "/healthz", "/readyz"):
                outputs[f"http{path}"] = scrape(f"http://127.0.0.1:{port}{path}")
            assert daemon.stop() == 0
        finally:
            daemon.kill()
        outputs["daemon"] = daemon.log_text()

        for name, args in {
            "deliveries-list": ["deliveries", "list"],
            "deliveries-json": ["deliveries", "list", "--json"],
            "deliveries-dead": ["deliveries", "list", "--dead", "--json"],
            "deliveries-replay": ["deliveries", "replay", "--all-dead"],
            "feeds-list": ["feeds", "list"],
            "feeds-json": ["feeds", "list", "--json"],
            "check-after-replay": ["check", "--deliver"],
        }.items():
            run(name, *args, "--config", str(config))

        # An error path: a destination URL that does not parse must not be quoted.
        bad_env = {**env, "GOOD_URL": "http://[SENTINELbad-host/SENTINELbadPath"}
        bad = newsmon("check", "--deliver", "--config", str(config), env=bad_env)
        outputs["bad-url"] = bad.stdout + bad.stderr
        assert bad.returncode == 2

        # Syntax errors in a config whose `down` destination has its URL and secret inline.
        inline_secret = f'    secret: "{SECRETS["DOWN_SECRET"]}"\n'
        inline_url = f'    url: "{urls["DOWN_URL"]}"\n'
        text = config.read_text()
        assert inline_secret in text
        assert inline_url in text
        broken = {
            "tab": text.replace(inline_secret, "\t" + inline_secret.lstrip()),
            "indent": text.replace(inline_secret, inline_secret[1:]),
            "duplicate": text.replace(inline_secret, inline_secret * 2),
            # the URL where the type belongs: the error quotes the value it got
            "alias": text.replace(
                f"  - name: down\n    type: webhook\n{inline_url}",
                f"  - name: down\n{inline_url.replace('url: ', 'url: &u ')}    type: *u\n",
            ),
        }
        for name, broken_text in broken.items():
            broken_path = tmp_path / f"broken-{name}.yaml"
            broken_path.write_text(broken_text)
            result = newsmon("check", "--deliver", "--config", str(broken_path), env=env)
            outputs[f"config-{name}"] = result.stdout + result.stderr
            assert result.returncode == 2, outputs[f"config-{name}"]
            assert outputs[f"config-{name}"].startswith(f"newsmon: {broken_path}:"), name  # located
        # The error quotes the value it got, with the secret path masked.
        alias_error = outputs["config-alias"]
        assert "type: Input should be 'webhook', 'slack'," in alias_error, alias_error
        assert "got 'http://127.0.0.1:" in alias_error, alias_error

        stored = db.read_bytes() + Path(f"{db}-wal").read_bytes() if Path(f"{db}-wal").exists() \
            else db.read_bytes()  # fmt: skip

    # The run did what it was meant to: every kind of outcome happened.
    assert "alert_retry" in outputs["daemon"] + outputs["check-deliver"]
    assert "alert_dead" in outputs["check-deliver"] + outputs["daemon"]
    assert "destination_disabled" in outputs["check-deliver"] + outputs["daemon"]
    assert "newsmon_" in outputs["http/metrics"]

    leaks = {
        (name, needle)
        for name, text in outputs.items()
        for needle in sentinels(urls)
        if needle in text
    }
    assert leaks == set(), sorted(leaks)[:10]
    stored_leaks = [n for n in sentinels(urls) if n.encode() in stored]
    assert stored_leaks == []
