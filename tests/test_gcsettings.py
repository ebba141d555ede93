"""The garbage-collector settings from the environment, applied by service.lifespan() at the
app's startup (fast_channels/gcsettings.py)."""

from __future__ import annotations

import gc
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from fast_channels import gcsettings, service
from fast_channels.drain import drain_state


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The collector as it was; and what the lifespan's shutdown leaves behind (a drained
    process, its SIGTERM handler) undone, so later tests accept connections."""
    threshold, sigterm = gc.get_threshold(), signal.getsignal(signal.SIGTERM)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    drain_state.reset()
    signal.signal(signal.SIGTERM, sigterm)


@pytest.mark.usefixtures("restored_gc")
async def test_lifespan_applies_the_threshold_and_freezes_after_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(gcsettings.THRESHOLD_ENV, "50000,20,20")
    monkeypatch.setenv(gcsettings.FREEZE_ENV, "true")
    made_at_startup: list[object] = []

    @asynccontextmanager
    async def app_startup(app: object) -> AsyncIterator[None]:
        made_at_startup.append({"cached": [1, 2]})
        assert gc.get_freeze_count() == 0  # not yet: the app's startup comes first
        yield

    gc.unfreeze()
    async with service.lifespan(app_startup)(object()):
        assert gc.get_threshold() == (50000, 20, 20)
        assert gc.get_freeze_count() > 0
        startup_object = made_at_startup[0]  # frozen: no collection walks it any more
        assert not any(tracked is startup_object for tracked in gc.get_objects())


@pytest.mark.usefixtures("restored_gc")
async def test_nothing_changes_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gcsettings.THRESHOLD_ENV, raising=False)
    monkeypatch.setenv(gcsettings.FREEZE_ENV, "0")
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    async with service.lifespan()(object()):
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("value", ["", "a,b", "1,2,3,4", "-1", "700;10"])
def test_a_bad_threshold_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=gcsettings.THRESHOLD_ENV):
        gcsettings.parse_threshold(value)
