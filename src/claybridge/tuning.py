"""Process tuning for the long-running commands (``serve``, ``api``, ``worker``): the
one place where Claybridge changes how the interpreter itself runs.

Nothing here changes what Claybridge does, only how fast: a process that skips it (the
tests, the short CLI commands) behaves the same. Figures: ``docs/performance.md``.
"""

from __future__ import annotations

import gc
import sys

# The youngest generation is collected every GC_THRESHOLDS[0] net allocations (700 by
# default); the older two as usual.
GC_THRESHOLDS = (20_000, 50, 100)
# How often the interpreter offers the GIL to another thread, in seconds (5 ms default).
SWITCH_INTERVAL = 0.0005


def settle_heap() -> None:
    """Collect, then move everything built so far (modules, the app, its routes and
    schemas) out of the garbage collector's view, and collect the youngest generation
    less often.

    Why: a full collection walks every object the built app holds, and under load one
    ran every few seconds, setting the p99; after freezing, a collection walks only what
    requests create. A request allocates a few hundred containers, nearly all freed by
    reference counting, so collecting every 700 allocations mostly walked the objects of
    requests still in flight. Collecting first keeps today's garbage out of the frozen
    set. Once per process, by the long-running commands only: tests build many apps in
    one process and must not pin them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def tune_server() -> None:
    """Everything a serving process does before it serves: :func:`settle_heap`, and a
    short switch interval, because the group commit hands its COMMIT to a thread that
    must get the GIL back soon after its fsync (see :mod:`claybridge.ingest.committer`)."""
    settle_heap()
    sys.setswitchinterval(SWITCH_INTERVAL)
