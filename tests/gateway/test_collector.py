"""gateway.collector: fewer cycle collections within the block, the old thresholds after."""

from __future__ import annotations

import gc

import pytest

from gateway.collector import RUN_GC_THRESHOLD, fewer_collections


def test_the_threshold_is_raised_within_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold() == (max(RUN_GC_THRESHOLD, before[0]), *before[1:])
        raise RuntimeError("the work failed")
    assert gc.get_threshold() == before


def test_a_higher_threshold_already_set_is_kept() -> None:
    before = gc.get_threshold()
    gc.set_threshold(RUN_GC_THRESHOLD * 2, *before[1:])
    try:
        with fewer_collections():
            assert gc.get_threshold()[0] == RUN_GC_THRESHOLD * 2
    finally:
        gc.set_threshold(*before)
