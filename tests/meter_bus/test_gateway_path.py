"""From a config file to the outbox: the supervisor runs meter buses built by the gateway's factories."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from edge_config import parse_config
from gateway.capture import AsyncOutbox, Capture
from gateway.drivers import FACTORIES
from gateway.outbox import Outbox
from gateway.supervisor import Supervisor
from simulators.meter_bus_sim import MeterBusSim, SimFault
from simulators.meter_responders import Dlt645Meter
from simulators.modbus_meter import DEMO_UNITS, ModbusMeterSim
from tests.meter_bus.conftest import until

CONFIG = """
[estate]
id = "oakfield"
[gateway]
id = "plant-room"
[uplink]
broker = "mqtt://127.0.0.1:1883"
[outbox]
path = "outbox.sqlite"

[[devices]]
id = "block3-power"
driver = "meter_bus"
port = "{pty}"
protocol = "dlt645"
parity = "N"
period_s = 1
response_ms = 100
retry_s = 0.2
[[devices.meters]]
id = "b3-101-power"
address = "000000000101"
read_clock = true
[[devices.meters]]
id = "b3-102-power"
address = "000000000102"

[[devices]]
id = "boiler"
driver = "meter_bus"
port = "tcp://127.0.0.1:{tcp}"
protocol = "modbus_tcp"
period_s = 1
[[devices.meters]]
id = "boiler-water"
unit_id = 2
registers = [{{ name = "volume", address = 0, type = "uint32", order = "CDAB", scale = "0.001", unit = "m3" }}]
"""


async def test_readings_reach_the_outbox_and_the_heartbeat_names_a_silent_meter(tmp_path: Path) -> None:
    clock = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    meters = [Dlt645Meter("000000000101", energy=Decimal("42.00"), clock=clock), Dlt645Meter("000000000102")]
    async with MeterBusSim(meters) as line, ModbusMeterSim(DEMO_UNITS) as modbus:
        line.set_fault("000000000102", SimFault(silent=True))
        config = parse_config(CONFIG.format(pty=line.port, tcp=await modbus.serve_tcp()), base_dir=tmp_path)
        outbox = AsyncOutbox(Outbox(config.outbox.path, estate="oakfield", gateway="plant-room"))
        capture = Capture(outbox, lambda captured: None)
        supervisor = Supervisor(FACTORIES, capture.emitter)
        tasks = [asyncio.create_task(capture.run()), asyncio.create_task(supervisor.run(config.devices))]
        try:
            await until(lambda: outbox.outbox.next_seq > 4 and "b3-102-power=silent" in str(supervisor.states()))
            states = supervisor.states()
            events = [orjson.loads(c.body) for c in await outbox.call(outbox.outbox.read_after, 0)]
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await outbox.close()
    power = next(e for e in events if e["device"] == "block3-power")
    assert power["kind"] == "meter.reading" and power["data"]["meter"] == "b3-101-power"
    assert (power["data"]["value"], power["data"]["unit"]) == ("42.00", "kWh")
    assert datetime.fromisoformat(power["device_time"]) == clock.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    water = next(e for e in events if e["device"] == "boiler")
    assert (water["data"]["meter"], water["data"]["value"], water["data"]["unit"]) == ("boiler-water", "12.345", "m3")
    assert states["block3-power"]["state"].startswith("degraded: b3-102-power=silent (")
    assert states["block3-power"]["rejections"]["b3-102-power:timeout"] >= 1
    assert states["boiler"]["state"] == "online" and states["boiler"]["frames_rejected"] == 0
