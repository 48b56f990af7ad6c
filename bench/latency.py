"""Card-to-central latency under load: last byte of a card frame on a pty → the event row visible in central.

    .venv/bin/python -m bench.latency [--quick] [--probes 200] [--runs 3] [--db sqlite,postgresql]

One gateway reads two pty card readers (simulators.card_reader.PtyCardReader): a background reader that a
thread feeds 1,000 frames/s, and a probe reader that gets ~5 frames/s with unique card numbers. For each probe
the clock starts right after os.write() of the frame's last byte and stops when a separate thread, polling
central's database directly every ~1 ms (`SELECT max(id)` and then the new rows; read-only sqlite3 on
central's SQLite file, asyncpg on PostgreSQL), first sees the row. The row's own timestamps split the time:
received_at (the gateway's clock when the driver handed the event over) and stored_at (central's clock when
it began the commit), and a separate MQTT subscriber (bench._tap) timestamps each probe at the broker. Variants
change config only (outbox.synchronous, uplink.linger_ms, Mosquitto set_tcp_nodelay); --pcap counts TCP stalls.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench import _common as c
from drivers.ascii_reader.codec import encode_card
from simulators.card_reader import PtyCardReader
from tests.support.gateway_config import gateway_toml
from tests.support.services import Central, Mosquitto, Process, create_pg_database, drop_pg_database, wait_until

TARGET_P99_MS = 100.0
LOAD_RATE = 1000.0
PROBE_RATE = 5.0
PROBE_DEVICE, LOAD_DEVICE = "probe-reader", "load-reader"
VARIANTS = {
    "default": {},  # outbox.synchronous = "full", uplink.linger_ms = 5 (the product defaults)
    "sync-normal": {"synchronous": "normal"},
    "linger-0": {"linger_ms": 0},
    "normal+linger-0": {"synchronous": "normal", "linger_ms": 0},
    "broker-nodelay": {"broker_nodelay": True},  # Mosquitto `set_tcp_nodelay true`; gateway config as default
}


def gateway_config(path: Path, *, broker_url: str, outbox: Path, probe_port: str, load_port: str,
                   synchronous: str = "full", linger_ms: int | None = None) -> Path:
    text = gateway_toml(broker_url=broker_url, outbox=outbox, reader_port=None, ack_timeout_s=5.0,
                        heartbeat_s=10.0, synchronous=synchronous)
    if linger_ms is not None:
        text = text.replace("[uplink]\n", f"[uplink]\nlinger_ms = {linger_ms}\n", 1)
    for device, port in ((PROBE_DEVICE, probe_port), (LOAD_DEVICE, load_port)):
        text += f'\n[[devices]]\nid = "{device}"\ndriver = "ascii_reader"\nport = "{port}"\nformat = "em4100"\n'
    path.write_text(text)
    return path


# --- the background load -----------------------------------------------------------------------------

class Feeder(threading.Thread):
    """Writes `rate` frames/s to a pty, a few frames at a time, paced against the clock."""

    def __init__(self, reader: PtyCardReader, rate: float) -> None:
        super().__init__(name="feeder", daemon=True)
        self.reader, self.rate = reader, rate
        self.frames = [encode_card("em4100", c.card(i)) for i in range(1000)]
        self.sent = 0
        self.dropped = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        while not self._stop_event.is_set():
            due = int((time.monotonic() - began) * self.rate) - self.sent - self.dropped
            if due > 0:
                chunk = b"".join(self.frames[(self.sent + i) % len(self.frames)] for i in range(due))
                try:
                    self.reader.write_raw(chunk)
                    self.sent += due
                except TimeoutError:
                    self.dropped += due
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


# --- seeing rows appear ------------------------------------------------------------------------------------

@dataclass
class Seen:
    mono: float
    wall: float
    received_at: float
    stored_at: float


@dataclass
class Poller:
    """Polls central's database every ~1 ms from its own thread; records when each probe card first shows."""

    url: str
    interval: float = 0.001
    seen: dict[str, Seen] = field(default_factory=dict)
    load_rows: int = 0
    polls: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _record(self, rows: list, mono: float, wall: float) -> None:
        for device, card, received, stored in rows:
            if device == PROBE_DEVICE:
                if card not in self.seen:
                    self.seen[card] = Seen(mono, wall, _epoch(received), _epoch(stored))
            else:
                self.load_rows += 1

    def _run(self) -> None:
        try:
            if self.url.startswith("sqlite"):
                self._run_sqlite()
            else:
                asyncio.run(self._run_pg())
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _run_sqlite(self) -> None:
        with contextlib.closing(sqlite3.connect(f"file:{c.sqlite_path(self.url)}?mode=ro", uri=True,
                                                isolation_level=None, check_same_thread=False)) as db:
            last = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            while not self._stop.is_set():
                top = db.execute("SELECT max(id) FROM events").fetchone()[0]
                mono, wall = time.monotonic(), time.time()
                self.polls += 1
                if top is not None and top > last:
                    rows = db.execute("SELECT device, json_extract(data, '$.card'), received_at, stored_at "
                                      "FROM events WHERE id > ? AND id <= ?", (last, top)).fetchall()
                    self._record(rows, mono, wall)
                    last = top
                time.sleep(self.interval)

    async def _run_pg(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
            while not self._stop.is_set():
                top = await conn.fetchval("SELECT max(id) FROM events")
                mono, wall = time.monotonic(), time.time()
                self.polls += 1
                if top is not None and top > last:
                    rows = await conn.fetch("SELECT device, data->>'card', received_at, stored_at FROM events "
                                            "WHERE id > $1 AND id <= $2", last, top)
                    self._record([tuple(r) for r in rows], mono, wall)
                    last = top
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()


class Tap:
    """bench._tap in its own process: when did each probe's batch pass through the broker?"""

    def __init__(self, port: int, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen([sys.executable, "-m", "bench._tap", str(port), PROBE_DEVICE, str(out)],
                                     stdout=subprocess.PIPE, cwd=c.REPO, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("the MQTT tap did not start")

    def close(self) -> dict[str, float]:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        seen: dict[str, float] = {}
        if self.out.exists():
            for line in self.out.read_text().splitlines():
                card, _, wall = line.partition(" ")
                seen.setdefault(card, float(wall))
        return seen


def _epoch(value: object) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    text = str(value)
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


# --- one run -------------------------------------------------------------------------------------------------

def one_run(root: Path, db: str, variant: str, label: str, probes: int, pcap: bool = False) -> dict:
    work = root / label
    work.mkdir()
    broker = Mosquitto(work)
    central = gateway = feeder = poller = tap = dump = None
    holds: dict = {}
    url = None
    settings = dict(VARIANTS[variant])
    if settings.pop("broker_nodelay", False):
        broker.conf.write_text(broker.conf.read_text() + "set_tcp_nodelay true\n")
    try:
        broker.start()
        url = f"sqlite:///{work / 'central.sqlite'}" if db == "sqlite" else create_pg_database()
        central = Central(work, url, broker.url)
        central.start()
        tap = Tap(broker.port, work / "tap.txt")
        with PtyCardReader("em4100") as probe_reader, PtyCardReader("em4100") as load_reader:
            config = gateway_config(work / "gw.toml", broker_url=broker.url, outbox=work / "outbox.sqlite",
                                    probe_port=probe_reader.port, load_port=load_reader.port, **settings)
            gateway = Process(["gateway", "--config", str(config)], work / "gateway.log")
            gateway.start()
            poller = Poller(url)
            poller.start()
            feeder = Feeder(load_reader, LOAD_RATE)
            feeder.start()
            wait_until(lambda: poller.load_rows > 500 or poller.error, 60, 0.05, "background events in central")
            if poller.error:
                raise poller.error
            time.sleep(2.0)  # let the background load settle
            roles = {"gateway": lambda: [gateway.proc.pid], "central": lambda: [central.proc.pid],
                     "mosquitto": lambda: [broker.proc.pid]}
            if db == "postgresql":
                dbname = url.rsplit("/", 1)[1]
                roles["postgres"] = lambda: c.pg_backends(dbname)
            rng = random.Random(label)
            written: dict[str, tuple[float, float]] = {}
            load_before, load_t0 = poller.load_rows, time.monotonic()
            if pcap:
                clients = {"gateway": c.local_ports(gateway.proc.pid, broker.port)[0],
                           "central": c.local_ports(central.proc.pid, broker.port)[0]}
                dump = c.tcpdump_start(broker.port, work / "mqtt.pcap")
            with c.CpuWatch(roles) as watch:
                for i in range(probes):
                    card = c.card(i, prefix="F0")
                    frame = encode_card("em4100", card)
                    probe_reader.write_raw(frame)
                    written[card] = (time.monotonic(), time.time())
                    time.sleep(max(0.0, 1 / PROBE_RATE + rng.uniform(-0.04, 0.04)))
                with contextlib.suppress(AssertionError):  # a lost probe is reported, not fatal
                    wait_until(lambda: len(poller.seen) >= probes or poller.error, 10, 0.05, "the last probes")
            load_rate = (poller.load_rows - load_before) / (time.monotonic() - load_t0)
            if dump is not None:
                c.tcpdump_stop(dump)
                holds = c.nagle_holds(work / "mqtt.pcap", clients)
            feeder.stop()
            poller.stop()
            if poller.error:
                raise poller.error
    except BaseException:
        for proc in (gateway, central):
            if proc is not None:
                print(f"--- {proc.log.name} (tail)\n{proc.output()[-2000:]}", file=sys.stderr)
        raise
    finally:
        c.tcpdump_stop(dump)
        if feeder is not None:
            feeder.stop()
        if poller is not None:
            poller.stop()
        tapped = tap.close() if tap is not None else {}
        for proc in (gateway, central):
            if proc is not None:
                proc.stop()
        broker.stop()
        if url and db == "postgresql":
            drop_pg_database(url)

    total, capture, transit, store, uplink, ingest = [], [], [], [], [], []
    for card, (mono, wall) in written.items():
        seen = poller.seen.get(card)
        if seen is None:
            continue
        total.append(1000 * (seen.mono - mono))
        capture.append(1000 * (seen.received_at - wall))
        transit.append(1000 * (seen.stored_at - seen.received_at))
        store.append(1000 * (seen.wall - seen.stored_at))
        if card in tapped:
            uplink.append(1000 * (tapped[card] - seen.received_at))
            ingest.append(1000 * (seen.stored_at - tapped[card]))
    return {"db": db, "variant": variant, "label": label, "total": total, "capture": capture,
            "transit": transit, "store": store, "uplink": uplink, "ingest": ingest, "lost": probes - len(total), "load_rate": load_rate,
            "feeder_dropped": feeder.dropped, "polls": poller.polls, "cpu": watch.summary(), "holds": holds}


def describe(run: dict) -> str:
    t = run["total"]
    return (f"p50 {c.percentile(t, 50):6.1f} ms  p99 {c.percentile(t, 99):6.1f} ms  max {max(t):6.1f} ms  "
            f"(pty→gateway {c.median(run['capture']):.1f}, →broker tap {c.median(run['uplink']):.1f}, "
            f"→central commit start {c.median(run['ingest']):.1f}, →visible {c.median(run['store']):.1f} ms medians; lost {run['lost']}; load "
            f"{run['load_rate']:.0f}/s)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 probes, one run, default config only")
    parser.add_argument("--probes", type=int, help="probe frames per run (default 200; --quick 50)")
    parser.add_argument("--runs", type=int, help="runs of the default config per database (default 3; --quick 1)")
    parser.add_argument("--variant-runs", type=int, help="runs of each other variant (default 1; --quick 0)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated of {', '.join(VARIANTS)}")
    parser.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pcap", action="store_true",
                        help="capture the MQTT traffic with tcpdump during the probes and count Nagle holds")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    probes = args.probes or (50 if args.quick else 200)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    variant_runs = args.variant_runs if args.variant_runs is not None else (0 if args.quick else 1)
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    info, date = c.machine(), c.utc_date()
    print(f"{date}\n{c.machine_line(info)}\nlatency: {probes} probes per run at ~{PROBE_RATE:.0f}/s, background "
          f"{LOAD_RATE:.0f} frames/s; default config x{runs}, other variants x{variant_runs}; {dbs}")

    plan = [(v, i) for i in range(runs) for v in ["default"] if v in variants]
    plan += [(v, i) for i in range(variant_runs) for v in variants if v != "default"]
    results: list[dict] = []
    with c.workdir("latency", keep=args.keep) as root:
        for variant, i in plan:
            for db in dbs:
                run = one_run(root, db, variant, f"{db}-{variant}-{i + 1}", probes, pcap=args.pcap)
                results.append(run)
                print(f"  {db:10s} {variant:16s} run {i + 1}: {describe(run)}")
                for conn, h in run["holds"].items():
                    print(f"      {conn:18s} {h['segments']:6d} data segments, {h['held']:5d} held back until a "
                          f"bare ACK came {h['held_median_ms']:.1f} ms (median) after the previous one")

    rows = []
    summary: dict[tuple[str, str], dict] = {}
    for variant in variants:
        for db in dbs:
            mine = [r for r in results if r["db"] == db and r["variant"] == variant]
            if not mine:
                continue
            pooled = [x for r in mine for x in r["total"]]
            s = {"p50": c.median([c.percentile(r["total"], 50) for r in mine]),
                 "p99": c.median([c.percentile(r["total"], 99) for r in mine]),
                 "max": max(pooled), "pooled_p99": c.percentile(pooled, 99), "n": len(pooled),
                 "capture": c.median([x for r in mine for x in r["capture"]]),
                 "transit": c.median([x for r in mine for x in r["transit"]]),
                 "store": c.median([x for r in mine for x in r["store"]]),
                 "transit_p99": c.percentile([x for r in mine for x in r["transit"]], 99),
                 "uplink": c.median([x for r in mine for x in r["uplink"]]),
                 "uplink_p99": c.percentile([x for r in mine for x in r["uplink"]], 99),
                 "ingest": c.median([x for r in mine for x in r["ingest"]]),
                 "ingest_p99": c.percentile([x for r in mine for x in r["ingest"]], 99),
                 "store_p99": c.percentile([x for r in mine for x in r["store"]], 99),
                 "lost": sum(r["lost"] for r in mine), "load": c.median([r["load_rate"] for r in mine]),
                 "runs": len(mine),
                 "cpu": " / ".join(f"{c.median([r['cpu'][role]['avg_pct'] for r in mine]):.0f}"
                                   if role in mine[0]["cpu"] else "–"
                                   for role in ("gateway", "central", "mosquitto", "postgres")),
                 "machine": c.median([r["cpu"]["machine"]["median_pct"] for r in mine])}
            summary[(variant, db)] = s
            rows.append([variant, db, s["runs"], f"{s['p50']:.1f}", f"**{s['p99']:.1f}**", f"{s['max']:.1f}",
                         f"{s['capture']:.1f}", f"{s['uplink']:.1f} (p99 {s['uplink_p99']:.1f})",
                         f"{s['ingest']:.1f} (p99 {s['ingest_p99']:.1f})",
                         f"{s['store']:.1f} (p99 {s['store_p99']:.1f})", s["lost"], f"{s['load']:.0f}", s["cpu"],
                         f"{s['machine']:.0f}"])
    headers = ["variant", "database", "runs", "p50 ms", "p99 ms", "max ms", "① pty → gateway ms",
               "② gateway → broker ms", "③ broker → central commit start ms", "④ commit start → visible ms",
               "lost", "load events/s", "CPU % gw / central / mosq / pg", "machine busy %"]
    print()
    print(c.table(headers, rows))
    if args.no_doc:
        return 0

    command = "python -m bench.latency" + (" --quick" if args.quick else "") + (
        f" --probes {args.probes}" if args.probes else "") + (f" --runs {args.runs}" if args.runs is not None else "")
    verdict = "; ".join(f"{db}: p99 {summary[('default', db)]['p99']:.1f} ms "
                        f"({'meets' if summary[('default', db)]['p99'] <= TARGET_P99_MS else 'misses'} the target)"
                        for db in dbs if ("default", db) in summary)
    body = [
        "## Latency: card frame on a pty → event row visible in central, under 1,000 events/s",
        "",
        f"- Command: `.venv/bin/python -m {command.removeprefix('python -m ')}`",
        f"- Date: {date}",
        f"- Machine: {c.machine_line(info)}",
        f"- {probes} probes per run at ~{PROBE_RATE:.0f}/s; default config {runs} run(s) per database, other "
        f"variants {variant_runs} run(s). p50/p99 are medians over runs of each run's percentile; max is over "
        "all runs.",
        "",
        "Method: one gateway reads two pty card readers; a thread feeds the background reader 1,000 frames/s, "
        "and probe frames with unique card numbers go to the other reader ~5 times a second. The clock starts "
        "right after `os.write` of a probe frame's last byte and stops when a thread polling central's database "
        "every ~1 ms (`SELECT max(id)`, then the new rows) first sees the row. Four stages: the row's "
        "`received_at` (gateway clock when the driver handed the event over), the time a separate MQTT "
        "subscriber process (`bench/_tap.py`, QoS 1, TCP_NODELAY and TCP_QUICKACK on its own socket) saw the "
        "probe's batch pass through the broker, and the row's `stored_at` (central clock when its commit "
        "began). Variants change config only: `default` is the product default (`outbox.synchronous = "
        "\"full\"`, `uplink.linger_ms = 5`); `broker-nodelay` adds `set_tcp_nodelay true` to Mosquitto's config.",
        "",
        c.table(headers, rows),
        "",
        f"Against the p99 ≤ {TARGET_P99_MS:.0f} ms target (default config): {verdict}. CPU % is process CPU time "
        "over the probe phase (100 = one core); machine busy % is the median of 1 s samples of the whole machine "
        "(200 = both cores), this benchmark's own threads and other users included; the 1 ms poller itself costs "
        "some CPU (and, on PostgreSQL, a backend's).",
    ]
    held = [r for r in results if r["holds"]]
    if held:
        body += ["", "### TCP stalls seen on the wire (`--pcap`)", "",
                 "tcpdump on loopback during the probes of each run. A data segment sent within 0.5 ms after a "
                 "bare ACK from the other side is a write that Nagle's algorithm held back until the peer's "
                 "delayed ACK (≈ 40 ms on Linux) released it. Neither paho-mqtt nor Mosquitto (by default) sets "
                 "TCP_NODELAY.", "",
                 c.table(["run", "connection", "data segments", "held back", "ACK waited (median)"],
                         [[r["label"], conn, h["segments"], f"{h['held']} ({h['held'] / max(h['segments'], 1):.0%})",
                           f"{h['held_median_ms']:.1f} ms"] for r in held for conn, h in r["holds"].items()])]
    c.write_section("latency", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
