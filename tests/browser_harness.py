"""A real `videolikes serve` and Debian's Chromium, for the browser tests.

`serving()` starts a server process on a free port with its own copy of a database that the CLI
migrated and seeded; `chromium()` starts Debian's Chromium on a given, empty profile.
`require_chromium()` skips without Chromium, and fails under CI.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import served
from commands import VIDEOLIKES, command_env
from conftest import IN_CI
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    expect,
    sync_playwright,
)

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
ARTIFACTS = Path(__file__).parent / "artifacts"
EXPECT_TIMEOUT_MS = 10_000


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it")
    pytest.skip(message)


def _cli(database: Path, *args: str) -> None:
    done = subprocess.run(
        [VIDEOLIKES, *args],
        env=command_env(f"sqlite+aiosqlite:///{database}"),
        capture_output=True,
        text=True,
        timeout=120,
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
    database = Path(tempfile.mkstemp(dir=directory, prefix="videolikes-", suffix=".db")[1])
    shutil.copyfile(template, database)
    log = database.with_suffix(".log")
    url = f"sqlite+aiosqlite:///{database}"
    with served.serving(url, log, settings={"LOG_LEVEL": "warning", **environment}) as server:
        yield Server(server.url, database, log)


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
