"""The meter bus adapter polling CJ/T 188 water meters that share a simulated line on a real pty."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from drivers.cjt188 import HOT_WATER
from drivers.meter_bus import Cjt188Reader, LineSpec, MeterSpec
from simulators.meter_bus_sim import MeterBusSim, SimFault
from simulators.meter_responders import Cjt188Meter
from tests.meter_bus.conftest import Bus, until

SHANGHAI = ZoneInfo("Asia/Shanghai")


def line_of(sim: MeterBusSim) -> LineSpec:
    assert sim.port is not None
    # 2400 baud as the meters ship, but no parity: Linux refuses even parity on a pty.
    return LineSpec(sim.port, baudrate=2400, parity="N", gap_s=0.016, turnaround_s=0.05)


async def test_volumes_advance_and_become_events_with_status_and_meter_time() -> None:
    now = datetime.now(SHANGHAI).replace(tzinfo=None, microsecond=0)
    meters = [Cjt188Meter("00000000000001", volume=Decimal("12.34"), clock=now, battery_low=True),
              Cjt188Meter("00000000000002", meter_type=HOT_WATER, volume=Decimal("5.00"), clock=None,
                          valve="closed", di_order="little")]
    async with MeterBusSim(meters) as sim:
        specs = [MeterSpec("w1", 0.2, Cjt188Reader("00000000000001", response_s=0.2)),
                 MeterSpec("w2", 0.2, Cjt188Reader("00000000000002", meter_type=HOT_WATER, di_order="little",
                                                   response_s=0.2))]
        async with Bus(line_of(sim), specs) as bus:
            first = (await bus.wait_for("w1"))[0]
            hot = (await bus.wait_for("w2"))[0]
            sim.advance(5)
            await bus.wait_for_value("w1", "12.39")
    assert first.kind == "meter.reading"
    assert first.data == {"meter": "w1", "register": "cumulative_flow", "value": "12.34", "unit": "m³",
                          "quality": [], "address": "00000000000001",
                          "status": {"valve": "open", "battery_low": True}}
    assert first.device_time == now.replace(tzinfo=SHANGHAI)
    assert hot.device_time is None  # a meter without a clock sends zeros: the gateway's time stands
    assert hot.data["status"] == {"valve": "closed", "battery_low": False} and hot.data["value"] == "5.00"
    assert bus.stats.frames_rejected == 0


async def test_rollover_and_a_replacement_with_a_new_address() -> None:
    meters = [Cjt188Meter("00000000000001", volume=Decimal("999999.99")), Cjt188Meter("00000000000002")]
    async with MeterBusSim(meters) as sim:
        specs = [MeterSpec(f"w{i}", 0.2, Cjt188Reader(m.address, response_s=0.2)) for i, m in enumerate(meters)]
        async with Bus(line_of(sim), specs, retry_s=0.1, backoff_max_s=0.2) as bus:
            await bus.wait_for_value("w0", "999999.99")
            sim.advance(2)
            await bus.wait_for_value("w0", "0.01")
            # A meter swapped for one with a new address no longer answers at the configured one: the
            # heartbeat names it as silent until the config follows the swap.
            sim.meters[1].replace("00000000000003", volume=Decimal("0.00"))
            await until(lambda: bus.adapter.meter_states()["w1"]["state"] == "silent")
    assert bus.stats.state == f"degraded: w1=silent ({bus.adapter.health['w1'].failures})"
    assert bus.stats.last_error == "w1: no reply to the 901FH read"


async def test_dropped_and_garbled_replies_are_counted_and_good_ones_kept() -> None:
    meters = [Cjt188Meter(f"0000000000000{i}", volume=Decimal(i)) for i in range(1, 4)]
    async with MeterBusSim(meters, seed=7) as sim:
        sim.set_fault("00000000000002", SimFault(garble=0.5, drop=0.3))
        specs = [MeterSpec(f"w{i}", 0.1, Cjt188Reader(m.address, response_s=0.1)) for i, m in enumerate(meters)]
        line = LineSpec(sim.port or "", baudrate=9600, gap_s=0.004, turnaround_s=0.05)
        async with Bus(line, specs, retry_s=0.1, backoff_max_s=0.1) as bus:
            await until(lambda: bus.stats.rejections.get("w1:bad_checksum", 0) >= 2
                        and bus.stats.rejections.get("w1:timeout", 0) >= 2 and len(bus.readings("w1")) >= 2)
    assert set(bus.values("w1")) == {"2.00"}
    assert bus.stats.frames_rejected == sum(n for key, n in bus.stats.rejections.items() if ":" not in key)
    assert all(not key.startswith(("w0:", "w2:")) for key in bus.stats.rejections)
