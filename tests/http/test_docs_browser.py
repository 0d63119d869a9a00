"""/docs in Debian's Chromium with every other host cut off: Swagger UI comes from the server.

A real `videolikes serve`; the browser may reach that server's origin and nothing else, and
any request elsewhere is refused and recorded. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import fastapi_offline
import httpx
import pytest
from browser_harness import ARTIFACTS, Server, chromium, require_chromium, seeded_database, serving
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, expect

pytestmark = pytest.mark.browser

DOCUMENTED_OPERATIONS = 16


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed() -> None:
    require_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("docs")
    with serving(seeded_database(directory), directory) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


class OfflinePage:
    """A page that can reach one origin; what it tried elsewhere and what its CSP refused."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.refused: list[str] = []
        self.policy_violations: list[str] = []
        page.route("**/*", self._only_the_origin)
        page.on("console", self._record_console)

    def _only_the_origin(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("internetdisconnected")

    def _record_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.policy_violations.append(message.text)


@pytest.fixture
def docs(browser: BrowserContext, server: Server) -> Iterator[OfflinePage]:
    page = browser.new_page()
    yield OfflinePage(page, server.url)
    page.close()


def test_docs_render_every_operation_offline_under_the_pages_own_policy(
    docs: OfflinePage, server: Server
) -> None:
    response = docs.page.goto(f"{server.url}/docs")
    assert response is not None
    assert response.status == 200

    expect(docs.page.locator(".opblock")).to_have_count(DOCUMENTED_OPERATIONS)
    expect(docs.page.get_by_text("Toggle this client's like", exact=True)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    docs.page.screenshot(path=ARTIFACTS / "docs.png")

    assert docs.refused == []
    assert docs.policy_violations == []
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy


def test_try_it_out_calls_this_server_from_the_docs(docs: OfflinePage, server: Server) -> None:
    docs.page.goto(f"{server.url}/docs")
    health = docs.page.locator(".opblock", has=docs.page.locator("[data-path='/health']"))
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    status = health.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("200")
    expect(health.locator(".live-responses-table")).to_contain_text('"status": "ok"')
    assert docs.refused == []
    assert docs.policy_violations == []


def test_the_swagger_ui_files_come_from_the_installed_package(server: Server) -> None:
    shipped = Path(fastapi_offline.__file__).parent / "static" / "swagger-ui-bundle.js"
    assert shipped.is_file()
    answer = httpx.get(f"{server.url}/static/swagger-ui-bundle.js", trust_env=False)
    assert answer.status_code == 200
    assert answer.content == shipped.read_bytes()
