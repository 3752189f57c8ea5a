"""Fixtures of the review page's tests: a review app over alerts on a real topic, served on a
loopback port, and a headless Debian chromium driven by Playwright."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streaming.config import Config

from .server import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make tools` installs Debian's chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    tab = browser.new_page()  # type: ignore[attr-defined]
    yield tab
    tab.close()
    browser.clear_cookies()  # type: ignore[attr-defined]


@pytest.fixture
def review_config(topics: Config, tmp_path: Path) -> Config:
    """The broker's config with an index folder and alerts topic of this test's own."""
    return topics.replace(
        **{
            "index.path": str(tmp_path / "index"),
            "kafka.alerts_topic": f"review-{uuid.uuid4().hex[:8]}",
            "review.reviewer": "tester",
        }
    )
