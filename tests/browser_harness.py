"""A real `videolikes serve` and Debian's Chromium, for the browser tests.

`serving()` starts a server process on a free port with its own copy of a database that the CLI
migrated and seeded; `chromium()` starts Debian's Chromium on a given, empty profile.
`require_chromium()` skips without Chromium, and fails under CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import IN_CI, TEST_IP_HASH_SECRET
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    expect,
    sync_playwright,
)

from videolikes.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google's services, which a
# closed network refuses; the rest keep a fresh profile quiet and headless-friendly.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIDEOLIKES = Path(sys.executable).with_name("videolikes")
ARTIFACTS = Path(__file__).parent / "artifacts"
SERVER_START_TIMEOUT = 30.0
EXPECT_TIMEOUT_MS = 10_000


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(database: Path, **overrides: str) -> dict[str, str]:
    # Nothing from the caller's environment may configure the server under test.
    settings = {name.upper() for name in Settings.model_fields}
    environment = {k: v for k, v in os.environ.items() if k.upper() not in settings}
    environment.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        IP_HASH_SECRET=TEST_IP_HASH_SECRET,
        LOG_LEVEL="warning",
    )
    environment.update(overrides)
    return environment


def _cli(database: Path, *args: str) -> None:
    done = subprocess.run(
        [str(VIDEOLIKES), *args], env=_environment(database), capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.fail(f"videolikes {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def seeded_database(directory: Path) -> Path:
    database = directory / "seeded.db"
    _cli(database, "db", "upgrade")
    _cli(database, "seed", "--demo")
    return database


@dataclass
class Server:
    url: str
    database: Path
    log: Path

    def sql(self, statement: str, *params: Any) -> None:
        """Changes the database under the running server, as an operator could."""
        with closing(sqlite3.connect(self.database, isolation_level=None)) as conn:
            conn.execute(statement, params)

    def get(self, path: str) -> Any:
        response = httpx.get(self.url + path, trust_env=False)
        response.raise_for_status()
        return response.json()


@contextmanager
def serving(template: Path, directory: Path, **environment: str) -> Iterator[Server]:
    """A `videolikes serve` process on its own copy of `template`, stopped on exit."""
    port = _free_port()
    database = directory / f"videolikes-{port}.db"
    shutil.copyfile(template, database)
    server = Server(f"http://127.0.0.1:{port}", database, directory / f"server-{port}.log")
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [str(VIDEOLIKES), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=_environment(database, **environment),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"videolikes serve exited:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"videolikes serve did not answer in {SERVER_START_TIMEOUT}s")


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium, headless, on `profile` (give it a fresh, empty directory)."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            color_scheme="light",
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Visit:
    """One open page, with what it requested and any policy violation Chromium reported."""

    page: Page
    requests: list[Request] = field(default_factory=list)
    policy_violations: list[str] = field(default_factory=list)

    def record_request(self, request: Request) -> None:
        self.requests.append(request)

    def record_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.policy_violations.append(message.text)

    def card(self, video_id: str) -> Locator:
        return self.page.locator(f'.card[data-video-id="{video_id}"]')

    def like_button(self, video_id: str) -> Locator:
        return self.card(video_id).locator("button.like")

    def likes_shown(self, video_id: str) -> int:
        return int(self.card(video_id).locator(".likes-count").inner_text().replace(",", ""))

    def click_like(self, video_id: str) -> None:
        button = self.like_button(video_id)
        button.click()
        # The click's request is answered (and the page has settled) once busy is cleared.
        expect(button).not_to_have_attribute("aria-busy", "true")

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET" and "/api/" in r.url]


def open_page(page: Page, url: str, videos: int) -> Visit:
    visit = Visit(page)
    page.on("request", visit.record_request)
    page.on("console", visit.record_console)
    page.goto(url)
    expect(page.locator(".card")).to_have_count(videos)
    return visit
