"""Token buckets: how often one caller (an API key, a client address, a user name) may ask
something of a server process."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS


@dataclass(slots=True)
class _Bucket:
    """A token bucket, in nanoseconds of credit: each request costs the period's worth
    divided by the rate, the bucket holds ``burst`` requests' worth."""

    credit: int
    at: int


class RateLimiter:
    """Per-caller token buckets of this process: ``rate`` requests per ``per_ns``
    nanoseconds, ``burst`` at once after a pause."""

    def __init__(self, rate: int, burst: int, *, per_ns: int = SECOND_NS) -> None:
        self._cost = per_ns // rate
        self._capacity = self._cost * burst
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, caller: Hashable, now: int) -> int:
        """0 when the caller may go on, else the nanoseconds until it may."""
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = _Bucket(self._capacity, now)
            bucket.credit = min(self._capacity, bucket.credit + now - bucket.at)
            bucket.at = now
            if bucket.credit >= self._cost:
                bucket.credit -= self._cost
                return 0
            return self._cost - bucket.credit
