"""Debian's chromium, driven by Selenium through Debian's chromium-driver, for what a person looks at.

``.ci/run`` installs both (``apt-get install chromium chromium-driver``). Without them the browser
tests skip, saying why (pytest's ``-rs`` lists the reason at the end of ``make test``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = (
    "no browser here: the calendar is checked in Debian's chromium; install it with "
    "`apt-get install chromium chromium-driver` (as .ci/run does)"
)
#: The flags the machine notes say keep chromium from reaching for the network at start.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
)


def require_browser() -> None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(MISSING)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium session with a fresh profile; quits on the way out."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="webflow-audit-chromium-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(60)
            yield driver
        finally:
            driver.quit()


def day_statuses(driver: Any) -> dict[str, str]:
    """``{day: status}`` of every day cell on the page the browser shows (the calendar's contract)."""
    from selenium.webdriver.common.by import By

    return {
        cell.get_attribute("data-day"): cell.get_attribute("data-status")
        for cell in driver.find_elements(By.CSS_SELECTOR, "[data-day]")
    }
