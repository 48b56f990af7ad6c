"""What every benchmark shares: the machine description, docs/benchmarks.md sections, process CPU and
memory sampling, outbox pre-filling, a raw paho-mqtt baseline, and row counts in central's database."""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from drivers.base import DeviceEvent
from estatelink import wire
from gateway.outbox import Outbox, PendingEvent

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Measured with the scripts in `bench/` (`.venv/bin/python -m bench.NAME [--quick]`); each script rewrites
its own section below. The machine is a shared 2-core VM, so every figure is a median of repeated runs,
compared where it matters with a baseline measured in the same run. All traffic stays on 127.0.0.1: a
Mosquitto started by the script on a free port, and the machine's PostgreSQL for the PostgreSQL runs
(a fresh database per run, dropped afterwards).
"""


# --- the machine and the doc ------------------------------------------------------------------------

def utc_date() -> str:
    return subprocess.run(["date", "-u"], capture_output=True, text=True, check=True).stdout.strip()


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError):
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem_kib = int(match.group(1)) if match else 0
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "nproc": nproc,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
        "commit": rev + (" (with uncommitted changes)" if dirty else ""),
    }


def machine_line(info: dict[str, str]) -> str:
    return (f"{info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, Python {info['python']}, "
            f"Linux {info['kernel']}; load average at start {info['load']}; commit {info['commit']}")


def write_section(key: str, markdown: str) -> None:
    """Put `markdown` in docs/benchmarks.md between this benchmark's markers, replacing what was there."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    with open(DOC.with_suffix(".md.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else DOC_HEADER
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        tmp = DOC.with_suffix(".md.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, DOC)
    with contextlib.suppress(OSError):
        DOC.with_suffix(".md.lock").unlink()
    print(f"updated {DOC.relative_to(REPO)} (section {key})")


def table(headers: list[str], rows: list[list[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --- numbers -----------------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


# --- scratch space -------------------------------------------------------------------------------------

@contextlib.contextmanager
def workdir(name: str, keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"estatelink-bench-{name}-"))
    ok = False
    try:
        yield path
        ok = True
    finally:
        if ok and not keep:
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"(logs kept in {path})", file=sys.stderr)


# --- events ----------------------------------------------------------------------------------------------

def card(i: int, prefix: str = "1A") -> str:
    """A valid em4100 card id (10 hex digits) that varies with i."""
    return f"{prefix}{(0x00C3D5E7 + i * 7919) % 2**32:08X}"


def card_read(i: int, device: str = "main-gate-reader") -> PendingEvent:
    number = card(i)
    return PendingEvent(device, DeviceEvent("card.read", {"card": number, "format": "em4100",
                                                          "id_decimal": int(number[2:], 16)}), wire.utc_now())


def fill_outbox(path: Path, count: int, *, start: int = 0, chunk: int = 2000, estate: str = "demo",
                gateway: str = "gate-1") -> float:
    """Append `count` card.read events to the outbox file with Outbox.append_many; returns seconds taken."""
    began = time.monotonic()
    box = Outbox(path, estate=estate, gateway=gateway, max_events=max(1_000_000, 2 * count), synchronous="normal")
    try:
        done = 0
        while done < count:
            n = min(chunk, count - done)
            box.append_many([card_read(start + done + i) for i in range(n)])
            done += n
    finally:
        box.close()
    return time.monotonic() - began


def sample_envelope() -> bytes:
    """One realistic card.read envelope, as the outbox stores it."""
    import orjson
    item = card_read(1)
    return orjson.dumps(wire.envelope_dict(estate="demo", gateway="gate-1", seq=1, device=item.device,
                                           kind=item.event.kind, data=dict(item.event.data),
                                           received_at=item.received_at))


# --- central's database -------------------------------------------------------------------------------

def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def count_events(url: str) -> int:
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)) as db:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT count(*) FROM events")
        finally:
            await conn.close()
    return asyncio.run(count())


def acked_seq(central, gateway: str = "gate-1") -> int:  # noqa: ANN001
    try:
        status, body = central.api("/gateways")
    except OSError:
        return -1
    if status != 200:
        return -1
    for item in body.get("items", []):
        if item["gateway"] == gateway:
            return int(item["acked_seq"] or 0)
    return 0


def pg_backends(dbname: str) -> list[int]:
    """PIDs of PostgreSQL backends serving `dbname` (found by process title; no connection needed)."""
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if cmd.startswith("postgres:") and f" {dbname} " in f"{cmd} ":
            pids.append(proc.pid)
    return pids


# --- CPU and memory sampling --------------------------------------------------------------------------

@dataclass
class _Tracked:
    proc: psutil.Process
    first: float
    last: float


@dataclass
class CpuWatch:
    """Samples, once per `interval`, the CPU% (100 = one core) of each role's processes and the machine's."""

    roles: dict[str, Callable[[], list[int]]]
    interval: float = 1.0
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu_seconds: Counter = field(default_factory=Counter)
    machine: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tracked: dict[tuple[str, int], _Tracked] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpuwatch", daemon=True)
        self._started = 0.0
        self.wall = 0.0

    def __enter__(self) -> CpuWatch:
        psutil.cpu_percent(None)
        self._started = time.monotonic()
        self._poll(record=False)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def track(self) -> None:
        """Start tracking processes that appeared since the last sample (call right after starting one)."""
        self._poll(record=False)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._poll(record=False)
        self.wall = time.monotonic() - self._started
        for (role, _), t in self._tracked.items():
            self.cpu_seconds[role] += t.last - t.first

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll(record=True)
            self.machine.append(psutil.cpu_percent(None))

    def _poll(self, record: bool) -> None:
        with self._lock:
            self._poll_locked(record)

    def _poll_locked(self, record: bool) -> None:
        per_role: Counter = Counter()
        for role, pids in self.roles.items():
            for pid in pids():
                key = (role, pid)
                try:
                    if key not in self._tracked:
                        proc = psutil.Process(pid)
                        times = proc.cpu_times()
                        proc.cpu_percent(None)
                        self._tracked[key] = _Tracked(proc, times.user + times.system, times.user + times.system)
                        continue
                    t = self._tracked[key]
                    per_role[role] += t.proc.cpu_percent(None)
                    times = t.proc.cpu_times()
                    t.last = times.user + times.system
                except psutil.Error:
                    continue
        if record:
            for role in self.roles:
                self.samples[role].append(per_role[role])

    def summary(self) -> dict[str, dict[str, float]]:
        """Per role: median sampled CPU%, and average CPU% from CPU seconds over the watched wall time."""
        out = {}
        for role in self.roles:
            out[role] = {"median_pct": median(self.samples[role]),
                         "avg_pct": 100 * self.cpu_seconds[role] / self.wall if self.wall else float("nan"),
                         "cpu_s": self.cpu_seconds[role]}
        out["machine"] = {"median_pct": median(self.machine) * psutil.cpu_count() if self.machine else float("nan"),
                          "avg_pct": float("nan"), "cpu_s": float("nan")}
        return out


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


# --- the raw MQTT baseline ---------------------------------------------------------------------------

def paho_baseline(port: int, seconds: float = 5.0, inflight: int = 100, payload: bytes | None = None) -> float:
    """Messages/s a raw paho-mqtt client publishes, one event per QoS 1 message, counting PUBACKs.

    Keeps up to `inflight` messages unacknowledged (the gateway's uplink allows 100 too)."""
    import paho.mqtt.client as mqtt

    payload = payload or sample_envelope()
    window = threading.Semaphore(inflight)
    acked = 0
    connected = threading.Event()

    def on_connect(client, userdata, flags, reason, properties):  # noqa: ANN001
        connected.set()

    def on_publish(client, userdata, mid, reason, properties):  # noqa: ANN001
        nonlocal acked
        acked += 1
        window.release()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-baseline-{os.getpid()}",
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.on_connect, client.on_publish = on_connect, on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise TimeoutError("baseline client could not connect")
        began = time.monotonic()
        deadline = began + seconds
        while time.monotonic() < deadline:
            if window.acquire(timeout=0.05):
                client.publish("bench/baseline", payload, qos=1)
        done, elapsed = acked, time.monotonic() - began
    finally:
        client.disconnect()
        client.loop_stop()
    return done / elapsed


# --- py-spy ------------------------------------------------------------------------------------------------

def py_spy_start(pid: int, out: Path, rate: int = 100) -> subprocess.Popen | None:
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        print("py-spy is not installed in the venv (pip install py-spy); not profiling", file=sys.stderr)
        return None
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                             "--threads", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker.startswith("/lib/python3"):
                path = "stdlib:" + path.split("/", 1)[-1]
            break
    return f"{match['func']} ({path})"


def py_spy_report(raw: Path, top: int = 15, seconds: float | None = None, rate: int = 100) -> dict:
    """Aggregate py-spy's collapsed stacks: samples per thread, and top functions by self and total samples."""
    threads: Counter = Counter()
    self_count: Counter = Counter()
    total_count: Counter = Counter()
    total = 0
    if not raw.exists():
        return {"total": 0, "threads": {}, "self": [], "inclusive": []}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        threads[re.sub(r"\s*\(?0x[0-9a-f]+\)?", "", thread).strip() or thread] += count
        total += count
        if frames:
            self_count[_short(frames[-1])] += count
            for frame in {_short(f) for f in frames}:
                total_count[frame] += count
    expected = seconds * rate if seconds else None
    return {"total": total, "expected": expected, "threads": dict(threads.most_common()),
            "self": self_count.most_common(top), "inclusive": total_count.most_common(top * 3),
            "inclusive_all": dict(total_count)}


# --- TCP stalls on loopback (needs tcpdump and root) -----------------------------------------------------

def tcpdump_start(port: int, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("tcpdump")
    if exe is None:
        print("tcpdump is not installed (apt-get install tcpdump); no packet capture", file=sys.stderr)
        return None
    proc = subprocess.Popen([exe, "-i", "lo", "-nn", "-w", str(out), f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def tcpdump_stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(2)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def local_ports(pid: int, remote_port: int) -> list[int]:
    """Local ports of `pid`'s TCP connections to 127.0.0.1:remote_port."""
    return [conn.laddr.port for conn in psutil.Process(pid).net_connections(kind="tcp")
            if conn.raddr and conn.raddr.port == remote_port]


_SEGMENT = re.compile(r"^(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): Flags \[[^\]]*\].*length (\d+)")


def nagle_holds(pcap: Path, clients: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per client connection and direction: data segments, and those sent within 0.5 ms after a bare ACK
    from the other side (the kernel releasing a write that Nagle held back; a bare ACK never wakes the
    application), with how long that ACK took after the previous data segment (≈ the delayed-ACK wait)."""
    text = subprocess.run(["tcpdump", "-r", str(pcap), "-nn", "-tt"], capture_output=True, text=True).stdout
    names = {port: name for name, port in clients.items()}
    packets: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
    for line in text.splitlines():
        match = _SEGMENT.match(line)
        if not match:
            continue
        t, src, dst, length = float(match[1]), int(match[2]), int(match[3]), int(match[4])
        client = src if src in names else dst if dst in names else None
        if client is not None:
            packets[names[client]].append((t, "up" if src == client else "down", length))
    out = {}
    for name, pkts in packets.items():
        for way in ("up", "down"):
            other = "down" if way == "up" else "up"
            holds, last_data, prev = [], None, None
            data = 0
            for pkt in pkts:
                if pkt[1] == way and pkt[2] > 0:
                    data += 1
                    if (prev and prev[1] == other and prev[2] == 0 and pkt[0] - prev[0] < 0.0005
                            and last_data is not None and prev[0] - last_data > 0.010):
                        holds.append(1000 * (prev[0] - last_data))
                    last_data = pkt[0]
                prev = pkt
            out[f"{name} {'→ broker' if way == 'up' else '← broker'}"] = {
                "segments": data, "held": len(holds), "held_median_ms": median(holds) if holds else 0.0,
                "held_max_ms": max(holds) if holds else 0.0}
    return out
