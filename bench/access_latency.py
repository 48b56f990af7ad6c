"""Access decision latency in a real gateway: last byte of a card frame on a pty → the lock coil write at the
Modbus I/O module, with 100,000 cards in the credential cache while the gateway drains a 100,000-event outbox
backlog to Mosquitto.

    .venv/bin/python -m bench.access_latency [--quick] [--cards 100000] [--backlog 100000] [--runs 3]
                                             [--gateway-nice N]

Setup, once: an estate of `--cards` credentials (bench.access_decision.build_snapshot: 40 door groups, 59
doors, schedules, anti-passback gates) loaded into a cache file with AccessCache.replace_all. Each run: the
outbox pre-filled with `--backlog` card.read events; a gateway process (product defaults: outbox synchronous
= "full", linger 5 ms) with `--doors` lobby doors, each with its own pty card reader and a lock coil and door
contact on one simulated Modbus TCP I/O module (simulators.modbus_io, polled every 100 ms). The simulator runs
in a process of its own at nice -10 when the bench may (root): it stands for dedicated hardware, so what is
measured is the gateway. Once the module has reported every door, Mosquitto starts and an acker (its own
process, acking every contiguous sequence as central would) subscribes: the uplink comes back to a full
backlog. Taps go round the doors at `--rate` per second with cards that open them. The clock starts just
before os.write() of a frame (so it errs long) and stops at the time the simulator logs the coil write
(time.monotonic() in its request handler; one machine clock). Only taps made while the backlog was still
draining count; "merged" are taps whose door was still released, so no new coil write happened. Prints each
run and the median of the runs, and writes its section of docs/benchmarks.md unless --quick. Each tap's card.read also gives a split
at its `received_at` (the gateway's wall clock when the event is handed to the capture, a loop turn after the
pulse was started, so "received_at -> coil" can be slightly negative): how much is the pty and the reader
driver, how much the decision, the pulse and Modbus TCP.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt

from bench import _common as c
from bench.access_decision import build_snapshot
from drivers.ascii_reader import encode_card
from gateway.access import AccessCache
from simulators.card_reader import PtyCardReader
from simulators.modbus_io import ModbusIoSim
from tests.support.services import REPO, Mosquitto, Process, wait_until

TARGET_P99_MS = 10.0
SIM_NICE = -10
"""The simulator stands for an I/O module, dedicated hardware that no other program starves: when the bench may
(root), it runs at this priority, so what is measured is the gateway, not the simulator's turn for a CPU."""
ESTATE, GATEWAY = "demo", "gate-1"
PREFIX = f"estate/{ESTATE}/gw/{GATEWAY}"
_SEQ = re.compile(rb'"seq":(\d+)')


def sim_process() -> int:
    """`--sim`: the I/O module in a process of its own; prints its port, then "on COIL AT" per coil switched on."""
    async def serve() -> None:
        async with ModbusIoSim(inputs=8, coils=8) as sim:
            sim.inputs = [True] * 8
            print(f"port {await sim.serve_tcp()}", flush=True)
            shown = 0
            while True:
                await asyncio.sleep(0.02)
                writes, shown = sim.writes[shown:], len(sim.writes)
                for write in writes:
                    if write.on:
                        print(f"on {write.coil} {write.at:.6f}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


class SimLog:
    """The simulator process and the coil writes it reports, read on a thread of the bench."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.access_latency", "--sim"], cwd=REPO,
                                     stdout=subprocess.PIPE, text=True)
        self.niced = renice(self.proc.pid, SIM_NICE)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])
        self.on: dict[int, list[float]] = {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            _, coil, at = line.split()
            self.on.setdefault(int(coil), []).append(float(at))

    def first_on_after(self, coil: int, at: float) -> float | None:
        return next((when for when in list(self.on.get(coil, ())) if when >= at), None)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._thread.join(5)


def renice(pid: int, nice: int) -> bool:
    """Set every thread of a process to `nice` (threads created later inherit it); False if not permitted."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)
    except (OSError, PermissionError):
        return False
    return True


def acker(port: int) -> int:
    """`--ack PORT`: ack every contiguous sequence seen on the uplink, in a process of its own."""
    received: set[int] = set()
    acked = 0

    def on_connect(client, userdata, flags, reason, properties):  # noqa: ANN001
        client.subscribe(f"{PREFIX}/up/+", qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties):  # noqa: ANN001
        print("ready", flush=True)

    def on_message(client, userdata, message):  # noqa: ANN001
        nonlocal acked
        received.update(int(seq) for seq in _SEQ.findall(message.payload))
        before = acked
        while acked + 1 in received:
            received.discard(acked + 1)
            acked += 1
        if acked > before:
            client.publish(f"{PREFIX}/ack", orjson.dumps({"v": 1, "acked": acked}), qos=1, retain=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-acker", protocol=mqtt.MQTTv5)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect("127.0.0.1", port)
    client.loop_forever()
    return 0


class Watch:
    """The bench's own light MQTT client: the gateway's heartbeat, central's (the acker's) ack, and the taps'
    card.read events (their `received_at` is the gateway's clock when the driver handed the frame over)."""

    def __init__(self, port: int) -> None:
        self.state: dict = {}
        self.received: dict[str, float] = {}
        self.acked = 0
        self.drained_at: float | None = None
        self.backlog = 0
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-watch", protocol=mqtt.MQTTv5)
        self._client.on_connect = lambda client, *_: client.subscribe(
            [(f"{PREFIX}/state", 1), (f"{PREFIX}/ack", 1), (f"{PREFIX}/up/access", 1)])
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        if message.topic.endswith("/access"):
            if b'"device":"reader-' in message.payload:  # the backlog's events come from another device
                for event in orjson.loads(message.payload)["events"]:
                    if event["kind"] == "card.read":
                        self.received[event["data"]["card"]] = datetime.fromisoformat(event["received_at"]).timestamp()
            return
        body = orjson.loads(message.payload)
        if message.topic.endswith("/state"):
            self.state = body
        else:
            self.acked = body["acked"]
            if self.drained_at is None and self.acked >= self.backlog:
                self.drained_at = time.monotonic()

    def online(self, devices: list[str]) -> bool:
        found = self.state.get("devices") or {}
        return all((found.get(d) or {}).get("state") == "online" for d in devices)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def prepare(workdir: Path, cards: int, doors: int, rng: random.Random) -> dict[str, list[str]]:
    """Load the estate into workdir/access.sqlite; return {door: cards that open it now}."""
    snapshot, _, _ = build_snapshot(cards, rng)
    pools: dict[str, list[str]] = {f"block-{n:02d}-lobby": [] for n in range(1, doors + 1)}
    for credential in snapshot["records"]["credentials"]:
        for door in pools:
            if credential["state"] == "active" and door.removesuffix("-lobby") in credential["door_groups"] \
                    and credential["valid_until"] is None:
                pools[door].append(credential["card"])
    cache = AccessCache(workdir / "access.sqlite")
    began = time.perf_counter()
    cache.replace_all(snapshot)
    cache.close()
    print(f"cache: {cards:,} cards loaded in {time.perf_counter() - began:.1f} s; "
          f"{min(len(p) for p in pools.values())}+ cards per door")
    return pools


def config(path: Path, broker: str, run_dir: Path, cache: Path, readers: list[str], io_port: int) -> Path:
    """The gateway config: one lobby door per reader, each with a lock coil and a contact on the module."""
    text = f"""
[estate]
id = "{ESTATE}"
[gateway]
id = "{GATEWAY}"
[uplink]
broker = "{broker}"
ack_timeout_s = 5.0
heartbeat_s = 1.0
reconnect_min_s = 0.2
reconnect_max_s = 0.5
[outbox]
path = "{run_dir / 'outbox.sqlite'}"
[access]
cache_path = "{cache}"
[[devices]]
id = "door-io"
driver = "modbus_io"
port = "tcp://127.0.0.1:{io_port}"
inputs = 8
coils = 8
"""
    for n, port in enumerate(readers, 1):
        text += f'\n[[devices]]\nid = "reader-{n}"\ndriver = "ascii_reader"\nport = "{port}"\n'
        text += (f'\n[[doors]]\nid = "block-{n:02d}-lobby"\nreaders = ["reader-{n}"]\n'
                 f'lock = {{modbus = "door-io", coil = {n - 1}}}\ncontact = {{modbus = "door-io", input = {n - 1}}}\n'
                 "unlock_s = 0.05\n")
    path.write_text(text)
    return path


def door_states(outbox: Path) -> int:
    """How many door.state events the gateway has written (read-only, beside the running gateway)."""
    if not outbox.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)) as db:
        try:
            return db.execute("SELECT count(*) FROM outbox WHERE kind = 'door.state'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def one_run(number: int, base: Path, pools: dict[str, list[str]], args: argparse.Namespace) -> dict[str, float]:
    """One run: fresh broker, outbox and processes; taps while the backlog drains; returns its figures."""
    run_dir = base / f"run-{number}"
    run_dir.mkdir()
    shutil.copy(base / "access.sqlite", run_dir / "access.sqlite")
    fill_s = c.fill_outbox(run_dir / "outbox.sqlite", args.backlog, estate=ESTATE, gateway=GATEWAY)
    broker = Mosquitto(run_dir)  # not started yet: the uplink comes back to a full backlog
    io = SimLog()
    readers = [PtyCardReader("em4100") for _ in pools]
    watch: Watch | None = None
    ack: subprocess.Popen | None = None
    gateway = Process(["--log-level", "WARNING", "gateway", "--config",
                       str(config(run_dir / "gw.toml", broker.url, run_dir, run_dir / "access.sqlite",
                                  [r.port for r in readers], io.port))], run_dir / "gateway.log")
    try:
        gateway.start()
        if args.gateway_nice:
            renice(gateway.proc.pid, args.gateway_nice)  # at once, so the threads it starts inherit it
        wait_until(lambda: door_states(run_dir / "outbox.sqlite") >= len(readers), 60,
                   message="every door's first state (the I/O module online)")
        time.sleep(1.0)  # the readers open alongside the module
        broker.start()
        ack = subprocess.Popen([sys.executable, "-m", "bench.access_latency", "--ack", str(broker.port)], cwd=REPO,
                               stdout=subprocess.PIPE)
        assert ack.stdout is not None and ack.stdout.readline().strip() == b"ready"
        watch = Watch(broker.port)
        watch.backlog = args.backlog
        started = time.monotonic()
        taps: list[tuple[int, float, str, bool]] = []
        doors = list(pools)
        unused = {door: random.sample(cards, len(cards)) for door, cards in pools.items()}  # each tap its own card
        wall_offset = time.time() - time.monotonic()
        interval = 1 / args.rate
        next_at = time.monotonic()
        while watch.drained_at is None and len(taps) < args.max_taps:
            n = len(taps) % len(doors)
            card = unused[doors[n]].pop()
            frame = encode_card("em4100", card)
            before = time.monotonic()  # the last byte leaves within the write below: the clock errs long
            readers[n].write_raw(frame)
            taps.append((n, before, card, watch.drained_at is None))
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        wait_until(lambda: watch is not None and watch.drained_at is not None, 120, message="the backlog drained")
        time.sleep(0.5)
        samples = [(at, io.first_on_after(coil, at), card) for coil, at, card, draining in taps if draining]
        latencies = [(on - at) * 1000 for at, on, _ in samples if on is not None]
        handed = [(at, watch.received[card] - wall_offset, on) for at, on, card in samples
                  if on is not None and card in watch.received]
        to_gateway = [(got - at) * 1000 for at, got, _ in handed]
        to_coil = [(on - got) * 1000 for _, got, on in handed]
        missed = sum(1 for _, on, _ in samples if on is None)
        drain_s = watch.drained_at - started
    finally:
        gateway.stop()
        if ack is not None:
            ack.terminate()
            ack.wait(10)
        if watch is not None:
            watch.close()
        for reader in readers:
            reader.close()
        io.close()
        broker.stop()
    if not latencies:
        raise RuntimeError(f"run {number}: no tap fell inside the drain ({len(taps)} taps); see {run_dir}")
    result = {"p50": c.percentile(latencies, 50), "p90": c.percentile(latencies, 90),
              "p99": c.percentile(latencies, 99), "max": max(latencies),
              "over": sum(x > TARGET_P99_MS for x in latencies),
              "samples": len(latencies), "missed": missed, "drain_s": drain_s, "fill_s": fill_s,
              "pty_p50": c.percentile(to_gateway, 50), "pty_p99": c.percentile(to_gateway, 99),
              "gw_p50": c.percentile(to_coil, 50), "gw_p99": c.percentile(to_coil, 99)}
    print(f"run {number}: {len(latencies)} taps during the drain, p50 {result['p50']:.2f} ms, p90 {result['p90']:.2f} "
          f"ms, p99 {result['p99']:.2f} ms, max {result['max']:.2f} ms, {result['over']} over {TARGET_P99_MS:g} ms, "
          f"merged {missed}; backlog of {args.backlog:,} "
          f"drained {drain_s:.1f} s after the uplink came back ({args.backlog / drain_s:,.0f} events/s); "
          f"split at the event's received_at: frame -> received_at p50 {result['pty_p50']:.2f} / p99 "
          f"{result['pty_p99']:.2f} ms, received_at -> coil p50 {result['gw_p50']:.2f} / p99 {result['gw_p99']:.2f} ms")
    return result


def main() -> int:
    """Run the benchmark (or, with --ack / --sim, one of its helper processes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ack", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sim", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gateway-nice", type=int, default=0, help="run the gateway at this nice value (root)")
    parser.add_argument("--quick", action="store_true", help="10,000 cards, 20,000 events, 1 run")
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--doors", type=int, default=8, help="doors (each its own reader and coil), at most 8")
    parser.add_argument("--rate", type=float, default=100.0, help="taps per second, round the doors")
    parser.add_argument("--max-taps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.ack is not None:
        return acker(args.ack)
    if args.sim:
        return sim_process()
    if args.quick:
        args.cards, args.backlog, args.runs = 10_000, 20_000, 1
    line = c.machine_line(c.machine())
    print(line)
    random.seed(args.seed)
    with c.workdir("access-latency") as base:
        pools = prepare(base, args.cards, min(args.doors, 8), random.Random(args.seed))
        results = [one_run(n, base, pools, args) for n in range(1, args.runs + 1)]
    p50 = statistics.median(r["p50"] for r in results)
    p99 = statistics.median(r["p99"] for r in results)
    gw = statistics.median(r["gw_p99"] for r in results)
    verdict = "meets" if p99 <= TARGET_P99_MS else "misses"
    print(f"median of {len(results)} run(s): p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= {TARGET_P99_MS:.0f} ms: "
          f"{verdict}); received_at -> coil p99 {gw:.2f} ms; taps per run {[int(r['samples']) for r in results]}, "
          f"cards {args.cards:,}, backlog {args.backlog:,} events")
    if not args.quick:
        rows = [[n + 1, int(r["samples"]), f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['gw_p99']:.2f}"]
                for n, r in enumerate(results)]
        c.write_section("access_latency", f"""
## Access decision latency in a real gateway: card frame → lock coil written

`.venv/bin/python -m bench.access_latency` — {c.utc_date()}, {line}

From the last byte of a card frame on a pty to the lock coil write logged by the Modbus TCP I/O module
simulator, with {args.cards:,} cards in the gateway's credential cache, {min(args.doors, 8)} doors, taps at
{args.rate:.0f}/s counted only while the gateway drains a {args.backlog:,}-event outbox backlog to Mosquitto.
Target p99 ≤ 10 ms. **Median of {len(results)} runs: p50 {p50:.2f} ms, p99 {p99:.2f} ms.**

{c.table(["run", "taps during the drain", "p50 ms", "p99 ms", "event received_at → coil p99 ms"], rows)}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
