"""`estatelink demo`: central with its embedded broker, a simulator for every device family and a gateway,
all on this machine."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from estatelink.demo_devices import (COIL_ON, Simulator, gateway_part, reader_key, reader_simulators,
                                     serving_simulators, walk_through)
from estatelink.demo_estate import RESIDENT_LOGIN, seed_demo_estate

EXAMPLE = Path(__file__).resolve().parents[1] / "edge_config" / "examples" / "demo.toml"
READY_TIMEOUT_S = 60.0


def demo_gateway_config(example: str, *, broker_port: int, outbox: Path, reader_link: str) -> str:
    """The example demo config with this run's broker port, outbox path and reader link."""
    replacements = [
        (r'(?m)^broker\s*=.*$', f'broker = "mqtt://127.0.0.1:{broker_port}"'),
        (r'(?m)^path\s*=.*$', f'path = "{outbox}"'),
        (r'(?m)^port\s*=\s*"/tmp/estatelink-demo-reader"\s*$', f'port = "{reader_link}"'),
    ]
    for pattern, line in replacements:
        example, count = re.subn(pattern, line, example, count=1)
        if count != 1:
            raise RuntimeError(f"{EXAMPLE} no longer has a line matching {pattern!r}; update estatelink/demo.py")
    return example


def _port_or_free(preferred: int, what: str) -> int:
    """The preferred loopback port if free, else any free one (said out loud)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    print(f"port {preferred} is busy; the demo's {what} uses {port} instead", flush=True)
    return port


DEMO_PASSWORD = "EstateLink-demo-2026"
DEMO_ACCOUNTS = (("admin", "admin", ()), ("manager", "manager", ("demo",)), ("cashier", "cashier", ("demo",)),
                 ("guard", "guard", ("demo",)), ("technician", "technician", ("demo",)),
                 ("patrol", "patrol", ("demo",)))


async def seed_demo_accounts(database_url: str) -> str:
    """One account per staff role (password DEMO_PASSWORD), made by the auth service; returns an admin API token."""
    from sqlalchemy import select

    from central.auth import service
    from central.auth.models import User
    from central.auth.principal import SYSTEM
    from central.auth.roles import Role
    from central.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for username, role, estates in DEMO_ACCOUNTS:
                if not (await conn.execute(select(User.id).where(User.username == username))).first():
                    await service.create_user(conn, SYSTEM, service.NewUser(
                        username, DEMO_PASSWORD, Role(role), frozenset(estates)))
            admin_id = (await conn.execute(select(User.id).where(User.username == "admin"))).scalar_one()
            admin = await service.resolve_session_free_principal(conn, admin_id)
            return await service.create_token(conn, admin, "demo", days=1)
    finally:
        await engine.dispose()


@dataclass(eq=False)
class Part:
    """One process of the demo, its output relayed line by line under its name."""

    name: str
    process: asyncio.subprocess.Process
    stop_signal: int = signal.SIGTERM
    ready: asyncio.Future[re.Match[str]] | None = None
    relay: asyncio.Task[None] | None = field(default=None, repr=False)


async def _spawn(name: str, *argv: str, ready: re.Pattern[str] | None = None, stop_signal: int = signal.SIGTERM,
                 on_line: Callable[[Part, str], None] | None = None) -> Part:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdin=asyncio.subprocess.PIPE if on_line else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        process_group=0)  # a terminal's Ctrl-C reaches the demo alone, which stops the parts in order
    part = Part(name, process, stop_signal, asyncio.get_running_loop().create_future() if ready else None)
    part.relay = asyncio.create_task(_relay(part, ready, on_line))
    return part


async def _spawn_simulator(sim: Simulator, on_line: Callable[[Part, str], None] | None = None) -> Part:
    return await _spawn(sim.name, *sim.argv, ready=sim.ready, stop_signal=sim.stop, on_line=on_line)


async def _relay(part: Part, ready: re.Pattern[str] | None, on_line: Callable[[Part, str], None] | None) -> None:
    assert part.process.stdout is not None
    try:
        async for raw in part.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            print(f"[{part.name}] {line}", flush=True)
            if ready is not None and part.ready is not None and not part.ready.done() and \
                    (match := ready.search(line)):
                part.ready.set_result(match)
            if on_line is not None:
                on_line(part, line)
    finally:
        if part.ready is not None and not part.ready.done():
            part.ready.set_exception(RuntimeError(f"{part.name} exited before it was ready; see its output above"))


async def _ready(part: Part) -> re.Match[str]:
    assert part.ready is not None
    try:
        return await asyncio.wait_for(asyncio.shield(part.ready), READY_TIMEOUT_S)
    except TimeoutError:
        raise RuntimeError(f"{part.name} did not start within {READY_TIMEOUT_S:.0f}s") from None


_PASSAGES: set[asyncio.Task[None]] = set()


def _door_traffic(part: Part, line: str) -> None:
    """A lock coil switched on: someone walks through that door (the contact on the input of the same number)."""
    if (match := COIL_ON.search(line)) and part.process.stdin is not None:
        task = asyncio.create_task(walk_through(part.process.stdin, int(match.group(1))))
        _PASSAGES.add(task)
        task.add_done_callback(_PASSAGES.discard)


async def _wait_healthy(port: int, central: asyncio.subprocess.Process, timeout: float = 60) -> None:
    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if central.returncode is not None:
                raise RuntimeError("central exited during start-up; see its output above")
            try:
                async with session.get(f"http://127.0.0.1:{port}/api/v1/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"central did not become healthy within {timeout:.0f}s")


async def _pass_key(base: str, token: str) -> str:
    """Central's visitor-pass public key, as the gateway's [access] pass_public_key takes it."""
    import aiohttp

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session, \
            session.get(f"{base}/access/pass-key") as resp:
        resp.raise_for_status()
        return str((await resp.json())["public_key"])


async def _stop(parts: list[Part]) -> None:
    """Stop the parts together, each given time to finish."""
    async def stop(part: Part) -> None:
        if part.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                part.process.send_signal(part.stop_signal)
        try:
            await asyncio.wait_for(part.process.wait(), 10)
        except TimeoutError:
            part.process.kill()
            await part.process.wait()
    await asyncio.gather(*(stop(part) for part in parts))
    for part in parts:
        if part.relay is not None:
            await asyncio.wait([part.relay], timeout=5)
        if part.ready is not None and part.ready.done() and not part.ready.cancelled():
            part.ready.exception()  # a part that never got ready was reported when it mattered


@dataclass
class Parts:
    """What the demo has started so far, for stopping it."""

    central: Part | None = None
    simulators: list[Part] = field(default_factory=list)
    gateway: Part | None = None

    def all(self) -> list[Part]:
        """Every part started, central first."""
        return [part for part in (self.central, *self.simulators, self.gateway) if part is not None]


async def _start(args: argparse.Namespace, var: Path, parts: Parts) -> None:
    """Central and the simulators, the estate's records, then the gateway; prints where to look."""
    links, scbk = var / "dev", reader_key(var)
    links.mkdir(exist_ok=True)
    parts.central = await _spawn("central", "-m", "estatelink.cli", "central", "--database-url",
                                 f"sqlite:///{var / 'central.sqlite'}", "--port", str(args.port),
                                 "--broker-protocol", "3.1.1", "--embedded-broker-port", str(args.broker_port))
    for sim in serving_simulators(links):
        parts.simulators.append(await _spawn_simulator(sim, _door_traffic if sim.name == "io-sim" else None))
    await _wait_healthy(args.port, parts.central.process)
    token = await seed_demo_accounts(f"sqlite:///{var / 'central.sqlite'}")
    base = f"http://127.0.0.1:{args.port}/api/v1"
    seeded = await seed_demo_estate(base, token, DEMO_PASSWORD)
    print("demo estate records: " + (", ".join(f"{n} {kind}" for kind, n in seeded["created"].items())
                                      or "already imported, unchanged")
          + f"; cards issued now: {seeded['access']}, meters fitted now: {seeded['meters']}", flush=True)
    pass_key = await _pass_key(base, token)
    ports = {part.name: int(match.group(1)) for part in parts.simulators if (match := await _ready(part)).groups()}
    for sim in reader_simulators(links, scbk, args.rate):
        parts.simulators.append(await _spawn_simulator(sim))
    for part in parts.simulators:
        await _ready(part)
    config = var / "gate-1.toml"
    example = demo_gateway_config(EXAMPLE.read_text(), broker_port=args.broker_port,
                                  outbox=var / "gate-1" / "outbox.sqlite", reader_link=str(links / "main-gate-reader"))
    config.write_text(example.rstrip("\n") + "\n" + gateway_part(
        links, var, scbk, io_port=ports["io-sim"], modbus_port=ports["modbus-meter-sim"], pass_key=pass_key))
    parts.gateway = await _spawn("gateway", "-m", "estatelink.cli", "gateway", "--config", str(config))
    print(f"\nEstateLink demo estate is running.\n"
          f"  console:    http://127.0.0.1:{args.port}/console/  (log in as guard, password {DEMO_PASSWORD})\n"
          f"  events:     {base}/events?kind=card.read&order=desc\n"
          f"  access log: {base}/estates/demo/access/log\n"
          f"  meters:     {base}/estates/demo/meter-points (readings: {base}/meter-points/ID/readings)\n"
          f"  gateways:   {base}/gateways\n"
          f"  health:     {base}/health\n"
          f"  API doc:    {base}/openapi.json\n"
          f"  data under: {var} (gateway config: {config})\n"
          f"  residents:  {base}/estates/demo/residents   units: {base}/estates/demo/units\n"
          f"  attendance: {base}/estates/demo/attendance?month=YYYY-MM (staff cards tap the gate reader)\n"
          f"  devices:    main gate ASCII reader, side gate Wiegand reader, garage OSDP reader (secure channel), "
          f"Modbus I/O module (locks, door contacts), DL/T 645 and CJ/T 188 meter buses, Modbus TCP meters\n"
          f"Accounts (password {DEMO_PASSWORD}): "
          f"{', '.join([*(name for name, _, _ in DEMO_ACCOUNTS), RESIDENT_LOGIN])}.\n"
          f"  log in:     curl -c jar -H 'Content-Type: application/json' "
          f"-d '{{\"username\":\"guard\",\"password\":\"{DEMO_PASSWORD}\"}}' {base}/auth/login\n"
          f"  or use an admin API token: curl -H 'Authorization: Bearer {token}' '{base}/events'\n"
          f"Press Ctrl-C to stop.\n", flush=True)


async def run_demo(args: argparse.Namespace) -> int:
    """Start every part, print where to look, and stop them all on Ctrl-C."""
    args.port = _port_or_free(args.port, "central HTTP API")
    args.broker_port = _port_or_free(args.broker_port, "embedded MQTT broker")
    var = Path(args.var).resolve()
    var.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # the parts hear none of them: see _spawn
        loop.add_signal_handler(sig, stop.set)
    parts = Parts()
    stopper = asyncio.create_task(stop.wait())
    try:
        starting = asyncio.create_task(_start(args, var, parts))
        await asyncio.wait([starting, stopper], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        starting.result()
        waits = [asyncio.create_task(part.process.wait()) for part in parts.all()]
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if stopper not in done:
            print("a demo process exited on its own; stopping the rest", file=sys.stderr)
            return 1
        return 0
    finally:
        stopper.cancel()
        for task in list(_PASSAGES):
            task.cancel()
        # The gateway first, so it switches the locks off while the I/O module still answers; central last,
        # so the gateway's last events reach it.
        await _stop([parts.gateway] if parts.gateway else [])
        await _stop(parts.simulators)
        await _stop([parts.central] if parts.central else [])
        with contextlib.suppress(OSError):
            (var / "dev").rmdir()
