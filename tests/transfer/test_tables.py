"""The file layer on its own: decoding, formula neutralising and its round trip, Excel serial dates, size caps."""
from __future__ import annotations

import asyncio
import io
import time
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from central.registry.models import Staff
from central.transfer import service
from central.transfer.export import export_file
from central.transfer.service import import_file
from central.transfer.sheets import StaffRow, UnitRow
from central.transfer.tables import FileProblem, read_tables, write_csv, write_xlsx
from tests.transfer.files import OFFICE


def _round_trip_csv(values: list[str]) -> list:
    table = read_tables(write_csv(["name"], [[v] for v in values]), "csv")[0]
    return [cells[0] for _, cells in table.rows]


@pytest.mark.parametrize("value", ["＝1+1", "＠SUM(A1)", "＋1+2", "－1+2"])
def test_full_width_formula_starts_are_neutralised_and_round_trip(value):
    data = write_csv(["name"], [[value]])
    assert data.decode("utf-8-sig").splitlines()[1] == "'" + value
    assert _round_trip_csv([value]) == [value]


def test_a_value_that_really_starts_with_an_apostrophe_round_trips():
    values = ["'=not a formula", "'+x", "'-", "''=x", "it's", "'"]
    assert _round_trip_csv(values) == values
    book = read_tables(write_xlsx([("staff", ["name"], [[v] for v in values])]), "xlsx")[0]
    assert [cells[0] for _, cells in book.rows] == values


def test_numbers_and_phone_numbers_round_trip_untouched():
    values = ["-5", "+86 138 0013 8000", "+8613800138000", "=cmd|' /C calc'!A0", "\t=1"]
    assert write_csv(["name"], [["-5"], ["+86 138 0013 8000"]]).decode("utf-8-sig").splitlines()[1:] == [
        "-5", "+86 138 0013 8000"]
    assert _round_trip_csv(values) == values


def test_a_utf8_file_with_a_bom_and_a_bad_byte_is_refused_not_read_as_gbk():
    data = "\ufeffbuilding,unit,resident_name\r\n1,0101,李伟\r\n".encode() + b"1,0102,\xe9A\r\n"
    with pytest.raises(FileProblem, match="UTF-8"):
        read_tables(data, "csv")


def test_crlf_inside_a_quoted_cell_stays_in_the_cell():
    table = read_tables(b'building,unit,name\r\n1,0101,"two\r\nlines"\r\n1,0102,x\r\n', "csv")[0]
    assert table.rows == [(2, ["1", "0101", "two\r\nlines"]), (3, ["1", "0102", "x"])]


@pytest.mark.parametrize("serial", [45306, 45306.0, "45306"])
def test_excel_serial_numbers_are_dates(serial):
    assert StaffRow.model_validate({"name": "张三", "joined_on": serial}).joined_on == date(2024, 1, 15)
    assert UnitRow.model_validate({"building": "1", "unit": "0101", "resident_name": "李伟",
                                   "move_in": serial}).move_in == date(2024, 1, 15)


def _stretched_workbook(ref: str, last_cell: str) -> bytes:
    """A tiny workbook whose sheet claims (and pads to) a huge range: read naively it is billions of cells."""
    book = Workbook()
    sheet = book.active
    sheet.title = "units"
    sheet.append(["building", "unit"])
    sheet.append(["1", "0101"])
    plain = io.BytesIO()
    book.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<dimension ref="A1:B2" />', f'<dimension ref="{ref}" />'.encode())
                row = last_cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                data = data.replace(b"</sheetData>", f'<row r="{row}"><c r="{last_cell}" t="inlineStr"><is><t>x'
                                                     f'</t></is></c></row></sheetData>'.encode())
            target.writestr(info, data)
    return out.getvalue()


def test_a_workbook_that_claims_billions_of_cells_is_refused_quickly():
    with pytest.raises(FileProblem, match="cells"):
        read_tables(_stretched_workbook("A1:XFD1048576", "XFD1048576"), "xlsx")


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))
    with pytest.raises(FileProblem, match="unpacks"):
        read_tables(out.getvalue(), "xlsx")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_phones_signs_and_formula_text_survive_export_and_reimport(engine, estate, fmt):
    staff = [["王保安", "+86 138 0013 8000", "＝HYPERLINK(1)", "-5", "是", "45306", ""],
             ["李保洁", "-", "'=not a formula", "=1+1", "否", "2024-01-15", ""]]
    data = write_csv(["name", "phone", "position", "shift", "active", "joined_on", "card"], staff)
    first = await import_file(engine, OFFICE, estate, data, sheet="staff")
    assert first.problems and "phone" in str(first.problems[0])  # "-" is no phone: the rule still holds
    staff[1][1] = "(010) 6552-1234"
    first = await import_file(engine, OFFICE, estate, write_csv(
        ["name", "phone", "position", "shift", "active", "joined_on", "card"], staff), sheet="staff")
    assert first.problems == [] and first.created == {"staff": 2}
    async with engine.connect() as conn:
        stored = sorted((await conn.execute(select(Staff.name, Staff.phone, Staff.position, Staff.shift,
                                                   Staff.joined_on))).all())
        exported = await export_file(conn, estate, sheet="staff", fmt=fmt)
    assert stored == [("李保洁", "(010) 6552-1234", "'=not a formula", "=1+1", date(2024, 1, 15)),
                      ("王保安", "+86 138 0013 8000", "＝HYPERLINK(1)", "-5", date(2024, 1, 15))]
    again = await import_file(engine, OFFICE, estate, exported, filename=f"staff.{fmt}")
    assert (again.problems, again.created, again.updated) == ([], {}, {})


async def test_reading_a_big_file_does_not_stall_the_server(engine, estate, monkeypatch):
    """Parsing is CPU work of seconds for a big file: it runs in a thread, so other requests and the notify
    sender keep going meanwhile."""
    real = service.read_tables

    def slow(data, fmt):
        time.sleep(0.3)
        return real(data, fmt)

    monkeypatch.setattr(service, "read_tables", slow)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        report = await import_file(engine, OFFICE, estate, write_csv(["code"], [["99"]]), sheet="buildings")
    finally:
        ticker.cancel()
    assert report.problems == [] and ticks >= 10
