"""Command-line administration of central: accounts (and later import, export, backup, restore)."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from central.auth import service
from central.auth.passwords import WeakPassword
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.config import CentralConfig
from central.db import create_engine, migrate


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
