"""graphsync.sync.apply.cycles_paused: Python's cycle collector off for a replay
batch, and as it was after, also when the batch raises."""

import gc

import pytest

from graphsync.sync.apply import cycles_paused


@pytest.fixture
def collector():
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("before", [True, False])
def test_the_collector_is_off_in_the_batch_and_as_it_was_after(collector, before):
    gc.enable() if before else gc.disable()
    with cycles_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is before


@pytest.mark.parametrize("before", [True, False])
def test_a_batch_that_raises_leaves_the_collector_as_it_was(collector, before):
    gc.enable() if before else gc.disable()
    with pytest.raises(ValueError), cycles_paused():
        raise ValueError("row refused")
    assert gc.isenabled() is before


def test_nested_pauses_restore_the_outer_state(collector):
    gc.enable()
    with cycles_paused():
        with cycles_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
