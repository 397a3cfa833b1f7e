"""Headless Chromium from Debian (`chromium`, `chromium-driver`), driven through its WebDriver with selenium.

Selenium is pointed at Debian's chromedriver and chromium explicitly, so it never looks for (or downloads) a
driver of its own; Chromium runs with a fresh profile and without its background traffic (updates, sync,
safe browsing), which the closed network would refuse. The browser's console is collected for assertions.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT_DIR_VARIABLE = "VARIET_SCREENSHOT_DIR"
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1")
_POLL = 0.05

T = TypeVar("T")


class Browser:
    """A driven Chromium: bounded waits on page state, the console log, screenshots."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self._console: list[dict[str, Any]] = []

    def get(self, url: str) -> None:
        self.driver.get(url)

    def wait(self, what: str, check: Callable[[WebDriver], T], timeout: float = 20.0) -> T:
        """Poll `check(driver)` until it returns something truthy and return it; fail naming `what` otherwise."""

        def attempt(driver: WebDriver) -> T | bool:
            try:
                return check(driver)
            except StaleElementReferenceException:  # the page redrew what `check` was reading: look again
                return False

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=_POLL).until(attempt)  # type: ignore[return-value]
        except TimeoutException:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; console: {self.console()}")

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def console(self) -> list[dict[str, Any]]:
        """Every console entry so far (WebDriver hands each one out once, so they are kept here)."""
        self._console += self.driver.get_log("browser")
        return list(self._console)

    def console_errors(self, *expected: str) -> list[str]:
        """Console errors, less those containing one of the `expected` fragments."""
        return [entry["message"] for entry in self.console()
                if entry["level"] == "SEVERE" and not any(fragment in entry["message"] for fragment in expected)]

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page at `path`; also copied to $VARIET_SCREENSHOT_DIR when that is set."""
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        if folder := os.environ.get(SCREENSHOT_DIR_VARIABLE):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(folder) / path.name)
        return path


@contextmanager
def open_browser(profile: Path, *, width: int = 1280, height: int = 900) -> Iterator[Browser]:
    """Start headless Chromium with a new profile in `profile`; quit it afterwards."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run scripts/test-deps (Debian's chromium and chromium-driver)")
    profile.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
