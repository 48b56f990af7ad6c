"""The Modbus I/O adapter against the simulated module over real TCP: inputs, lock pulses and their safety,
a silent or unreachable module."""
from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator

import pytest
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer

from drivers.base import DeviceEvent
from drivers.modbus_io import InputChange, InputTracker, ModbusIoAdapter, ModuleOffline
from simulators.modbus_io import ModbusIoSim
from tests.support.leftovers import no_leftovers  # noqa: F401  (autouse)
from tests.support.services import free_port


class Rig:
    def __init__(self, sim: ModbusIoSim, port: int, **options: object) -> None:
        self.sim, self.events = sim, []
        self.adapter = ModbusIoAdapter("io", f"tcp://127.0.0.1:{port}", emit=self._emit, inputs=4, coils=4,
                                       poll_s=0.02, timeout_s=0.2, retry_s=(0.1, 0.4), **options)  # type: ignore[arg-type]
        self.task: asyncio.Task[None] | None = None

    async def _emit(self, event: DeviceEvent) -> None:
        self.events.append((event.kind, dict(event.data)))

    def kinds(self, kind: str) -> list[dict]:
        return [data for found, data in self.events if found == kind]

    async def start(self) -> None:
        self.task = asyncio.create_task(self.adapter.run())
        await until(lambda: self.adapter.online)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with ModbusIoSim(inputs=4, coils=4) as sim:
        port = await sim.serve_tcp()
        rig = Rig(sim, port, lock_coils=(0, 1))
        yield rig
        if rig.task is not None and not rig.task.done():
            await rig.stop()


def test_the_tracker_reports_everything_first_then_only_changes():
    tracker = InputTracker(3)
    assert tracker.update([True, False, True, False, False, False, False, False]) == [
        InputChange(0, True, True), InputChange(1, False, True), InputChange(2, True, True)]
    assert tracker.update([True, True, True]) == [InputChange(1, True)]
    assert tracker.update([True, True, True]) == []
    tracker.reset()
    assert len(tracker.update([False, False, False])) == 3


async def test_inputs_are_reported_on_connect_and_then_as_they_change(rig):
    rig.sim.inputs = [True, False, False, True]
    await rig.start()
    assert rig.kinds("io.input") == [{"input": n, "on": on, "initial": True}
                                     for n, on in enumerate((True, False, False, True))]
    rig.sim.set_input(0, False)
    await until(lambda: len(rig.kinds("io.input")) == 5)
    assert rig.kinds("io.input")[-1] == {"input": 0, "on": False, "initial": False}
    assert rig.adapter.stats.state == "online" and rig.adapter.stats.frames_ok > 1


async def test_lock_coils_are_switched_off_whenever_the_module_connects(rig):
    rig.sim.coils[1] = True  # left on by a gateway that died mid-pulse
    await rig.start()
    assert rig.sim.coils == [False] * 4
    assert [(w.coil, w.on) for w in rig.sim.writes] == [(0, False), (1, False)]


async def test_a_pulse_switches_on_then_off_and_a_second_lengthens_it(rig):
    await rig.start()
    began = time.monotonic()
    await rig.adapter.pulse(2, 0.3)
    returned = time.monotonic()
    assert rig.sim.coils[2] is True
    await asyncio.sleep(0.1)
    await rig.adapter.pulse(2, 0.3)  # the next tap while still released
    await until(lambda: not rig.sim.coils[2])
    [(on, off)] = rig.sim.pulses(2)
    assert began <= on <= returned  # switched on within the call, however loaded the machine
    assert 0.35 <= off - on <= 0.8, "lengthened to 0.1 + 0.3 s, not cut at 0.3 s"


async def test_a_pulse_asked_while_the_last_one_is_switching_off_switches_on_again(rig):
    await rig.start()
    await rig.adapter.pulse(3, 0.05)
    rig.sim.reply_delay_s = 0.1  # a slow module: the "off" takes a while to be confirmed
    await until(lambda: rig.sim.pulses(3)[-1][1] is not None, timeout=2)  # the off arrived, not yet answered
    rig.sim.reply_delay_s = 0.0
    await rig.adapter.pulse(3, 0.2)
    await until(lambda: len(rig.sim.pulses(3)) == 2 and rig.sim.pulses(3)[1][1] is not None)
    first, second = rig.sim.pulses(3)
    assert first[1] <= second[0] and second[1] - second[0] >= 0.15


async def test_a_cancelled_caller_does_not_leave_the_lock_open(rig):
    await rig.start()
    caller = asyncio.create_task(rig.adapter.pulse(2, 0.3))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await until(lambda: rig.sim.pulses(2) and rig.sim.pulses(2)[-1][1] is not None)
    [(on, off)] = rig.sim.pulses(2)
    assert 0.25 <= off - on <= 0.8 and rig.sim.coils[2] is False


async def test_stopping_the_adapter_mid_pulse_switches_the_coil_off(rig):
    await rig.start()
    await rig.adapter.pulse(0, 30)
    assert rig.sim.coils[0] is True
    stopped = time.monotonic()
    await rig.stop()
    assert rig.sim.coils[0] is False
    assert rig.sim.pulses(0)[-1][1] - stopped < 1.0


async def test_a_silent_module_is_reported_offline_once_and_back_online(rig):
    await rig.start()
    rig.sim.silent = True
    await until(lambda: rig.kinds("device.offline"))
    assert not rig.adapter.online and rig.adapter.stats.state == "offline"
    with pytest.raises(ModuleOffline):
        await rig.adapter.pulse(0, 1)
    await asyncio.sleep(0.8)  # several reconnects and timeouts: still one alarm
    assert rig.kinds("device.offline") == [{"device": "io"}]
    assert rig.adapter.stats.rejections["timeout"] >= 3
    rig.sim.silent = False
    await until(lambda: rig.kinds("device.online"), timeout=5)
    assert rig.adapter.online and rig.adapter.stats.last_error is None
    assert sum(1 for data in rig.kinds("io.input") if data["initial"]) == 8, "reported whole again"


async def test_an_unreachable_module_is_retried_with_backoff_until_it_appears():
    port = free_port()
    async with ModbusIoSim(inputs=2, coils=2) as sim:
        rig = Rig(sim, port)
        rig.task = asyncio.create_task(rig.adapter.run())
        await until(lambda: rig.kinds("device.offline"))
        await asyncio.sleep(0.6)
        attempts = rig.adapter.stats.rejections["connect"]
        assert 2 <= attempts <= 6, "backing off, not spinning"
        await sim.serve_tcp(port=port)
        await until(lambda: rig.adapter.online, timeout=5)
        assert rig.kinds("device.online") == [{"device": "io"}]
        await rig.stop()


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat for a linked pty pair")
async def test_the_same_module_over_modbus_rtu_on_a_serial_line(tmp_path):
    """Modbus RTU: pymodbus's serial server on one end of a socat-linked pty pair, the adapter on the other."""
    line_a, line_b = tmp_path / "rtu-module", tmp_path / "rtu-gateway"
    socat = await asyncio.create_subprocess_exec(
        "socat", f"pty,raw,echo=0,link={line_a}", f"pty,raw,echo=0,link={line_b}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await until(lambda: line_a.exists() and line_b.exists())
        sim = ModbusIoSim(inputs=4, coils=4)
        sim.inputs = [True, False, True, False]
        server = ModbusSerialServer(sim.devices(), framer=FramerType.RTU, port=str(line_a), baudrate=19200)
        await server.serve_forever(background=True)
        rig = Rig(sim, 0, lock_coils=(1,))
        rig.adapter = ModbusIoAdapter("io", str(line_b), emit=rig._emit, inputs=4, coils=4, baudrate=19200,
                                      poll_s=0.02, timeout_s=0.3, retry_s=(0.1, 0.4), lock_coils=(1,))
        await rig.start()
        await rig.adapter.pulse(2, 0.1)
        await until(lambda: sim.pulses(2) and sim.pulses(2)[-1][1] is not None)
        assert [(w.coil, w.on) for w in sim.writes] == [(1, False), (2, True), (2, False)]
        assert [d["on"] for d in rig.kinds("io.input")] == [True, False, True, False]
        await rig.stop()
        await server.shutdown()
    finally:
        socat.terminate()
        await socat.wait()
