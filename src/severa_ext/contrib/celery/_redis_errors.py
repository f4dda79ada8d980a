"""Redis failures as the package's own errors (no redis-py exception escapes)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from severa_ext.errors import SeveraExtError, StoreError

__all__ = ["redis_errors"]


@contextlib.contextmanager
def redis_errors(what: str, error: type[SeveraExtError] = StoreError) -> Iterator[None]:
    """Turn a ``redis.RedisError`` inside the block into ``error`` naming ``what``."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise error(f"{what}: Redis failed: {type(exc).__name__}: {exc}") from exc
