"""Command-line administration of central: accounts (and later import, export, backup, restore)."""
from __future__ import annotations

import argparse
import getpass
import sys

from central.auth import service
from central.auth.passwords import WeakPassword
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.config import CentralConfig
from central.db import create_engine, migrate


def add_commands(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("serve", help="run the central service (what `estatelink central` does by default)")
    user = commands.add_parser("create-user", help="create an account (the first admin, typically)")
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--estate", action="append", default=[], help="an estate the user may see (repeatable)")
    user.add_argument("--password-file", help="read the password from this file (else prompt, or stdin if piped)")
    user.add_argument("--token", action="store_true", help="also print a new API token for this user")
    user.add_argument("--resident-id", type=int)
    user.set_defaults(admin_func=create_user)


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
