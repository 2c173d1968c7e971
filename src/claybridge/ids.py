"""Sortable identifiers: UUIDv7 (RFC 9562) as 32-char lower-case hex, prefixed by kind.

A UUIDv7 starts with the Unix time in milliseconds, so ids sort by creation time and
make good cursors for pagination. Within one millisecond a counter in the random bits
keeps ids from one process strictly increasing.
"""

from __future__ import annotations

import random
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0


_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)


def uuid7_hex(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as 32 hex characters; ``unix_ms`` overrides the time (tests)."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    with _lock:
        if ms > _last_ms:
            _last_ms = ms
            _counter = 0
        else:
            # Same (or earlier) millisecond: keep order with a 12-bit counter, and
            # borrow the next millisecond when it overflows.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        counter = _counter
    # Ids are identifiers, not secrets (tokens come from ``secrets``): a fast PRNG is fine.
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | counter << 64 | _VERSION_AND_VARIANT
    return f"{value | random.getrandbits(62):032x}"


def new_id(prefix: str) -> str:
    """A new sortable id such as ``evt_0192f…``; the prefix names the kind of record."""
    return f"{prefix}_{uuid7_hex()}"
