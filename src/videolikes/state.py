"""What the app's lifespan builds once and every request shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

# Types only: the state is built by the app, above every domain, and read by their routes.
if TYPE_CHECKING:
    from videolikes.cache import TimedBody
    from videolikes.captcha import RecaptchaVerifier
    from videolikes.comments.service import CommentService
    from videolikes.config import Settings
    from videolikes.cursors import Cursors
    from videolikes.db.units import Database
    from videolikes.identity import ClientIdentity
    from videolikes.likes.service import LikeService
    from videolikes.ops.readiness import Readiness
    from videolikes.ratelimit import RateLimiter


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    database: Database
    identity: ClientIdentity
    captcha: RecaptchaVerifier
    likes: LikeService
    comments: CommentService
    video_list: TimedBody[tuple[bytes, str]]
    cursors: Cursors
    readiness: Readiness
    rate_limiter: RateLimiter | None = None


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.services
    return state
