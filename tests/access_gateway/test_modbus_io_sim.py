"""The Modbus I/O simulator as a real peer: `estatelink sim modbus-io` answers a pymodbus client, logs coil
writes, and opens doors on command; the threaded sim records pulses for tests."""
from __future__ import annotations

import select
import signal
import subprocess
import sys
import time

from pymodbus.client import ModbusTcpClient

from simulators.modbus_io import ThreadedModbusIoSim, apply_command
from tests.support.services import REPO


def read_line(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline().decode()
    raise AssertionError("no output from the simulator")


def test_the_command_line_sim_serves_logs_and_takes_commands():
    proc = subprocess.Popen([sys.executable, "-m", "estatelink.cli", "--log-level", "WARNING", "sim", "modbus-io",
                             "--port", "0", "--inputs", "4", "--coils", "2"], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = read_line(proc)
        assert banner.startswith("modbus-io tcp 127.0.0.1:"), banner
        port = int(banner.split()[2].split(":")[1])
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
        assert client.connect()
        try:
            assert client.read_discrete_inputs(0, count=4, device_id=1).bits[:4] == [True] * 4, "doors closed"
            assert not client.write_coil(1, True, device_id=1).isError()
            assert read_line(proc).split()[1:] == ["coil", "1", "ON"]
            proc.stdin.write(b"open 2\n")
            proc.stdin.flush()
            assert read_line(proc).strip() == "input 2 off"
            assert client.read_discrete_inputs(0, count=4, device_id=1).bits[:4] == [True, True, False, True]
            assert client.read_coils(0, count=2, device_id=1).bits[:2] == [False, True]
        finally:
            client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        proc.stdin.close()
        proc.stdout.close()


def test_the_threaded_sim_records_pulses_and_goes_silent():
    with ThreadedModbusIoSim(inputs=2, coils=2) as sim:
        client = ModbusTcpClient("127.0.0.1", port=sim.tcp_port, timeout=0.5, retries=0)
        assert client.connect()
        try:
            began = time.monotonic()
            client.write_coil(0, True, device_id=1)
            client.write_coil(0, False, device_id=1)
            [(on, off)] = sim.pulses(0)
            assert began <= on <= off and sim.first_on_after(0, began) == on
            assert client.write_coil(5, True, device_id=1).isError(), "no coil 5 on this module"
            assert client.read_coils(0, count=1, device_id=9).exception_code == 2, "another unit id: refused"
            sim.silent = True
            reply = None
            try:
                reply = client.read_discrete_inputs(0, count=2, device_id=1)
            except Exception:  # pymodbus raises on silence
                pass
            assert reply is None or reply.isError()
        finally:
            client.close()


def test_stdin_commands():
    class Sim:
        inputs = [True, True]
        silent = False

        def set_input(self, number: int, on: bool) -> None:
            self.inputs[number] = on

    sim = Sim()
    assert apply_command(sim, "open 1") == "input 1 off" and sim.inputs == [True, False]
    assert apply_command(sim, "close 1") == "input 1 on"
    assert apply_command(sim, "open 7").startswith("no input 7")
    assert apply_command(sim, "silent") == "silent" and sim.silent
    assert apply_command(sim, "answer") == "answering" and not sim.silent
    assert apply_command(sim, "dance").startswith("commands on stdin")
