"""Settings from the environment, read once by the entry point and passed in explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from domain.db import DEFAULT_POOL_SIZE

DEV_SECRET_KEY = "meiye-development-secret-key-not-for-production"
DEV_DATA_KEY = "meiye-development-data-key-not-for-production!"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./meiye.db"
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """The server must not start with these settings."""


def _positive_int(env, name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEV_SECRET_KEY
    data_key: str = DEV_DATA_KEY
    token_ttl_seconds: int = 2 * 3600
    demo: bool = False
    # Addresses of reverse proxies whose X-Forwarded-For is believed (MEIYE_TRUSTED_PROXIES,
    # comma-separated); from anyone else the header is ignored, or a client could pick its own
    # address and escape login throttling.
    trusted_proxies: tuple[str, ...] = ()
    # The bearer token Prometheus sends for /metrics (MEIYE_METRICS_TOKEN); required in production,
    # where /metrics is refused without it, since it tells a stranger the traffic and the backlog.
    metrics_token: str | None = None
    # One JSON line per request on logger meiye.access (MEIYE_ACCESS_LOG=0 turns it off).
    access_log: bool = True
    # PostgreSQL connections each worker keeps (MEIYE_DB_POOL_SIZE): the requests it serves at once
    # without waiting for a connection, since a request holds at most one at a time.
    db_pool_size: int = DEFAULT_POOL_SIZE
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if environ is None else environ
        settings = cls(
            env=env.get("MEIYE_ENV", "development"),
            database_url=env.get("MEIYE_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=env.get("MEIYE_SECRET_KEY", DEV_SECRET_KEY),
            data_key=env.get("MEIYE_DATA_KEY", DEV_DATA_KEY),
            token_ttl_seconds=int(env.get("MEIYE_TOKEN_TTL_SECONDS", 2 * 3600)),
            trusted_proxies=tuple(p.strip() for p in env.get("MEIYE_TRUSTED_PROXIES", "").split(",") if p.strip()),
            metrics_token=env.get("MEIYE_METRICS_TOKEN") or None,
            access_log=env.get("MEIYE_ACCESS_LOG", "1") != "0",
            db_pool_size=_positive_int(env, "MEIYE_DB_POOL_SIZE", DEFAULT_POOL_SIZE),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def check(self) -> None:
        """Production refuses demo mode and development secrets (DESIGN.md §8)."""
        if not self.production:
            return
        if self.demo:
            raise ConfigError("--demo is refused in production (MEIYE_ENV=production)")
        for name, value, dev in (
            ("MEIYE_SECRET_KEY", self.secret_key, DEV_SECRET_KEY),
            ("MEIYE_DATA_KEY", self.data_key, DEV_DATA_KEY),
        ):
            if value == dev or len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(f"{name} must be set to a secret of at least {MIN_SECRET_LENGTH} characters in production")
        if self.secret_key == self.data_key:
            raise ConfigError("MEIYE_SECRET_KEY and MEIYE_DATA_KEY must differ")
