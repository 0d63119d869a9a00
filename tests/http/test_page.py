"""The page at `/` and its static files, as the server sends them (no browser needed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import Backend, make_settings, running_app

from videolikes.http.page import RECAPTCHA_FRAME_HOSTS, RECAPTCHA_SCRIPT_HOSTS

SITE_KEY = "6LcTestSiteKey-public_01"
SECRET_KEY = "secret-that-must-stay-on-the-server"


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    # The page does not touch the database; one backend is enough.
    return sqlite_backend


async def _get_page(database_url: str, **settings: str) -> httpx.Response:
    async with (
        running_app(make_settings(database_url, **settings)) as app,
        app.client() as client,
    ):
        return await client.get("/")


@pytest.fixture
async def page(database_url: str) -> httpx.Response:
    return await _get_page(database_url)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(database_url)) as app, app.client() as client:
        yield client


def _directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    name_and_value = (part.strip().partition(" ") for part in policy.split(";"))
    return {name: value for name, _, value in name_and_value}


def test_page_is_html_that_browsers_revalidate(page: httpx.Response) -> None:
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "<title>videolikes</title>" in page.text


def test_page_has_no_inline_script_or_style(page: httpx.Response) -> None:
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts
    assert all(" src=" in tag for tag in scripts)
    assert "<style" not in page.text
    assert " style=" not in page.text
    assert not re.search(r"\son[a-z]+=", page.text)


def test_page_without_site_key_allows_scripts_from_its_own_origin_only(
    page: httpx.Response,
) -> None:
    directives = _directives(page)
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "frame-src" not in directives
    assert 'data-recaptcha-site-key=""' in page.text


async def test_page_with_site_key_carries_it_and_allows_recaptcha_hosts(database_url: str) -> None:
    page = await _get_page(database_url, recaptcha_site_key=SITE_KEY)

    assert f'data-recaptcha-site-key="{SITE_KEY}"' in page.text
    directives = _directives(page)
    assert directives["script-src"] == f"'self' {RECAPTCHA_SCRIPT_HOSTS}"
    assert directives["frame-src"] == RECAPTCHA_FRAME_HOSTS
    assert directives["connect-src"] == "'self'"


async def test_page_never_contains_the_recaptcha_secret(database_url: str) -> None:
    page = await _get_page(
        database_url, recaptcha_site_key=SITE_KEY, recaptcha_secret_key=SECRET_KEY
    )
    assert SECRET_KEY not in page.text
    assert SECRET_KEY not in str(page.headers)


async def test_site_key_is_escaped_into_the_attribute(database_url: str) -> None:
    page = await _get_page(database_url, recaptcha_site_key='"><script>alert(1)</script>')
    assert "<script>alert(1)" not in page.text
    assert 'data-recaptcha-site-key="&quot;&gt;&lt;script&gt;' in page.text


async def test_every_asset_the_page_links_is_served(
    page: httpx.Response, client: httpx.AsyncClient
) -> None:
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert len(urls) == 3
    types: dict[str, str] = {}
    for url in urls:
        assert re.fullmatch(r"/static/[a-z]+\.[a-z]+\?v=[0-9a-f]{12}", url)
        response = await client.get(url)
        assert response.status_code == 200, url
        types[url.split("?")[0]] = response.headers["content-type"].split(";")[0]
    assert types == {
        "/static/app.js": "text/javascript",
        "/static/style.css": "text/css",
        "/static/icon.svg": "image/svg+xml",
    }


async def test_unknown_static_file_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/nothing-here.js")
    assert response.status_code == 404
