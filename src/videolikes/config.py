"""Settings read once from the environment (see the README's configuration table)."""

from __future__ import annotations

import ipaddress
import logging
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import limits
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from videolikes.database_urls import engine_url
from videolikes.identity import IPNetwork
from videolikes.legacy_identity import ORIGINAL_SALT

DEVELOPMENT_IP_HASH_SECRET = "videolikes-development-secret-change-me"  # noqa: S105
DEFAULT_DATABASE_TIMEOUT = 5.0

_log = logging.getLogger(__name__)


_REQUIRED_IN_PRODUCTION = "must be set when ENVIRONMENT=production"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected value may be a secret, and errors end up on screens and
    # in logs (pydantic would print every variable read, secrets included).
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./videolikes.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # A request's whole time with the database: waiting for a connection and its statements.
    database_timeout: float = Field(default=DEFAULT_DATABASE_TIMEOUT, gt=0, le=60)
    # Servers for the reads that may lag, each a URL (libpq's list of servers allowed),
    # separated by whitespace since such a list holds commas.
    database_replica_urls: Annotated[list[str], NoDecode] = []
    # A replica further behind the primary than this is skipped until it catches up.
    database_replica_max_lag: float = Field(default=5.0, ge=0.1, le=3600)
    # `transaction`: PostgreSQL is reached through a pooler in transaction mode (pgbouncer),
    # which may hand each transaction to another server connection.
    database_pooler: Literal["none", "transaction"] = "none"
    redis_url: str | None = None

    # validate_default: production refuses the defaults, so they are checked too.
    recaptcha_secret_key: SecretStr | None = Field(default=None, validate_default=True)
    recaptcha_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    recaptcha_timeout: float = Field(default=3.0, gt=0, le=30)
    recaptcha_max_connections: int = Field(default=500, ge=1, le=10_000)
    recaptcha_verify_url: str = "https://www.google.com/recaptcha/api/siteverify"
    # Each write's token must carry its endpoint's action: like_video, post_comment or
    # like_comment (what the original web client asks for).
    recaptcha_check_action: bool = False
    # Replaced by recaptcha_check_action: one action cannot fit three endpoints.
    recaptcha_expected_action: str | None = None
    recaptcha_hostnames: Annotated[list[str], NoDecode] = []
    recaptcha_site_key: str | None = None

    ip_hash_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_IP_HASH_SECRET), validate_default=True
    )
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = []
    forwarded_header: Literal["x-forwarded-for", "x-real-ip", "forwarded"] = "x-forwarded-for"
    # Returning visitors of an adopted database: `auto` looks them up while the database still
    # holds users re-keyed from the original service's hashes (checked at start-up).
    legacy_identity: Literal["auto", "on", "off"] = "auto"
    legacy_ip_hash_salt: SecretStr = SecretStr(ORIGINAL_SALT)
    ipv6_prefix_length: int = Field(default=64, ge=1, le=128)

    # Off: the original's wire format exactly (userLike true or null, no dislikes anywhere).
    dislikes_enabled: bool = False

    rate_limit_enabled: bool = True
    rate_limit_general: str = "120/minute"
    rate_limit_writes: str = "30/minute"
    rate_limit_fail_open: bool = True
    redis_timeout: float = Field(default=0.2, gt=0, le=10)

    # The /api/videos body is reused this long per worker process, so its counters may be
    # this many seconds old; 0 reads the database on every request.
    videos_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    cors_origins: Annotated[list[str], NoDecode] = ["*"]

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Per worker process: the time a client has to send a request head, and the connections held.
    header_timeout: float = Field(default=5.0, gt=0, le=300)
    max_connections: int = Field(default=2048, ge=1, le=1_000_000)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url")
    @classmethod
    def _engine_url(cls, value: str) -> str:
        return engine_url(value)

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_replica_urls(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_engine_urls(cls, value: list[str]) -> list[str]:
        urls = []
        for position, url in enumerate(value, start=1):
            try:
                urls.append(engine_url(url))
            except ValueError as exc:
                raise ValueError(f"entry {position}: {exc}") from None
            if not urls[-1].startswith("postgresql"):
                raise ValueError(f"entry {position} is not a PostgreSQL URL")
        return urls

    @model_validator(mode="after")
    def _replicas_need_postgres(self) -> Settings:
        if self.database_replica_urls and self.is_sqlite:
            raise ValueError(
                "DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL (SQLite has no replicas)"
            )
        if self.database_replica_urls and self.workers > 1:
            self.require_shared_write_memory(self.workers)
        return self

    def require_shared_write_memory(self, workers: int) -> None:
        """Refuse replicas on several workers without Redis: each worker would remember only
        its own clients' writes, and a client's next read may reach another worker."""
        if self.database_replica_urls and workers > 1 and not self.redis_url:
            raise ValueError(
                "DATABASE_REPLICA_URLS with more than one worker needs REDIS_URL, where every "
                "worker finds each client's last write"
            )

    @field_validator("forwarded_header", "legacy_identity", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("recaptcha_hostnames", "cors_origins", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        items = _split_csv(value)
        if not isinstance(items, list):
            return items
        networks = []
        for position, item in enumerate(items, start=1):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except (TypeError, ValueError):
                # ipaddress's own message repeats the entry: errors never show a value.
                raise ValueError(
                    f"entry {position} is not an IP network such as 10.0.0.0/8"
                ) from None
        return networks

    @field_validator("rate_limit_general", "rate_limit_writes")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        try:
            amount = limits.parse(value).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError("expected a rate limit such as 120/minute or 10 per 5 minutes")
        return value

    @field_validator("recaptcha_secret_key", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    # One check per secret, not one for the model, so that every missing secret is reported at
    # once. ENVIRONMENT is declared first, so it is in info.data by now (unless it was invalid).
    @field_validator("ip_hash_secret")
    @classmethod
    def _ip_hash_secret_set_in_production(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        unset = value.get_secret_value() in ("", DEVELOPMENT_IP_HASH_SECRET)
        if unset and info.data.get("environment") == "production":
            raise ValueError(_REQUIRED_IN_PRODUCTION)
        return value

    @field_validator("recaptcha_secret_key")
    @classmethod
    def _recaptcha_secret_set_in_production(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        if value is None and info.data.get("environment") == "production":
            raise ValueError(_REQUIRED_IN_PRODUCTION)
        return value

    @field_validator("recaptcha_expected_action")
    @classmethod
    def _refuse_the_single_expected_action(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                "is replaced by RECAPTCHA_CHECK_ACTION=true: each endpoint checks its own "
                "action (like_video, post_comment, like_comment)"
            )
        return value

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def warn_about_development_defaults(self) -> None:
        if self.ip_hash_secret.get_secret_value() == DEVELOPMENT_IP_HASH_SECRET:
            _log.warning(
                "IP_HASH_SECRET is not set: using the development default. "
                "Client identities are guessable; set it before serving real traffic."
            )
        if self.recaptcha_secret_key is None:
            _log.warning("RECAPTCHA_SECRET_KEY is not set: reCAPTCHA checks are skipped.")


MASK = "********"


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{netloc}"))


def _describe(name: str, value: Any) -> str:
    if isinstance(value, SecretStr):
        if name == "ip_hash_secret" and value.get_secret_value() == DEVELOPMENT_IP_HASH_SECRET:
            return f"{MASK} (the development default)"
        return MASK
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    if name == "database_replica_urls":
        return " ".join(mask_url_password(url) for url in value) or "(none)"
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "(none)"
    if name.endswith("_url"):
        return mask_url_password(str(value))
    return str(value)


def effective_configuration(settings: Settings) -> list[tuple[str, str]]:
    """(ENVIRONMENT_VARIABLE, value) for every setting, secrets and URL passwords masked."""
    return [
        (name.upper(), _describe(name, getattr(settings, name)))
        for name in type(settings).model_fields
    ]


def settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting: its environment variable and what is wrong with it.

    Never the value: the settings hold secrets, and a wrong value is often a secret pasted
    into the wrong variable.
    """
    problems = []
    for detail in error.errors(include_url=False, include_context=False, include_input=False):
        location = detail["loc"]
        name = str(location[0]).upper() if location else "settings"
        problems.append(f"{name}: {detail['msg'].removeprefix('Value error, ')}")
    return problems
