"""The long-running commands tune the process before serving (see ``claybridge.tuning``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from claybridge.tuning import GC_THRESHOLDS, settle_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.disable()  # no automatic collection may free the cycle before settle_heap does
    yield
    gc.enable()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("unfrozen")
def test_settle_heap_collects_garbage_then_freezes_what_is_left() -> None:
    """Cyclic garbage is collected first (not pinned), and the survivors are frozen."""
    garbage = _Node()
    ref = weakref.ref(garbage)
    kept = _Node()
    del garbage
    assert ref() is not None  # still there: only a collection frees a cycle
    settle_heap()
    assert ref() is None
    assert gc.get_freeze_count() > 0
    assert kept.me is kept


@pytest.mark.usefixtures("unfrozen")
def test_settle_heap_collects_the_young_generation_less_often() -> None:
    """After settling, the youngest generation waits for many more allocations than
    Python's default 700 before it is collected."""
    settle_heap()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700
