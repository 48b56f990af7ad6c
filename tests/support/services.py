"""Real services for tests: Mosquitto on a free port, a fresh PostgreSQL database, central and gateway processes."""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import orjson
import urllib.error
import urllib.request

MOSQUITTO = "/usr/sbin/mosquitto"
PG_ADMIN_DSN = os.environ.get("ESTATELINK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[2]


_PORTS_FROM = 10000
_handed_out: set[int] = set()


def _port_block() -> range:
    """This test process's own ports: below the kernel's ephemeral range (from which every outgoing connection
    takes its local port, and which a port closed after bind(0) goes back to), split into one block per
    pytest-xdist worker so that two workers never hand out the same port."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), index + 1)
    size = (ephemeral - _PORTS_FROM) // count
    return range(_PORTS_FROM + index * size, _PORTS_FROM + (index + 1) * size) if size >= 100 else range(0)


def free_port() -> int:
    """A loopback port that nothing listens on, for a test to start a server on (or to find nobody at).

    Never the same one twice in a run, and outside the ephemeral range where possible: a port picked by bind(0)
    and closed again can be picked again by another worker, or taken as the local port of any outgoing connection
    (to PostgreSQL, a broker, an HTTP server), in the moment before the test's server binds it, or while a test
    has stopped its broker to start it again on the same port."""
    block = _port_block()
    for _ in range(200):
        if not block:
            break
        port = random.choice(block)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    while True:  # no block of our own (an unusual ephemeral range) or it is used up: any port the kernel gives
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Mosquitto:
    """A real Mosquitto on a free loopback port that a test can stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError(f"{MOSQUITTO} is missing: install the Debian package 'mosquitto'")
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "max_queued_messages 10000\nset_tcp_nodelay true\nuser root\n")
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def pg_admin(*statements: str) -> None:
    """Run statements one by one on the machine's PostgreSQL as its administrator (not from an event loop)."""
    import asyncio

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def create_pg_database() -> str:
    """A new empty database on the machine's PostgreSQL; returns its URL."""
    name = f"estatelink_test_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


class Process:
    """An `estatelink` subcommand as a child process, with its output in a log file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "estatelink.cli", *self.args],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def first_admin_token(database_url: str) -> str:
    """Create the admin account straight through the auth service (the CLI's own path is tested on its own,
    and a subprocess per test cost seconds); returns its API token."""
    async def create() -> str:
        from central.auth import service
        from central.auth.principal import SYSTEM
        from central.auth.roles import Role
        from central.db import create_engine

        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                user_id = await service.create_user(conn, SYSTEM, service.NewUser(
                    "admin", "correct-horse-9", Role.ADMIN, frozenset()))
                principal = await service.resolve_session_free_principal(conn, user_id)
                return await service.create_token(conn, principal, "tests")
        finally:
            await engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a test's own event loop may be running
        return pool.submit(asyncio.run, create()).result(60)


class Central(Process):
    def __init__(self, workdir: Path, database_url: str, broker_url: str, protocol: str = "5") -> None:
        self.port = free_port()
        self.database_url = database_url
        super().__init__(["central", "--database-url", database_url, "--broker-url", broker_url,
                          "--broker-protocol", protocol, "--port", str(self.port)], workdir / "central.log")

    token: str | None = None
    """An admin's API token, made on first start; api() sends it unless told otherwise."""

    def create_user(self, username: str, role: str, *estates: str, password: str = "correct-horse-9",
                    resident_id: int | None = None) -> str:
        """Create an account through the command line, as an installer would; returns its API token."""
        args = [sys.executable, "-m", "estatelink.cli", "--log-level", "WARNING", "central",
                "--database-url", self.database_url, "create-user", "--username", username, "--role", role,
                "--token", *[a for e in estates for a in ("--estate", e)]]
        if resident_id is not None:
            args += ["--resident-id", str(resident_id)]
        done = subprocess.run(args, input=password + "\n", capture_output=True, text=True, cwd=REPO, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def api(self, path: str, *, method: str = "GET", body: dict | None = None, token: str | None = "admin",
            headers: dict | None = None) -> tuple[int, dict]:
        bearer = self.token if token == "admin" else token
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1{path}", method=method,
            data=orjson.dumps(body) if body is not None else None,
            headers={**({"Authorization": f"Bearer {bearer}"} if bearer else {}),
                     **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, orjson.loads(err.read())

    def start(self, timeout: float = 30.0) -> None:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"central exited early:\n{self.output()[-3000:]}")
            try:
                status, _ = self.api("/health", token=None)
                if status == 200:
                    if self.token is None:
                        self.token = first_admin_token(self.database_url)
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"central not healthy after {timeout}s:\n{self.output()[-3000:]}")

    def all_events(self, **filters: str) -> list[dict]:
        """Every stored event, following the cursor."""
        items, cursor = [], None
        while True:
            query = "&".join([f"{k}={v}" for k, v in filters.items()] + ["limit=1000"] +
                             ([f"cursor={cursor}"] if cursor else []))
            status, page = self.api(f"/events?{query}")
            assert status == 200, page
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; returns its value or raises with the message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
