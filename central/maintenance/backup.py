"""Consistent online backups and verified restores: SQLite's backup API, pg_dump/pg_restore for PostgreSQL."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore failed; the message says what to check."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.drivername.startswith("sqlite") and parsed.database else None


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str], what: str) -> None:
    tool = shutil.which(args[0])
    if tool is None:
        raise BackupError(f"{args[0]} is not installed; install the Debian package postgresql-client")
    done = subprocess.run([tool, *args[1:]], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-2000:]}")


def backup(url: str, destination: Path) -> str:
    """Write a consistent copy of a live database to `destination`; returns the format written."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise BackupError(f"no SQLite database at {path}")
        with sqlite3.connect(path) as source, sqlite3.connect(destination) as target:
            source.backup(target)  # a consistent snapshot even while central writes
            if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"the backup at {destination} failed its integrity check")
        return "sqlite"
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(destination), _libpq_url(url)], "pg_dump")
    _run(["pg_restore", "--list", str(destination)], "verifying the dump")
    return "pg_dump"


def restore(url: str, source: Path) -> str:
    """Replace the database's contents with a backup made by `backup` (stop central first)."""
    source = Path(source)
    head = source.read_bytes()[:16] if source.exists() else b""
    path = _sqlite_path(url)
    if head.startswith(SQLITE_MAGIC):
        if path is None:
            raise BackupError(f"{source} is a SQLite backup but the database URL is not SQLite")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as backup_db, sqlite3.connect(path) as target:
            backup_db.backup(target)
        return "sqlite"
    if head.startswith(PG_MAGIC):
        if path is not None:
            raise BackupError(f"{source} is a PostgreSQL dump but the database URL is SQLite")
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--dbname", _libpq_url(url), str(source)], "pg_restore")
        return "pg_dump"
    raise BackupError(f"{source} is neither a SQLite backup nor a pg_dump custom-format dump")
