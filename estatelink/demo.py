"""`estatelink demo`: central with its embedded broker, a card-reader simulator and a gateway, all on this machine."""
from __future__ import annotations

import argparse
import asyncio
import re
import signal
import socket
import sys
from pathlib import Path

from estatelink.demo_estate import RESIDENT_LOGIN, seed_demo_estate

EXAMPLE = Path(__file__).resolve().parents[1] / "edge_config" / "examples" / "demo.toml"
READER_LINK = "/tmp/estatelink-demo-reader"


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
    """One account per staff role (password DEMO_PASSWORD), through the same service as any user; returns an admin API token."""
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


_RELAYS: list[asyncio.Task[None]] = []


async def _spawn(name: str, *args: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "estatelink.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    _RELAYS.append(asyncio.create_task(_relay(name, process)))
    return process


async def _relay(name: str, process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        print(f"[{name}] {line.decode(errors='replace').rstrip()}", flush=True)


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


async def run_demo(args: argparse.Namespace) -> int:
    """Start every part, print where to look, and stop them all on Ctrl-C."""
    args.port = _port_or_free(args.port, "central HTTP API")
    args.broker_port = _port_or_free(args.broker_port, "embedded MQTT broker")
    var = Path(args.var).resolve()
    var.mkdir(parents=True, exist_ok=True)
    config = var / "gate-1.toml"
    config.write_text(demo_gateway_config(EXAMPLE.read_text(), broker_port=args.broker_port,
                                          outbox=var / "gate-1" / "outbox.sqlite", reader_link=READER_LINK))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    processes = []
    try:
        central = await _spawn("central", "central", "--database-url", f"sqlite:///{var / 'central.sqlite'}",
                               "--port", str(args.port), "--broker-protocol", "3.1.1",
                               "--embedded-broker-port", str(args.broker_port))
        processes.append(central)
        await _wait_healthy(args.port, central)
        token = await seed_demo_accounts(f"sqlite:///{var / 'central.sqlite'}")
        base = f"http://127.0.0.1:{args.port}/api/v1"
        seeded = await seed_demo_estate(base, token, DEMO_PASSWORD)
        print("demo estate records: " + (", ".join(f"{n} {kind}" for kind, n in seeded["created"].items())
                                          or "already imported, unchanged"), flush=True)
        processes.append(await _spawn("reader-sim", "sim", "card-reader", "--link", READER_LINK,
                                      "--rate", str(args.rate), "--garble", "0.05"))
        await asyncio.sleep(0.5)
        processes.append(await _spawn("gateway", "gateway", "--config", str(config)))
        print(f"\nEstateLink demo estate is running.\n"
              f"  events:     {base}/events?kind=card.read&order=desc\n"
              f"  gateways:   {base}/gateways\n"
              f"  health:     {base}/health\n"
              f"  API doc:    {base}/openapi.json\n"
              f"  data under: {var}\n"
              f"  residents:  {base}/estates/demo/residents   units: {base}/estates/demo/units\n"
              f"  attendance: {base}/estates/demo/attendance?month=YYYY-MM (staff cards tap the gate reader)\n"
              f"Accounts (password {DEMO_PASSWORD}): "
              f"{', '.join([*(name for name, _, _ in DEMO_ACCOUNTS), RESIDENT_LOGIN])}.\n"
              f"  log in:     curl -c jar -H 'Content-Type: application/json' "
              f"-d '{{\"username\":\"guard\",\"password\":\"{DEMO_PASSWORD}\"}}' {base}/auth/login\n"
              f"  or use an admin API token: curl -H 'Authorization: Bearer {token}' '{base}/events'\n"
              f"Press Ctrl-C to stop.\n", flush=True)
        waits = [asyncio.create_task(p.wait()) for p in processes]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if stopper not in done:
            print("a demo process exited on its own; stopping the rest", file=sys.stderr)
            return 1
        return 0
    finally:
        for process in reversed(processes):  # gateway first, central last, each given time to finish
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.wait(_RELAYS, timeout=5)  # print every last line the parts wrote
