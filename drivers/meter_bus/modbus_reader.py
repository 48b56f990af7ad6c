"""Modbus meters on the bus, RTU on a serial line or TCP: pymodbus frames and PDUs, our own line owner.

pymodbus's client is not used: it owns its transport and reconnects on its own, waits with one timeout
for every request, and keeps no inter-frame silence, while this bus needs one owner that times each
transaction from its frame sizes. Its framers (FramerRTU with the CRC, FramerSocket with the MBAP header)
and its read-register PDU classes build and check the bytes, so no Modbus encoding is written here.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerBase, FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

from drivers.base import RemoteProtocolError
from drivers.meter_bus.errors import GarbledReply, MeterError, MeterRefused, MeterSilent
from drivers.meter_bus.line import BusLine
from drivers.meter_bus.reading import Reading
from drivers.modbus_meter import ReadBlock, Register, decode_block, plan_reads

_REQUESTS: dict[str, type[ModbusPDU]] = {"holding": ReadHoldingRegistersRequest, "input": ReadInputRegistersRequest}
_RTU_REPLY = 5  # unit, function, byte count, CRC (2): a read reply without its registers
_MAX_RTU_UNIT = 247


def _exception_name(code: int) -> str:
    try:
        return ExcCodes(code).name.lower()
    except ValueError:
        return f"code {code}"


class _Answer:
    """Waits for the reply of unit `unit_id` (and, over TCP, transaction `tid`) to one read of `block`.

    On RTU, `request` is what was sent: an adapter that hears its own transmission hands it back first,
    and that echo is dropped, as are bytes that no reply starts with (unit 0 is broadcast and never
    answers, 248..255 are reserved), such as the 00H or FFH a transceiver may emit turning the line round.
    """

    def __init__(self, framer: FramerBase, unit_id: int, tid: int, block: ReadBlock, *, request: bytes = b"") -> None:
        self._framer, self._unit, self._tid, self._block = framer, unit_id, tid, block
        self._buffer = bytearray()
        self._echo = request
        self._rtu = isinstance(framer, FramerRTU)

    def _skip_echo_and_glitches(self) -> bool:
        """Drop a leading echo of the request and bytes no RTU reply starts with; False while an echo is partial."""
        self._skip_glitches()
        if self._echo and self._buffer:
            if len(self._buffer) < len(self._echo) and self._echo.startswith(self._buffer):
                return False  # perhaps the echo, perhaps a reply that begins like it: wait for more
            if self._buffer.startswith(self._echo):
                del self._buffer[:len(self._echo)]
            self._echo = b""
            self._skip_glitches()
        return True

    def _skip_glitches(self) -> None:
        if self._rtu:
            while self._buffer and not 1 <= self._buffer[0] <= _MAX_RTU_UNIT:
                del self._buffer[0]

    def feed(self, data: bytes) -> list[int] | None:
        self._buffer += data
        if not self._skip_echo_and_glitches():
            return None
        while self._buffer:
            used, unit, tid, frame = self._framer.decode(bytes(self._buffer))
            if not used:
                return None
            if frame and isinstance(self._framer, FramerRTU) and self._buffer[1:1 + len(frame)] == frame:
                used = len(frame) + 3  # FramerRTU reports the whole buffer used: keep a frame that follows
            del self._buffer[:used]
            if not frame:  # FramerRTU consumed bytes it could not make a frame of: a bad CRC, or noise
                raise GarbledReply("a reply that fails its CRC", reason="bad_crc")
            if unit != self._unit or (self._tid and tid != self._tid):
                continue  # a late reply to an earlier request
            return self._registers(frame)
        return None

    def _registers(self, frame: bytes) -> list[int]:
        try:
            pdu = self._framer.decoder.decode(frame)
        except (ModbusException, ValueError, IndexError) as exc:
            raise GarbledReply(f"an undecodable reply: {exc}", reason="bad_pdu") from None
        code = self._block.function_code
        if pdu is not None and pdu.function_code == code | 0x80:
            raise MeterRefused(f"unit {self._unit} answered {self._block.function} register {self._block.start} "
                               f"with exception {_exception_name(pdu.exception_code)}")
        if pdu is None or pdu.function_code != code or len(pdu.registers) != self._block.count:
            raise GarbledReply(f"a reply that does not answer a read of {self._block.count} registers",
                               reason="bad_pdu")
        return list(pdu.registers)

    def expired(self) -> MeterError:
        if self._buffer:
            return GarbledReply(f"an incomplete reply ({len(self._buffer)} bytes)", reason="truncated")
        return MeterSilent(f"no reply from unit {self._unit}")


class ModbusReader:
    """Reads one unit's register map in the fewest requests (drivers.modbus_meter.plan_reads)."""

    def __init__(self, unit_id: int, registers: Sequence[Register], *, tcp: bool = False, max_gap: int = 0,
                 response_s: float = 0.5) -> None:
        if not (0 if tcp else 1) <= unit_id <= (255 if tcp else _MAX_RTU_UNIT):
            raise ValueError(f"unit id {unit_id} is out of range for Modbus {'TCP' if tcp else 'RTU'}")
        self.unit_id, self.response_s = unit_id, response_s
        self.blocks = plan_reads(registers, max_gap=max_gap)
        if not self.blocks:
            raise ValueError(f"unit {unit_id}: nothing to read")
        self._framer: FramerBase = (FramerSocket if tcp else FramerRTU)(DecodePDU(is_server=False))
        self._tcp = tcp
        self._tid = 0
        self.label = f"unit {unit_id}"

    async def poll(self, line: BusLine, out: list[Reading]) -> datetime | None:
        """One read per block; each block's values are appended once its reply decodes."""
        for block in self.blocks:
            registers = await self._read(line, block)
            try:
                values = decode_block(block, registers)
            except RemoteProtocolError as exc:
                raise GarbledReply(str(exc), reason="bad_value") from None
            out.extend(Reading(entry.name, values[entry.name], entry.unit, {"unit_id": self.unit_id})
                       for entry in block.entries)
        return None  # Modbus meters have no standard clock register

    async def _read(self, line: BusLine, block: ReadBlock) -> list[int]:
        if self._tcp:
            self._tid = self._tid % 65000 + 1
        pdu = _REQUESTS[block.function](address=block.start, count=block.count, dev_id=self.unit_id,
                                        transaction_id=self._tid)
        request = self._framer.buildFrame(pdu)
        echo = b"" if self._tcp else request
        return await line.transact(request, _Answer(self._framer, self.unit_id, self._tid, block, request=echo),
                                   reply_size=_RTU_REPLY + 2 * block.count, allowance_s=self.response_s)
