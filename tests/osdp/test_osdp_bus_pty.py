"""The OSDP bus adapter against simulated libosdp readers on a real pty, always with the secure channel."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from osdp import CardFormat, Command, CommandLEDColor

from drivers.base import DeviceEvent, LocalProtocolError, TransportError
from drivers.osdp import NotCapable, OsdpBusAdapter, ReaderOffline, ReaderSpec, UnknownReader
from drivers.wiegand import encode_bits
from simulators.osdp_reader import PtyOsdpBus
from tests.osdp.conftest import KEY, OTHER_KEY
from tests.osdp.harness import OFFLINE_TIMEOUT, Harness, until

GATE = ReaderSpec("gate-in", 101, KEY)
WHERE = {"reader": "osdp", "pd": "gate-in", "address": 101}


async def test_secure_channel_then_a_card_read() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        online = await bus.next("reader.online")
        assert online == DeviceEvent("reader.online", {**WHERE, "secure": True})
        assert sim.reader(101).secure
        assert bus.stats.state == "online"
        sim.reader(101).present_wiegand(18, 12345)
        read = await bus.next("card.read")
        assert read == DeviceEvent("card.read", {"card": "0001191993", "format": "wiegand", **WHERE, "bits": 26,
                                                 "facility": 18, "number": 12345})
        assert bus.stats.frames_ok > 0
        assert bus.stats.rejections == {}
        await bus.stop()


async def test_card_formats_and_a_bad_parity_read_is_skipped() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        reader = sim.reader(101)
        reader.present_bits(0xDEADBEEF, 32, CardFormat.Unspecified)
        reader.present_bits(0x123456789E >> 3, 37)
        reader.present_wiegand(1001, 54321, 34)
        reader.present_bits(encode_bits(18, 12345) ^ 1, 26)  # its odd parity bit flipped
        reader.present_wiegand(19, 4242)
        cards = [(await bus.next("card.read")).data for _ in range(4)]
        assert [(c["card"], c["format"], c["bits"]) for c in cards] == [
            ("DEADBEEF", "raw", 32), (str(0x123456789E >> 3), "wiegand", 37), ("0065655857", "wiegand", 34),
            ("0001249426", "wiegand", 26)]
        assert bus.stats.rejections == {"bad_parity": 1}
        await bus.stop()


async def test_wrong_key_never_comes_online_and_nothing_is_read(caplog: pytest.LogCaptureFixture) -> None:
    with PtyOsdpBus({101: OTHER_KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        offline = await bus.next("reader.offline")
        assert offline.data == {**WHERE, "reason": "secure_channel_failed"}
        assert bus.stats.state == "degraded: gate-in=offline (secure_channel_failed)"
        assert bus.stats.last_error == "reader gate-in: secure_channel_failed"
        assert "check its SCBK" in caplog.text
        sim.reader(101).present_wiegand(18, 12345)
        with pytest.raises(ReaderOffline):
            await bus.adapter.feedback("gate-in", True)
        await asyncio.sleep(2.0)  # several retries (every 0.2..0.5 s), each refused by the reader
        assert bus.kinds() == ["reader.offline"]
        assert sim.reader(101).commands == []
        await bus.stop()


async def test_install_mode_gives_a_new_reader_its_key(caplog: pytest.LogCaptureFixture) -> None:
    with PtyOsdpBus({101: None}) as sim:  # a reader fresh from the box: no key, SCBK-D only
        bus = Harness(sim.port, [ReaderSpec("gate-in", 101, KEY, install_mode=True)])
        await bus.next("reader.online")
        assert sim.reader(101).scbk == KEY
        assert [c["command"] for c in sim.reader(101).commands] == [Command.Keyset]
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("INSTALL MODE" in w and "turn install_mode off" in w for w in warnings)
        assert any("SCBK-D" in w for w in warnings)
        await until(lambda: any("set install_mode = false" in r.getMessage() for r in caplog.records))
        sim.reader(101).present_wiegand(18, 12345)
        assert (await bus.next("card.read")).data["card"] == "0001191993"
        await bus.stop()


async def test_a_new_reader_gets_no_key_unless_install_mode_is_set() -> None:
    with PtyOsdpBus({101: None}) as sim:
        bus = Harness(sim.port, [GATE])
        assert (await bus.next("reader.offline")).data["reason"] == "secure_channel_failed"
        await asyncio.sleep(1.0)
        assert sim.reader(101).scbk is None
        assert sim.reader(101).commands == []
        assert bus.kinds() == ["reader.offline"]
        await bus.stop()


async def test_grant_and_deny_feedback_reach_the_reader() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        reader = sim.reader(101)
        assert await bus.adapter.feedback("gate-in", True) == ["led", "buzzer"]
        await until(lambda: len(reader.buzzes()) == 1)
        assert reader.leds()[0]["on_color"] == CommandLEDColor.Green
        assert reader.buzzes()[0]["rep_count"] == 1
        assert await bus.adapter.feedback(101, False) == ["led", "buzzer"]  # by address as well as by id
        await until(lambda: len(reader.buzzes()) == 2)
        assert reader.leds()[1]["on_color"] == CommandLEDColor.Red
        assert reader.buzzes()[1]["rep_count"] == 3
        with pytest.raises(UnknownReader):
            await bus.adapter.feedback("gate-out", True)
        await bus.stop()


async def test_output_command_reaches_the_reader() -> None:
    with PtyOsdpBus({101: KEY}, outputs=2) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        await bus.adapter.output("gate-in", 1, 1500)
        await until(lambda: len(sim.reader(101).outputs()) == 1)
        assert sim.reader(101).outputs()[0] == {"command": Command.Output, "output_no": 1, "control_code": 5,
                                                "timer_count": 15}
        with pytest.raises(NotCapable, match="2 output"):  # refused here: a PD's NAK would end the session
            await bus.adapter.output("gate-in", 2, 1500)
        with pytest.raises(LocalProtocolError):
            await bus.adapter.output("gate-in", 0, -1)
        await bus.adapter.output("gate-in", 1, 0)
        await until(lambda: len(sim.reader(101).outputs()) == 2)
        assert sim.reader(101).outputs()[1]["control_code"] == 1
        assert bus.kinds() == ["reader.online"]
        await bus.stop()


async def test_tamper_power_and_keypad() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        reader = sim.reader(101)
        reader.report_status(tamper=True, power_failure=False)
        assert (await bus.next("reader.tamper")).data == {**WHERE, "tamper": True}
        reader.report_status(tamper=True, power_failure=True)
        assert (await bus.next("reader.power")).data == {**WHERE, "power_failure": True}
        reader.report_status(tamper=False, power_failure=False)
        assert (await bus.next("reader.tamper")).data["tamper"] is False
        assert (await bus.next("reader.power")).data["power_failure"] is False
        reader.press_keys("1234#")
        assert (await bus.next("keypad.input")).data == {**WHERE, "keys": "1234#"}
        assert bus.kinds() == ["reader.online", "reader.tamper", "reader.power", "reader.tamper", "reader.power",
                               "keypad.input"]
        await bus.stop()


async def test_a_silent_reader_goes_offline_alone_and_comes_back() -> None:
    with PtyOsdpBus({1: KEY, 2: OTHER_KEY}) as sim:
        bus = Harness(sim.port, [ReaderSpec("north", 1, KEY), ReaderSpec("south", 2, OTHER_KEY)])
        await bus.online("north", "south")
        sim.reader(2).silent = True
        offline = await bus.next("reader.offline", timeout=OFFLINE_TIMEOUT)
        assert offline.data == {"reader": "osdp", "pd": "south", "address": 2, "reason": "no_response"}
        assert bus.stats.state == "degraded: north=online, south=offline (no_response)"
        assert bus.adapter.reader_states() == {"north": "online", "south": "offline (no_response)"}
        sim.reader(1).present_wiegand(18, 12345)
        assert (await bus.next("card.read")).data["pd"] == "north"
        sim.reader(2).silent = False
        assert (await bus.next("reader.online")).data["pd"] == "south"
        assert bus.stats.state == "online"
        sim.reader(2).present_wiegand(19, 4242)
        assert (await bus.next("card.read")).data["pd"] == "south"
        await bus.stop()


async def test_a_slow_reader_within_osdp_limits_keeps_working() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        sim.reader(101).reply_delay_s = 0.05
        sim.reader(101).present_wiegand(18, 12345)
        assert (await bus.next("card.read")).data["card"] == "0001191993"
        await asyncio.sleep(1.0)
        assert "reader.offline" not in bus.kinds()
        await bus.stop()


async def test_a_reader_too_slow_to_answer_is_offline_until_it_is_quick_again() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        sim.reader(101).reply_delay_s = 0.5  # OSDP gives a PD 200 ms
        offline = await bus.next("reader.offline", timeout=OFFLINE_TIMEOUT)
        assert offline.data["reason"] in ("no_response", "secure_channel_failed")  # late replies are heard
        sim.reader(101).reply_delay_s = 0.0
        await bus.next("reader.online", timeout=OFFLINE_TIMEOUT)
        sim.reader(101).present_wiegand(18, 12345)
        assert (await bus.next("card.read")).data["card"] == "0001191993"
        await bus.stop()


async def test_noise_on_the_line_is_counted_and_the_next_card_is_read() -> None:
    with PtyOsdpBus({101: KEY}) as sim:
        bus = Harness(sim.port, [GATE])
        await bus.online("gate-in")
        sim.write_noise(b"\x00\x13\x37 static \xfe")
        sim.write_noise(b"\x53\xe5\xff\x7f\x04")  # a header claiming a 32 KiB packet
        sim.write_noise(bytes.fromhex("53e508000460aaaa"))  # a packet whose CRC is wrong
        await until(lambda: bus.stats.frames_rejected >= 3)
        assert set(bus.stats.rejections) == {"noise", "bad_length", "bad_check"}
        sim.reader(101).present_wiegand(18, 12345)
        # Noise that lands on a reply costs the secure session; the reader is back within a retry or two.
        assert (await bus.next("card.read", timeout=OFFLINE_TIMEOUT)).data["card"] == "0001191993"
        await bus.stop()


async def test_the_port_closing_ends_the_bus_with_readers_offline() -> None:
    sim = PtyOsdpBus({101: KEY})
    bus = Harness(sim.port, [GATE])
    await bus.online("gate-in")
    sim.close()
    assert (await bus.next("reader.offline")).data["reason"] == "bus_down"
    with pytest.raises(TransportError, match="line"):
        await asyncio.wait_for(bus.task, 10)
    with pytest.raises(ReaderOffline, match="not running"):
        await bus.adapter.feedback("gate-in", True)


async def test_missing_port_raises_transport_error(tmp_path: Path) -> None:
    bus = Harness(str(tmp_path / "ttyNONE"), [GATE])
    with pytest.raises(TransportError, match="cannot open"):
        await asyncio.wait_for(bus.task, 10)


@pytest.mark.parametrize(("port", "options", "message"), [
    ("tcp://10.0.0.5:4001", {}, "serial port"),
    ("/dev/ttyUSB0", {"baudrate": 4800}, "baud rate"),
    ("/dev/ttyUSB0", {"readers": []}, "at least one reader"),
    ("/dev/ttyUSB0", {"readers": [ReaderSpec("a", 127, KEY)]}, "0..126"),
    ("/dev/ttyUSB0", {"readers": [ReaderSpec("a", 1, KEY[:8])]}, "16 bytes"),
    ("/dev/ttyUSB0", {"readers": [ReaderSpec("a", 1, KEY), ReaderSpec("b", 1, KEY)]}, "addresss must be unique"),
    ("/dev/ttyUSB0", {"readers": [ReaderSpec("a", 1, KEY), ReaderSpec("a", 2, KEY)]}, "ids must be unique"),
    ("/dev/ttyUSB0", {"retry_s": (0.0, 1.0)}, "retry_s"),
])
def test_bad_options_fail_at_construction(port: str, options: dict[str, object], message: str) -> None:
    async def emit(_: DeviceEvent) -> None: ...

    arguments: dict[str, object] = {"readers": [GATE], **options}
    with pytest.raises(ValueError, match=message):
        OsdpBusAdapter("gate-osdp", port, emit=emit, **arguments)  # type: ignore[arg-type]


def test_the_key_is_never_shown() -> None:
    assert KEY.hex() not in repr(GATE) and repr(KEY) not in repr(GATE)
