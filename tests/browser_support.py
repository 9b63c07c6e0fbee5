"""A real headless Chromium for the console's browser tests, driven by Selenium through the
system's chromedriver (Debian's `chromium` and `chromium-driver`; `.ci/browser.sh` installs them).

Nothing is downloaded at run time: the browser and the driver are given by path, and Selenium
Manager is told to stay offline. Without them the tests skip with the reason, except in CI
(`CI=true`), where a missing browser fails. Screenshots go to an artefacts folder whose path the
test prints (pytest shows it when the test fails).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("NEWSMON_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NEWSMON_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing_browser() -> str | None:
    """Why no browser test can run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} not found: install the Debian package {package!r} (.ci/browser.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


def require_browser() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and no browser: {reason}")
    pytest.skip(reason)


@dataclass
class Browser:
    """The driver, and where its screenshots go."""

    driver: Any
    artefacts: Path
    shots: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        path = self.artefacts / f"{len(self.shots) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def console_log(self) -> list[dict[str, Any]]:
        """The browser console's entries since the last call."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")
        return entries


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    yield from _browser(tmp_path_factory)


REBOUND = "rebind.example"


@pytest.fixture
def rebound_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """A browser whose resolver answers 127.0.0.1 for `REBOUND`, as a name an attacker has
    pointed at 127.0.0.1 does once DNS rebinding has happened (nothing is asked of DNS)."""
    yield from _browser(tmp_path_factory, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1")


def _browser(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Iterator[Browser]:
    require_browser()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must fetch nothing
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    artefacts = tmp_path_factory.mktemp("console-artefacts")
    print(f"console screenshots and browser log: {artefacts}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # tests may run as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--no-proxy-server",
        *extra,
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(artefacts / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver, artefacts)
    finally:
        driver.quit()
