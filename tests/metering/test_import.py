"""File import of readings taken by hand: a report by row and column, and all rows written or none."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from central.auth.models import AuditEntry
from central.metering.importer import import_readings
from central.metering.models import MeterReading
from central.transfer.tables import FileProblem, write_csv, write_xlsx
from tests.metering.conftest import OFFICE, fit, local, make_point

HEADERS = ["meter_point", "serial", "at", "value", "note"]


@pytest.fixture
async def fitted(engine, demo):
    async with engine.begin() as conn:
        one = await make_point(conn, demo["3-1201"], "3-1201 water", limit="9999.99")
        two = await make_point(conn, demo["3-1202"], "3-1202 water", limit="9999.99")
        await fit(conn, one, "W-1", local(2026, 8, 1), "1")
        await fit(conn, two, "W-2", local(2026, 8, 1), "2")


async def _count(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(MeterReading))


async def test_a_file_with_errors_writes_nothing_and_says_where(engine, fitted):
    data = write_csv(HEADERS + ["colour"], [
        ["3-1201 water", "", "2026-09-01 08:00", "10.5", "", ""],       # fine on its own
        ["3-1299 water", "", "2026-09-01 08:00", "1", "", ""],          # no such point
        ["3-1202 water", "W-1", "2026-09-01 08:00", "1", "", ""],       # W-1 is not fitted there
        ["", "W-2", "1 Sept", "1", "", ""],                             # not a time
        ["3-1202 water", "", "2026-09-01 08:00", "12345", "", ""],      # above the register
        ["3-1202 water", "", "2026-09-01 08:00", "-1", "", ""],
        ["3-1202 water", "", "2027-01-01 08:00", "3", "", ""],          # in the future
        ["", "W-1", "2026-09-01 08:00", "11", "", ""],                  # the same meter and time as row 2
        ["3-1202 water", "", "2026-07-01 08:00", "3", "", ""],          # before any meter was fitted
        ["3-1202 water", "", "", "3", "", ""],
    ])
    report = await import_readings(engine, OFFICE, "demo", data, filename="round.csv")
    assert report.written is False and report.created == 0 and report.rows == 10
    where = [(p.row, p.column, p.cell) for p in report.problems]
    assert where == [(1, "colour", "F1"), (3, "meter_point", "A3"), (4, "serial", "B4"), (5, "at", "C5"),
                     (6, "value", "D6"), (7, "value", "D7"), (8, "at", "C8"), (9, "at", "C9"), (10, "at", "C10"),
                     (11, "at", "C11")]
    messages = [p.message for p in report.problems]
    assert "unknown column 'colour'" in messages[0] and "no meter point '3-1299 water'" in messages[1]
    assert "meter W-2 was fitted at '3-1202 water' then, not W-1" in messages[2]
    assert "above the register limit 9999.99" in messages[4] and "already on row 2" in messages[7]
    assert report.as_dict()["problems"][1] == {"sheet": "readings", "row": 3, "column": "meter_point",
                                               "cell": "A3", "message": messages[1]}
    assert await _count(engine) == 2  # only the fittings' first readings


async def test_a_clean_file_is_written_in_one_go_and_audited(engine, fitted):
    data = write_csv(["表位", "抄表时间", "读数", "备注"], [
        ["3-1201 water", "2026-09-01 08:00", "10.5", "Wang"],
        ["3-1201 water", "2026/10/01 08:00:00", "20", ""],
        ["3-1202 water", "2026-09-01T00:00:00Z", "7.25", ""],
    ])
    checked = await import_readings(engine, OFFICE, "demo", data, dry_run=True)
    assert checked.problems == [] and checked.written is False and checked.created == 3
    assert await _count(engine) == 2

    report = await import_readings(engine, OFFICE, "demo", data, filename="round.csv")
    assert report.written is True and report.created == 3
    async with engine.connect() as conn:
        rows = (await conn.execute(select(MeterReading).where(MeterReading.source == "import")
                                   .order_by(MeterReading.meter_point_id, MeterReading.at))).all()
        assert [(r.meter_serial, r.value, r.flags, r.note) for r in rows] == [
            ("W-1", Decimal("10.500"), ["manual"], "Wang"), ("W-1", Decimal("20.000"), ["manual"], ""),
            ("W-2", Decimal("7.250"), ["manual"], "")]
        assert rows[0].at.replace(tzinfo=None) == datetime(2026, 9, 1, 0, 0)  # 08:00 in the estate is 00:00 UTC
        details = (await conn.execute(select(AuditEntry.detail).where(AuditEntry.entity == "reading",
                                                                      AuditEntry.detail != ""))).scalars().all()
        assert len(details) == 3 and details[0].startswith("import of round.csv (sha256 ")

    again = await import_readings(engine, OFFICE, "demo", data)
    assert again.written is False and {p.message.split(" at ")[0] for p in again.problems} == {
        "meter W-1 already has a stored reading", "meter W-2 already has a stored reading"}


async def test_an_xlsx_by_serial_with_excel_numbers(engine, fitted):
    data = write_xlsx([("抄表", ["serial", "time", "value"], [
        ["W-2", datetime(2026, 9, 1, 8, 30), 12.75], ["W-1", datetime(2026, 9, 2), 3]])])
    report = await import_readings(engine, OFFICE, "demo", data, filename="round.xlsx")
    assert report.problems == [] and report.written is True and report.created == 2
    async with engine.connect() as conn:
        values = (await conn.execute(select(MeterReading.value).where(MeterReading.source == "import")
                                     .order_by(MeterReading.value))).scalars().all()
    assert values == [Decimal("3"), Decimal("12.75")]


async def test_a_sheet_without_the_columns_or_a_broken_file(engine, fitted):
    report = await import_readings(engine, OFFICE, "demo", write_csv(["value", "note"], [["1", ""]]))
    assert [p.message for p in report.problems] == ["the sheet needs the column(s) at, meter_point or serial"]
    with pytest.raises(FileProblem):
        await import_readings(engine, OFFICE, "demo", b"PK\x03\x04 not really a workbook")
