"""create_app(): the lifespan that builds shared clients, the routers and the error handlers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from videolikes.cache import TimedBody
from videolikes.captcha import recaptcha_client
from videolikes.catalogue import routes as videos
from videolikes.comments import routes as comments
from videolikes.comments.service import CommentService
from videolikes.config import Settings
from videolikes.cursors import Cursors
from videolikes.db.errors import describe, is_missing_schema_object, unavailable_reason
from videolikes.db.pooler import warn_unless_planned_for_values
from videolikes.db.read_routing import open_read_router
from videolikes.db.units import Database, create_engine
from videolikes.errors import (
    AppError,
    DatabaseUnavailable,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)
from videolikes.http.docs import add_docs
from videolikes.http.methods import allow_header
from videolikes.http.middleware import add_abuse_middleware, with_security_headers
from videolikes.http.observability import ObservedFastAPI
from videolikes.http.page import add_page
from videolikes.http.responses import error_response
from videolikes.http.slashes import redirect_trailing_slashes
from videolikes.identity import ClientIdentity
from videolikes.legacy_identity import LegacyIdentity
from videolikes.likes.routes import add_like_routes
from videolikes.likes.service import LikeService
from videolikes.logs import configure_logging
from videolikes.metrics import (
    CountedRecaptchaVerifier,
    forget_pool,
    observe_pool,
    release_process_metrics,
)
from videolikes.openapi import serve_corrected_openapi
from videolikes.ops import health
from videolikes.ops import routes as operations
from videolikes.ops.log_throttle import ThrottledLog
from videolikes.ops.readiness import Readiness
from videolikes.ratelimit import open_rate_limiter
from videolikes.state import AppState, app_state
from videolikes.users import routes as me
from videolikes.users.repository import legacy_users_remain
from videolikes.wire import INVALID_VIDEO_ID

_log = logging.getLogger(__name__)

_GC_YOUNG_THRESHOLD = 50_000
# A start must not wait on a silent database: unknown means look (the safe side).
_LEGACY_CHECK_SECONDS = 1.0


async def _legacy_identity(settings: Settings, database: Database) -> LegacyIdentity | None:
    """The lookup of the original's users, when this database may still hold some."""
    if settings.legacy_identity == "off":
        return None
    legacy = LegacyIdentity(
        secret=settings.ip_hash_secret.get_secret_value().encode(),
        salt=settings.legacy_ip_hash_salt.get_secret_value(),
    )
    if settings.legacy_identity == "on":
        return legacy
    try:
        async with asyncio.timeout(_LEGACY_CHECK_SECONDS), database.read() as conn:
            remain = await legacy_users_remain(conn)
    except (TimeoutError, DatabaseUnavailable, sqlalchemy.exc.DBAPIError):
        # Unknown (the database is down, or not migrated yet): looking is the safe side.
        _log.warning("could not tell whether users of the original service remain; looking")
        return legacy
    if remain:
        _log.info("users of the original service remain: returning visitors are looked up")
    return legacy if remain else None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.warn_about_development_defaults()
        database = Database(create_engine(settings), timeout=settings.database_timeout)
        observe_pool(database.engine)
        database.replicas = await open_read_router(settings, database)
        readiness = Readiness(database, settings.redis_url)
        # What would keep this process from serving (a schema never migrated, a database
        # that does not answer) is said now, once, rather than first by a failed request.
        await readiness.problems()
        if settings.database_pooler == "transaction" and not database.is_sqlite:
            await warn_unless_planned_for_values(database)
        secret = settings.recaptcha_secret_key
        async with (
            recaptcha_client(settings.recaptcha_max_connections) as http_client,
            open_rate_limiter(settings) as rate_limiter,
        ):
            app.state.services = AppState(
                settings=settings,
                database=database,
                identity=ClientIdentity(
                    secret=settings.ip_hash_secret.get_secret_value().encode(),
                    trusted_proxies=settings.trusted_proxies,
                    forwarded_header=settings.forwarded_header,
                    ipv6_prefix_length=settings.ipv6_prefix_length,
                    legacy=await _legacy_identity(settings, database),
                ),
                captcha=CountedRecaptchaVerifier(
                    client=http_client,
                    secret=secret.get_secret_value() if secret else None,
                    verify_url=settings.recaptcha_verify_url,
                    threshold=settings.recaptcha_threshold,
                    timeout=settings.recaptcha_timeout,
                    max_connections=settings.recaptcha_max_connections,
                    check_action=settings.recaptcha_check_action,
                    hostnames=settings.recaptcha_hostnames,
                ),
                likes=LikeService(database, dislikes=settings.dislikes_enabled),
                comments=CommentService(database, dislikes=settings.dislikes_enabled),
                video_list=TimedBody(settings.videos_cache_seconds),
                cursors=Cursors(settings.ip_hash_secret.get_secret_value().encode()),
                rate_limiter=rate_limiter,
                readiness=readiness,
            )
            # Under load the cyclic garbage collector took a share of the server's time
            # (BENCHMARKS.md). What exists now (modules, the app, its routes and clients) lives as
            # long as the process, so it leaves the collector's reach; and a young collection
            # scans every object of the requests in flight, so it runs per 50,000 allocations
            # instead of per 700. Request garbage is freed by reference counting either way.
            gc.freeze()
            gc.set_threshold(_GC_YOUNG_THRESHOLD, 20, 100)
            try:
                yield
            finally:
                await app.state.services.likes.aclose()
                await readiness.close()
                if database.replicas is not None:
                    await database.replicas.aclose()
                forget_pool(database.engine)
                await database.dispose()
                release_process_metrics()
                # An app that stops inside a longer-lived process (the tests) hands its
                # objects back, so they can be freed.
                gc.unfreeze()

    app = ObservedFastAPI(
        title="videolikes",
        summary="Anonymous likes for a video site, told apart by IP address.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is served from the package (routes/docs.py); FastAPI's pages need a CDN.
        docs_url=None,
        redoc_url=None,
    )
    for router in (videos.router, comments.router, me.router, health.router, operations.router):
        app.include_router(router)
    if settings.dislikes_enabled:
        app.include_router(comments.dislike_router)
    add_like_routes(app, dislikes=settings.dislikes_enabled)
    videos.add_whole_catalogue_route(app)
    add_page(app)
    add_docs(app)
    redirect_trailing_slashes(app)
    _add_error_handlers(app)
    serve_corrected_openapi(app, settings)
    add_abuse_middleware(app, settings)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def app_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        response = error_response(exc.status_code, exc.message)
        response.headers.update(exc.headers)
        return response

    async def invalid_input(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, _describe_validation_error(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        messages = {NotFound.status_code: NotFound.message, 405: MethodNotAllowed.message}
        message = messages.get(exc.status_code, str(exc.detail))
        response = error_response(exc.status_code, message)
        # A 405's Allow header, for one, says what the client may do instead.
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = allow_header(request.scope)
        return response

    database_log = ThrottledLog(_log)

    async def database_unavailable(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, DatabaseUnavailable)
        database_log.error(f"database unavailable: {exc.reason}")
        return error_response(ServiceUnavailable.status_code, ServiceUnavailable.message)

    async def unexpected(request: Request, exc: Exception) -> Response:
        return with_security_headers(await _unexpected_answer(request, exc))

    async def _unexpected_answer(request: Request, exc: Exception) -> Response:
        reason = unavailable_reason(exc)
        if reason is not None:
            return await database_unavailable(request, DatabaseUnavailable(reason))
        if is_missing_schema_object(exc):
            schema = await app_state(request).readiness.schema_problem()
            if schema is not None:
                database_log.error(
                    f"database unavailable: its schema is {schema} ({describe(exc)}): "
                    "run videolikes db upgrade"
                )
                return error_response(ServiceUnavailable.status_code, ServiceUnavailable.message)
        _log.exception("unexpected error", exc_info=exc)
        return error_response(500, "Internal server error")

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, invalid_input)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(DatabaseUnavailable, database_unavailable)
    app.add_exception_handler(Exception, unexpected)


def _describe_validation_error(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    location = first.get("loc", ())
    name = str(location[-1]) if location else "input"
    if name == "videoId":
        return INVALID_VIDEO_ID
    return f"Invalid {name}: {first.get('msg', 'malformed value')}"
