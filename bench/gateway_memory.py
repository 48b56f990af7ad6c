"""Gateway resident memory while 1,000,000 events flow through it end to end into central (SQLite).

    .venv/bin/python -m bench.gateway_memory [--quick] [--events N] [--rate 5000]

Events enter through a pty card reader (simulators.card_reader.PtyCardReader) that a thread feeds at a fixed
rate, so they take the production path: driver → capture (group commit to the outbox, synchronous=full) →
live lane → Mosquitto → central → ack → outbox delete. (Pre-filling the outbox in stages would need the gateway
stopped between stages, because its sequence counter lives in memory; the pty keeps one process throughout.)
The gateway's RSS (psutil) is sampled every second together with central's acked_seq.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

from bench import _common as c
from drivers.ascii_reader.codec import encode_card
from simulators.card_reader import PtyCardReader
from tests.support.gateway_config import write_gateway_config
from tests.support.services import Central, Mosquitto, Process

FLAT_MIB = 5.0
CHUNK = 100  # frames per os.write at most


class Feeder(threading.Thread):
    """Writes exactly `total` frames at `rate` frames/s; a full pty makes it wait (nothing is dropped)."""

    def __init__(self, reader: PtyCardReader, rate: float, total: int) -> None:
        super().__init__(name="feeder", daemon=True)
        self.reader, self.rate, self.total = reader, rate, total
        self.frames = [encode_card("em4100", c.card(i)) for i in range(1000)]
        self.sent = 0
        self.stalls = 0
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        try:
            while self.sent < self.total and not self._stop_event.is_set():
                due = min(int((time.monotonic() - began) * self.rate), self.total) - self.sent
                if due <= 0:
                    time.sleep(0.002)
                    continue
                n = min(due, CHUNK)
                chunk = b"".join(self.frames[(self.sent + i) % len(self.frames)] for i in range(n))
                while True:
                    try:
                        self.reader.write_raw(chunk)
                        break
                    except TimeoutError:
                        self.stalls += 1
                        if self._stop_event.is_set():
                            return
                self.sent += n
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 events, to check that it works")
    parser.add_argument("--events", type=int, help="events to send (default 1,000,000; --quick 100,000)")
    parser.add_argument("--rate", type=float, default=5000.0, help="frames/s written to the pty (default 5000)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    n = args.events or (100_000 if args.quick else 1_000_000)
    info, date = c.machine(), c.utc_date()
    print(f"{date}\n{c.machine_line(info)}\ngateway memory: {n:,} events through a pty at {args.rate:,.0f}/s")

    samples: list[dict] = []
    with c.workdir("memory", keep=args.keep) as work:
        broker = Mosquitto(work)
        url = f"sqlite:///{work / 'central.sqlite'}"
        central = gateway = feeder = None
        try:
            broker.start()
            central = Central(work, url, broker.url)
            central.start()
            with PtyCardReader("em4100", write_timeout=5.0) as reader:
                config = write_gateway_config(work / "gw.toml", broker_url=broker.url, outbox=work / "outbox.sqlite",
                                              reader_port=reader.port, ack_timeout_s=5.0, heartbeat_s=10.0)
                gateway = Process(["gateway", "--config", str(config)], work / "gateway.log")
                gateway.start()
                deadline = time.monotonic() + 30
                while c.acked_seq(central) < 0 or "uplink connected" not in gateway.output():
                    if time.monotonic() > deadline:
                        raise TimeoutError("the gateway did not connect")
                    time.sleep(0.2)
                time.sleep(2.0)  # the driver opens the pty
                rss_idle = c.rss_mib(gateway.proc.pid)
                feeder = Feeder(reader, args.rate, n)
                began = time.monotonic()
                feeder.start()
                limit = max(300.0, 3 * n / args.rate)
                acked = 0
                while acked < n:
                    time.sleep(1.0)
                    now = time.monotonic() - began
                    if now > limit:
                        raise TimeoutError(f"acked {acked} of {n} after {limit:.0f}s")
                    if gateway.proc.poll() is not None or central.proc.poll() is not None:
                        raise RuntimeError("gateway or central exited during the run")
                    if feeder.error:
                        raise feeder.error
                    acked = max(acked, c.acked_seq(central))
                    samples.append({"t": now, "sent": feeder.sent, "acked": acked,
                                    "rss": c.rss_mib(gateway.proc.pid), "central_rss": c.rss_mib(central.proc.pid)})
                    if len(samples) % 10 == 0:
                        s = samples[-1]
                        print(f"  {s['t']:6.0f}s sent {s['sent']:>9,} acked {s['acked']:>9,} gateway RSS "
                              f"{s['rss']:.1f} MiB (central {s['central_rss']:.1f})")
                elapsed = time.monotonic() - began
                rss_end = c.rss_mib(gateway.proc.pid)
                feeder.stop()
                stalls = feeder.stalls
            rows = c.count_events(url)
            log = gateway.output()
        except BaseException:
            for proc in (gateway, central):
                if proc is not None:
                    print(f"--- {proc.log.name} (tail)\n{proc.output()[-2000:]}", file=sys.stderr)
            raise
        finally:
            if feeder is not None:
                feeder.stop()
            for proc in (gateway, central):
                if proc is not None:
                    proc.stop()
            broker.stop()

    if rows != n:
        print(f"warning: central holds {rows} events, expected {n}", file=sys.stderr)

    def at(fraction: float) -> dict:
        return next(s for s in samples if s["acked"] >= fraction * n)

    marks = {f"{int(f * 100)} %": at(f) for f in (0.1, 0.5, 1.0)}
    flow = [s for s in samples if s["acked"] >= 0.1 * n]
    peak = max(s["rss"] for s in samples)
    growth = marks["100 %"]["rss"] - marks["10 %"]["rss"]
    # least-squares slope of RSS against events acked, from 10 % to the end, per 100k events
    xs, ys = [s["acked"] for s in flow], [s["rss"] for s in flow]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = 100_000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    flat = abs(growth) <= FLAT_MIB
    rate = n / elapsed
    resends = log.count("no ack progress")
    print(f"\nidle {rss_idle:.1f} MiB; " + "; ".join(f"{k} {v['rss']:.1f} MiB" for k, v in marks.items())
          + f"; peak {peak:.1f} MiB; after {rss_end:.1f} MiB")
    print(f"growth 10→100 %: {growth:+.1f} MiB; slope {slope:+.2f} MiB per 100k events; "
          f"{'flat' if flat else 'NOT flat'} (threshold ±{FLAT_MIB} MiB); {rate:,.0f} events/s end to end; "
          f"rows {rows:,}; feeder waits {stalls}; resends {resends}")
    if args.no_doc:
        return 0

    rows_table = [["idle (connected, before the feed)", "0", f"{rss_idle:.1f}", "–"]]
    rows_table += [[k, f"{v['acked']:,}", f"{v['rss']:.1f}", f"{v['central_rss']:.1f}"] for k, v in marks.items()]
    rows_table += [["peak during the run", "", f"{peak:.1f}", f"{max(s['central_rss'] for s in samples):.1f}"]]
    step = max(1, len(samples) // 10)
    trace = ", ".join(f"{s['rss']:.0f}" for s in samples[::step])
    command = "python -m bench.gateway_memory" + (" --quick" if args.quick else "") + (
        f" --events {args.events}" if args.events else "") + (f" --rate {args.rate:g}" if args.rate != 5000 else "")
    body = [
        "## Gateway memory: RSS while events flow end to end (central on SQLite)",
        "",
        f"- Command: `.venv/bin/python -m {command.removeprefix('python -m ')}`",
        f"- Date: {date}",
        f"- Machine: {c.machine_line(info)}",
        f"- {n:,} events fed through a pty card reader at {args.rate:,.0f} frames/s; one run.",
        "",
        "Method: a thread writes card frames to a pty that the gateway's `ascii_reader` device reads, so every "
        "event takes the production path (driver → group commit to the outbox with `synchronous = \"full\"` → "
        "live lane → Mosquitto → central on SQLite → ack → outbox delete). The gateway's RSS (psutil) is sampled "
        "every second with central's `acked_seq`; the table shows the first sample at or past each fraction of "
        "the events acked. (Staged outbox pre-fills would need the gateway stopped between stages, as it keeps "
        "its sequence counter in memory, so one gateway process on a pty it is.)",
        "",
        c.table(["point", "events acked", "gateway RSS MiB", "central RSS MiB"], rows_table),
        "",
        f"RSS every ~{step} s: {trace} MiB.",
        "",
        f"Growth from 10 % to 100 %: **{growth:+.1f} MiB** (least-squares slope {slope:+.2f} MiB per 100k events): "
        f"**{'flat' if flat else 'not flat'}** (threshold ±{FLAT_MIB:.0f} MiB). End to end {rate:,.0f} events/s "
        f"over {elapsed:.0f} s; central holds {rows:,} rows; the feeder had to wait for the pty {stalls} times; "
        f"{resends} go-back-N resends.",
    ]
    c.write_section("gateway_memory", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
