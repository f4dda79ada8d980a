"""Login rate limits: a sliding window per key (the address, the client address).

NIST SP 800-63B-4 (section 3.2.2) asks a verifier to limit failed attempts; the
one-time password already locks after its ``max_attempts`` (the SDK's rule), and this
window slows every login form down: at most ``limit`` attempts per key per ``window``.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

__all__ = ["MemoryRateLimiter"]


class MemoryRateLimiter:
    """Counts attempts per key in a sliding window; thread-safe, in memory.

    Args:
        limit: attempts allowed per key in one window.
        window: the window's length.
    """

    def __init__(self, *, limit: int = 10, window: timedelta = timedelta(minutes=15)) -> None:
        """Keep the limits."""
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._hits: dict[str, deque[datetime]] = {}

    def hit(self, key: str, now: datetime) -> float | None:
        """Count one attempt for ``key``; return ``None``, or seconds to wait if over."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1.0, (hits[0] + self.window - now).total_seconds())
            hits.append(now)
            return None

    def __repr__(self) -> str:
        return f"MemoryRateLimiter(limit={self.limit}, window={self.window})"
