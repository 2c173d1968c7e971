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
# The top 64 bits of the last id: unix ms << 16 | version 7 << 12 | 12-bit counter. One
# integer, so that "same millisecond" is one comparison and the counter one addition.
_last = 0
_VERSION = 0x7 << 12
_VARIANT = 0b10 << 62


def uuid7_hex(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as 32 hex characters; ``unix_ms`` overrides the time (tests).

    Within one millisecond (or if the clock steps back) a 12-bit counter keeps this
    process's ids strictly increasing; when it overflows, the next millisecond is
    borrowed.
    """
    global _last
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    stamp = (ms & 0xFFFF_FFFF_FFFF) << 16 | _VERSION
    with _lock:
        if stamp > _last:
            _last = stamp
        elif _last & 0xFFF != 0xFFF:
            _last += 1
        else:
            _last = ((_last >> 16) + 1) << 16 | _VERSION
        stamp = _last
    # Ids are identifiers, not secrets (tokens come from ``secrets``): a fast PRNG is fine.
    return f"{stamp << 64 | _VARIANT | random.getrandbits(62):032x}"


def new_id(prefix: str) -> str:
    """A new sortable id such as ``evt_0192f…``; the prefix names the kind of record."""
    return f"{prefix}_{uuid7_hex()}"
