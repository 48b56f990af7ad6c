"""The device supervisor: restarts with backoff, never a tight loop."""
from __future__ import annotations

import asyncio

import pytest

from drivers.base import TransportError
from edge_config import DeviceConfig
from gateway import supervisor as supervisor_module
from gateway.supervisor import Supervised, Supervisor


class _Device:
    id = "flappy"
    driver = "flappy"
    enabled = True


async def _delays_for(driver_run, monkeypatch, n: int = 6) -> list[float]:
    delays: list[float] = []

    async def fake_sleep(delay):
        delays.append(delay)
        if len(delays) >= n:
            raise asyncio.CancelledError

    class Driver:
        def __init__(self, device, emit, stats):
            self.stats = stats

        async def run(self):
            await driver_run(self.stats)

    monkeypatch.setattr(supervisor_module.asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(supervisor_module.random, "uniform", lambda a, b: 1.0)
    supervisor = Supervisor({"flappy": Driver}, lambda device: None, backoff_min_s=0.5, backoff_max_s=30.0)
    device: DeviceConfig = _Device()  # type: ignore[assignment]
    with pytest.raises(asyncio.CancelledError):
        await supervisor._keep_running(Supervised(device, supervisor_module.DriverStats()))
    return delays


async def test_an_adapter_that_goes_online_then_fails_at_once_backs_off(monkeypatch):
    async def run(stats):
        stats.state = "online"       # the port opened...
        raise TransportError("read failed")   # ...and the first read failed

    delays = await _delays_for(run, monkeypatch)
    assert delays[-1] >= 8, f"restart delays {delays}: a device failing at once is restarted in a tight loop"


async def test_an_adapter_whose_run_returns_at_once_backs_off(monkeypatch):
    async def run(stats):
        stats.state = "online"

    delays = await _delays_for(run, monkeypatch)
    assert delays[-1] >= 8, f"restart delays {delays}"
