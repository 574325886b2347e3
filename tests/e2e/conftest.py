"""A real box, worker and registry, and Debian's Chromium driven by Playwright.

Chromium is never downloaded: `make test` installs Debian's `chromium` package, and the
browser is started from /usr/bin/chromium. Without it the tests skip on a developer's
machine and fail in CI (CI=true). Every request the browser makes must go to the box:
anything else is blocked and fails the test. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import (
    EDGE,
    ROOT,
    Box,
    Registry,
    edge_cli,
    running_box,
    start_registry,
    stop_process,
)

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
# As the machine's notes say: no background networking, no first-run, a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is not installed (make test installs it)")
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def box(tmp_path: Path, registry: Registry) -> Iterator[Box]:
    with office_box(tmp_path, registry, {}) as b:
        yield b


@pytest.fixture
def worker(box: Box) -> Iterator[subprocess.Popen[bytes]]:
    log = open(box.home / "worker.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [*EDGE, "--home", str(box.home), "worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "EDGE_SYNC_BACKOFF_MAX_SECONDS": "5"},
    )
    yield proc
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def page(browser: object, box: Box) -> Iterator[object]:
    """A fresh browser context (its own cookies) that may talk to the box only."""
    with browse(browser, box) as p:
        yield p


@contextmanager
def browse(browser: object, box: Box, **options: Any) -> Iterator[Any]:
    """A page in a fresh browser context that may talk to `box` only; a request to any
    other host is refused and fails the test."""
    box_host = urlsplit(box.url).netloc
    outside: list[str] = []

    def guard(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if urlsplit(url).netloc != box_host and not url.startswith(("data:", "about:")):
            outside.append(url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=box.url,
        **{"viewport": {"width": 1366, "height": 768}, "locale": "en-GB", **options},
    )
    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    assert outside == [], f"the page tried to reach other hosts: {outside}"


@contextmanager
def office_box(
    tmp_path: Path, registry: Registry, env: dict[str, str], url: str = ""
) -> Iterator[Box]:
    """A demo box enrolled with the registry (at `url`, a proxy in front of it, if given),
    started with extra settings in `env`."""
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo", "--office-name", "Ramallah Clinic", "--office-id", "office-1")
    edge_cli(home, "enroll", url or registry.url, registry.token())
    with running_box(home, env) as b:
        yield b


@dataclass
class Site:
    """A module's box and the registry it sends to (a test may start the registry again and
    put the new one here: that is the one stopped at the end)."""

    box: Box
    registry: Registry


@contextmanager
def office_site(tmp: Path) -> Iterator[Site]:
    """A registry of its own and a demo box enrolled with it, for a whole module."""
    (tmp / "registry").mkdir()
    registry = start_registry(tmp / "registry")
    site: Site | None = None
    try:
        with office_box(tmp, registry, {}) as box:
            site = Site(box, registry)
            yield site
    finally:
        stop_process((site.registry if site else registry).process)


def click_through(page: Any, control: Any) -> None:
    """Click a link, or a button that sends its form, and wait for the page that answers: a click
    returns as the request starts, and reading (or going elsewhere) before the answer arrived
    reads the old page (or cuts the request short)."""
    with page.expect_navigation():
        control.click()


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
