"""Command-line administration of central: accounts, import and export, backup and restore."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from central.auth import service
from central.auth.passwords import WeakPassword
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.config import CentralConfig
from central.db import create_engine, migrate
from central.registry.common import require_estate
from central.registry.errors import NotFound


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as handle:
            return handle.read().rstrip("\n")
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


async def create_user(config: CentralConfig, args: argparse.Namespace) -> int:
    await migrate(config.database.url)
    engine = create_engine(config.database.url)
    try:
        async with engine.begin() as conn:
            user_id = await service.create_user(conn, SYSTEM, service.NewUser(
                args.username, _password(args), Role(args.role), frozenset(args.estate),
                resident_id=args.resident_id))
            print(f"created {args.role} {args.username!r} (id {user_id})")
            if args.token:
                principal = await service.resolve_session_free_principal(conn, user_id)
                print(await service.create_token(conn, principal, "created on the command line"))
    except (WeakPassword, ValueError) as exc:
        print(f"cannot create the user: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    return 0


async def backup_database(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.maintenance.backup import BackupError, backup

    try:
        kind = await asyncio.to_thread(backup, config.database.url, args.file)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {args.file} ({kind})")
    return 0


async def restore_database(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.maintenance.backup import BackupError, restore

    if not args.yes:
        if not sys.stdin.isatty():
            print("restore replaces every record in the database; pass --yes to confirm", file=sys.stderr)
            return 2
        if input(f"replace the database with {args.file}? type yes: ").strip() != "yes":
            return 2
    try:
        kind = await asyncio.to_thread(restore, config.database.url, args.file)
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    await migrate(config.database.url)  # a backup from an older release is brought up to date
    print(f"restored {args.file} ({kind})")
    return 0


class _Progress:
    """A progress bar on stderr for each stage of a long job, closed when the stage is done; none when quiet."""

    def __init__(self, quiet: bool, unit: Callable[[str], str]) -> None:
        self.quiet, self.unit = quiet, unit
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=self.unit(stage), file=sys.stderr, leave=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


async def import_records(config: CentralConfig, args: argparse.Namespace) -> int:
    """Check a file in full, then import it all or nothing; exit 1 and list every problem when there are any."""
    from central.transfer.service import import_file
    from central.transfer.tables import FileProblem

    with open(args.file, "rb") as handle:
        data = handle.read()
    await migrate(config.database.url)
    engine = create_engine(config.database.url)
    progress = _Progress(args.quiet, lambda stage: "row")

    try:
        report = await import_file(engine, SYSTEM, args.estate, data, filename=os.path.basename(args.file),
                                   sheet=args.sheet, dry_run=args.dry_run, progress=progress)
    except FileProblem as exc:
        print(f"cannot import {args.file}: {exc}", file=sys.stderr)
        return 2
    except NotFound as exc:
        print(f"cannot import: {exc.message}; create the estate first (POST /api/v1/estates as an admin)",
              file=sys.stderr)
        return 2
    finally:
        progress.close()
        await engine.dispose()
    for problem in report.problems:
        print(problem)
    rows = ", ".join(f"{n} {sheet} rows" for sheet, n in report.sheets.items() if n) or "no rows"
    changes = _summary(report.created, "new") + _summary(report.updated, "changed")
    if report.problems:
        print(f"{len(report.problems)} problem(s) in {rows}; nothing was written")
        return 1
    verb = "would write" if args.dry_run else "wrote"
    print(f"checked {rows}: {verb} " + ("; ".join(changes) if changes else "nothing (already up to date)"))
    return 0


_PLURAL = {"building": "buildings", "unit": "units", "resident": "residents", "occupancy": "occupancies",
           "staff": "staff", "staff_card": "staff cards", "parking": "parking spaces", "vehicle": "vehicles"}


def _summary(counts: dict[str, int], word: str) -> list[str]:
    return [f"{n} {word} {_PLURAL[entity]}" for entity, n in counts.items()]


async def export_records(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.transfer.export import export_file
    from central.transfer.tables import FileProblem

    fmt = "csv" if args.file.lower().endswith(".csv") else "xlsx"
    engine = create_engine(config.database.url)
    try:
        async with engine.connect() as conn:
            await require_estate(conn, args.estate)
            data = await export_file(conn, args.estate, sheet=args.sheet, fmt=fmt, language=args.lang)
    except (FileProblem, NotFound) as exc:
        print(f"cannot export: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    with open(args.file, "wb") as handle:
        handle.write(data)
    print(f"exported {args.sheet or 'every sheet'} of {args.estate} to {args.file}")
    return 0


async def bill_run(config: CentralConfig, args: argparse.Namespace) -> int:
    """Preview or post an estate's bill run for a period (a post queues its bill notices), with a progress bar; exit 1
    when something is held."""
    from central.billing.runner import describe_notices, post_notices
    from central.billing.runs import execute
    from central.registry.errors import Invalid

    await migrate(config.database.url)
    engine = create_engine(config.database.url)
    progress = _Progress(args.quiet, lambda stage: "step" if stage == "load" else "unit")

    mode = "preview" if args.preview else "post"
    try:
        async with engine.connect() as conn:
            await require_estate(conn, args.estate)
        run_id, outcome = await execute(engine, SYSTEM, args.estate, args.period, mode, progress)
        notices = None
        if mode == "post":  # as a run posted from the API or the schedule: its notices follow at once
            notices = describe_notices(await post_notices(engine, SYSTEM, args.estate, args.period, progress))
    except (NotFound, Invalid) as exc:
        print(f"cannot run: {exc.message}", file=sys.stderr)
        return 2
    finally:
        progress.close()
        await engine.dispose()
    verb = "would bill" if args.preview else "billed"
    print(f"run {run_id} ({mode}) of {args.estate} {args.period}: {verb} {outcome.bills} bills, {outcome.lines} lines, "
          f"{outcome.total} in total; {outcome.already_billed} item(s) billed before; settled from prepayments "
          f"{outcome.settled}")
    if notices:
        print(notices)
    for held in outcome.held[:50]:
        print(f"held: {held['unit'] or '(all units)'} {held['fee_item']}: {held['reason']}")
    if len(outcome.held) > 50:
        print(f"... and {len(outcome.held) - 50} more held (GET /api/v1/bill-runs/{run_id} lists 1,000)")
    return 1 if outcome.held else 0
