"""The load scenarios, and the probes that tell whether an optional endpoint exists yet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.data import CLIENT_POOL, Scale, client_ip, video_id

_PROBE_CLIENT = client_ip(CLIENT_POOL)
# Enough pages to stand far from the first one without walking a whole large catalogue.
_MAX_PAGES_WALKED = 1_500


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    method: str
    paths: tuple[str, ...]
    clients: int = CLIENT_POOL

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def write_paths(self, directory: Path) -> Path:
        path = directory / f"paths-{self.key}.txt"
        path.write_text("\n".join(self.paths) + "\n")
        return path


@dataclass(frozen=True)
class Skipped:
    key: str
    title: str
    reason: str


def _like_path(index: int) -> str:
    return f"/api/videos/{video_id(index)}/like"


def scenarios(scale: Scale, base_url: str) -> list[Scenario | Skipped]:
    every_video = tuple(_like_path(i) for i in range(1, scale.videos + 1))
    status = Scenario("S1", "GET like status, random video and client", "GET", every_video)
    toggle = Scenario("S2", "POST toggle, random video and client", "POST", every_video)
    if scale.users:
        # Reads first: the writes add rows to a data set that is generated only once.
        return [status, _deep_page(scale, base_url), toggle]
    return [
        status,
        toggle,
        Scenario("S3", "GET /api/videos, the whole catalogue", "GET", ("/api/videos",)),
        Scenario("S4", "POST toggle on one hot video", "POST", (_like_path(1),)),
        Scenario(
            "S5",
            "POST toggle, 20 clients x 3 videos",
            "POST",
            tuple(_like_path(i) for i in (1, 2, 3)),
            clients=20,
        ),
        _put(every_video, base_url),
    ]


def _put(paths: tuple[str, ...], base_url: str) -> Scenario | Skipped:
    title = "PUT like, random video and client"
    answer = httpx.put(base_url + paths[0], headers={"X-Forwarded-For": _PROBE_CLIENT}, timeout=10)
    if answer.status_code == 405:
        return Skipped("S6", title, "the server has no PUT endpoint yet (405)")
    if not answer.is_success:
        return Skipped("S6", title, f"the PUT probe answered {answer.status_code}")
    return Scenario("S6", title, "PUT", paths)


def _deep_page(scale: Scale, base_url: str) -> Scenario | Skipped:
    """Pages of 50 from the second half of the walk along the `Link: rel=next` chain.

    Following the links keeps the harness independent of how cursors are spelled.
    """
    title = "GET /api/videos?limit=50, deep in the catalogue"
    pages: list[str] = []
    url: str | None = f"{base_url}/api/videos?limit=50"
    with httpx.Client(timeout=30) as client:
        while url is not None and len(pages) < _MAX_PAGES_WALKED:
            answer = client.get(url)
            if not answer.is_success:
                return Skipped("P1", title, f"the page probe answered {answer.status_code}")
            link = answer.links.get("next")
            if link is None and not pages:
                return Skipped("P1", title, "the server does not page /api/videos yet")
            parts = urlsplit(url)
            pages.append(f"{parts.path}?{parts.query}" if parts.query else parts.path)
            url = str(answer.url.join(link["url"])) if link else None
    deep = tuple(pages[len(pages) // 2 :])
    return Scenario("P1", f"{title} ({len(deep)} pages past page {len(pages) // 2})", "GET", deep)
