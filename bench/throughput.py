"""Sustained end-to-end throughput: a pre-filled gateway outbox drained through a real Mosquitto into central.

    .venv/bin/python -m bench.throughput [--quick] [--events N] [--runs 3] [--db sqlite,postgresql] [--profile]

For each run: a fresh Mosquitto on a free port, a raw paho-mqtt baseline against it (one event per QoS 1
message, 5 s), a fresh central database, central, then a gateway with no devices whose outbox already holds N
card.read events (written with Outbox.append_many). The time runs from starting the gateway until central's
/api/v1/gateways reports acked_seq == N; the events table must then hold exactly N rows. With --profile, one
more run per database is recorded with py-spy attached to the gateway and central (not counted in the medians).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from bench import _common as c
from tests.support.gateway_config import write_gateway_config
from tests.support.services import Central, Mosquitto, Process, create_pg_database, drop_pg_database

TARGET = 20_000
POLL_S = 0.2
STAGES = {  # py-spy frames (inclusive) that name the stages of the pipeline
    "central": [
        ("Ingest._process (central/ingest/service.py)", "ingest task (SQL execution not included: it runs in "
         "SQLAlchemy's greenlet, below)"),
        ("parse_uplink (central/ingest/parse.py)", "parse + validate batches (orjson, pydantic)"),
        ("TypeAdapter.validate_python (pydantic/type_adapter.py)", "… of which list[Envelope] validation"),
        ("Ingest._commit (central/ingest/service.py)", "… of which build rows, await the DB, publish the ack"),
        ("event_row (central/ingest/parse.py)", "… of which Envelope → row dict"),
        ("Connection.execute (sqlalchemy/engine/base.py)", "SQLAlchemy execute, in its greenlet on the event loop"),
        ("SQLCompiler.construct_params (sqlalchemy/sql/compiler.py)", "… of which building bind parameters"),
        ("Connection._executemany (asyncpg/connection.py)", "… of which asyncpg executemany"),
        ("_connection_worker_thread (aiosqlite/core.py)", "aiosqlite's thread (sqlite3 executemany, commit)"),
    ],
    "gateway": [
        ("Uplink._send (gateway/uplink.py)", "uplink send loop (main thread)"),
        ("Uplink._publish_grouped (gateway/uplink.py)", "… of which batching + publish"),
        ("Outbox.read_after (gateway/outbox.py)", "outbox read (worker thread)"),
        ("Outbox.ack (gateway/outbox.py)", "outbox delete on ack, fsync (worker thread)"),
    ],
}


def with_uplink(config: Path, extra: list[str]) -> Path:
    """Add `key = value` lines to the [uplink] table of a gateway config written by write_gateway_config."""
    if extra:
        text = config.read_text()
        config.write_text(text.replace("[uplink]\n", "[uplink]\n" + "".join(f"{kv}\n" for kv in extra), 1))
    return config


def one_run(root: Path, template: Path, n: int, db: str, label: str, profile: bool = False,
            uplink: list[str] | None = None) -> dict:
    work = root / label
    work.mkdir()
    broker = Mosquitto(work)
    central = gateway = None
    url = None
    spies: list = []
    result: dict = {"db": db, "label": label}
    try:
        broker.start()
        result["baseline"] = c.paho_baseline(broker.port, seconds=5.0)
        url = f"sqlite:///{work / 'central.sqlite'}" if db == "sqlite" else create_pg_database()
        central = Central(work, url, broker.url)
        central.start()
        outbox = work / "outbox.sqlite"
        shutil.copyfile(template, outbox)
        config = write_gateway_config(work / "gw.toml", broker_url=broker.url, outbox=outbox, reader_port=None,
                                      ack_timeout_s=5.0, heartbeat_s=10.0)
        with_uplink(config, uplink or [])
        gateway = Process(["gateway", "--config", str(config)], work / "gateway.log")
        roles = {"gateway": lambda: [gateway.proc.pid] if gateway and gateway.proc else [],
                 "central": lambda: [central.proc.pid],
                 "mosquitto": lambda: [broker.proc.pid]}
        if db == "postgresql":
            dbname = url.rsplit("/", 1)[1]
            roles["postgres"] = lambda: c.pg_backends(dbname)
        deadline_s = max(120.0, n / 400)
        with c.CpuWatch(roles) as watch:
            began = time.monotonic()
            gateway.start()
            watch.track()
            if profile:
                spies = [(name, pid, work / f"pyspy-{name}.txt", c.py_spy_start(pid, work / f"pyspy-{name}.txt"))
                         for name, pid in (("gateway", gateway.proc.pid), ("central", central.proc.pid))]
            marks: dict[str, float] = {}
            acked = 0
            while acked < n:
                if time.monotonic() - began > deadline_s:
                    raise TimeoutError(f"acked {acked} of {n} after {deadline_s:.0f}s")
                if gateway.proc.poll() is not None or central.proc.poll() is not None:
                    raise RuntimeError("gateway or central exited during the run")
                time.sleep(POLL_S)
                acked = c.acked_seq(central)
                now = time.monotonic() - began
                for name, frac in (("first", 1e-9), ("p10", 0.1), ("p90", 0.9)):
                    if name not in marks and acked >= frac * n:
                        marks[name] = now
            elapsed = time.monotonic() - began
            for _, _, _, spy in spies:
                c.py_spy_stop(spy)
        result.update(elapsed=elapsed, rate=n / elapsed, first_ack=marks["first"],
                      steady=0.8 * n / max(marks["p90"] - marks["p10"], 1e-9), cpu=watch.summary())
        result["rows"] = c.count_events(url)
        log = gateway.output()
        result["resends"] = log.count("no ack progress")
        if profile:
            result["profiles"] = {name: c.py_spy_report(path, seconds=elapsed) for name, _, path, _ in spies}
        if result["rows"] != n:
            raise AssertionError(f"{label}: central holds {result['rows']} events, expected exactly {n}")
        return result
    except BaseException:
        for proc in (gateway, central):
            if proc is not None:
                print(f"--- {proc.log.name} (tail)\n{proc.output()[-2000:]}", file=sys.stderr)
        raise
    finally:
        for _, _, _, spy in spies:
            c.py_spy_stop(spy)
        for proc in (gateway, central):
            if proc is not None:
                proc.stop()
        broker.stop()
        if url and db == "postgresql":
            drop_pg_database(url)


def cpu_cell(run: dict, role: str) -> str:
    cpu = run["cpu"].get(role)
    return f"{cpu['avg_pct']:.0f}" if cpu else "–"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 events, to check that it works")
    parser.add_argument("--events", type=int, help="events per run (default 200,000; --quick 20,000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per database (default 3)")
    parser.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--profile", action="store_true", help="one more run per database under py-spy")
    parser.add_argument("--uplink", action="append", default=[], metavar="KEY=VALUE",
                        help="extra [uplink] setting for the gateway, e.g. batch_max_events=1000 (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, profiles)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    n = args.events or (20_000 if args.quick else 200_000)
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    info, date = c.machine(), c.utc_date()
    print(f"{date}\n{c.machine_line(info)}\nthroughput: {n} events per run, {args.runs} run(s) per database: {dbs}")

    runs: list[dict] = []
    profiles: dict[str, dict] = {}
    with c.workdir("throughput", keep=args.keep) as root:
        template = root / "outbox-template.sqlite"
        fill_s = c.fill_outbox(template, n)
        print(f"pre-filled the outbox with {n} events in {fill_s:.1f}s ({n / fill_s:,.0f} events/s, "
              "append_many, chunks of 2000, synchronous=normal)")
        for i in range(args.runs):
            for db in dbs:  # interleaved, so slow spells of a noisy machine hit both databases alike
                run = one_run(root, template, n, db, f"{db}-{i + 1}", uplink=args.uplink)
                runs.append(run)
                print(f"  {db:10s} run {i + 1}: {run['rate']:8,.0f} events/s end to end "
                      f"({run['elapsed']:.1f}s; steady 10→90% {run['steady']:,.0f}/s; first ack "
                      f"{run['first_ack']:.2f}s); baseline {run['baseline']:,.0f} msg/s; CPU% gateway "
                      f"{cpu_cell(run, 'gateway')} central {cpu_cell(run, 'central')} mosquitto "
                      f"{cpu_cell(run, 'mosquitto')} postgres {cpu_cell(run, 'postgres')}; resends {run['resends']}")
        if args.profile:
            for db in dbs:
                run = one_run(root, template, n, db, f"{db}-profile", profile=True, uplink=args.uplink)
                profiles[db] = run
                print(f"  {db:10s} profiled run: {run['rate']:,.0f} events/s; CPU% gateway "
                      f"{cpu_cell(run, 'gateway')} central {cpu_cell(run, 'central')}")
                for name, rep in run["profiles"].items():
                    print(f"    {name}: {rep['total']} samples of ~{rep['expected']:.0f}; threads {rep['threads']}")
                    for func, count in rep["self"][:12]:
                        print(f"      self {100 * count / max(rep['total'], 1):5.1f}%  {func}")
                    for frame, what in STAGES.get(name, []):
                        if rep["inclusive_all"].get(frame):
                            print(f"      incl {100 * rep['inclusive_all'][frame] / (rep['expected'] or 1):5.1f}% "
                                  f"of a core  {what}")

    if not runs:
        return 0
    baseline = c.median([r["baseline"] for r in runs])
    baseline_runs = ", ".join(f"{r['baseline']:,.0f}" for r in runs)
    rows, summary = [], {}
    for db in dbs:
        mine = [r for r in runs if r["db"] == db]
        rate = c.median([r["rate"] for r in mine])
        summary[db] = rate
        rows.append([db, f"{rate:,.0f}", ", ".join(f"{r['rate']:,.0f}" for r in mine),
                     f"{c.median([r['steady'] for r in mine]):,.0f}",
                     f"{c.median([r['first_ack'] for r in mine]):.2f} s",
                     f"{rate / baseline:.2f}", f"{rate / TARGET:.0%}",
                     " / ".join(f"{c.median([r['cpu'][role]['avg_pct'] for r in mine]):.0f}"
                                if role in mine[0]["cpu"] else "–"
                                for role in ("gateway", "central", "mosquitto", "postgres")),
                     sum(r["resends"] for r in mine),
                     f"{c.median([r['cpu']['machine']['median_pct'] for r in mine]):.0f}"])
    print(f"\nbaseline (raw paho, QoS 1, one event per message): median {baseline:,.0f} msg/s "
          f"({baseline_runs})")
    for db in dbs:
        print(f"{db}: median {summary[db]:,.0f} events/s = {summary[db] / baseline:.2f}x baseline, "
              f"{summary[db] / TARGET:.0%} of the {TARGET:,} events/s target")
    if args.no_doc:
        return 0

    command = "python -m bench.throughput" + (" --quick" if args.quick else "") + (
        f" --events {args.events}" if args.events else "") + (" --profile" if args.profile else "") + (
        f" --runs {args.runs}" if args.runs != 3 else "") + "".join(f" --uplink {kv}" for kv in args.uplink)
    body = [
        "## Throughput: gateway outbox → Mosquitto → central database",
        "",
        f"- Command: `.venv/bin/python -m {command.removeprefix('python -m ')}`",
        f"- Date: {date}",
        f"- Machine: {c.machine_line(info)}",
        f"- {n:,} events per run, {args.runs} runs per database, interleaved; figures are medians.",
        "",
        "Method: the gateway's outbox file is pre-filled with N realistic `card.read` events through "
        "`Outbox.append_many` (chunks of 2000, `synchronous=normal`); then central (fresh database) and a gateway "
        "with no devices and the default uplink settings (`outbox.synchronous = \"full\"`, batches of 500, "
        "linger 5 ms) start against a fresh Mosquitto. The clock runs from starting the gateway process until "
        f"`/api/v1/gateways` (polled every {POLL_S} s) shows `acked_seq == N`; the events table then holds "
        "exactly N rows. The baseline is a raw paho-mqtt client publishing one event per QoS 1 message (up to "
        "100 in flight) for 5 s to the same Mosquitto just before each run.",
        "",
        c.table(["database", "events/s (median)", "runs", "steady 10→90 %", "first ack", "× baseline",
                 f"of {TARGET:,}/s target", "CPU % gateway / central / mosquitto / postgres", "resends", "machine busy %"], rows),
        "",
        f"Baseline: raw paho-mqtt QoS 1, one event per message: median **{baseline:,.0f} msg/s** "
        f"(runs: {baseline_runs}). CPU % is the process's CPU time over the "
        "run's wall time (100 = one full core); postgres is the backends serving central's database; machine busy % "
        "is the median of 1 s samples of the whole machine (200 = both cores), other users included.",
    ]
    verdict = ", ".join(f"{db} {summary[db]:,.0f} events/s ({summary[db] / TARGET:.0%} of target)" for db in dbs)
    body += ["", f"Against the ≥ {TARGET:,} events/s target: {verdict}."]
    if profiles:
        body += ["", "### Profile (py-spy, one extra run per database, not in the medians)", ""]
        for db, run in profiles.items():
            body.append(f"**{db}** — {run['rate']:,.0f} events/s under py-spy; CPU % gateway "
                        f"{cpu_cell(run, 'gateway')}, central {cpu_cell(run, 'central')}.")
            body.append("")
            for name, rep in run["profiles"].items():
                total = max(rep["total"], 1)
                busy = rep["total"] / rep["expected"] if rep.get("expected") else float("nan")
                body.append(f"{name}: {rep['total']} on-CPU samples in {run['elapsed']:.0f} s at 100 Hz "
                            f"(≈ {busy:.0%} of one core, all threads). Top functions by own samples:")
                body.append("")
                body.append(c.table(["self %", "function"],
                                    [[f"{100 * k / total:.1f}", f"`{f}`"] for f, k in rep["self"][:12]]))
                body.append("")
                expected = rep.get("expected") or total
                stage_rows = [[f"`{frame.split(' (')[0]}`", what,
                               f"{100 * rep['inclusive_all'].get(frame, 0) / expected:.0f}"]
                              for frame, what in STAGES.get(name, []) if rep["inclusive_all"].get(frame)]
                if stage_rows:
                    body.append(f"{name}, time in each stage (inclusive samples as % of one core over the run):")
                    body.append("")
                    body.append(c.table(["function", "stage", "% of a core"], stage_rows))
                    body.append("")
    c.write_section("throughput", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
