"""The page in Debian's Chromium, driven by Playwright, against a real `videolikes serve`.

Server failures are real: the test changes the database under the running server. Screenshots
go to tests/artifacts/.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser_harness import (
    ARTIFACTS,
    Server,
    Visit,
    chromium,
    open_page,
    require_chromium,
    seeded_database,
    serving,
)
from fake_recaptcha import FakeRecaptcha
from playwright.sync_api import BrowserContext, Locator, Page, Route, expect

pytestmark = pytest.mark.browser

SITE_KEY = "6LcBrowserTestSiteKey"
RECAPTCHA_STUB = """
(() => {
  let issued = 0;
  window.grecaptcha = {
    ready(callback) { setTimeout(callback, 0); },
    execute(siteKey, options) {
      issued += 1;
      return Promise.resolve(`stub-${options.action}-${siteKey}-${issued}`);
    },
  };
})();
"""


ServerFactory = Callable[..., Server]


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed() -> None:
    # Autouse, so a missing Chromium skips before any server is started.
    require_chromium()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_database(tmp_path_factory.mktemp("browser"))


@pytest.fixture
def start_server(seeded_template: Path, tmp_path: Path) -> Iterator[ServerFactory]:
    with ExitStack() as running:

        def start(**environment: str) -> Server:
            return running.enter_context(serving(seeded_template, tmp_path, **environment))

        yield start


@pytest.fixture
def server(start_server: ServerFactory) -> Server:
    return start_server()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    # One Chromium for the module, on a fresh, empty profile.
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    # Every test's server listens on a new port, a new origin: nothing carries over.
    page = browser.new_page()
    yield page
    page.close()


def _length(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def test_like_counts_at_once_survives_a_reload_and_unlike_takes_it_back(
    server: Server, page: Page
) -> None:
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))

    first = visit.page.locator(".card").first
    top = catalogue[0]
    expect(first.locator(".title")).to_have_text(top["title"])
    expect(first.locator(".length")).to_have_text(_length(top["length"]))
    expect(first.locator(".views")).to_have_text(f"{top['views']:,} views")

    video = catalogue[1]["id"]
    before = visit.likes_shown(video)
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "false")

    visit.click_like(video)
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "true")
    assert visit.likes_shown(video) == before + 1
    assert server.get(f"/api/videos/{video}/like") == {"userLike": True}
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=ARTIFACTS / "page.png")

    visit.page.reload()
    expect(visit.page.locator(".card")).to_have_count(len(catalogue))
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "true")
    assert visit.likes_shown(video) == before + 1

    visit.click_like(video)
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "false")
    assert visit.likes_shown(video) == before
    assert server.get(f"/api/videos/{video}/like") == {"userLike": None}
    assert visit.policy_violations == []


def test_page_asks_for_a_page_of_videos_and_sends_no_recaptcha_without_a_site_key(
    server: Server, page: Page
) -> None:
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    visit.click_like(catalogue[0]["id"])

    urls = [request.url for request in visit.requests]
    assert f"{server.url}/api/videos?limit=50" in urls
    assert not [url for url in urls if "google.com" in url or "gstatic.com" in url]
    assert visit.writes()
    assert all("x-recaptcha-token" not in request.headers for request in visit.writes())


def test_like_of_a_video_deleted_meanwhile_says_so_and_restores_the_button(
    server: Server, page: Page
) -> None:
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[2]
    before = visit.likes_shown(video["id"])

    server.sql("DELETE FROM videos WHERE id = ?", video["id"])
    visit.click_like(video["id"])

    error = visit.card(video["id"]).locator(".card-error")
    expect(error).to_have_text(f"“{video['title']}” is no longer available (404: Video not found).")
    expect(visit.like_button(video["id"])).to_have_attribute("aria-pressed", "false")
    expect(visit.like_button(video["id"])).to_be_disabled()
    assert visit.likes_shown(video["id"]) == before


def test_server_error_is_shown_and_the_true_state_kept_until_the_database_is_back(
    start_server: ServerFactory, page: Page
) -> None:
    server = start_server(DATABASE_TIMEOUT="1")
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[0]["id"]
    button = visit.like_button(video)
    error = visit.card(video).locator(".card-error")
    visit.click_like(video)
    expect(button).to_have_attribute("aria-pressed", "true")
    liked_count = visit.likes_shown(video)

    # Another process holds the database's write lock past the server's DATABASE_TIMEOUT:
    # a real 503 from the real server.
    with closing(sqlite3.connect(server.database, isolation_level=None)) as other_writer:
        other_writer.execute("BEGIN IMMEDIATE")
        visit.click_like(video)
        expect(error).to_have_text(
            "The server could not save your like (503: Service unavailable). Try again later."
        )
        expect(button).to_have_attribute("aria-pressed", "true")
        assert visit.likes_shown(video) == liked_count
        ARTIFACTS.mkdir(exist_ok=True)
        visit.card(video).screenshot(path=ARTIFACTS / "page-server-error.png")

    visit.click_like(video)
    expect(error).to_be_empty()
    expect(button).to_have_attribute("aria-pressed", "false")
    assert visit.likes_shown(video) == liked_count - 1


def test_every_write_carries_a_fresh_recaptcha_token_for_action_like_video(
    start_server: ServerFactory, page: Page, fake_recaptcha: FakeRecaptcha
) -> None:
    server = start_server(
        RECAPTCHA_SITE_KEY=SITE_KEY,
        RECAPTCHA_SECRET_KEY="browser-test-secret",
        RECAPTCHA_VERIFY_URL=fake_recaptcha.url,
        RECAPTCHA_CHECK_ACTION="true",
    )
    scripts: list[str] = []

    def serve_stub(route: Route) -> None:
        scripts.append(route.request.url)
        route.fulfill(content_type="text/javascript", body=RECAPTCHA_STUB)

    # Google's script cannot be fetched here; a stand-in with its API answers for it.
    page.route("https://www.google.com/recaptcha/api.js*", serve_stub)
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[0]["id"]

    visit.click_like(video)
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "true")
    visit.click_like(video)
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "false")

    assert scripts == [f"https://www.google.com/recaptcha/api.js?render={SITE_KEY}"]
    tokens = [request.headers.get("x-recaptcha-token") for request in visit.writes()]
    assert all(token and token.startswith(f"stub-like_video-{SITE_KEY}-") for token in tokens)
    assert len(set(tokens)) == len(tokens)
    verified = [request.form["response"] for request in fake_recaptcha.requests]
    assert len(verified) == 2
    assert set(verified) <= set(tokens)
    assert visit.policy_violations == []


def test_like_button_works_from_the_keyboard(server: Server, page: Page) -> None:
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[0]["id"]

    visit.page.keyboard.press("Tab")  # the skip link comes first
    visit.page.keyboard.press("Tab")
    expect(visit.like_button(video)).to_be_focused()
    visit.page.keyboard.press("Space")
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "true")
    expect(visit.like_button(video)).to_be_focused()


def test_phone_screen_shows_one_column_without_sideways_scrolling_in_dark_mode(
    server: Server, page: Page
) -> None:
    catalogue = server.get("/api/videos")
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.goto(server.url)
    cards = page.locator(".card")
    expect(cards).to_have_count(len(catalogue))

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first, second = (cards.nth(i).bounding_box() for i in (0, 1))
    assert first is not None
    assert second is not None
    assert first["x"] == second["x"]
    assert second["y"] > first["y"] + first["height"]
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "page-phone-dark.png")


# Refusals the real server gives only under conditions a test cannot create cheaply (a rate
# limit, a rejected reCAPTCHA token, a dropped connection), answered by the browser itself:
# these pin the page's wording and its recovery, not the server's behaviour.
@dataclass(frozen=True)
class Refusal:
    status: int | None  # None: the connection fails
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)


SIMULATED_FAILURES = {
    "429": (
        Refusal(429, "Too many requests", {"Retry-After": "30"}),
        "Too many likes in a short time. Try again in 30 seconds.",
    ),
    "403": (
        Refusal(403, "reCAPTCHA verification failed"),
        "Your like was refused because the request could not be verified "
        "(403: reCAPTCHA verification failed). Reload the page and try again.",
    ),
    "network": (Refusal(None), "Could not reach the server. Check your connection and try again."),
}


@pytest.mark.parametrize("failure", SIMULATED_FAILURES)
def test_refused_or_lost_write_is_explained_and_the_button_restored(
    server: Server, page: Page, failure: str
) -> None:
    refusal, message = SIMULATED_FAILURES[failure]

    def refuse_writes(route: Route) -> None:
        if route.request.method == "GET":
            route.continue_()
        elif refusal.status is None:
            route.abort("connectionrefused")
        else:
            route.fulfill(
                status=refusal.status, headers=refusal.headers, json={"error": refusal.error}
            )

    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[0]["id"]
    before = visit.likes_shown(video)
    page.route(f"{server.url}/api/videos/*/like", refuse_writes)

    visit.click_like(video)
    expect(visit.card(video).locator(".card-error")).to_have_text(message)
    expect(visit.like_button(video)).to_have_attribute("aria-pressed", "false")
    expect(visit.like_button(video)).to_be_enabled()
    assert visit.likes_shown(video) == before
    assert server.get(f"/api/videos/{video}/like") == {"userLike": None}


def test_load_more_follows_the_link_header_until_the_last_page(server: Server, page: Page) -> None:
    catalogue = server.get("/api/videos")
    first_page = 20
    next_path = "/api/videos?limit=50&cursor=page-2"
    asked: list[str] = []

    # The server on this branch answers the whole list at once; the browser splits the real
    # answer into two pages joined by a Link header, as a paging server sends them.
    def two_pages(route: Route) -> None:
        asked.append(route.request.url.removeprefix(server.url))
        videos = route.fetch(url=f"{server.url}/api/videos").json()
        if route.request.url.endswith("cursor=page-2"):
            route.fulfill(json=videos[first_page:])
        else:
            link = f'<{next_path}>; rel="next"'
            route.fulfill(json=videos[:first_page], headers={"Link": link})

    page.route(f"{server.url}/api/videos?*", two_pages)
    visit = open_page(page, server.url, first_page)
    more = page.get_by_role("button", name="Load more videos")
    more.click()

    expect(page.locator(".card")).to_have_count(len(catalogue))
    expect(more).to_be_hidden()
    shown = page.locator(".card").evaluate_all("cards => cards.map(c => c.dataset.videoId)")
    assert shown == [video["id"] for video in catalogue]
    assert asked == ["/api/videos?limit=50", next_path]
    expect(page.locator("#status")).to_have_text(f"{len(catalogue)} videos")
    assert visit.policy_violations == []


def _open_comments(visit: Visit, video: str) -> Locator:
    section = visit.card(video).locator(".comments")
    section.locator(".comments-summary").click()
    expect(section.locator(".comments-status")).to_have_text("No comments yet.")
    return section


def _submit(form: Locator, text: str) -> None:
    form.locator("textarea").fill(text)
    form.locator("button").click()


def test_comment_reply_and_like_of_the_reply_survive_a_reload(
    start_server: ServerFactory, page: Page
) -> None:
    # A site key, so every write asks reCAPTCHA for its own action (the server does not check).
    server = start_server(RECAPTCHA_SITE_KEY=SITE_KEY)
    page.route(
        "https://www.google.com/recaptcha/api.js*",
        lambda route: route.fulfill(content_type="text/javascript", body=RECAPTCHA_STUB),
    )
    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[0]["id"]
    section = _open_comments(visit, video)

    _submit(section.locator(".comment-form").first, "  What a harbour view!  ")
    comment = section.locator(".comment-list > .comment")
    expect(comment).to_have_count(1)
    expect(comment.locator(".comment-content").first).to_have_text("What a harbour view!")
    expect(section.locator(".comments-summary")).to_have_text("Comments (1)")

    comment.locator(".comment-reply").click()
    _submit(comment.locator(".reply-form"), "Agreed!")
    reply = comment.locator(".reply-list > .comment")
    expect(reply).to_have_count(1)
    expect(reply.locator(".comment-content")).to_have_text("Agreed!")
    reply.locator(".comment-like").click()
    expect(reply.locator(".comment-like")).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".comment-likes")).to_have_text("1")
    ARTIFACTS.mkdir(exist_ok=True)
    visit.card(video).screenshot(path=ARTIFACTS / "page-comments.png")

    visit.page.reload()
    expect(visit.page.locator(".card")).to_have_count(len(catalogue))
    section = visit.card(video).locator(".comments")
    section.locator(".comments-summary").click()
    expect(section.locator(".comments-summary")).to_have_text("Comments (2)")
    comment = section.locator(".comment-list > .comment")
    expect(comment.locator(".comment-content").first).to_have_text("What a harbour view!")
    expect(comment.locator(".comment-like").first).to_have_attribute("aria-pressed", "false")
    reply = comment.locator(".reply-list > .comment")
    expect(reply.locator(".comment-content")).to_have_text("Agreed!")
    expect(reply.locator(".comment-like")).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".comment-likes")).to_have_text("1")

    tokens = [request.headers.get("x-recaptcha-token") or "" for request in visit.writes()]
    actions = [token.split("-")[1] for token in tokens]
    assert actions == ["post_comment", "post_comment", "like_comment"]
    stored = server.get(f"/api/videos/{video}/comments")
    assert stored["totalCount"] == 2
    assert stored["comments"][0]["replies"][0]["likes"] == 1
    assert visit.policy_violations == []


def test_a_refused_comment_says_why_and_keeps_the_text(server: Server, page: Page) -> None:
    refusal = "You have left too many comments already"

    def refuse_posts(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=429, json={"error": refusal})
        else:
            route.continue_()

    catalogue = server.get("/api/videos")
    visit = open_page(page, server.url, len(catalogue))
    video = catalogue[0]["id"]
    page.route(f"{server.url}/api/videos/*/comments", refuse_posts)
    section = _open_comments(visit, video)
    form = section.locator(".comment-form").first
    _submit(form, "one too many")
    expect(form.locator(".comment-error")).to_have_text(
        f"The server refused your comment: {refusal}."
    )
    expect(form.locator("textarea")).to_have_value("one too many")
    expect(section.locator(".comment-list > .comment")).to_have_count(0)
    _submit(form, "   ")
    expect(form.locator(".comment-error")).to_have_text("Write something first.")
