"""The access log: every decision the gateways reported, filtered, a page at a time or as CSV."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access.common import plain
from central.access.models import AccessLogEntry

CSV_COLUMNS = ("id", "at", "door", "reader", "card", "granted", "reason", "holder_id", "holder_name", "holder_kind",
               "pass_id", "gateway", "event_seq")
MAX_EXPORT_ROWS = 200_000
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""What a spreadsheet may read as a formula at a cell's start, after blanks and control characters (with the
full-width forms some spreadsheets accept too)."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What to keep: door code, card key, holder id (r-12, s-3), granted or not, reason, [since, until)."""

    door: str | None = None
    card: str | None = None
    holder: str | None = None
    granted: bool | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, stmt: Select[Any], estate: str) -> Select[Any]:
        """The statement confined to the estate and these filters."""
        stmt = stmt.where(AccessLogEntry.estate == estate)
        for column, value in ((AccessLogEntry.door, self.door), (AccessLogEntry.card, self.card),
                              (AccessLogEntry.holder_id, self.holder), (AccessLogEntry.granted, self.granted),
                              (AccessLogEntry.reason, self.reason)):
            if value is not None:
                stmt = stmt.where(column == value)
        if self.since is not None:
            stmt = stmt.where(AccessLogEntry.at >= self.since)
        if self.until is not None:
            stmt = stmt.where(AccessLogEntry.at < self.until)
        return stmt


async def list_log(conn: AsyncConnection, estate: str, where: LogFilter, *, before_id: int | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    """Entries newest first (by arrival at central), continuing below `before_id`."""
    stmt = where.apply(select(AccessLogEntry), estate)
    if before_id is not None:
        stmt = stmt.where(AccessLogEntry.id < before_id)
    return [plain(row) for row in (await conn.execute(stmt.order_by(AccessLogEntry.id.desc()).limit(limit))).all()]


async def export(conn: AsyncConnection, estate: str, where: LogFilter, *, page: int = 2000) -> AsyncIterator[bytes]:
    """The filtered log as CSV (UTF-8 with a BOM, for spreadsheets), newest first, in chunks."""
    yield _csv([CSV_COLUMNS], bom=True)
    before_id, sent = None, 0
    while sent < MAX_EXPORT_ROWS:
        rows = await list_log(conn, estate, where, before_id=before_id, limit=min(page, MAX_EXPORT_ROWS - sent))
        if not rows:
            return
        yield _csv([[row[column] for column in CSV_COLUMNS] for row in rows])
        before_id, sent = rows[-1]["id"], sent + len(rows)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and (value[:1] in ("\t", "\r", "\n")
                                   or "".join(ch for ch in value if ch.isprintable()).lstrip().startswith(
                                       _FORMULA_START)):
        return "'" + value  # a spreadsheet must not run a card number or name as a formula
    return value


def _csv(rows: Sequence[Sequence[Any]], bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig" if bom else "utf-8")
