"""Domain errors carry their HTTP status; one handler in app.py renders them."""

from __future__ import annotations


class AppError(Exception):
    status_code: int = 500
    message: str = "Internal server error"
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only: subclasses replace it)

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    message = "Bad request"


class CaptchaTokenMissing(AppError):
    status_code = 403
    message = "Invalid request"


class CaptchaRejected(AppError):
    status_code = 403
    message = "reCAPTCHA verification failed"


class CaptchaUnavailable(AppError):
    status_code = 500
    message = "reCAPTCHA verification error"


class CaptchaBusy(CaptchaUnavailable):
    """Every connection to the verifier stayed busy for the whole timeout: this server is
    overloaded, not the verifier broken, so the client is told to come back."""

    status_code = 503
    message = "Service unavailable"
    headers = {"Retry-After": "1"}  # noqa: RUF012


class VideoNotFound(AppError):
    status_code = 404
    message = "Video not found"


class NotFound(AppError):
    status_code = 404
    message = "Not found"


class MethodNotAllowed(AppError):
    status_code = 405
    message = "Method not allowed"


class PayloadTooLarge(AppError):
    status_code = 413
    message = "Request body too large"


class TooManyRequests(AppError):
    status_code = 429
    message = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    message = "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot serve now; `reason` says why, for the log (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
