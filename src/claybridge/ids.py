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


def uuid7_hex(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as 32 hex characters; ``unix_ms`` overrides the time (tests)."""
    global _last_ms, _counter
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    with _lock:
        if ms <= _last_ms:
            # Same (or earlier) millisecond: keep order with a 12-bit counter, and
            # borrow the next millisecond when it overflows.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        counter = _counter
    # Ids are identifiers, not secrets (tokens come from ``secrets``): a fast PRNG is fine.
    rand = random.getrandbits(62)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= rand
    return f"{value:032x}"


def new_id(prefix: str) -> str:
    """A new sortable id such as ``evt_0192f…``; the prefix names the kind of record."""
    return f"{prefix}_{uuid7_hex()}"
