"""The meter bus adapter polling DL/T 645 meters that share a simulated line on a real pty."""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from drivers.dlt645 import DI_COMBINED_ACTIVE_TOTAL, DI_FORWARD_ACTIVE_TOTAL, DI_VOLTAGE_A
from drivers.meter_bus import Dlt645Reader, LineSpec, MeterSpec
from simulators.meter_bus_sim import MeterBusSim, SimFault
from simulators.meter_responders import Dlt645Meter
from tests.meter_bus.conftest import Bus, until

SHANGHAI = ZoneInfo("Asia/Shanghai")


def meters_for(sim: MeterBusSim, period: float, *, dis: tuple[int, ...] = (DI_FORWARD_ACTIVE_TOTAL,),
               response_s: float = 0.2, clock: bool = False) -> list[MeterSpec]:
    return [MeterSpec(f"m{i}", period, Dlt645Reader(meter.address, dis, read_clock=clock, response_s=response_s))
            for i, meter in enumerate(sim.meters)]


def line_of(sim: MeterBusSim, baudrate: int = 9600) -> LineSpec:
    assert sim.port is not None
    return LineSpec(sim.port, baudrate=baudrate, gap_s=3.5 * 11 / baudrate, turnaround_s=0.05)


async def test_readings_advance_and_become_events_with_their_fields() -> None:
    now = datetime.now(SHANGHAI).replace(tzinfo=None, microsecond=0)
    meters = [Dlt645Meter("000000000161", energy=Decimal("1234.56"), clock=now),
              Dlt645Meter("000000000162", energy=Decimal("20.00"), clock=now)]
    async with MeterBusSim(meters) as sim:
        specs = meters_for(sim, 0.2, dis=(DI_FORWARD_ACTIVE_TOTAL, DI_VOLTAGE_A), clock=True)
        async with Bus(line_of(sim), specs) as bus:
            first, voltage = (await bus.wait_for("m0", 2))[:2]
            sim.advance(3)
            await bus.wait_for_value("m0", "1234.59")
            await bus.wait_for_value("m1", "20.03")
    assert first.kind == "meter.reading"
    assert first.data == {"meter": "m0", "register": "forward_active_energy", "value": "1234.56", "unit": "kWh",
                          "quality": [], "di": "00010000", "address": "000000000161"}
    assert voltage.data["register"] == "voltage_a" and (voltage.data["value"], voltage.data["unit"]) == ("230.0", "V")
    assert first.device_time == now.replace(tzinfo=SHANGHAI)
    assert bus.stats.frames_rejected == 0 and (bus.stats.state, bus.stats.last_error) == ("online", None)
    assert bus.adapter.meter_states()["m1"]["state"] == "ok"


async def test_a_meter_clock_far_from_the_gateways_is_kept_as_data_not_as_device_time() -> None:
    async with MeterBusSim([Dlt645Meter("000000000161", clock=datetime(2001, 2, 3, 4, 5, 6))]) as sim:
        async with Bus(line_of(sim), meters_for(sim, 0.2, clock=True)) as bus:
            (event,) = (await bus.wait_for("m0"))[:1]
    assert event.device_time is None
    assert event.data["meter_clock"] == "2001-02-03T04:05:06+08:00"
    assert bus.stats.frames_rejected == 0  # the reading is good; only its time is not the meter's
    assert bus.adapter.meter_states()["m0"]["clock_skew_s"] < -365 * 86400


async def test_rollover_and_a_replaced_meter_are_reported_as_read() -> None:
    meters = [Dlt645Meter("000000000161", energy=Decimal("999999.98")), Dlt645Meter("000000000162")]
    async with MeterBusSim(meters) as sim:
        async with Bus(line_of(sim), meters_for(sim, 0.2)) as bus:
            await bus.wait_for_value("m0", "999999.98")
            sim.advance(3)  # past 999999.99 kWh the register starts again from zero
            await bus.wait_for_value("m0", "0.01")
            sim.meter("000000000162").replace("000000000162", energy=Decimal("7.00"))  # swapped, same address
            await bus.wait_for_value("m1", "7.00")
    assert bus.values("m0")[-1] == "0.01"
    assert bus.stats.frames_rejected == 0  # the central side judges rollovers and swaps; the bus reports them


async def test_a_wildcard_address_follows_a_meter_swapped_on_a_point_to_point_line() -> None:
    async with MeterBusSim([Dlt645Meter("000000000161", energy=Decimal("500.00"))]) as sim:
        spec = [MeterSpec("flat-12", 0.2, Dlt645Reader("AAAAAAAAAAAA", [DI_COMBINED_ACTIVE_TOTAL], response_s=0.2))]
        async with Bus(line_of(sim), spec) as bus:
            await bus.wait_for_value("flat-12", "500.00")
            sim.meters[0].replace("000000000999", energy=Decimal("0.00"))
            await bus.wait_for_value("flat-12", "0.00")
    addresses = [event.data["address"] for event in bus.readings("flat-12")]
    assert addresses[0] == "000000000161" and addresses[-1] == "000000000999"


async def test_garbled_replies_are_counted_and_skipped_and_the_meter_recovers() -> None:
    meters = [Dlt645Meter(f"00000000016{i}", energy=Decimal(100 * i)) for i in range(1, 4)]
    async with MeterBusSim(meters) as sim:
        sim.set_fault("000000000162", SimFault(garble=1.0))
        async with Bus(line_of(sim), meters_for(sim, 0.2), retry_s=0.1, backoff_max_s=0.2) as bus:
            await until(lambda: bus.stats.rejections.get("m1:bad_checksum", 0) >= 3)
            await bus.wait_for("m2", 3)
            assert bus.readings("m1") == []
            assert bus.adapter.meter_states()["m1"]["state"] == "garbled"
            assert bus.stats.state.startswith("degraded: m1=garbled (")
            assert bus.stats.last_error == "m1: bad_checksum in a 20-byte frame"
            sim.set_fault("000000000162", SimFault())
            await bus.wait_for_value("m1", "200.00")
    assert bus.stats.rejections["bad_checksum"] == bus.stats.rejections["m1:bad_checksum"]
    assert bus.adapter.meter_states()["m1"]["state"] == "ok" and bus.stats.state == "online"


async def test_a_slow_meters_late_reply_is_discarded_not_taken_for_its_neighbours() -> None:
    meters = [Dlt645Meter("000000000161", energy=Decimal("1.00")), Dlt645Meter("000000000162", energy=Decimal("2.00"))]
    async with MeterBusSim(meters) as sim:
        sim.set_fault("000000000161", SimFault(delay_ms=300))  # answers long after its deadline (about 150 ms)
        specs = meters_for(sim, 0.3, response_s=0.1)
        line = LineSpec(sim.port or "", baudrate=9600, gap_s=0.004, turnaround_s=0.4)
        async with Bus(line, specs, retry_s=0.1, backoff_max_s=0.2) as bus:
            await until(lambda: bus.stats.rejections.get("stray", 0) >= 2)
            await bus.wait_for("m1", 3)
    assert set(bus.values("m1")) == {"2.00"} and bus.readings("m0") == []
    assert bus.stats.rejections["m0:timeout"] >= 2


async def test_a_dead_meter_on_a_shared_bus_does_not_delay_the_others_polls() -> None:
    """Four healthy meters and three dead ones at 9600 baud, every meter due once a second.

    Polling each dead meter to its timeout every round (3 x 0.45 s) would stretch every round to about
    1.6 s. Here the dead are retried as often as the backoff allows (every second or so), yet each healthy
    meter keeps its period on average, and no poll of one comes later than one dead transaction allows.
    """
    meters = [Dlt645Meter(f"0000000001{i:02d}", energy=Decimal(i)) for i in range(7)]
    period = 1.0
    async with MeterBusSim(meters, baudrate=9600) as sim:
        dead = {meter.address for meter in meters[1::2]}
        for address in dead:
            sim.set_fault(address, SimFault(silent=True))
        specs = meters_for(sim, period, response_s=0.4)
        async with Bus(line_of(sim), specs, retry_s=0.5, backoff_max_s=1.0) as bus:
            await until(lambda: len(sim.requests) > 0)
            start = sim.requests[0][0]
            await until(lambda: sim.requests[-1][0] - start > 7.0, timeout=20.0)
    polls: dict[str, list[float]] = defaultdict(list)
    for at, address in sim.requests:
        polls[address].append(at)
    healthy = {address: times[1:] for address, times in polls.items() if address not in dead}  # round 1 finds the dead
    for times in healthy.values():
        assert len(times) >= 5
        # The k-th poll stays near k periods after the first: no period skipped, none stretched. Each poll
        # may wait for one dead meter's transaction (about 0.45 s) and the healthy polls due before it
        # (3 x 0.05 s), plus scheduling noise; without isolation each round would add some 0.6 s.
        drift = [at - k * period for k, at in enumerate(times)]
        assert (max(drift) - min(drift)) / period <= 0.8
        assert max(b - a for a, b in itertools.pairwise(times)) / period <= 1.8
    assert all(len(polls[address]) >= 3 for address in dead)  # the dead are still tried, with backoff
    states = bus.adapter.meter_states()
    assert {meter for meter, state in states.items() if state["state"] == "silent"} == {"m1", "m3", "m5"}
    assert bus.stats.rejections["timeout"] == sum(bus.stats.rejections[f"m{i}:timeout"] for i in (1, 3, 5))
    assert re.fullmatch(r"degraded: m1=silent \(\d+\), m3=silent \(\d+\), m5=silent \(\d+\)", bus.stats.state)
