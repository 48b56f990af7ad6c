"""File import of readings taken by hand (CSV or XLSX): every row checked first, then all written or none.

Columns (English or Chinese headers, any order): meter_point (the point's name) and/or serial (the meter's),
at least one of them; at (the time read: estate local time unless it carries an offset; a date alone is
local midnight); value (the register as read); note. The report names each problem by sheet, row, column
and cell, as the spreadsheet shows them.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.auth.audit import record_changes
from central.auth.principal import Principal
from central.metering.common import MANUAL, MAX_DIGITS, estate_zone, in_calendar, spec_of, too_many_digits
from central.metering.errors import Conflict
from central.metering.history import meter_at
from central.metering.models import Meter, MeterPoint, MeterReading
from central.metering.readings import FUTURE_SLACK, add_reading, get_reading
from central.registry.common import require_estate
from central.transfer.plan import Problem, column_letter
from central.transfer.tables import Table, detect_format, read_tables
from estatelink import wire

COLUMNS: dict[str, tuple[str, ...]] = {
    "meter_point": ("meter_point", "meter point", "point", "计量点", "表位"),
    "serial": ("serial", "meter", "meter serial", "表号"),
    "at": ("at", "time", "read at", "reading time", "抄表时间", "时间"),
    "value": ("value", "reading", "读数", "示数"),
    "note": ("note", "备注"),
}
_TIME = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
                   r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$")


def _key(text: str) -> str:
    return "".join(str(text).split()).replace("_", "").casefold()


_HEADERS = {_key(h): key for key, names in COLUMNS.items() for h in names}


@dataclass(slots=True)
class ImportReport:
    dry_run: bool
    written: bool = False
    rows: int = 0
    created: int = 0
    problems: list[Problem] = field(default_factory=list)
    sha256: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The report as the API answers it."""
        return {"dry_run": self.dry_run, "written": self.written, "rows": self.rows, "created": self.created,
                "problem_count": len(self.problems), "problems": [p.as_dict() for p in self.problems],
                "sha256": self.sha256}


class _RowProblem(ValueError):
    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


@dataclass(frozen=True, slots=True)
class _Planned:
    point: Any
    meter: Any
    at: datetime
    value: Decimal
    note: str


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a serial or name Excel stored as a number
    return str(value).strip()


def _time(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        local = value
    elif isinstance(value, date):
        local = datetime.combine(value, datetime.min.time())
    else:
        match = _TIME.match(str(value).strip())
        if not match:
            raise _RowProblem("at", f"expected a time such as 2026-11-30 09:00, got {value!r}")
        y, mo, d, h, mi, s, offset = match.groups()
        try:
            local = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
            if offset:
                local = local.replace(tzinfo=datetime.strptime(offset.replace("Z", "+0000").replace(":", ""),
                                                               "%z").tzinfo)
        except ValueError as exc:
            raise _RowProblem("at", f"{value!r} is not a real time ({exc})") from None
    aware = local if local.tzinfo is not None else local.replace(tzinfo=zone)
    try:
        return in_calendar(aware).astimezone(timezone.utc)
    except ValueError as exc:
        raise _RowProblem("at", str(exc)) from None


def _value(value: Any) -> Decimal:
    try:
        # XLSX numbers are doubles; their shortest repr is the number the sheet shows.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise _RowProblem("value", f"expected a number such as 1234.56, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise _RowProblem("value", f"expected a register value of 0 or more, got {value!r}")
    if too_many_digits(number):
        raise _RowProblem("value", f"{value} has more than {MAX_DIGITS} digits")
    if number != number.quantize(Decimal("0.001")):
        raise _RowProblem("value", f"{value} has more than 3 decimals")
    return number


class _Checker:
    """Checks rows against the estate's points and meters, and against earlier rows of the file."""

    def __init__(self, conn: AsyncConnection, estate: str, zone: ZoneInfo, points: dict[str, Any]) -> None:
        self.conn, self.estate, self.zone, self.points = conn, estate, zone, points
        self.problems: list[Problem] = []
        self.planned: list[_Planned] = []
        self.rows = 0
        self._seen: dict[tuple[int, datetime], int] = {}

    async def add_table(self, table: Table) -> None:
        """Check every row of one table."""
        sheet = table.title or "readings"
        columns: dict[str, tuple[str, int]] = {}
        for index, header in enumerate(table.headers):
            key = _HEADERS.get(_key(header)) if header.strip() else None
            if header.strip() and key is None:
                self._add(sheet, 1, header, f"{column_letter(index)}1", f"unknown column {header!r}; the columns "
                          f"are {', '.join(COLUMNS)}")
            elif key is not None and key in columns:
                self._add(sheet, 1, header, f"{column_letter(index)}1", f"{header!r} repeats column {key}")
            elif key is not None:
                columns[key] = (header, index)
        missing = [k for k in ("at", "value") if k not in columns]
        if "meter_point" not in columns and "serial" not in columns:
            missing.append("meter_point or serial")
        if missing:
            self._add(sheet, 1, None, None, f"the sheet needs the column(s) {', '.join(missing)}")
            return
        self.rows += len(table.rows)
        for number, cells in table.rows:
            values = {k: cells[i] for k, (_, i) in columns.items() if i < len(cells) and cells[i] is not None}
            try:
                self.planned.append(await self._row(number, values))
            except _RowProblem as problem:
                header, index = columns.get(problem.key or "", (problem.key, None))
                cell = f"{column_letter(index)}{number}" if index is not None else None
                self._add(sheet, number, header, cell, problem.message)

    def _add(self, sheet: str, row: int, column: str | None, cell: str | None, message: str) -> None:
        self.problems.append(Problem(sheet, row, column, cell, message))

    async def _row(self, number: int, values: dict[str, Any]) -> _Planned:
        for key in ("at", "value"):
            if key not in values:
                raise _RowProblem(key, "is empty")
        at, value = _time(values["at"], self.zone), _value(values["value"])
        if at > wire.utc_now() + FUTURE_SLACK:
            raise _RowProblem("at", f"{values['at']} is in the future")
        note = _text(values.get("note", ""))
        if len(note) > 256:
            raise _RowProblem("note", "is longer than 256 characters")
        point, meter = await self._meter(values, at)
        if value > point.register_limit:
            raise _RowProblem("value", f"{value} is above the register limit {spec_of(point).rollover_limit} of "
                                       f"{point.name!r}")
        earlier = self._seen.setdefault((meter.id, at), number)
        if earlier != number:
            raise _RowProblem("at", f"meter {meter.serial} at this time is already on row {earlier}")
        if await self.conn.scalar(select(MeterReading.id).where(MeterReading.meter_id == meter.id,
                                                                MeterReading.at == at)):
            raise _RowProblem("at", f"meter {meter.serial} already has a stored reading at {at.isoformat()}")
        return _Planned(point, meter, at, value, note)

    async def _meter(self, values: dict[str, Any], at: datetime) -> tuple[Any, Any]:
        serial = _text(values["serial"]) if "serial" in values else None
        if "meter_point" in values:
            name = _text(values["meter_point"])
            point = self.points.get(name)
            if point is None:
                raise _RowProblem("meter_point", f"estate {self.estate!r} has no meter point {name!r}")
            meter = await meter_at(self.conn, point.id, at)
            if meter is None:
                raise _RowProblem("at", f"no meter was fitted at {name!r} then")
            if serial is not None and serial != meter.serial:
                raise _RowProblem("serial", f"meter {meter.serial} was fitted at {name!r} then, not {serial}")
            return point, meter
        if serial is None:
            raise _RowProblem("serial", "give the meter point or the meter's serial")
        for meter in (await self.conn.execute(select(Meter).where(Meter.estate == self.estate,
                                                                  Meter.serial == serial))).all():
            fitted = await meter_at(self.conn, meter.meter_point_id, at)
            if fitted is not None and fitted.id == meter.id:
                return next(p for p in self.points.values() if p.id == meter.meter_point_id), meter
        raise _RowProblem("serial", f"no meter {serial} was fitted in estate {self.estate!r} then")


async def import_readings(engine: AsyncEngine, actor: Principal, estate: str, data: bytes, *,
                          filename: str | None = None, dry_run: bool = False) -> ImportReport:
    """Check every row of a CSV/XLSX of readings; write them only when the whole file is clean and not a dry run."""
    digest = hashlib.sha256(data).hexdigest()
    tables = read_tables(data, detect_format(data, filename))
    report = ImportReport(dry_run=dry_run, sha256=digest)
    async with engine.begin() as conn:
        await require_estate(conn, estate)
        points = {p.name: p for p in (await conn.execute(select(MeterPoint).where(MeterPoint.estate == estate))).all()}
        checker = _Checker(conn, estate, await estate_zone(conn, estate), points)
        for table in tables:
            await checker.add_table(table)
        report.rows, report.problems = checker.rows, checker.problems
        if checker.problems or dry_run:
            report.created = 0 if checker.problems else len(checker.planned)
            await conn.rollback()
            return report
        entries = []
        for row in sorted(checker.planned, key=lambda p: (p.point.id, p.at)):
            reading_id = await add_reading(conn, row.point, row.meter, row.at, row.value, source="import",
                                           flags=[MANUAL], note=row.note)
            if reading_id is None:  # written by someone else since the check
                raise Conflict(f"meter {row.meter.serial} got a reading at {row.at.isoformat()} meanwhile; "
                               "import the file again")
            entries.append({"action": "reading.create", "entity": "reading", "entity_id": reading_id,
                            "estate": estate, "before": None, "after": await get_reading(conn, reading_id)})
        await record_changes(conn, actor, entries, detail=f"import of {filename or 'an uploaded file'} "
                                                          f"(sha256 {digest[:16]})")
    report.written, report.created = True, len(checker.planned)
    return report
